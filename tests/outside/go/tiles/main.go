// Command tlogtiles reads Altan Ledger's C2SP tlog-tiles (a directory as `altan tiles
// export` writes it) with Go's own golang.org/x/mod/sumdb/tlog.TileHashReader, and checks
// entries and proofs with tlog.CheckRecord and tlog.CheckTree: code the project did not
// write.
//
// It reads one JSON document on stdin:
//
//	{"dir": "/path/to/export",                // holds checkpoint, tile/<L>/<N>[.p/<W>], tile/entries/...
//	 "vkeys": ["<name>+<hex id>+<base64>"],   // the directory's checkpoint must verify with one
//	 "origin": "example.com/log",             // optional: the origin line must equal it
//	 "records": [0, 5, 300],                  // entries to prove (ProveRecord from the tiles)
//	 "older": ["<signed note>", ...]}         // older checkpoints: ProveTree from the tiles
//
// Every entry bundle of the tree is read too: each must hold exactly the tree's width of
// uint16-length-prefixed entries; x/mod's own tree code (tlog.StoredHashes, tlog.TreeHash)
// must get the checkpoint's root from them, and every tile (tlog.NewTiles) must be what
// tlog.ReadTileData computes from them. (The record and tree proofs are read through
// tlog.TileHashReader and then checked against the root: in this x/mod, TileHashReader
// does not authenticate every tile it returns when several tree-hash indexes share a tile,
// so its hashes are only trusted through CheckRecord and CheckTree.) One line per check;
// exit 0 when all pass, 1 when any fails, 2 when the input cannot be read.
package main

