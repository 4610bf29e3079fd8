"""A verifiable map of every lot's current state: a sparse Merkle tree over 256-bit keys.

Why this shape: a sparse Merkle tree (SMT) with single-leaf shortcuts, as in Diem's Jellyfish
tree and Dahlberg-Pulls-Peeters' "Efficient SMTs". Trillian's log-derived map (HStar2) keeps all
256 levels: 256 hashes per update and per verification. CONIKS and AKD use prefix (Patricia)
trees: same proof sizes, but nodes carry label lengths and compressed-path rules. Here a subtree
holding one key is that key's leaf hash, an empty subtree is one constant, every other subtree is
``node(left, right)``: about log2(n) + 1.3 levels (~21 at 1,000,000 keys) for updates and
proofs; 256 is the worst case. The bit position of a node is implicit (nothing like a label
length to encode or check), and the leaf binds its full key, so one proof shape answers both
questions: present (a leaf of the key), absent (an empty subtree, or the leaf of another key
sharing the path). The one rule left is canonical form: a leaf sits where its sibling is not empty.

Hashing (SHA-256; tags unlike RFC 9162's 0x00/0x01 bytes, so no log hash is a map hash)::

    key   = SHA-256(UTF-8 lot id)                              (lot_key)
    value = SHA-256(RFC 8785 canonical JSON of the LotState)   (state_hash)
    leaf  = SHA-256("altan-map-v1/leaf" || key || value)       a subtree with exactly one key
    node  = SHA-256("altan-map-v1/node" || left || right)      a subtree with two keys or more
    empty = SHA-256("altan-map-v1/empty")                      a subtree with none; empty map's root

Key bit ``d`` (0 = the most significant bit of byte 0) picks the child at depth ``d + 1``
(0 = left). A :class:`MapProof` holds a 256-bit bitmap (bit ``d - 1``, same order, set when the
sibling at depth ``d`` is not empty), the non-empty siblings, deepest first, and for an
absence proof that ends at another key's leaf, that key and its value. Its depth is the
deepest set bit (0 for a map of zero or one key). Wire form (:meth:`MapProof.to_bytes`)::

    bitmap (32) || 0x00 | 0x01 || [other key (32) || other value (32)] || siblings (32 each)

and as JSON ``{"bitmap": b64, "siblings": [b64, ...]}`` plus ``"other": {"key": b64, "value":
b64}`` when there is another leaf; parsing refuses every other form.

Verification (:func:`verify`) checklist::

    1. root, key and value are 32 bytes; the proof is well formed        MalformedProof
    2. the proof's kind fits the claim (a value needs its own leaf; an   MalformedProof
       other leaf must differ from the key and share its first depth bits)
    3. hashing up from the leaf (or empty) gives the root                RootMismatch
"""

from __future__ import annotations

import hashlib
from bisect import bisect_left
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from ledger.encoding import b64decode, b64encode, canonical_json
from ledger.entry import Entry
from ledger.errors import MalformedInput, MalformedProof, RootMismatch

__all__ = [
    "EMPTY_ROOT",
    "EMPTY_TAG",
    "KEY_BITS",
    "LEAF_TAG",
    "MAP_NAME",
    "MAX_PROOF_BYTES",
    "NODE_TAG",
    "STATE_FIELDS",
    "STATE_ROOT_TYPE",
    "LotState",
    "MapChanges",
    "MapProof",
    "StateMap",
    "StateRoot",
    "hash_map_leaf",
    "hash_map_node",
    "lot_key",
    "map_root",
    "state_hash",
    "verify",
]

LEAF_TAG = b"altan-map-v1/leaf"
NODE_TAG = b"altan-map-v1/node"
EMPTY_TAG = b"altan-map-v1/empty"
HASH_SIZE = 32
KEY_BITS = 256
EMPTY_ROOT = hashlib.sha256(EMPTY_TAG).digest()
"""The hash of an empty subtree at any depth, and so the root of the empty map."""

MAX_SIBLINGS = KEY_BITS
MAX_PROOF_BYTES = HASH_SIZE + 1 + 2 * HASH_SIZE + MAX_SIBLINGS * HASH_SIZE
"""8,289: the longest proof there is (all 256 siblings and another leaf)."""

