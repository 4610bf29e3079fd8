"""C2SP tlog-tiles: the log as static tiles, and proofs and entries read back from them.

c2sp.org/tlog-tiles serves the tree that ``/log/*`` serves, as resources that never change
(so any static host or CDN can serve them), under one URL prefix:

- ``tile/<L>/<N>[.p/<W>]``: hash tile N of level L, the W hashes (256 when full, 8,192
  bytes) ``MTH(D[(N*256 + i) * 256**L : (N*256 + i + 1) * 256**L])`` for i < W, 32 bytes
  each. In the node table (ledger/sql/storage.py, ``(level, idx) -> hash``) these are the
  nodes ``(8L, N*256 + i)``: a tile of level L spans tree levels 8L to 8L+7 and holds the
  lowest of them; the levels between are hashed back up from it.
- ``tile/entries/<N>[.p/<W>]``: entry bundle N, entries N*256 to N*256+W-1, each as a
  big-endian uint16 length followed by the entry's bytes. An entry longer than 65,535
  bytes cannot be put in a bundle (``MAX_BUNDLE_ENTRY_BYTES``; our entries may reach
  ``ledger.entry.MAX_ENTRY_BYTES`` = 65,536): :func:`encode_bundle` refuses it by name.
- ``checkpoint``: the signed note (ledger.checkpoint).

N is written in groups of three digits, all but the last prefixed by ``x``: 1234067 is
``x001/x234/067``. ``.p/<W>`` (1 <= W <= 255) names a partial tile: the right edge of a
tree whose size at that level is not a multiple of 256 has ``(size // 256**L) % 256``
hashes there. Parsing is strict (:func:`parse_tile_path`): each tile has exactly one path,
and no other string parses (no leading zeros, no ``x000`` group in front, no W of 0 or 256,
no N whose tile would start past a 64-bit tree size).

Reading: :class:`TileReader` is a ``merkle.NodeReader`` over tiles that a callable fetches
(from a URL, a directory, a database), so every root, inclusion and consistency proof that
``ledger.merkle`` computes from the node table comes out the same from tiles;
:func:`verified_entries` gives an auditor the entries of a checkpoint's tree, each bundle
proved to be in that tree before any of its entries is handed out.
"""

from __future__ import annotations

import re
from collections import OrderedDict
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass

from ledger.errors import MalformedInput, OutOfRange, RootMismatch, StorageError
from ledger.hashing import HASH_SIZE, hash_children, hash_leaf
from ledger.merkle import CompactRange, NodeId, fold_range, range_nodes, root_nodes

TILE_HEIGHT = 8
"""Tree levels per tile level: a tile of level L holds the hashes of tree level 8L."""

TILE_WIDTH = 1 << TILE_HEIGHT
"""Hashes in a full tile, entries in a full bundle (256)."""

MAX_TILE_LEVEL = 63
"""The highest tile level a path may name (C2SP: 0 to 63)."""

MAX_TREE_SIZE = (1 << 64) - 1
"""Tree sizes are unsigned 64-bit integers (as in checkpoints): no tile starts past one."""

MAX_BUNDLE_ENTRY_BYTES = 0xFFFF
"""The longest entry a bundle can carry: its length is a big-endian uint16."""

MAX_TILE_PATH_LENGTH = 64
"""Longer strings are refused before any parsing (the longest tile path has 47 characters)."""

TileFetch = Callable[["Tile"], bytes | None]
"""Fetches a tile's bytes (``tile.path`` under some prefix); None when it is not there."""

_LEVEL = re.compile(r"0|[1-9][0-9]?")
_GROUP = re.compile(r"x[0-9]{3}")
_LAST = re.compile(r"([0-9]{3})(\.p)?")
_WIDTH = re.compile(r"[1-9][0-9]{0,2}")
_ENTRIES = "entries"
_NODES_KEPT = 4096


