"""C2SP tlog-tiles in the pure core (ledger/tiles.py).

Paths: every tile's path parses back to it, and no other string parses (hypothesis mutates
valid paths: whatever parses must be the one canonical spelling). Contents: each hash of a
tile is the spec's MTH over its range of leaves, computed by a naive recursion. Proofs: a
TileReader over the tiles gives the very roots and proofs that ledger.merkle gives from the
node table, for any tree size. Entries: `verified_entries` yields exactly the entries of
the range, and refuses a flipped byte in a bundle or in a hash tile it relies on.
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Callable
from functools import cache

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from ledger import merkle
from ledger.errors import MalformedInput, OutOfRange, RootMismatch, StorageError
from ledger.hashing import hash_children, hash_leaf
from ledger.merkle import NodeId
from ledger.tiles import (
    MAX_BUNDLE_ENTRY_BYTES,
    MAX_TREE_SIZE,
    TILE_WIDTH,
    Tile,
    TileReader,
    cover_root,
    decode_bundle,
    decode_hashes,
    encode_bundle,
    encode_hashes,
    encode_index,
    in_tree,
    parse_tile_path,
    tile_width,
    tiles_for_tree,
    verified_entries,
)

LEAVES = 66_000  # past one full level-1 tile (65,536), so level 2 exists


# --- a log to read: entries, their node table, and tiles cut from it ------------------------------


@cache
def log() -> tuple[list[bytes], dict[NodeId, bytes]]:
    """LEAVES entries of varied lengths and every perfect node over them."""
    rng = random.Random(15)
    entries = [rng.randbytes(rng.randrange(1, 40)) for _ in range(LEAVES)]
    frontier = merkle.CompactRange()
    nodes: dict[NodeId, bytes] = {}
    for entry in entries:
        nodes.update(frontier.append(hash_leaf(entry)))
    return entries, nodes


class NodeTable:
    """The node table as ledger/sql/storage.py keeps it (a merkle.NodeReader)."""

    def get_nodes(self, ids: list[NodeId]) -> dict[NodeId, bytes]:
        _, nodes = log()
        return {i: nodes[i] for i in ids}


def served(size: int, *, copy_of: int | None = None) -> Callable[[Tile], bytes | None]:
    """A tile server for the tree of `size` leaves of `log()` (None: not served); with
    `copy_of`, only the files a static copy of that tree holds."""
    entries, nodes = log()
    held = None if copy_of is None else set(tiles_for_tree(copy_of))

    def fetch(tile: Tile) -> bytes | None:
        if not in_tree(tile, size) or (held is not None and tile.hash_tile() not in held):
            return None
        if tile.entries:
            return encode_bundle(entries[tile.start : tile.end])
        return encode_hashes([nodes[i] for i in tile.node_ids()])

    return fetch


def root(size: int) -> bytes:
    return merkle.root_hash(NodeTable(), size)


def naive_mth(leaves: list[bytes]) -> bytes:
    """RFC 9162 MTH by its definition: split at the largest power of two below n."""
    if len(leaves) == 1:
        return leaves[0]
    k = 1 << ((len(leaves) - 1).bit_length() - 1)
    return hash_children(naive_mth(leaves[:k]), naive_mth(leaves[k:]))


# --- paths ----------------------------------------------------------------------------------------


@st.composite
def tiles(draw: st.DrawFn) -> Tile:
    entries = draw(st.booleans())
    level = 0 if entries else draw(st.integers(0, 63))
    limit = MAX_TREE_SIZE >> (8 * (level + 1))
    index = draw(st.one_of(st.integers(0, min(2000, limit)), st.integers(0, limit)))
    width = draw(st.one_of(st.just(TILE_WIDTH), st.integers(1, TILE_WIDTH - 1)))
    return Tile(level, index, width, entries)


@given(tiles())
def test_every_tile_path_parses_back_to_its_tile(tile: Tile) -> None:
    assert parse_tile_path(tile.path) == tile


@given(st.integers(0, 10**21))
def test_index_encoding_is_groups_of_three_with_x_prefixes(n: int) -> None:
    digits = str(n)
    digits = "0" * (-len(digits) % 3) + digits
    groups = [digits[i : i + 3] for i in range(0, len(digits), 3)]
    assert encode_index(n) == "/".join([*("x" + g for g in groups[:-1]), groups[-1]])


def test_the_specs_examples() -> None:
    assert encode_index(1234067) == "x001/x234/067"
    assert Tile(0, 1234067).path == "tile/0/x001/x234/067"
    assert Tile(0, 1234067, 8, entries=True).path == "tile/entries/x001/x234/067.p/8"
    assert Tile(2, 0, 1).path == "tile/2/000.p/1"
    assert parse_tile_path("tile/1/x001/000.p/17") == Tile(1, 1000, 17)


def _mutations(path: str) -> list[str]:
    """Strings near a valid path: one element replaced, added, removed or re-spelled."""
    parts = path.split("/")
    out = [path + "/", "/" + path, path.replace("/", "//", 1), path + ".p/1", path.upper()]
    out += ["/".join(parts[:i] + parts[i + 1 :]) for i in range(len(parts))]
    out += ["/".join([*parts[:i], "x000", *parts[i:]]) for i in range(2, len(parts))]
    for i, part in enumerate(parts):
        for other in (
            "0" + part,
            part[1:],
            part + "0",
            part.replace("x", "", 1),
            "x" + part,
            part.replace("0", "\u0660"),  # ARABIC-INDIC DIGIT ZERO: a digit, not ASCII
            part.replace(".p", ""),
            part + ".p",
            "",
            "0",
            "00",
            "256",
            "1000",
            "64",
            "data",
            "x000",
            "x1000",
            "-1",
            "+1",
            " 1",
        ):
            out.append("/".join([*parts[:i], other, *parts[i + 1 :]]))
    return out


@settings(max_examples=300)
@given(tiles(), st.data())
def test_no_other_spelling_of_a_tile_parses(tile: Tile, data: st.DataObject) -> None:
    """Strictness as one property: whatever string parses is the canonical path of the
    tile it names, so a near miss (leading zero, wrong group width, x000 in front, W of 0
    or 256, a non-ASCII digit, a stray slash) is refused."""
    candidate = data.draw(st.sampled_from(_mutations(tile.path)))
    assume(candidate != tile.path)
    try:
        parsed = parse_tile_path(candidate)
    except MalformedInput:
        return
    assert parsed.path == candidate


@pytest.mark.parametrize(
    "path",
    [
        "tile/0/01",  # a group of two digits
        "tile/0/0001",  # of four
        "tile/0/x001",  # the last group with an x
        "tile/0/001/002",  # an inner group without x
        "tile/0/x000/001",  # a leading zero group
        "tile/00/001",  # a level with a leading zero
        "tile/01/001",
        "tile/64/000",  # a level over 63
        "tile/0/000.p/0",  # W = 0
        "tile/0/000.p/256",  # W = 256 (a full tile has no .p)
        "tile/0/000.p/007",  # W with leading zeros
        "tile/0/000.p",  # .p without W
        "tile/0/000.p/",
        "tile/0/000/",
        "/tile/0/000",
        "tile//0/000",
        "tile/data/000",  # x/mod's name for entries, not C2SP's
        "tile/8/0/000",  # x/mod's path with the height
        "tile/-1/000",
        "tile/0/\u0661\u0662\u0663",  # non-ASCII digits
        "tile/entries/x018/x446/x744/x073/x709/x551/616",  # N*256 past 2**64 - 1
        "tile/1/x281/x474/x976/x710/656",  # N*65536 past 2**64 - 1
        "tile/7/001",  # starts at 2**64
        "tile/0/" + "x999/" * 20 + "999",  # far too long
    ],
)
def test_non_canonical_paths_are_refused(path: str) -> None:
    with pytest.raises(MalformedInput):
        parse_tile_path(path)


def test_the_largest_indices_parse() -> None:
    last = MAX_TREE_SIZE >> 8
    assert parse_tile_path(Tile(0, last, entries=True).path).index == last
    assert parse_tile_path("tile/63/000.p/1") == Tile(63, 0, 1)  # spec allows L up to 63


# --- which tiles a tree has -----------------------------------------------------------------------


def test_the_specs_tree_of_70000() -> None:
    paths = [t.path for t in tiles_for_tree(70_000)]
    level0 = [p for p in paths if p.startswith("tile/0/")]
    assert len(level0) == 274 and level0[-1] == "tile/0/273.p/112"
    assert [p for p in paths if p.startswith("tile/1/")] == ["tile/1/000", "tile/1/001.p/17"]
    assert [p for p in paths if p.startswith("tile/2/")] == ["tile/2/000.p/1"]
    assert [t.path for t in tiles_for_tree(256)] == ["tile/1/000.p/1", "tile/0/000"]
    assert tiles_for_tree(0) == []


@given(st.integers(0, 200_000), st.integers(0, 200_000))
def test_tiles_for_tree_since_is_what_the_larger_tree_adds(a: int, b: int) -> None:
    since, size = sorted((a, b))
    everything = set(tiles_for_tree(size))
    old = {t for t in tiles_for_tree(since) if not t.is_partial}
    added = tiles_for_tree(size, since)
    # exactly the new tree's tiles less the full ones the old tree had
    assert set(added) == everything - old
    assert len(added) == len(set(added))
    for t in added:
        assert t.end <= size and t.width == tile_width(t.level, t.index, size)
    # highest level first: a full tile's parent comes before it
    assert [t.level for t in added] == sorted((t.level for t in added), reverse=True)


# --- contents -------------------------------------------------------------------------------------


@settings(max_examples=25)
@given(st.integers(1, LEAVES), st.data())
def test_each_hash_is_the_mth_the_spec_defines(size: int, data: st.DataObject) -> None:
    """The i-th hash of tile n at level l is MTH(D[(n*256 + i)*256**l : (n*256 + i + 1)*256**l])."""
    entries, _ = log()
    fetch = served(size)
    tile = data.draw(st.sampled_from(tiles_for_tree(size)))
    hashes = decode_hashes(fetch(tile) or b"", tile)
    i = data.draw(st.integers(0, tile.width - 1))
    span = 256**tile.level
    first = (tile.index * 256 + i) * span
    assert hashes[i] == naive_mth([hash_leaf(e) for e in entries[first : first + span]])
    if tile.level == 0:
        bundle = tile.bundle()
        assert decode_bundle(fetch(bundle) or b"", bundle) == entries[tile.start : tile.end]


# --- proofs from tiles ----------------------------------------------------------------------------


@settings(max_examples=60)
@given(st.integers(1, LEAVES), st.data())
def test_proofs_from_tiles_equal_the_node_tables(size: int, data: st.DataObject) -> None:
    reader = TileReader(served(size), size)
    table = NodeTable()
    assert merkle.root_hash(reader, size) == merkle.root_hash(table, size)
    index = data.draw(st.integers(0, size - 1))
    tree = data.draw(st.integers(index + 1, size))
    assert merkle.inclusion_proof(reader, index, tree) == merkle.inclusion_proof(table, index, tree)
    first = data.draw(st.integers(1, size))
    second = data.draw(st.integers(first, size))
    assert merkle.consistency_proof(reader, first, second) == merkle.consistency_proof(
        table, first, second
    )


def test_a_reader_falls_back_to_the_full_tile_when_the_partial_one_is_gone() -> None:
    """A copy of a larger tree no longer serves the smaller tree's partial tiles."""
    size, bigger = 65_700, LEAVES  # 256 * 256 + 164 and 256 * 257 + 208
    copy = served(bigger, copy_of=bigger)
    assert copy(Tile(0, 256, 164)) is None and copy(Tile(0, 256)) is not None
    reader = TileReader(copy, size)
    assert merkle.root_hash(reader, size) == root(size)
    got = list(verified_entries(TileReader(copy, size), root(size), 65_500))
    assert [i for i, _ in got] == list(range(65_500, size))