_MAX_JSON_INT = 2**53 - 1
_sha256 = hashlib.sha256


def hash_map_leaf(key: bytes, value: bytes) -> bytes:
    """Return ``SHA-256("altan-map-v1/leaf" || key || value)``: a subtree holding only ``key``."""
    return _sha256(LEAF_TAG + key + value).digest()


def hash_map_node(left: bytes, right: bytes) -> bytes:
    """Return ``SHA-256("altan-map-v1/node" || left || right)``: a subtree of two keys or more."""
    return _sha256(NODE_TAG + left + right).digest()


def lot_key(lot_id: str) -> bytes:
    """Return the map key of a lot: SHA-256 of its id in UTF-8."""
    return _sha256(lot_id.encode("utf-8")).digest()


def _check_size(what: str, value: bytes) -> None:
    if not isinstance(value, bytes) or len(value) != HASH_SIZE:
        found = len(value) if isinstance(value, bytes) else type(value).__name__
        raise MalformedProof(f"{what} must be {HASH_SIZE} bytes, got {found}", field=what)


def _node_id(k: int, depth: int) -> int:
    """The node at ``depth`` on the path of key ``k``: its prefix under a leading 1 bit."""
    return (1 << depth) | (k >> (KEY_BITS - depth))


# --- proofs -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class MapProof:
    """The siblings on a key's path (compressed by a bitmap) and, for some absence proofs,
    the leaf of the other key found where the path ends. Valid by construction."""

    bitmap: bytes
    siblings: tuple[bytes, ...]
    other: tuple[bytes, bytes] | None = None

    def __post_init__(self) -> None:
        # 1. The bitmap is 32 bytes; the siblings are as many as its set bits, 32 bytes each.
        if not isinstance(self.bitmap, bytes) or len(self.bitmap) != KEY_BITS // 8:
            raise MalformedProof("map proof bitmap must be 32 bytes", field="bitmap")
        if not isinstance(self.siblings, tuple):
            raise MalformedProof("map proof siblings must be a tuple", field="siblings")
        claimed = int.from_bytes(self.bitmap, "big").bit_count()
        if claimed != len(self.siblings):
            raise MalformedProof(
                f"map proof bitmap names {claimed} siblings, got {len(self.siblings)}",
                field="siblings",
            )
        for i, sibling in enumerate(self.siblings):
            _check_size(f"sibling {i}", sibling)
        # 2. Another leaf is a (key, value) pair of 32-byte strings.
        if self.other is not None:
            if not isinstance(self.other, tuple) or len(self.other) != 2:
                raise MalformedProof("map proof other leaf must be (key, value)", field="other")
            _check_size("other key", self.other[0])
            _check_size("other value", self.other[1])

    @property
    def depth(self) -> int:
        """Depth of the leaf (or empty subtree) the path ends at: the deepest set bit."""
        bits = int.from_bytes(self.bitmap, "big")
        return KEY_BITS - (bits & -bits).bit_length() + 1 if bits else 0

    def to_bytes(self) -> bytes:
        """The canonical binary form (see the module docstring)."""
        head = self.bitmap + (b"\x00" if self.other is None else b"\x01" + b"".join(self.other))
        return head + b"".join(self.siblings)

    @classmethod
    def from_bytes(cls, data: bytes) -> MapProof:
        """Parse the binary form strictly: exact length, flag 0 or 1, no trailing bytes."""
        if len(data) > MAX_PROOF_BYTES:
            raise MalformedProof(
                f"a map proof has at most {MAX_PROOF_BYTES} bytes, got {len(data)}"
            )
        if len(data) < HASH_SIZE + 1:
            raise MalformedProof(f"a map proof has at least 33 bytes, got {len(data)}")
        bitmap, flag = data[:HASH_SIZE], data[HASH_SIZE]
        if flag not in (0, 1):
            raise MalformedProof(f"map proof flag must be 0 or 1, got {flag}", field="other")
        at = HASH_SIZE + 1
        other: tuple[bytes, bytes] | None = None
        if flag:
            other = (data[at : at + HASH_SIZE], data[at + HASH_SIZE : at + 2 * HASH_SIZE])
            at += 2 * HASH_SIZE
        count = int.from_bytes(bitmap, "big").bit_count()
        expected = at + count * HASH_SIZE
        if len(data) != expected:
            raise MalformedProof(
                f"a map proof with {count} siblings has {expected} bytes, got {len(data)}"
            )
        siblings = tuple(data[i : i + HASH_SIZE] for i in range(at, expected, HASH_SIZE))
        return cls(bitmap, siblings, other)

    def to_json(self) -> dict[str, Any]:
        """The JSON form: standard padded base64, ``other`` only when there is one."""
        out: dict[str, Any] = {
            "bitmap": b64encode(self.bitmap),
            "siblings": [b64encode(s) for s in self.siblings],
        }
        if self.other is not None:
            out["other"] = {"key": b64encode(self.other[0]), "value": b64encode(self.other[1])}
        return out

    @classmethod
    def from_json(cls, value: Any) -> MapProof:
        """Parse the JSON form strictly: exact fields, canonical base64, bounded size."""
        if not isinstance(value, dict):
            raise MalformedProof("a map proof must be a JSON object")
        if set(value) not in ({"bitmap", "siblings"}, {"bitmap", "siblings", "other"}):
            raise MalformedProof(
                f"a map proof has the fields bitmap, siblings (and other), got {sorted(value)}"
            )
        siblings = value["siblings"]
        if not isinstance(siblings, list) or len(siblings) > MAX_SIBLINGS:
            raise MalformedProof(f"siblings must be a list of at most {MAX_SIBLINGS} hashes")
        other: tuple[bytes, bytes] | None = None
        if "other" in value:
            leaf = value["other"]
            if not isinstance(leaf, dict) or set(leaf) != {"key", "value"}:
                raise MalformedProof("other must be an object with exactly key and value")
            other = (_b64(leaf["key"], "other key"), _b64(leaf["value"], "other value"))
        bitmap = _b64(value["bitmap"], "bitmap")
        return cls(bitmap, tuple(_b64(s, f"sibling {i}") for i, s in enumerate(siblings)), other)


