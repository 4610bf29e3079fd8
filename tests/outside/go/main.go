// Command tlogcheck verifies Altan Ledger's checkpoints and proofs with Go's own
// golang.org/x/mod/sumdb/note and golang.org/x/mod/sumdb/tlog, code the project did not write.
//
// It reads one JSON document on stdin:
//
//	{"vkeys": ["<name>+<hex id>+<base64>"],   // C2SP vkeys, as note.NewVerifier parses them
//	 "origin": "example.com/log",             // optional: the origin line must equal it
//	 "checkpoints": ["<signed note>", ...],   // each must verify; each gives a tree size -> root
//	 "inclusion": [{"index": 3, "tree_size": 8, "hashes": ["<b64>", ...],
//	                "leaf_hash": "<b64>", "entry": "<b64>"}],   // leaf_hash, entry or both
//	 "consistency": [{"first": 4, "second": 8, "hashes": ["<b64>", ...]}]}
//
// A proof's tree sizes must be those of given checkpoints: roots come only from signed
// notes. It prints one line per check and exits 0 when all pass, 1 when any fails, 2 when
// the input cannot be read.
package main

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

type inclusion struct {
	Index    int64    `json:"index"`
	TreeSize int64    `json:"tree_size"`
	Hashes   []string `json:"hashes"`
	LeafHash string   `json:"leaf_hash"`
	Entry    string   `json:"entry"`
}

type consistency struct {
	First  int64    `json:"first"`
	Second int64    `json:"second"`
	Hashes []string `json:"hashes"`
}

type input struct {
	VKeys       []string      `json:"vkeys"`
	Origin      string        `json:"origin"`
	Checkpoints []string      `json:"checkpoints"`
	Inclusion   []inclusion   `json:"inclusion"`
	Consistency []consistency `json:"consistency"`
}

// checkpoint is the body of a c2sp.org/tlog-checkpoint note.
type checkpoint struct {
	Origin     string
	Size       int64
	Root       tlog.Hash
	Extensions []string
}

// parseCheckpoint reads the three C2SP lines (origin, decimal size, base64 root) and keeps
// any further non-empty lines as extensions, which C2SP says a client may ignore.
func parseCheckpoint(text string) (checkpoint, error) {
	var c checkpoint
	if !strings.HasSuffix(text, "\n") {
		return c, fmt.Errorf("checkpoint text does not end in a newline")
	}
	lines := strings.Split(strings.TrimSuffix(text, "\n"), "\n")
	if len(lines) < 3 {
		return c, fmt.Errorf("checkpoint has %d lines, expected at least 3", len(lines))
	}
	for i, line := range lines {
		if line == "" {
			return c, fmt.Errorf("checkpoint line %d is empty", i+1)
		}
	}
	c.Origin = lines[0]
	size, err := strconv.ParseInt(lines[1], 10, 64)
	if err != nil || size < 0 || strconv.FormatInt(size, 10) != lines[1] {
		return c, fmt.Errorf("checkpoint size %q is not a canonical decimal", lines[1])
	}
	c.Size = size
	root, err := base64.StdEncoding.DecodeString(lines[2])
	if err != nil || len(root) != tlog.HashSize || base64.StdEncoding.EncodeToString(root) != lines[2] {
		return c, fmt.Errorf("checkpoint root %q is not a base64 32-byte hash", lines[2])
	}
	copy(c.Root[:], root)
	c.Extensions = lines[3:]
	return c, nil
}

func decodeHash(s string) (tlog.Hash, error) {
	var h tlog.Hash
	raw, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		return h, err
	}
	if len(raw) != tlog.HashSize {
		return h, fmt.Errorf("hash of %d bytes, expected %d", len(raw), tlog.HashSize)
	}
	copy(h[:], raw)
	return h, nil
}

func decodeHashes(list []string) ([]tlog.Hash, error) {
	out := make([]tlog.Hash, 0, len(list))
	for i, s := range list {
		h, err := decodeHash(s)
		if err != nil {
			return nil, fmt.Errorf("proof hash %d: %v", i, err)
		}
		out = append(out, h)
	}
	return out, nil
}