import (
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

const height = 8

type input struct {
	Dir     string   `json:"dir"`
	VKeys   []string `json:"vkeys"`
	Origin  string   `json:"origin"`
	Records []int64  `json:"records"`
	Older   []string `json:"older"`
}

type checkpoint struct {
	Origin string
	Size   int64
	Root   tlog.Hash
}

// parseCheckpoint reads the three C2SP lines and ignores extension lines.
func parseCheckpoint(text string) (checkpoint, error) {
	var c checkpoint
	lines := strings.Split(strings.TrimSuffix(text, "\n"), "\n")
	if !strings.HasSuffix(text, "\n") || len(lines) < 3 {
		return c, fmt.Errorf("not a checkpoint: %q", text)
	}
	c.Origin = lines[0]
	size, err := strconv.ParseInt(lines[1], 10, 64)
	if err != nil || size < 0 || strconv.FormatInt(size, 10) != lines[1] {
		return c, fmt.Errorf("checkpoint size %q is not a canonical decimal", lines[1])
	}
	c.Size = size
	root, err := base64.StdEncoding.DecodeString(lines[2])
	if err != nil || len(root) != tlog.HashSize {
		return c, fmt.Errorf("checkpoint root %q is not a base64 32-byte hash", lines[2])
	}
	copy(c.Root[:], root)
	return c, nil
}

// c2spPath is the C2SP tlog-tiles path of a tile: x/mod's Tile.Path() with the height
// element ("tile/8/...") removed, and "entries" for record data (x/mod's "data").
func c2spPath(t tlog.Tile) string {
	p := strings.TrimPrefix(t.Path(), fmt.Sprintf("tile/%d/", t.H))
	if strings.HasPrefix(p, "data/") {
		p = "entries/" + strings.TrimPrefix(p, "data/")
	}
	return "tile/" + p
}

// dirTiles is a tlog.TileReader over the exported directory.
type dirTiles struct {
	dir   string
	reads int
}

func (d *dirTiles) Height() int { return height }

func (d *dirTiles) ReadTiles(tiles []tlog.Tile) ([][]byte, error) {
	out := make([][]byte, len(tiles))
	for i, t := range tiles {
		data, err := os.ReadFile(filepath.Join(d.dir, filepath.FromSlash(c2spPath(t))))
		if err != nil {
			return nil, err
		}
		d.reads++
		out[i] = data
	}
	return out, nil
}

func (d *dirTiles) SaveTiles(tiles []tlog.Tile, data [][]byte) {}

// bundle reads entry bundle n of the tree of size size: width entries, uint16-prefixed.
func bundle(dir string, n int64, size int64) ([][]byte, error) {
	width := size - n*(1<<height)
	if width > 1<<height {
		width = 1 << height
	}
	t := tlog.Tile{H: height, L: -1, N: n, W: int(width)}
	data, err := os.ReadFile(filepath.Join(dir, filepath.FromSlash(c2spPath(t))))
	if err != nil {
		return nil, err
	}
	var entries [][]byte
	for len(data) > 0 {
		if len(data) < 2 {
			return nil, fmt.Errorf("%s: truncated length", c2spPath(t))
		}
		l := int(binary.BigEndian.Uint16(data))
		if len(data) < 2+l {
			return nil, fmt.Errorf("%s: truncated entry", c2spPath(t))
		}
		entries = append(entries, data[2:2+l])
		data = data[2+l:]
	}
	if int64(len(entries)) != width {
		return nil, fmt.Errorf("%s: %d entries, expected %d", c2spPath(t), len(entries), width)
	}
	return entries, nil
}

type checker struct{ failed int }

func (c *checker) ok(format string, args ...interface{}) {
	fmt.Printf("ok   "+format+"\n", args...)
}

func (c *checker) fail(format string, args ...interface{}) {
	c.failed++
	fmt.Printf("FAIL "+format+"\n", args...)
}

func openCheckpoint(text string, known note.Verifiers) (checkpoint, *note.Note, error) {
	n, err := note.Open([]byte(text), known)
	if err != nil {
		return checkpoint{}, nil, fmt.Errorf("note.Open: %v", err)
	}
	cp, err := parseCheckpoint(n.Text)
	return cp, n, err
}

func main() {
	data, err := io.ReadAll(os.Stdin)
	if err != nil {
		fmt.Println("FAIL reading stdin:", err)
		os.Exit(2)
	}
	var in input
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&in); err != nil {
		fmt.Println("FAIL parsing the input JSON:", err)
		os.Exit(2)
	}
	var verifiers []note.Verifier
	for _, vkey := range in.VKeys {
		v, err := note.NewVerifier(vkey)
		if err != nil {
			fmt.Printf("FAIL vkey %q: %v\n", vkey, err)
			os.Exit(2)
		}
		verifiers = append(verifiers, v)
	}
	known := note.VerifierList(verifiers...)
	c := &checker{}

	text, err := os.ReadFile(filepath.Join(in.Dir, "checkpoint"))
	if err != nil {
		fmt.Println("FAIL reading the checkpoint:", err)
		os.Exit(2)
	}
	cp, n, err := openCheckpoint(string(text), known)
	if err != nil {
		c.fail("checkpoint: %v", err)
		os.Exit(1)
	}
	if in.Origin != "" && cp.Origin != in.Origin {
		c.fail("checkpoint: origin %q, expected %q", cp.Origin, in.Origin)
		os.Exit(1)
	}
	c.ok("checkpoint: origin %q size %d, %d signature(s) verified, %d unverified",
		cp.Origin, cp.Size, len(n.Sigs), len(n.UnverifiedSigs))

	tree := tlog.Tree{N: cp.Size, Hash: cp.Root}
	tiles := &dirTiles{dir: in.Dir}
	hr := tlog.TileHashReader(tree, tiles)

	if th, err := tlog.TreeHash(cp.Size, hr); err != nil || th != cp.Root {
		c.fail("tree hash: tlog.TreeHash(%d) from the tiles: %v %v", cp.Size, th, err)
	} else {
		c.ok("tree hash: the tiles give the checkpoint's root for size %d", cp.Size)
	}

	// The entries alone, through x/mod's own tree code: tlog.StoredHashes for each entry of
	// each bundle, in order, then tlog.TreeHash must give the checkpoint's root.
	var stored []tlog.Hash
	mem := tlog.HashReaderFunc(func(indexes []int64) ([]tlog.Hash, error) {
		out := make([]tlog.Hash, len(indexes))
		for i, x := range indexes {
			if x < 0 || x >= int64(len(stored)) {
				return nil, fmt.Errorf("stored hash %d not computed", x)
			}
			out[i] = stored[x]
		}
		return out, nil
	})
	read := int64(0)
	for b := int64(0); b*(1<<height) < cp.Size; b++ {
		entries, err := bundle(in.Dir, b, cp.Size)
		if err != nil {
			c.fail("bundle %d: %v", b, err)
			break
		}
		for _, e := range entries {
			hashes, err := tlog.StoredHashes(read, e, mem)
			if err != nil {
				c.fail("entry %d: tlog.StoredHashes: %v", read, err)
				os.Exit(1)
			}
			stored = append(stored, hashes...)
			read++
		}
	}
	if read == cp.Size {
		if th, err := tlog.TreeHash(cp.Size, mem); err != nil || th != cp.Root {
			c.fail("entries: tlog.TreeHash over the %d entries of the bundles: %v %v", read, th, err)
		} else {
			c.ok("entries: the %d entries of the bundles give the checkpoint's root", read)
		}
		// Every tile the tree has (x/mod's tlog.NewTiles, the partial ones at the tree's
		// width) must hold exactly what tlog.ReadTileData computes from those entries.
		same, differ := 0, 0
		for _, t := range tlog.NewTiles(height, 0, cp.Size) {
			if t.W != 1<<height && int64(t.W) != (cp.Size>>(height*t.L))%(1<<height) {
				continue // a narrower partial tile, of an older tree size
			}
			want, err := tlog.ReadTileData(t, mem)
			if err != nil {
				c.fail("%s: tlog.ReadTileData: %v", c2spPath(t), err)
				continue
			}
			got, err := os.ReadFile(filepath.Join(in.Dir, filepath.FromSlash(c2spPath(t))))
			if err != nil || !bytes.Equal(got, want) {
				differ++
				c.fail("%s: not what tlog.ReadTileData computes from the entries (%v)", c2spPath(t), err)
				continue
			}
			same++
		}
		if differ == 0 {
			c.ok("tiles: all %d tiles are what x/mod computes from the entries", same)
		}
	}

	for _, index := range in.Records {
		entries, err := bundle(in.Dir, index>>height, cp.Size)
		if err != nil {
			c.fail("record %d: %v", index, err)
			continue
		}
		leaf := tlog.RecordHash(entries[index%(1<<height)])
		proof, err := tlog.ProveRecord(cp.Size, index, hr)
		if err != nil {
			c.fail("record %d: tlog.ProveRecord: %v", index, err)
			continue
		}
		if err := tlog.CheckRecord(proof, cp.Size, cp.Root, index, leaf); err != nil {
			c.fail("record %d: tlog.CheckRecord: %v", index, err)
			continue
		}
		c.ok("record %d: in the tree of %d", index, cp.Size)
	}

	for i, text := range in.Older {
		old, _, err := openCheckpoint(text, known)
		if err != nil {
			c.fail("older %d: %v", i, err)
			continue
		}
		proof, err := tlog.ProveTree(cp.Size, old.Size, hr)
		if err != nil {
			c.fail("older %d: tlog.ProveTree(%d -> %d): %v", i, old.Size, cp.Size, err)
			continue
		}
		if err := tlog.CheckTree(proof, cp.Size, cp.Root, old.Size, old.Root); err != nil {
			c.fail("older %d: tlog.CheckTree(%d -> %d): %v", i, old.Size, cp.Size, err)
			continue
		}
		c.ok("older %d: the tree of %d extends the tree of %d", i, cp.Size, old.Size)
	}

	fmt.Printf("%d failed, tree of %d, %d tile reads, %d records, %d older checkpoints\n",
		c.failed, cp.Size, tiles.reads, len(in.Records), len(in.Older))
	if c.failed > 0 {
		os.Exit(1)
	}
}