def _b64(text: Any, what: str) -> bytes:
    if not isinstance(text, str):
        raise MalformedProof(f"{what} must be a base64 string", field=what)
    try:
        return b64decode(text, size=HASH_SIZE, what=what)
    except MalformedInput as exc:
        raise MalformedProof(str(exc), field=what) from exc


def verify(root: bytes, key: bytes, value: bytes | None, proof: MapProof) -> None:
    """Check that the map with ``root`` holds ``value`` at ``key`` (``None``: holds nothing).

    Raises :class:`MalformedProof` when an input is malformed or the proof is of the wrong kind
    for the claim, and :class:`RootMismatch` when the proof leads to another root.
    """
    # 1. Sizes (the proof checked its own shape when it was made).
    _check_size("root", root)
    _check_size("key", key)
    if value is not None:
        _check_size("value", value)
    if not isinstance(proof, MapProof):
        raise MalformedProof("a map proof must be a MapProof", field="proof")
    # 2. The proof's kind fits the claim.
    k = int.from_bytes(key, "big")
    depth = proof.depth
    if value is not None:
        if proof.other is not None:
            raise MalformedProof(
                "the proof ends at the leaf of another key: it proves absence, not a value",
                field="proof",
            )
        h = hash_map_leaf(key, value)
    elif proof.other is None:
        h = EMPTY_ROOT
    else:
        other_key, other_value = proof.other
        o = int.from_bytes(other_key, "big")
        if o == k:
            raise MalformedProof("an absence proof cannot end at the key's own leaf", field="other")
        if (o ^ k) >> (KEY_BITS - depth):
            raise MalformedProof(
                f"the other leaf's key must share the first {depth} bits of the key", field="other"
            )
        h = hash_map_leaf(other_key, other_value)
    # 3. Hash up to the root: bit d - 1 of the bitmap and of the key say, at depth d, whether
    #    the sibling is non-empty and on which side the path goes.
    bits = int.from_bytes(proof.bitmap, "big")
    siblings = iter(proof.siblings)
    for d in range(depth, 0, -1):
        shift = KEY_BITS - d
        sibling = next(siblings) if (bits >> shift) & 1 else EMPTY_ROOT
        h = hash_map_node(sibling, h) if (k >> shift) & 1 else hash_map_node(h, sibling)
    if h != root:
        raise RootMismatch(expected=root, calculated=h, what="map root")