type checker struct{ failed int }

func (c *checker) ok(format string, args ...interface{}) {
	fmt.Printf("ok   "+format+"\n", args...)
}

func (c *checker) fail(format string, args ...interface{}) {
	c.failed++
	fmt.Printf("FAIL "+format+"\n", args...)
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

	roots := map[int64]tlog.Hash{}
	for i, text := range in.Checkpoints {
		n, err := note.Open([]byte(text), known)
		if err != nil {
			c.fail("checkpoint %d: note.Open: %v", i, err)
			continue
		}
		cp, err := parseCheckpoint(n.Text)
		if err != nil {
			c.fail("checkpoint %d: %v", i, err)
			continue
		}
		if in.Origin != "" && cp.Origin != in.Origin {
			c.fail("checkpoint %d: origin %q, expected %q", i, cp.Origin, in.Origin)
			continue
		}
		if prev, seen := roots[cp.Size]; seen && prev != cp.Root {
			c.fail("checkpoint %d: two roots for size %d", i, cp.Size)
			continue
		}
		roots[cp.Size] = cp.Root
		c.ok("checkpoint %d: origin %q size %d, %d signature(s) verified, %d unverified, %d extension line(s)",
			i, cp.Origin, cp.Size, len(n.Sigs), len(n.UnverifiedSigs), len(cp.Extensions))
	}

	for i, p := range in.Inclusion {
		root, have := roots[p.TreeSize]
		if !have {
			c.fail("inclusion %d: no verified checkpoint of size %d", i, p.TreeSize)
			continue
		}
		var leaf tlog.Hash
		switch {
		case p.Entry != "":
			raw, err := base64.StdEncoding.DecodeString(p.Entry)
			if err != nil {
				c.fail("inclusion %d: entry: %v", i, err)
				continue
			}
			leaf = tlog.RecordHash(raw)
			if p.LeafHash != "" {
				served, err := decodeHash(p.LeafHash)
				if err != nil || served != leaf {
					c.fail("inclusion %d: leaf_hash %s is not tlog.RecordHash(entry) %s", i, p.LeafHash, leaf)
					continue
				}
			}
		case p.LeafHash != "":
			leaf, err = decodeHash(p.LeafHash)
			if err != nil {
				c.fail("inclusion %d: leaf_hash: %v", i, err)
				continue
			}
		default:
			c.fail("inclusion %d: neither entry nor leaf_hash", i)
			continue
		}
		proof, err := decodeHashes(p.Hashes)
		if err != nil {
			c.fail("inclusion %d: %v", i, err)
			continue
		}
		if err := tlog.CheckRecord(tlog.RecordProof(proof), p.TreeSize, root, p.Index, leaf); err != nil {
			c.fail("inclusion %d: tlog.CheckRecord(index %d, size %d): %v", i, p.Index, p.TreeSize, err)
			continue
		}
		c.ok("inclusion %d: entry %d in the tree of %d", i, p.Index, p.TreeSize)
	}

	for i, p := range in.Consistency {
		oldRoot, haveOld := roots[p.First]
		newRoot, haveNew := roots[p.Second]
		if !haveOld || !haveNew {
			c.fail("consistency %d: no verified checkpoints of sizes %d and %d", i, p.First, p.Second)
			continue
		}
		proof, err := decodeHashes(p.Hashes)
		if err != nil {
			c.fail("consistency %d: %v", i, err)
			continue
		}
		if err := tlog.CheckTree(tlog.TreeProof(proof), p.Second, newRoot, p.First, oldRoot); err != nil {
			c.fail("consistency %d: tlog.CheckTree(%d -> %d): %v", i, p.First, p.Second, err)
			continue
		}
		c.ok("consistency %d: the tree of %d extends the tree of %d", i, p.Second, p.First)
	}

	fmt.Printf("%d failed, %d checkpoints, %d inclusion proofs, %d consistency proofs\n",
		c.failed, len(in.Checkpoints), len(in.Inclusion), len(in.Consistency))
	if c.failed > 0 {
		os.Exit(1)
	}
}
