"""The state map (ledger.statemap) against a brute-force reference, plus tamper and parsing tests.

The reference shares no code with the module: it spells the tags out and walks *every*
position of a small key space bottom up. Keys are a fixed 256-bit pattern in which `depth`
bits, starting at bit `at`, vary: `at = 0` tests the top of the tree, `at = 256 - depth` the
bottom (paths 256 levels long), and anything between. Below and above the varying bits the
tree is one path, which the reference folds level by level as well.
"""

from __future__ import annotations

import hashlib
import json
import random
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ledger.encoding import canonical_json, parse_canonical_json
from ledger.errors import LedgerError, MalformedInput, MalformedProof, RootMismatch
from ledger.statemap import (
    EMPTY_ROOT,
    LEAF_TAG,
    MAX_PROOF_BYTES,
    NODE_TAG,
    STATE_FIELDS,
    LotState,
    MapProof,
    StateMap,
    lot_key,
    map_root,
    state_hash,
    verify,
)

K = TypeVar("K", bytes, int)

# --- the reference ----------------------------------------------------------------------------


def _leaf(key: bytes, value: bytes) -> bytes:
    return hashlib.sha256(b"altan-map-v1/leaf" + key + value).digest()


def _node(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"altan-map-v1/node" + left + right).digest()


_EMPTY = hashlib.sha256(b"altan-map-v1/empty").digest()

# A subtree, as the definition sees it: None (no key), ("leaf", h) (one key) or ("node", h).
Cell = tuple[str, bytes] | None


def _combine(left: Cell, right: Cell) -> Cell:
    if left is None and right is None:
        return None
    if right is None and left is not None and left[0] == "leaf":
        return left
    if left is None and right is not None and right[0] == "leaf":
        return right
    return (
        "node",
        _node(_EMPTY if left is None else left[1], _EMPTY if right is None else right[1]),
    )


@dataclass(frozen=True)
class Space:
    """Keys equal to `base` except for `depth` bits starting at bit `at` (0 = most significant)."""

    depth: int
    at: int
    base: int

    def key(self, position: int) -> bytes:
        shift = 256 - self.at - self.depth
        mask = ((1 << self.depth) - 1) << shift
        return ((self.base & ~mask) | (position << shift)).to_bytes(32, "big")

    def keys(self) -> list[bytes]:
        return [self.key(i) for i in range(1 << self.depth)]

    def root(self, entries: Mapping[bytes, bytes]) -> bytes:
        """Brute force: every position of the space, then the fixed bits above it, one by one."""
        assert set(entries) <= set(self.keys())
        level: list[Cell] = [
            ("leaf", _leaf(k, entries[k])) if k in entries else None for k in self.keys()
        ]
        while len(level) > 1:
            level = [_combine(level[i], level[i + 1]) for i in range(0, len(level), 2)]
        cell = level[0]
        for bit in range(self.at - 1, -1, -1):  # the fixed bits above: one-sided levels
            right = (self.base >> (255 - bit)) & 1
            cell = _combine(None, cell) if right else _combine(cell, None)
        return _EMPTY if cell is None else cell[1]


@st.composite
def spaces_and_entries(draw: st.DrawFn, max_depth: int = 8) -> tuple[Space, dict[bytes, bytes]]:
    depth = draw(st.integers(1, max_depth))
    at = draw(st.sampled_from([0, 256 - depth, draw(st.integers(0, 256 - depth))]))
    base = draw(st.integers(0, 2**256 - 1))
    space = Space(depth, at, base)
    positions = draw(st.sets(st.integers(0, (1 << depth) - 1), max_size=40))
    entries = {space.key(p): draw(st.binary(min_size=32, max_size=32)) for p in positions}
    return space, entries


def random_entries(rnd: random.Random, n: int) -> dict[bytes, bytes]:
    return {rnd.randbytes(32): rnd.randbytes(32) for _ in range(n)}