@dataclass(frozen=True, order=True)
class Tile:
    """One tile: hash tile ``(level, index)`` of ``width`` hashes, or with ``entries`` the
    entry bundle ``index`` of ``width`` entries (level 0). Full when width is 256."""

    level: int
    index: int
    width: int = TILE_WIDTH
    entries: bool = False

    def __post_init__(self) -> None:
        for name in ("level", "index", "width"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int):
                raise MalformedInput(f"tile {name}: expected an integer, found {value!r}")
        if not 0 <= self.level <= MAX_TILE_LEVEL:
            raise MalformedInput(f"tile level: expected 0 to {MAX_TILE_LEVEL}, found {self.level}")
        if self.entries and self.level != 0:
            raise MalformedInput(f"entry bundles are level 0, found level {self.level}")
        if not 1 <= self.width <= TILE_WIDTH:
            raise MalformedInput(f"tile width: expected 1 to {TILE_WIDTH}, found {self.width}")
        if self.index < 0 or self.start > MAX_TREE_SIZE:
            raise MalformedInput(
                f"tile index: expected a tile starting within a 64-bit tree size, "
                f"found index {self.index} at level {self.level}"
            )

    @property
    def is_partial(self) -> bool:
        """Whether this is the right edge of a tree (fewer than 256 hashes or entries)."""
        return self.width < TILE_WIDTH

    @property
    def start(self) -> int:
        """The first leaf (entry index) under the tile: ``index * 256**(level + 1)``."""
        return self.index << (TILE_HEIGHT * (self.level + 1))

    @property
    def end(self) -> int:
        """The leaf after the last one under the tile's ``width`` hashes."""
        return self.start + (self.width << (TILE_HEIGHT * self.level))

    @property
    def path(self) -> str:
        """``tile/<L>/<N>[.p/<W>]`` or ``tile/entries/<N>[.p/<W>]``, without a prefix."""
        kind = _ENTRIES if self.entries else str(self.level)
        suffix = f".p/{self.width}" if self.is_partial else ""
        return f"tile/{kind}/{encode_index(self.index)}{suffix}"

    def full(self) -> Tile:
        """The full tile (or bundle) at the same place."""
        return Tile(self.level, self.index, TILE_WIDTH, self.entries)

    def bundle(self) -> Tile:
        """The entry bundle beside this level-0 hash tile (same index and width)."""
        if self.level != 0:
            raise MalformedInput(f"only level-0 tiles have entry bundles, found level {self.level}")
        return Tile(0, self.index, self.width, entries=True)

    def hash_tile(self) -> Tile:
        """The level-0 hash tile beside this entry bundle (same index and width)."""
        return Tile(self.level, self.index, self.width)

    def node_ids(self) -> list[NodeId]:
        """The node table's ``(level, idx)`` of each hash in the tile, in order: the nodes
        ``(8L, N*256 + i)`` for i < W (for a bundle, the leaves its entries hash to)."""
        level = TILE_HEIGHT * self.level
        first = self.index * TILE_WIDTH
        return [(level, first + i) for i in range(self.width)]


def encode_index(index: int) -> str:
    """``<N>`` of a tile path: groups of three digits, all but the last prefixed by ``x``
    (``encode_index(1234067) == "x001/x234/067"``)."""
    if isinstance(index, bool) or not isinstance(index, int) or index < 0:
        raise MalformedInput(f"tile index: expected a non-negative integer, found {index!r}")
    groups = [f"{index % 1000:03d}"]
    index //= 1000
    while index:
        groups.append(f"x{index % 1000:03d}")
        index //= 1000
    return "/".join(reversed(groups))