def test_a_tile_not_served_is_named() -> None:
    reader = TileReader(lambda tile: None, 1000)
    with pytest.raises(StorageError, match=r"tile/1/000\.p/3 is not served"):
        merkle.root_hash(reader, 1000)


def test_nodes_beyond_the_tree_are_refused() -> None:
    reader = TileReader(served(300), 300)
    with pytest.raises(OutOfRange):
        reader.get_nodes([(8, 1)])
    with pytest.raises(OutOfRange):
        merkle.root_hash(reader, 301)


# --- verified entries -----------------------------------------------------------------------------


@settings(max_examples=40)
@given(st.integers(1, LEAVES), st.data())
def test_verified_entries_yield_exactly_the_range(size: int, data: st.DataObject) -> None:
    entries, _ = log()
    start = data.draw(st.integers(0, size))
    end = data.draw(st.integers(start, min(size, start + 3000)))
    reader = TileReader(served(size), size)
    got = list(verified_entries(reader, root(size), start, end))
    assert got == list(enumerate(entries[start:end], start))


def test_a_whole_log_read_needs_the_bundles_and_a_few_border_tiles() -> None:
    reader = TileReader(served(LEAVES), LEAVES)
    assert sum(1 for _ in verified_entries(reader, root(LEAVES))) == LEAVES
    bundles = -(-LEAVES // 256)
    assert bundles <= reader.fetches <= bundles + 4  # + the right border's partial tiles


def _tampered(
    size: int, target: Callable[[Tile], bool], change: Callable[[bytes], bytes]
) -> Callable[[Tile], bytes | None]:
    honest = served(size)

    def fetch(tile: Tile) -> bytes | None:
        data = honest(tile)
        return change(data) if data is not None and target(tile) else data

    return fetch


def _flip(offset: int) -> Callable[[bytes], bytes]:
    def change(data: bytes) -> bytes:
        raw = bytearray(data)
        raw[offset % len(raw)] ^= 0x01
        return bytes(raw)

    return change


@pytest.mark.parametrize("offset", [2, 100, 5000])
def test_a_flipped_byte_in_a_bundle_is_refused_before_its_entries(offset: int) -> None:
    size = 5000
    fetch = _tampered(size, lambda t: t == Tile(0, 3, entries=True), _flip(offset))
    got: list[int] = []
    with pytest.raises((RootMismatch, MalformedInput)):
        for index, _ in verified_entries(TileReader(fetch, size), root(size)):
            got.append(index)
    assert got == list(range(3 * 256))  # bundles 0..2 proved and handed out, none of 3


@pytest.mark.parametrize(
    ("tile", "offset"),
    [(Tile(1, 0, 19), 40), (Tile(0, 19, 136), 3), (Tile(0, 19, 136), 32 * 135 + 31)],
)
def test_a_flipped_byte_in_a_border_tile_is_refused(tile: Tile, offset: int) -> None:
    size = 19 * 256 + 136
    fetch = _tampered(size, lambda t: t == tile, _flip(offset))
    with pytest.raises(RootMismatch):
        list(verified_entries(TileReader(fetch, size), root(size), 0, 10))


def test_another_checkpoints_root_is_refused() -> None:
    with pytest.raises(RootMismatch, match=r"entries 0\.\.255"):
        list(verified_entries(TileReader(served(1000), 1000), root(999), 0, 10))


def test_an_entry_moved_to_another_bundle_is_refused() -> None:
    """Bundles 0 and 1 swapped: each well formed, each entry genuine, in the wrong place."""
    size = 600
    honest = served(size)

    def swapped(tile: Tile) -> bytes | None:
        if tile.entries and tile.index in (0, 1):
            return honest(Tile(0, 1 - tile.index, entries=True))
        return honest(tile)

    with pytest.raises(RootMismatch):
        list(verified_entries(TileReader(swapped, size), root(size)))


# --- bundles --------------------------------------------------------------------------------------


@given(st.lists(st.binary(max_size=300), min_size=1, max_size=TILE_WIDTH))
def test_bundles_round_trip(entries: list[bytes]) -> None:
    tile = Tile(0, 7, len(entries), entries=True)
    data = encode_bundle(entries)
    assert len(data) == sum(2 + len(e) for e in entries)
    assert decode_bundle(data, tile) == entries


def test_an_entry_over_65535_bytes_cannot_go_in_a_bundle() -> None:
    """Our entries may reach 65,536 bytes (ledger.entry.MAX_ENTRY_BYTES); a uint16 says at
    most 65,535: refused, naming the entry, never truncated."""
    ok = encode_bundle([b"a", bytes(MAX_BUNDLE_ENTRY_BYTES)], first_index=512)
    assert ok[3:5] == b"\xff\xff"
    with pytest.raises(MalformedInput, match="entry 513 has 65536 bytes"):
        encode_bundle([b"a", bytes(MAX_BUNDLE_ENTRY_BYTES + 1)], first_index=512)


@pytest.mark.parametrize(
    ("data", "width", "what"),
    [
        (b"\x00\x01a\x00\x01b", 3, "expected 3 entries, found 2"),
        (b"\x00\x01a\x00\x01b", 1, "after its 1 entries"),
        (b"\x00\x05abc", 1, "needs 5 bytes"),
        (b"\x00\x01a\x00", 2, "truncated length"),
    ],
)
def test_malformed_bundles_are_refused(data: bytes, width: int, what: str) -> None:
    with pytest.raises(MalformedInput, match=what):
        decode_bundle(data, Tile(0, 0, width, entries=True))


def test_hash_tiles_have_exactly_their_width() -> None:
    with pytest.raises(MalformedInput, match="expected 64 bytes, got 96"):
        decode_hashes(bytes(96), Tile(1, 0, 2))
    with pytest.raises(MalformedInput):
        encode_hashes([bytes(31)])


@given(st.integers(1, 5000), st.lists(st.integers(1, 4999), max_size=6))
def test_any_aligned_cover_folds_to_the_root(size: int, cuts: list[int]) -> None:
    """root_nodes(a), the leaves a..b-1, range_nodes(b, size): any split gives the root."""
    _, nodes = log()
    points = sorted({0, size, *(c for c in cuts if c < size)})
    cover = [n for a, b in itertools.pairwise(points) for n in merkle.range_nodes(a, b)]
    assert cover_root([(n, nodes[n]) for n in cover]) == root(size)