def flip(data: bytes, bit: int) -> bytes:
    out = bytearray(data)
    out[bit // 8] ^= 0x80 >> (bit % 8)
    return bytes(out)


def rebuilt(m: StateMap) -> StateMap:
    return StateMap(dict(m.items()))


def assert_same_tree(a: StateMap, b: StateMap) -> None:
    assert a.root == b.root
    assert dict(a.interior) == dict(b.interior)
    assert dict(a.tips) == dict(b.tips)


# --- roots ------------------------------------------------------------------------------------


def test_hashing_tags_are_their_own() -> None:
    assert LEAF_TAG == b"altan-map-v1/leaf" and NODE_TAG == b"altan-map-v1/node"
    assert LEAF_TAG[0] not in (0, 1)  # never an RFC 9162 leaf or node input
    assert EMPTY_ROOT == _EMPTY == StateMap().root == map_root({})
    assert EMPTY_ROOT.hex() == hashlib.sha256(b"altan-map-v1/empty").hexdigest()


def test_known_answer() -> None:
    """Regression vector: the format must not drift (keys and values of two lots)."""
    one = LotState("active", "centre-1", "centre-1", None, 1000, 7)
    two = LotState("closed", "buyer-9", "buyer-9", "cert-3", 0, 42, ("hold-1", "hold-2"))
    m = StateMap({lot_key("lot-1"): one.hash(), lot_key("lot-2"): two.hash()})
    single = StateMap({lot_key("lot-1"): one.hash()})
    assert single.root == _leaf(lot_key("lot-1"), one.hash())
    assert m.root == KNOWN_ROOT, m.root.hex()


KNOWN_ROOT = bytes.fromhex("4342b571646ae52ed5ba4754388e59e3776c53a05d0d4d02edc630ef96ab436b")


@given(spaces_and_entries())
@settings(max_examples=300)
def test_root_matches_brute_force(case: tuple[Space, dict[bytes, bytes]]) -> None:
    space, entries = case
    assert map_root(entries) == space.root(entries)


@given(spaces_and_entries(max_depth=16), st.randoms(use_true_random=False))
@settings(max_examples=12)
def test_root_matches_brute_force_at_depth_16(
    case: tuple[Space, dict[bytes, bytes]], rnd: random.Random
) -> None:
    space, entries = case
    space = Space(16, space.at if space.at <= 240 else 240, space.base)
    entries = {space.key(rnd.randrange(1 << 16)): rnd.randbytes(32) for _ in range(300)}
    assert map_root(entries) == space.root(entries)


@given(spaces_and_entries(), st.randoms(use_true_random=False))
@settings(max_examples=200)
def test_incremental_updates_match_brute_force(
    case: tuple[Space, dict[bytes, bytes]], rnd: random.Random
) -> None:
    """Random sets and deletes, one at a time: every root is the reference's."""
    space, _ = case
    m, truth = StateMap(), dict[bytes, bytes]()
    keys = space.keys()
    for _ in range(60):
        key = rnd.choice(keys)
        if rnd.random() < 0.35:
            m.delete(key)
            truth.pop(key, None)
        else:
            value = rnd.randbytes(32)
            assert m.set(key, value) == m.root
            truth[key] = value
        assert m.root == space.root(truth)
    assert_same_tree(m, StateMap(truth))


@given(st.integers(0, 200), st.randoms(use_true_random=False))
@settings(max_examples=60)
def test_order_independent_at_256_bits(n: int, rnd: random.Random) -> None:
    entries = random_entries(rnd, n)
    items = list(entries.items())
    bulk = StateMap(entries)
    for _ in range(2):
        rnd.shuffle(items)
        m = StateMap()
        for key, value in items:
            m.set(key, value)
        assert_same_tree(m, bulk)


@given(st.integers(0, 200), st.randoms(use_true_random=False))
@settings(max_examples=60)
def test_delete_restores_the_old_root(n: int, rnd: random.Random) -> None:
    m = StateMap(random_entries(rnd, n))
    before = StateMap(dict(m.items()))
    extra = {k: v for k, v in random_entries(rnd, rnd.randint(1, 5)).items() if k not in m}
    for key, value in extra.items():
        m.set(key, value)
    assert len(m) == len(before) + len(extra)
    for key in rnd.sample(list(extra), len(extra)):
        m.delete(key)
    assert_same_tree(m, before)
    absent = next(k for k in (bytes([i]) * 32 for i in range(256)) if k not in m)
    assert m.delete(absent) == before.root  # absent: nothing happens
    assert_same_tree(m, before)


@given(st.integers(0, 120), st.randoms(use_true_random=False))
@settings(max_examples=40)
def test_random_operations_at_256_bits_match_a_rebuild(n: int, rnd: random.Random) -> None:
    """Sets, overwrites and deletes on long shared prefixes too: the tree equals a rebuild."""
    m = StateMap(random_entries(rnd, n))
    stem = rnd.randbytes(32)
    for _ in range(80):
        roll = rnd.random()
        if roll < 0.3 and len(m):
            m.delete(rnd.choice([k for k, _ in m.items()]))
        elif roll < 0.5:  # a neighbour of `stem`: differs only in the last bits
            m.set(flip(stem, rnd.randrange(248, 256)), rnd.randbytes(32))
        else:
            m.set(rnd.randbytes(32), rnd.randbytes(32))
    assert_same_tree(m, rebuilt(m))


def write(store: dict[K, bytes], delta: Mapping[K, bytes | None]) -> None:
    """What a store does with MapChanges: upsert, or delete the row on None."""
    for k, v in delta.items():
        if v is None:
            store.pop(k, None)
        else:
            store[k] = v


def test_changes_rebuild_the_same_map() -> None:
    rnd = random.Random(5)
    m = StateMap(random_entries(rnd, 50))
    values: dict[bytes, bytes] = {}
    interior: dict[int, bytes] = {}
    tips: dict[int, bytes] = {}

    def apply() -> None:
        changes = m.take_changes()
        write(values, changes.values)
        write(interior, changes.interior)
        write(tips, changes.tips)

    apply()
    for _ in range(5):  # batches
        for _ in range(20):
            if rnd.random() < 0.3:
                m.delete(rnd.choice([k for k, _ in m.items()]))
            else:
                m.set(rnd.randbytes(32), rnd.randbytes(32))
        apply()
        loaded = StateMap.load(values, interior, tips)
        assert_same_tree(loaded, m)
        assert values == dict(m.items())
    assert m.take_changes().interior == {}


# --- proofs -----------------------------------------------------------------------------------


@given(spaces_and_entries())
@settings(max_examples=150)
def test_every_position_proves_against_the_reference_root(
    case: tuple[Space, dict[bytes, bytes]],
) -> None:
    space, entries = case
    m = StateMap(entries)
    root = space.root(entries)
    for key in space.keys():
        proof = m.prove(key)
        verify(root, key, entries.get(key), proof)
        assert MapProof.from_bytes(proof.to_bytes()) == proof
        if entries.get(key) is None:
            with pytest.raises(LedgerError):
                verify(root, key, bytes(32), proof)
        else:
            with pytest.raises(RootMismatch):
                verify(root, key, None, proof)


def claim_holds(truth: Mapping[bytes, bytes], key: bytes, value: bytes | None) -> bool:
    return truth.get(key) == value


@given(st.integers(0, 60), st.randoms(use_true_random=False))
@settings(max_examples=30)
def test_one_bit_flips_fail(n: int, rnd: random.Random) -> None:
    """Flip any one bit of the proof, the value or the root: refused. Of the key: refused
    unless the new claim is true (an absence proof also covers the keys next to it)."""
    entries = random_entries(rnd, n)
    m = StateMap(entries)
    stem = rnd.randbytes(32)
    for first, first_value in list(entries.items())[:1]:
        m.set(flip(first, 255), first_value)  # neighbours: deep paths, leaves next to leaves
    truth = dict(m.items())
    keys = [*list(truth)[:3], rnd.randbytes(32), stem]
    for key in keys:
        value = truth.get(key)
        proof = m.prove(key)
        verify(m.root, key, value, proof)
        data = proof.to_bytes()
        for bit in rnd.sample(range(len(data) * 8), min(len(data) * 8, 120)):
            with pytest.raises(LedgerError):
                verify(m.root, key, value, MapProof.from_bytes(flip(data, bit)))
        for bit in range(0, 256, 7):
            with pytest.raises(RootMismatch):
                verify(flip(m.root, bit), key, value, proof)
            if value is not None:
                with pytest.raises(RootMismatch):
                    verify(m.root, key, flip(value, bit), proof)
        for bit in range(256):
            other = flip(key, bit)
            try:
                verify(m.root, other, value, proof)
            except (MalformedProof, RootMismatch):
                continue
            assert claim_holds(truth, other, value), f"accepted a false claim at bit {bit}"


def test_proofs_are_short() -> None:
    rnd = random.Random(1)
    m = StateMap(random_entries(rnd, 4096))
    keys = [rnd.randbytes(32) for _ in range(200)] + [k for k, _ in m.items()][:200]
    depths = [m.prove(key).depth for key in keys]
    assert 10 <= sum(depths) / len(depths) <= 15  # about log2(4096), + 1.3 for members
    assert len(StateMap().prove(bytes(32)).siblings) == 0


def test_wrong_kind_of_proof_is_malformed() -> None:
    rnd = random.Random(2)
    m = StateMap(random_entries(rnd, 3))
    absent = rnd.randbytes(32)
    # With 3 keys, a random absent key mostly ends at another key's leaf; find one that does.
    while m.prove(absent).other is None:
        absent = rnd.randbytes(32)
    proof = m.prove(absent)
    verify(m.root, absent, None, proof)
    with pytest.raises(MalformedProof, match="proves absence"):
        verify(m.root, absent, bytes(32), proof)
    assert proof.other is not None
    own = MapProof(proof.bitmap, proof.siblings, (absent, proof.other[1]))
    with pytest.raises(MalformedProof, match="own leaf"):
        verify(m.root, absent, None, own)
    with pytest.raises(MalformedProof, match="bytes"):
        verify(m.root[:31], absent, None, proof)


# --- encoding ---------------------------------------------------------------------------------


def some_proofs() -> list[MapProof]:
    rnd = random.Random(3)
    m = StateMap(random_entries(rnd, 300))
    member = next(iter(dict(m.items())))
    out = [m.prove(member), StateMap().prove(member), StateMap({member: bytes(32)}).prove(member)]
    while len(out) < 6:
        proof = m.prove(rnd.randbytes(32))
        if (proof.other is None) == (len(out) == 4):
            out.append(proof)
    return out


@pytest.mark.parametrize("proof", some_proofs())
def test_encodings_round_trip(proof: MapProof) -> None:
    data = proof.to_bytes()
    assert len(data) == 33 + 64 * (proof.other is not None) + 32 * len(proof.siblings)
    assert MapProof.from_bytes(data) == proof
    text = canonical_json(proof.to_json())
    value, problem = parse_canonical_json(text)
    assert problem is None
    assert MapProof.from_json(value) == proof


def test_binary_parsing_is_strict() -> None:
    proof = some_proofs()[0]
    data = proof.to_bytes()
    assert proof.other is None and proof.siblings
    for bad in (
        data + b"\x00",  # trailing garbage
        data[:-1],  # truncated
        data[:-32],  # one sibling fewer than the bitmap names
        data[:32] + b"\x02" + data[33:],  # unknown flag
        data[:32] + b"\x01" + data[33:],  # claims another leaf it does not carry
        b"",
        bytes(MAX_PROOF_BYTES + 1),
    ):
        with pytest.raises(MalformedProof):
            MapProof.from_bytes(bad)
    with pytest.raises(MalformedProof, match="names"):
        MapProof(bytes(31) + b"\x03", (bytes(32),))


def test_json_parsing_is_strict() -> None:
    proof = next(p for p in some_proofs() if p.other is not None)
    assert proof.other is not None and len(proof.siblings) > 1
    good = proof.to_json()
    assert MapProof.from_json(good) == proof

    def mutated(**changes: object) -> dict[str, Any]:
        out: dict[str, Any] = json.loads(json.dumps(good))
        for k, v in changes.items():
            if v is ...:
                del out[k]
            else:
                out[k] = v
        return out

    sibling = good["siblings"][0]
    for bad in (
        mutated(extra=1),
        mutated(other=None),
        mutated(bitmap=...),
        mutated(siblings=[*good["siblings"], sibling]),  # more than the bitmap names
        mutated(siblings=good["siblings"][1:]),
        mutated(siblings=sibling),
        mutated(siblings=[sibling[:-2] + "==", *good["siblings"][1:]]),  # 31 bytes
        mutated(siblings=[sibling.rstrip("="), *good["siblings"][1:]]),  # unpadded
        mutated(bitmap=good["bitmap"][:-2] + "B="),  # stray bits in the last symbol
        mutated(other={"key": good["other"]["key"]}),
        mutated(other={**good["other"], "extra": "x"}),
        mutated(siblings=[sibling] * 257),
        [good],
    ):
        with pytest.raises(MalformedProof):
            MapProof.from_json(bad)


# --- lot state --------------------------------------------------------------------------------


def test_state_hash_is_sha256_of_the_canonical_json() -> None:
    state = LotState("active", "centre-1", "buyer-2", "cert-9", 125_000, 17, ("h-1", "h-2"))
    assert set(state.to_json()) == STATE_FIELDS
    expected = (
        b'{"certificate":"cert-9","custodian":"centre-1","holds":["h-1","h-2"],'
        b'"latest_index":17,"mass_left":125000,"owner":"buyer-2","revoked":[],"status":"active"}'
    )
    assert canonical_json(state.to_json()) == expected
    assert state.hash() == state_hash(state.to_json()) == hashlib.sha256(expected).digest()
    assert LotState.from_json(state.to_json()) == state
    bare = LotState("active", "c", "c", None, 0, 0)
    assert bare.to_json()["certificate"] is None and bare.to_json()["holds"] == []


def test_lot_key_is_sha256_of_the_utf8_id() -> None:
    assert lot_key("лот-1") == hashlib.sha256("лот-1".encode()).digest()


@pytest.mark.parametrize(
    "change",
    [
        {"extra": 1},
        {"holds": ["b", "a"]},
        {"holds": ["a", "a"]},
        {"holds": "a"},
        {"mass_left": -1},
        {"mass_left": True},
        {"mass_left": 1.5},
        {"latest_index": 2**53},
        {"status": ""},
        {"owner": None},
        {"certificate": ""},
    ],
)
def test_state_refuses_bad_fields(change: dict[str, object]) -> None:
    state = LotState("active", "c", "o", None, 5, 1).to_json()
    state.update(change)
    with pytest.raises(MalformedInput):
        state_hash(state)
    missing = LotState("active", "c", "o", None, 5, 1).to_json()
    del missing["holds"]
    with pytest.raises(MalformedInput):
        state_hash(missing)