def parse_tile_path(path: str) -> Tile:
    """The tile a path names (``tile/...`` without a prefix or leading slash), strictly:
    every string but the one :attr:`Tile.path` gives for a tile is refused (MalformedInput).

    1. ``tile/``, then a level (0-63, no leading zero) or ``entries``;
    2. N: zero or more ``x<3 digits>`` groups, the first not ``x000``, then 3 digits;
    3. optionally ``.p/<W>`` with 1 <= W <= 255 and no leading zero;
    4. nothing else: no empty element, no trailing slash, ASCII digits only;
    5. the tile starts within a 64-bit tree size.
    """
    if not isinstance(path, str):
        raise MalformedInput(f"tile path: expected text, found {type(path).__name__}")
    if len(path) > MAX_TILE_PATH_LENGTH:
        raise MalformedInput(f"tile path: expected at most {MAX_TILE_PATH_LENGTH} characters")
    parts = path.split("/")
    if len(parts) < 3 or parts[0] != "tile":
        raise MalformedInput(f"tile path: expected tile/<L>/<N>[.p/<W>], found {path!r}")
    kind, rest = parts[1], parts[2:]
    entries = kind == _ENTRIES
    if not entries and not _LEVEL.fullmatch(kind):
        raise MalformedInput(
            f"tile path: expected a level 0-{MAX_TILE_LEVEL} without leading zeros "
            f"or 'entries', found {kind!r}"
        )
    level = 0 if entries else int(kind)
    width = TILE_WIDTH
    last = len(rest) - 1
    if len(rest) >= 2 and rest[-2].endswith(".p"):
        if not _WIDTH.fullmatch(rest[-1]) or int(rest[-1]) >= TILE_WIDTH:
            raise MalformedInput(
                f"tile path: expected a partial width 1-{TILE_WIDTH - 1} without leading "
                f"zeros after .p/, found {rest[-1]!r}"
            )
        width = int(rest[-1])
        last = len(rest) - 2
    groups, final = rest[:last], rest[last]
    match = _LAST.fullmatch(final)
    if match is None or (match.group(2) is not None) != (width < TILE_WIDTH):
        raise MalformedInput(
            f"tile path: expected three digits (then .p/<W> for a partial tile) as the "
            f"last element of N, found {final!r}"
        )
    for group in groups:
        if not _GROUP.fullmatch(group):
            raise MalformedInput(f"tile path: expected x and three digits, found {group!r}")
    if groups and groups[0] == "x000":
        raise MalformedInput("tile path: expected no leading x000 group in N")
    index = 0
    for digits in [g[1:] for g in groups] + [match.group(1)]:
        index = index * 1000 + int(digits)
    try:
        return Tile(level, index, width, entries)
    except MalformedInput as exc:  # a level over 63, an N past a 64-bit tree
        raise MalformedInput(f"tile path: {exc}") from exc


def tile_width(level: int, index: int, size: int) -> int:
    """How many hashes (or, at level 0, entries) tile ``(level, index)`` has in a tree of
    ``size`` leaves: 256 when full, 0 when the tree does not reach it."""
    if size < 0:
        raise OutOfRange(f"tree size must be >= 0, got {size}")
    below = (size >> (TILE_HEIGHT * level)) - index * TILE_WIDTH
    return max(0, min(TILE_WIDTH, below))


def tree_tile(level: int, index: int, size: int, *, entries: bool = False) -> Tile | None:
    """Tile ``(level, index)`` as a tree of ``size`` leaves has it (full, or partial with
    the tree's width), or None when the tree does not reach it."""
    width = tile_width(level, index, size)
    return Tile(level, index, width, entries) if width else None


def in_tree(tile: Tile, size: int) -> bool:
    """Whether every hash (or entry) of ``tile`` exists in a tree of ``size`` leaves: then
    its bytes are fixed forever (a partial tile's too: its W hashes are perfect subtrees)."""
    return tile.end <= size


def tree_levels(size: int) -> int:
    """How many tile levels a tree of ``size`` leaves has (0 for the empty tree)."""
    levels = 0
    while size >> (TILE_HEIGHT * levels):
        levels += 1
    return levels


def tiles_for_tree(size: int, since: int = 0) -> list[Tile]:
    """The hash tiles a static copy of the tree of ``size`` leaves holds beyond what one of
    the tree of ``since`` leaves holds: the full tiles that do not lie wholly below
    ``since``, and the partial tiles of ``size``. Highest level first, then by index (the
    order in which each full tile can be checked against its parent). The entry bundles
    are the level-0 tiles' :meth:`Tile.bundle`.

    ``since == 0`` gives every tile of the tree (``tlog-tiles`` serves nothing else).
    """
    if not 0 <= since <= size <= MAX_TREE_SIZE:
        raise OutOfRange(f"expected 0 <= since <= size < 2**64, got since={since} size={size}")
    out: list[Tile] = []
    for level in reversed(range(tree_levels(size))):
        shift = TILE_HEIGHT * (level + 1)
        out.extend(Tile(level, n) for n in range(since >> shift, size >> shift))
        partial = (size >> (TILE_HEIGHT * level)) % TILE_WIDTH
        if partial:
            out.append(Tile(level, size >> shift, partial))
    return out