# --- the map ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class MapChanges:
    """What changed since the last :meth:`StateMap.take_changes`, for storage to write.

    Node ids are ``(1 << depth) | prefix`` (the root is 1). ``None`` means "delete the row".
    """

    values: Mapping[bytes, bytes | None]
    interior: Mapping[int, bytes | None]
    tips: Mapping[int, bytes | None]


class StateMap:
    """A sparse Merkle tree of 32-byte keys to 32-byte values, updated in place.

    Kept in three dicts, all a store needs to hold: ``values`` (key -> value), ``interior``
    (node id -> hash of every subtree with two keys or more) and ``tips`` (node id -> the key
    of a one-key subtree whose parent is interior, or the root's). An update or a proof walks
    one path: O(depth) dict reads and hashes, about log2(n) + 1.3.
    """

    __slots__ = (
        "_dirty_nodes",
        "_dirty_tips",
        "_dirty_values",
        "_interior",
        "_root",
        "_tips",
        "_values",
    )

    def __init__(self, entries: Mapping[bytes, bytes] | None = None) -> None:
        """Build the map of ``entries`` in one pass over the sorted keys (one hash per node)."""
        self._values: dict[bytes, bytes] = {}
        self._interior: dict[int, bytes] = {}
        self._tips: dict[int, bytes] = {}
        self._dirty_values: set[bytes] = set()
        self._dirty_nodes: set[int] = set()
        self._dirty_tips: set[int] = set()
        self._root = EMPTY_ROOT
        if entries:
            for key, value in entries.items():
                _check_size("key", key)
                _check_size("value", value)
            self._values = dict(entries)
            ints = sorted(int.from_bytes(key, "big") for key in self._values)
            self._root = self._build(ints, 0, len(ints), 0)
            self._dirty_values.update(self._values)
            self._dirty_nodes.update(self._interior)
            self._dirty_tips.update(self._tips)

    def _build(self, ints: list[int], lo: int, hi: int, depth: int) -> bytes:
        k = ints[lo]
        if hi - lo == 1:
            key = k.to_bytes(32, "big")
            self._tips[_node_id(k, depth)] = key
            return hash_map_leaf(key, self._values[key])
        prefix = k >> (KEY_BITS - depth)
        split = bisect_left(ints, ((prefix << 1) | 1) << (KEY_BITS - depth - 1), lo, hi)
        left = self._build(ints, lo, split, depth + 1) if split > lo else EMPTY_ROOT
        right = self._build(ints, split, hi, depth + 1) if hi > split else EMPTY_ROOT
        h = hash_map_node(left, right)
        self._interior[(1 << depth) | prefix] = h
        return h

    @classmethod
    def load(
        cls,
        values: Mapping[bytes, bytes],
        interior: Mapping[int, bytes],
        tips: Mapping[int, bytes],
    ) -> StateMap:
        """Rebuild a map from what a store kept (trusted: ``audit`` recomputes from entries)."""
        self = cls()
        self._values = dict(values)
        self._interior = dict(interior)
        self._tips = dict(tips)
        if 1 in self._interior:
            self._root = self._interior[1]
        elif 1 in self._tips:
            key = self._tips[1]
            self._root = hash_map_leaf(key, self._values[key])
        return self

    @property
    def root(self) -> bytes:
        """The root hash of the map as it is now."""
        return self._root

    def __len__(self) -> int:
        return len(self._values)

    def __contains__(self, key: object) -> bool:
        return key in self._values

    def get(self, key: bytes) -> bytes | None:
        """The value at ``key``, or None."""
        return self._values.get(key)

    def items(self) -> Iterable[tuple[bytes, bytes]]:
        """Every (key, value) pair, in no particular order."""
        return self._values.items()

    @property
    def interior(self) -> Mapping[int, bytes]:
        """Node id -> hash of every subtree holding two keys or more (read only)."""
        return self._interior

    @property
    def tips(self) -> Mapping[int, bytes]:
        """Node id -> key of every one-key subtree whose parent is interior (read only)."""
        return self._tips

    def _hash_at(self, node: int) -> bytes:
        h = self._interior.get(node)
        if h is not None:
            return h
        key = self._tips.get(node)
        return EMPTY_ROOT if key is None else hash_map_leaf(key, self._values[key])

    def _descend(self, k: int) -> int:
        """Depth of the first node on the path of ``k`` that is not interior."""
        interior = self._interior
        depth = 0
        while ((1 << depth) | (k >> (KEY_BITS - depth))) in interior:
            depth += 1
        return depth

    def _rehash_up(self, k: int, depth: int, h: bytes) -> None:
        """Store the new hashes from the parent of the path node at ``depth`` to the root."""
        interior, tips, values, dirty = self._interior, self._tips, self._values, self._dirty_nodes
        node = (1 << depth) | (k >> (KEY_BITS - depth))
        while node > 1:  # _hash_at and hash_map_node inlined: this loop is most of an update
            sibling = interior.get(node ^ 1)
            if sibling is None:
                key = tips.get(node ^ 1)
                sibling = (
                    EMPTY_ROOT if key is None else _sha256(LEAF_TAG + key + values[key]).digest()
                )
            h = _sha256(NODE_TAG + sibling + h if node & 1 else NODE_TAG + h + sibling).digest()
            node >>= 1
            interior[node] = h
            dirty.add(node)
        self._root = h

    def set(self, key: bytes, value: bytes) -> bytes:
        """Set ``key`` to ``value``; return the new root. O(depth) hashes."""
        _check_size("key", key)
        _check_size("value", value)
        if self._values.get(key) == value:
            return self._root
        self._values[key] = value
        self._dirty_values.add(key)
        k = int.from_bytes(key, "big")
        depth = self._descend(k)
        node = _node_id(k, depth)
        other = self._tips.get(node)
        h = hash_map_leaf(key, value)
        if other is None or other == key:
            self._tips[node] = key
            self._dirty_tips.add(node)
        else:
            # Split the other key's tip: both leaves go one level below their common prefix.
            o = int.from_bytes(other, "big")
            common = KEY_BITS - (k ^ o).bit_length()
            del self._tips[node]
            mine, theirs = _node_id(k, common + 1), _node_id(o, common + 1)
            self._tips[mine] = key
            self._tips[theirs] = other
            h_other = hash_map_leaf(other, self._values[other])
            h = hash_map_node(h_other, h) if mine & 1 else hash_map_node(h, h_other)
            self._interior[mine >> 1] = h
            self._dirty_tips.update((node, mine, theirs))
            self._dirty_nodes.add(mine >> 1)
            for d in range(common, depth, -1):  # one-sided nodes from the split up to `depth`
                here = _node_id(k, d)
                h = hash_map_node(EMPTY_ROOT, h) if here & 1 else hash_map_node(h, EMPTY_ROOT)
                self._interior[here >> 1] = h
                self._dirty_nodes.add(here >> 1)
        self._rehash_up(k, depth, h)
        return self._root

    def delete(self, key: bytes) -> bytes:
        """Remove ``key`` (nothing happens if it is absent); return the new root."""
        _check_size("key", key)
        if key not in self._values:
            return self._root
        del self._values[key]
        self._dirty_values.add(key)
        k = int.from_bytes(key, "big")
        depth = self._descend(k)
        node = _node_id(k, depth)
        assert self._tips.get(node) == key, "a present key has its tip on its path"
        del self._tips[node]
        self._dirty_tips.add(node)
        if depth == 0:
            self._root = EMPTY_ROOT
            return self._root
        survivor = self._tips.get(node ^ 1)
        if survivor is None:  # the sibling holds two keys or more: the parent stays interior
            self._rehash_up(k, depth, EMPTY_ROOT)
            return self._root
        # The sibling is a lone leaf: it moves up while the subtree above holds only it.
        del self._tips[node ^ 1]
        self._dirty_tips.add(node ^ 1)
        up = depth - 1
        while True:
            del self._interior[_node_id(k, up)]
            self._dirty_nodes.add(_node_id(k, up))
            if up == 0:
                break
            aunt = _node_id(k, up) ^ 1
            if aunt in self._interior or aunt in self._tips:
                break
            up -= 1
        self._tips[_node_id(k, up)] = survivor
        self._dirty_tips.add(_node_id(k, up))
        self._rehash_up(k, up, hash_map_leaf(survivor, self._values[survivor]))
        return self._root

    def prove(self, key: bytes) -> MapProof:
        """Return the proof of ``key``'s value, or of its absence. O(depth) reads, no hashing
        but the one leaf next to the path end."""
        _check_size("key", key)
        k = int.from_bytes(key, "big")
        interior, tips = self._interior, self._tips
        bits = 0
        siblings: list[bytes] = []
        depth = 0
        while ((1 << depth) | (k >> (KEY_BITS - depth))) in interior:
            depth += 1
            sibling = _node_id(k, depth) ^ 1
            if sibling in interior or sibling in tips:
                bits |= 1 << (KEY_BITS - depth)
                siblings.append(self._hash_at(sibling))
        found = tips.get(_node_id(k, depth))
        other = None if found is None or found == key else (found, self._values[found])
        siblings.reverse()
        return MapProof(bits.to_bytes(KEY_BITS // 8, "big"), tuple(siblings), other)

    def take_changes(self) -> MapChanges:
        """Return what changed since the last call (or since construction), and forget it."""
        changes = MapChanges(
            values={key: self._values.get(key) for key in self._dirty_values},
            interior={node: self._interior.get(node) for node in self._dirty_nodes},
            tips={node: self._tips.get(node) for node in self._dirty_tips},
        )
        self._dirty_values = set()
        self._dirty_nodes = set()
        self._dirty_tips = set()
        return changes


def map_root(entries: Mapping[bytes, bytes]) -> bytes:
    """Return the root of the map holding ``entries`` (``EMPTY_ROOT`` when there are none)."""
    return StateMap(entries).root


# --- lot state --------------------------------------------------------------------------------

STATE_FIELDS = frozenset(
    {"status", "custodian", "owner", "certificate", "mass_left", "latest_index", "holds", "revoked"}
)


@dataclass(frozen=True)
class LotState:
    """A lot's current state as the log defines it: the value the map commits to (hashed).

    ``mass_left`` is in the lot's own unit (fixed when it was created); ``latest_index`` is the
    index of the latest entry about the lot; ``holds`` the ids of its open holds, sorted;
    ``revoked`` the ids of the lot's certificates a regulator revoked, sorted (so a proof
    tells a revoked certificate from a superseded one).
    """

    status: str
    custodian: str
    owner: str
    certificate: str | None
    mass_left: int
    latest_index: int
    holds: tuple[str, ...] = ()
    revoked: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        for name in ("status", "custodian", "owner"):
            if not isinstance(getattr(self, name), str) or not getattr(self, name):
                raise MalformedInput(f"lot state {name} must be a non-empty string", field=name)
        if self.certificate is not None and (
            not isinstance(self.certificate, str) or not self.certificate
        ):
            raise MalformedInput("lot state certificate must be a non-empty string or None")
        for name in ("mass_left", "latest_index"):
            number = getattr(self, name)
            if type(number) is not int or not 0 <= number <= _MAX_JSON_INT:
                raise MalformedInput(
                    f"lot state {name} must be an integer in [0, 2**53 - 1], got {number!r}",
                    field=name,
                )
        for name in ("holds", "revoked"):
            ids = getattr(self, name)
            if not isinstance(ids, tuple) or not all(isinstance(h, str) and h for h in ids):
                raise MalformedInput(f"lot state {name} must be a tuple of non-empty strings")
            if list(ids) != sorted(set(ids)):
                raise MalformedInput(f"lot state {name} must be sorted and distinct", field=name)

    def to_json(self) -> dict[str, Any]:
        """The JSON object whose RFC 8785 bytes are hashed (every field, ``null`` included)."""
        return {
            "status": self.status,
            "custodian": self.custodian,
            "owner": self.owner,
            "certificate": self.certificate,
            "mass_left": self.mass_left,
            "latest_index": self.latest_index,
            "holds": list(self.holds),
            "revoked": list(self.revoked),
        }

    @classmethod
    def from_json(cls, value: Mapping[str, Any]) -> LotState:
        """Parse the JSON object of :meth:`to_json` strictly: exactly its fields."""
        if not isinstance(value, Mapping) or set(value) != STATE_FIELDS:
            found = sorted(value) if isinstance(value, Mapping) else type(value).__name__
            raise MalformedInput(f"a lot state has the fields {sorted(STATE_FIELDS)}, got {found}")
        holds, revoked = value["holds"], value["revoked"]
        for name, ids in (("holds", holds), ("revoked", revoked)):
            if not isinstance(ids, list | tuple):
                raise MalformedInput(f"lot state {name} must be a list", field=name)
        return cls(
            status=value["status"],
            custodian=value["custodian"],
            owner=value["owner"],
            certificate=value["certificate"],
            mass_left=value["mass_left"],
            latest_index=value["latest_index"],
            holds=tuple(holds),
            revoked=tuple(revoked),
        )

    def hash(self) -> bytes:
        """The map value of this state: :func:`state_hash` of :meth:`to_json`."""
        return _sha256(canonical_json(self.to_json())).digest()


def state_hash(state: Mapping[str, Any]) -> bytes:
    """Return SHA-256 of the RFC 8785 bytes of a lot state (exactly :data:`STATE_FIELDS`).

    Raises :class:`MalformedInput` for missing or extra fields or a value of the wrong type.
    """
    return LotState.from_json(state).hash()


# --- the root in the log ----------------------------------------------------------------------

STATE_ROOT_TYPE = "state.root"
MAP_NAME = "altan-map-v1"
_ROOT_FIELDS = frozenset({"map", "root", "size", "lots"})


@dataclass(frozen=True)
class StateRoot:
    """The map root the log commits to: the body of a ``state.root`` entry.

    ``size`` is the number of entries the root covers (0 .. size - 1), which is the index of
    the ``state.root`` entry itself; ``lots`` is how many keys the map holds. As JSON::

        {"map": "altan-map-v1", "root": "<base64 of 32 bytes>", "size": N, "lots": L}

    The service appends one as the last entry of every append, so that the last entry of
    every checkpoint it publishes (but the empty log's) is the state as of that checkpoint.
    """

    root: bytes
    size: int
    lots: int

    def __post_init__(self) -> None:
        _check_size("root", self.root)
        for name in ("size", "lots"):
            number = getattr(self, name)
            if type(number) is not int or not 0 <= number <= _MAX_JSON_INT:
                raise MalformedInput(f"state.root {name}: expected an integer in [0, 2**53 - 1]")

    def body(self) -> dict[str, Any]:
        """The entry body (what :meth:`from_body` parses)."""
        return {"map": MAP_NAME, "root": b64encode(self.root), "size": self.size, "lots": self.lots}

    @classmethod
    def from_body(cls, body: Any) -> StateRoot:
        """Parse a ``state.root`` body strictly: exactly its four fields, this map's name."""
        if not isinstance(body, Mapping) or set(body) != _ROOT_FIELDS:
            raise MalformedInput(f"a state.root body has the fields {sorted(_ROOT_FIELDS)}")
        if body["map"] != MAP_NAME:
            raise MalformedInput(
                f"state.root map: expected {MAP_NAME!r}, got {body['map']!r}"[:200]
            )
        return cls(_b64(body["root"], "state.root root"), body["size"], body["lots"])

    @classmethod
    def from_entry(cls, entry: Entry) -> StateRoot:
        """The root of a ``state.root`` entry, whose size must be its own index."""
        if entry.event.type != STATE_ROOT_TYPE:
            raise MalformedInput(
                f"entry {entry.index} is a {entry.event.type[:64]!r}, not a {STATE_ROOT_TYPE}"
            )
        root = cls.from_body(entry.event.body)
        if root.size != entry.index:
            raise MalformedInput(
                f"state.root at entry {entry.index} claims to cover {root.size} entries"
            )
        return root