# --- contents -----------------------------------------------------------------------------------


def encode_hashes(hashes: Sequence[bytes]) -> bytes:
    """A hash tile's bytes: its 1 to 256 hashes of 32 bytes, concatenated."""
    if not 1 <= len(hashes) <= TILE_WIDTH:
        raise MalformedInput(f"hash tile: expected 1 to {TILE_WIDTH} hashes, got {len(hashes)}")
    for i, value in enumerate(hashes):
        if len(value) != HASH_SIZE:
            raise MalformedInput(f"hash tile: hash {i} has {len(value)} bytes, not {HASH_SIZE}")
    return b"".join(hashes)


def decode_hashes(data: bytes, tile: Tile) -> list[bytes]:
    """The hashes of hash tile ``tile`` from its bytes: exactly ``width * 32`` of them."""
    if tile.entries:
        raise MalformedInput(f"{tile.path} is an entry bundle, not a hash tile")
    expected = tile.width * HASH_SIZE
    if len(data) != expected:
        raise MalformedInput(f"{tile.path}: expected {expected} bytes, got {len(data)}")
    return [bytes(data[i : i + HASH_SIZE]) for i in range(0, expected, HASH_SIZE)]


def encode_bundle(entries: Sequence[bytes], first_index: int = 0) -> bytes:
    """An entry bundle's bytes: each entry as a big-endian uint16 length, then its bytes.

    Refuses (MalformedInput naming the entry's index, counted from ``first_index``) an
    entry over MAX_BUNDLE_ENTRY_BYTES, which the uint16 cannot express, rather than
    writing a bundle no reader can split.
    """
    if not 1 <= len(entries) <= TILE_WIDTH:
        raise MalformedInput(
            f"entry bundle: expected 1 to {TILE_WIDTH} entries, got {len(entries)}"
        )
    out = bytearray()
    for offset, entry in enumerate(entries):
        if len(entry) > MAX_BUNDLE_ENTRY_BYTES:
            raise MalformedInput(
                f"entry {first_index + offset} has {len(entry)} bytes: a tlog-tiles entry "
                f"bundle carries at most {MAX_BUNDLE_ENTRY_BYTES} (a uint16 length)",
                field="entry",
            )
        out += len(entry).to_bytes(2, "big")
        out += entry
    return bytes(out)


def decode_bundle(data: bytes, tile: Tile) -> list[bytes]:
    """The entries of bundle ``tile`` from its bytes: exactly ``width`` length-prefixed
    entries and not one byte more."""
    if not tile.entries:
        raise MalformedInput(f"{tile.path} is a hash tile, not an entry bundle")
    entries: list[bytes] = []
    offset = 0
    while offset < len(data):
        if len(entries) == tile.width:
            raise MalformedInput(
                f"{tile.path}: {len(data) - offset} bytes after its {tile.width} entries"
            )
        if offset + 2 > len(data):
            raise MalformedInput(f"{tile.path}: truncated length of entry {len(entries)}")
        length = int.from_bytes(data[offset : offset + 2], "big")
        offset += 2
        if offset + length > len(data):
            raise MalformedInput(
                f"{tile.path}: entry {len(entries)} needs {length} bytes, {len(data) - offset} left"
            )
        entries.append(bytes(data[offset : offset + length]))
        offset += length
    if len(entries) != tile.width:
        raise MalformedInput(f"{tile.path}: expected {tile.width} entries, found {len(entries)}")
    return entries


def subtree_root(hashes: Sequence[bytes]) -> bytes:
    """The RFC 9162 root over a power-of-two run of hashes (a perfect subtree)."""
    count = len(hashes)
    if count == 0 or count & (count - 1):
        raise MalformedInput(f"a perfect subtree has a power-of-two width, got {count}")
    level = list(hashes)
    while len(level) > 1:
        level = [hash_children(level[i], level[i + 1]) for i in range(0, len(level), 2)]
    return level[0]


def cover_root(cover: Sequence[tuple[NodeId, bytes]]) -> bytes:
    """The RFC 9162 root of a tree from the hashes of aligned perfect subtrees that cover
    its leaves from 0, left to right without gaps (for example ``root_nodes(a)``, then the
    leaves a..b-1, then ``range_nodes(b, size)``).

    Siblings are merged as they meet, as in binary addition, which leaves exactly the
    nodes of ``root_nodes(size)`` to fold.
    """
    stack: list[tuple[NodeId, bytes]] = []
    position = 0
    for (level, index), value in cover:
        if index << level != position:
            raise MalformedInput(
                f"cover: node ({level}, {index}) starts at leaf {index << level}, "
                f"expected one starting at {position}"
            )
        position += 1 << level
        while stack and index & 1 and stack[-1][0] == (level, index - 1):
            value = hash_children(stack.pop()[1], value)
            level, index = level + 1, index >> 1
        stack.append(((level, index), value))
    return fold_range([value for _, value in stack])


# --- reading a tree from its tiles ----------------------------------------------------------------


class TileReader:
    """A ``merkle.NodeReader`` over the tiles of a tree of ``size`` leaves.

    Each perfect node ``(k, i)`` of the tree is hashed up from the tile of level ``k // 8``
    that holds its ``2**(k % 8)`` lowest hashes, fetched with the width the tree has there
    (a partial tile's ``.p/<W>``, with the full tile as the fallback C2SP allows once the
    partial one is gone). So ``merkle.inclusion_proof(reader, i, n)`` and
    ``merkle.consistency_proof(reader, m, n)`` (n <= size) give what the node table gives.

    Nothing read is trusted: a proof from a reader is verified against a checkpoint's root
    like any other, and :func:`verified_entries` checks bundles before handing them out.
    ``fetches`` and ``fetched_bytes`` count what was read (at most ``cache`` tiles are kept).
    """

    def __init__(self, fetch: TileFetch, size: int, *, cache: int = 64) -> None:
        """Read the tree of ``size`` leaves through ``fetch``."""
        if not 0 <= size <= MAX_TREE_SIZE:
            raise OutOfRange(f"tree size must be 0 to 2**64 - 1, got {size}")
        self._fetch = fetch
        self._size = size
        self._cache: OrderedDict[Tile, list[bytes]] = OrderedDict()
        self._cache_limit = max(1, cache)
        # Nodes hashed up from tiles, kept: reading a log left to right asks for the same
        # right-border nodes for every bundle.
        self._nodes: OrderedDict[NodeId, bytes] = OrderedDict()
        self.fetches = 0
        self.fetched_bytes = 0

    @property
    def size(self) -> int:
        """The tree size the tiles are read for."""
        return self._size

    def fetch(self, tile: Tile) -> bytes:
        """The bytes of ``tile``; for a partial tile the full one's first bytes when the
        partial one is no longer served. Raises StorageError when neither is there."""
        data = self._get(tile)
        if data is None and tile.is_partial:
            full = self._get(tile.full())
            if full is not None:
                data = _full_prefix(full, tile)
        if data is None:
            raise StorageError(f"{tile.path} is not served (needed for tree size {self._size})")
        return data

    def _get(self, tile: Tile) -> bytes | None:
        self.fetches += 1
        data = self._fetch(tile)
        if data is not None:
            self.fetched_bytes += len(data)
        return data

    def tile_hashes(self, level: int, index: int) -> list[bytes]:
        """The hashes of tile ``(level, index)`` of this tree (fetched once while cached)."""
        tile = tree_tile(level, index, self._size)
        if tile is None:
            raise OutOfRange(f"tile ({level}, {index}) is beyond a tree of {self._size} leaves")
        cached = self._cache.get(tile)
        if cached is not None:
            self._cache.move_to_end(tile)
            return cached
        hashes = decode_hashes(self.fetch(tile), tile)
        self._cache[tile] = hashes
        if len(self._cache) > self._cache_limit:
            self._cache.popitem(last=False)
        return hashes

    def get_nodes(self, ids: Sequence[NodeId]) -> Mapping[NodeId, bytes]:
        """The hash of each perfect node in ``ids``, hashed up from its tile."""
        out: dict[NodeId, bytes] = {}
        for level, index in ids:
            known = self._nodes.get((level, index))
            if known is not None:
                out[(level, index)] = known
                continue
            if level < 0 or index < 0 or (index + 1) << level > self._size:
                raise OutOfRange(
                    f"node ({level}, {index}) is not a perfect subtree of a tree of "
                    f"{self._size} leaves"
                )
            tile_level, rise = divmod(level, TILE_HEIGHT)
            first = index << rise
            hashes = self.tile_hashes(tile_level, first >> TILE_HEIGHT)
            offset = first % TILE_WIDTH
            value = subtree_root(hashes[offset : offset + (1 << rise)])
            out[(level, index)] = value
            if rise:  # a node of tree level 8L is a tile's hash as it is: nothing to keep
                self._nodes[(level, index)] = value
                if len(self._nodes) > _NODES_KEPT:
                    self._nodes.popitem(last=False)
        return out

    def entries(self, index: int) -> list[bytes]:
        """The entries of bundle ``index`` of this tree, as served: NOT verified (see
        :func:`verified_entries`)."""
        tile = tree_tile(0, index, self._size, entries=True)
        if tile is None:
            raise OutOfRange(f"bundle {index} is beyond a tree of {self._size} leaves")
        return decode_bundle(self.fetch(tile), tile)


def _full_prefix(full: bytes, tile: Tile) -> bytes | None:
    """The first ``tile.width`` hashes or entries of a full tile's bytes (None if short)."""
    if not tile.entries:
        want = tile.width * HASH_SIZE
        return full[:want] if len(full) >= want else None
    offset = 0
    for _ in range(tile.width):
        if offset + 2 > len(full):
            return None
        offset += 2 + int.from_bytes(full[offset : offset + 2], "big")
    return full[:offset] if offset <= len(full) else None


def verified_entries(
    reader: TileReader, root: bytes, start: int = 0, end: int | None = None
) -> Iterator[tuple[int, bytes]]:
    """Yield ``(index, entry)`` for ``start <= index < end`` of the tree of ``reader.size``
    leaves whose root is ``root`` (take both from a verified checkpoint), a bundle at a time.

    No entry is yielded before its bundle is proved to be in that tree: the bundle's leaf
    hashes, with the nodes left of it (first from tiles, then from the bundles already
    proved) and right of it (from tiles), must give ``root`` (RootMismatch otherwise). A
    whole-log read so fetches the bundles and only the few hash tiles along the right
    border; level-0 hash tiles are not needed at all.
    """
    size = reader.size
    stop = size if end is None else end
    if len(root) != HASH_SIZE:
        raise MalformedInput(f"root: expected {HASH_SIZE} bytes, got {len(root)}")
    if not 0 <= start <= stop <= size:
        raise OutOfRange(f"entries: expected 0 <= start <= end <= {size}, got {start}..{stop}")
    if start == stop:
        return
    first = start >> TILE_HEIGHT
    left = CompactRange.load(reader, first * TILE_WIDTH)  # unproved until the first check
    for bundle in range(first, ((stop - 1) >> TILE_HEIGHT) + 1):
        entries = reader.entries(bundle)
        for entry in entries:
            left.append(hash_leaf(entry))
        done = left.size
        right = range_nodes(done, size)
        found = reader.get_nodes(right)
        cover = [*zip(root_nodes(done), left.hashes, strict=True)]
        cover += [(node, found[node]) for node in right]
        calculated = cover_root(cover)
        if calculated != root:
            raise RootMismatch(
                expected=root,
                calculated=calculated,
                what=f"entries {bundle * TILE_WIDTH}..{done - 1} (tile/entries/"
                f"{encode_index(bundle)}) against the checkpoint root",
            )
        base = bundle * TILE_WIDTH
        for offset, entry in enumerate(entries):
            if start <= base + offset < stop:
                yield base + offset, entry
