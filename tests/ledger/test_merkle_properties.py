"""The fast Merkle code against a naive reference written straight from RFC 9162 §2.1.

The reference below recurses over the leaf list exactly as the RFC text does (MTH, PATH,
PROOF/SUBPROOF) and uses hashlib directly, sharing no code with ledger.merkle.
"""

from __future__ import annotations

import hashlib
import math
import random
from collections.abc import Mapping, Sequence
from functools import cache

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ledger.errors import (
    LedgerError,
    MalformedInput,
    MalformedProof,
    OutOfRange,
    RootMismatch,
    StorageError,
)
from ledger.hashing import HASH_SIZE, empty_root, hash_children, hash_leaf
from ledger.merkle import (
    MAX_PROOF_HASHES,
    CompactRange,
    NodeId,
    consistency_proof,
    consistency_proof_length,
    consistency_proof_plan,
    fold_range,
    inclusion_proof,
    inclusion_proof_length,
    inclusion_proof_plan,
    range_nodes,
    root_from_inclusion_proof,
    root_hash,
    root_nodes,
    verify_consistency,
    verify_inclusion,
)

# --- the reference: RFC 9162 §2.1.1, §2.1.3.1, §2.1.4.1 as written --------------------------


class Reference:
    """MTH, PATH and PROOF over a list of leaf inputs, memoised on (start, end) ranges."""

    def __init__(self, leaves: Sequence[bytes]) -> None:
        self.leaves = list(leaves)
        self.mth = cache(self._mth)

    @staticmethod
    def _k(n: int) -> int:
        """The largest power of two smaller than n (n > 1)."""
        k = 1
        while k * 2 < n:
            k *= 2
        return k

    def _mth(self, start: int, end: int) -> bytes:
        n = end - start
        if n == 0:
            return hashlib.sha256(b"").digest()
        if n == 1:
            return hashlib.sha256(b"\x00" + self.leaves[start]).digest()
        k = self._k(n)
        return hashlib.sha256(
            b"\x01" + self.mth(start, start + k) + self.mth(start + k, end)
        ).digest()

    def path(self, m: int, start: int, end: int) -> list[bytes]:
        n = end - start
        if n == 1:
            return []
        k = self._k(n)
        if m < k:
            return [*self.path(m, start, start + k), self.mth(start + k, end)]
        return [*self.path(m - k, start + k, end), self.mth(start, start + k)]

    def proof(self, m: int, n: int) -> list[bytes]:
        return self.subproof(m, 0, n, True)

    def subproof(self, m: int, start: int, end: int, b: bool) -> list[bytes]:
        n = end - start
        if m == n:
            return [] if b else [self.mth(start, end)]
        k = self._k(n)
        if m <= k:
            return [*self.subproof(m, start, start + k, b), self.mth(start + k, end)]
        return [*self.subproof(m - k, start + k, end, False), self.mth(start, start + k)]


# --- a dict-backed store that counts its reads ------------------------------------------------


class CountingReader:
    """A NodeReader filled from CompactRange.append outputs; records every get_nodes call."""

    def __init__(self, leaves: Sequence[bytes] = ()) -> None:
        self.nodes: dict[NodeId, bytes] = {}
        self.calls: list[list[NodeId]] = []
        self.frontier = CompactRange()
        for leaf in leaves:
            self.append(leaf)

    def append(self, leaf: bytes) -> None:
        for node, value in self.frontier.append(hash_leaf(leaf)):
            assert node not in self.nodes
            self.nodes[node] = value

    def get_nodes(self, ids: Sequence[NodeId]) -> Mapping[NodeId, bytes]:
        self.calls.append(list(ids))
        return {i: self.nodes[i] for i in ids if i in self.nodes}


def read_bound(n: int) -> float:
    """O(log n): the most node ids one proof may ask for."""
    return 2 * math.log2(n) + 2


def leaves_strategy(max_size: int = 300) -> st.SearchStrategy[list[bytes]]:
    def make(size: int, rnd: random.Random) -> list[bytes]:
        return [rnd.randbytes(rnd.randrange(0, 12)) for _ in range(size)]

    return st.builds(make, st.integers(1, max_size), st.randoms(use_true_random=False))


def distinct(leaves: Sequence[bytes]) -> list[bytes]:
    """Make leaves unique: with two equal leaves, swapping their indices is no forgery."""
    return [i.to_bytes(4, "big") + leaf for i, leaf in enumerate(leaves)]


def flip_bit(value: bytes, bit: int) -> bytes:
    out = bytearray(value)
    out[bit // 8 % len(out)] ^= 1 << (bit % 8)
    return bytes(out)


# --- properties -------------------------------------------------------------------------------


@settings(max_examples=60, deadline=None)
@given(leaves=leaves_strategy())
def test_roots_at_every_size_match_reference(leaves: list[bytes]) -> None:
    ref = Reference(leaves)
    reader = CountingReader()
    assert root_hash(reader, 0) == reader.frontier.root() == ref.mth(0, 0) == empty_root()
    for size, leaf in enumerate(leaves, start=1):
        reader.append(leaf)
        assert reader.frontier.root() == ref.mth(0, size)
    for size in range(len(leaves) + 1):
        reader.calls.clear()
        assert root_hash(reader, size) == ref.mth(0, size)
        assert len(reader.calls) == (1 if size else 0)
    # Every stored node is the MTH of the perfect range it names.
    for (level, index), value in reader.nodes.items():
        assert value == ref.mth(index << level, (index + 1) << level)


@settings(max_examples=60, deadline=None)
@given(leaves=leaves_strategy(), data=st.data())
def test_inclusion_proofs_match_reference_and_verify(
    leaves: list[bytes], data: st.DataObject
) -> None:
    ref = Reference(leaves)
    reader = CountingReader(leaves)
    n = len(leaves)
    size = data.draw(st.integers(1, n), label="size")
    root = ref.mth(0, size)
    for index in range(size):
        reader.calls.clear()
        proof = inclusion_proof(reader, index, size)
        assert proof == ref.path(index, 0, size)
        assert len(proof) == inclusion_proof_length(index, size)
        assert len(reader.calls) == (1 if proof else 0)
        assert all(len(ids) <= read_bound(size) for ids in reader.calls)
        leaf_hash = hash_leaf(leaves[index])
        verify_inclusion(leaf_hash, index, size, proof, root)
        assert root_from_inclusion_proof(leaf_hash, index, size, proof) == root


@settings(max_examples=60, deadline=None)
@given(leaves=leaves_strategy(), data=st.data())
def test_consistency_proofs_match_reference_and_verify(
    leaves: list[bytes], data: st.DataObject
) -> None:
    ref = Reference(leaves)
    reader = CountingReader(leaves)
    n = len(leaves)
    second = data.draw(st.integers(1, n), label="second")
    for first in range(1, second + 1):
        reader.calls.clear()
        proof = consistency_proof(reader, first, second)
        assert proof == ref.proof(first, second)
        assert len(proof) == consistency_proof_length(first, second)
        assert len(reader.calls) == (1 if proof else 0)
        assert all(len(ids) <= read_bound(second) for ids in reader.calls)
        verify_consistency(first, second, proof, ref.mth(0, first), ref.mth(0, second))


@settings(max_examples=40, deadline=None)
@given(leaves=leaves_strategy(), data=st.data())
def test_tampered_inclusion_proofs_are_rejected(leaves: list[bytes], data: st.DataObject) -> None:
    leaves = distinct(leaves)
    reader = CountingReader(leaves)
    n = len(leaves)
    size = data.draw(st.integers(1, n), label="size")
    index = data.draw(st.integers(0, size - 1), label="index")
    root = root_hash(reader, size)
    leaf_hash = hash_leaf(leaves[index])
    proof = inclusion_proof(reader, index, size)
    bit = data.draw(st.integers(0, HASH_SIZE * 8 - 1), label="bit")
    for i in range(len(proof)):
        tampered = [*proof]
        tampered[i] = flip_bit(tampered[i], bit)
        with pytest.raises(RootMismatch):
            verify_inclusion(leaf_hash, index, size, tampered, root)
    with pytest.raises(RootMismatch):
        verify_inclusion(flip_bit(leaf_hash, bit), index, size, proof, root)
    with pytest.raises(RootMismatch):
        verify_inclusion(leaf_hash, index, size, proof, flip_bit(root, bit))
    for wrong in {index - 1, index + 1, index ^ 1, index ^ 2, size, -1} - {index}:
        with pytest.raises(LedgerError):
            verify_inclusion(leaf_hash, wrong, size, proof, root)
    # The proof does not bind the tree size (the signed root does): leaf 0 of 3 and of 4 share
    # a path shape. Doubling the size always lengthens the path, so that must be refused.
    with pytest.raises(MalformedProof):
        verify_inclusion(leaf_hash, index, 2 * size, proof, root)
    with pytest.raises(MalformedProof):
        verify_inclusion(leaf_hash, index, size, [*proof, root], root)
    if proof:
        with pytest.raises(MalformedProof):
            verify_inclusion(leaf_hash, index, size, proof[:-1], root)


@settings(max_examples=40, deadline=None)
@given(leaves=leaves_strategy(), data=st.data())
def test_tampered_consistency_proofs_are_rejected(leaves: list[bytes], data: st.DataObject) -> None:
    leaves = distinct(leaves)
    reader = CountingReader(leaves)
    n = len(leaves)
    second = data.draw(st.integers(1, n), label="second")
    first = data.draw(st.integers(1, second), label="first")
    root1, root2 = root_hash(reader, first), root_hash(reader, second)
    proof = consistency_proof(reader, first, second)
    bit = data.draw(st.integers(0, HASH_SIZE * 8 - 1), label="bit")
    for i in range(len(proof)):
        tampered = [*proof]
        tampered[i] = flip_bit(tampered[i], bit)
        with pytest.raises(RootMismatch):
            verify_consistency(first, second, tampered, root1, root2)
    with pytest.raises(RootMismatch):
        verify_consistency(first, second, proof, flip_bit(root1, bit), root2)
    with pytest.raises(RootMismatch):
        verify_consistency(first, second, proof, root1, flip_bit(root2, bit))
    for wrong_first in {first - 1, first + 1, 0} - {first}:
        with pytest.raises(LedgerError):
            verify_consistency(wrong_first, second, proof, root1, root2)
    with pytest.raises(MalformedProof):
        verify_consistency(first, second, [*proof, root2], root1, root2)


def test_exhaustive_small_trees() -> None:
    """Every proof of every tree up to 40 leaves equals the reference."""
    leaves = [i.to_bytes(2, "big") * (i % 3) for i in range(40)]
    ref = Reference(leaves)
    reader = CountingReader(leaves)
    for second in range(1, len(leaves) + 1):
        for m in range(second):
            assert inclusion_proof(reader, m, second) == ref.path(m, 0, second)
        for first in range(1, second + 1):
            assert consistency_proof(reader, first, second) == ref.proof(first, second)


@pytest.mark.parametrize("exponent", [10, 20, 40, 63])
def test_plans_stay_logarithmic_for_huge_trees(exponent: int) -> None:
    """Pure plan arithmetic: O(log n) ids and the right proof length, even at 2**63 leaves."""
    rnd = random.Random(exponent)
    for _ in range(200):
        size = rnd.randrange(1, 2**exponent + 1)
        index = rnd.randrange(size)
        first = rnd.randrange(1, size + 1)
        for plan, length in (
            (inclusion_proof_plan(index, size), inclusion_proof_length(index, size)),
            (consistency_proof_plan(first, size), consistency_proof_length(first, size)),
        ):
            assert len(plan) == length
            assert sum(len(element) for element in plan) <= read_bound(size)


def test_read_bound_holds_for_every_pair_up_to_300() -> None:
    for size in range(1, 301):
        for index in range(size):
            ids = sum(len(e) for e in inclusion_proof_plan(index, size))
            assert ids <= read_bound(size), (index, size, ids)
        for first in range(1, size + 1):
            ids = sum(len(e) for e in consistency_proof_plan(first, size))
            assert ids <= read_bound(size), (first, size, ids)


# --- the pieces -------------------------------------------------------------------------------


@settings(max_examples=200, deadline=None)
@given(begin=st.integers(0, 2**20), length=st.integers(0, 2**20))
def test_range_nodes_cover_the_range_with_maximal_aligned_nodes(begin: int, length: int) -> None:
    end = begin + length
    nodes = range_nodes(begin, end)
    cursor = begin
    for level, index in nodes:
        assert index << level == cursor
        cursor = (index + 1) << level
        # Maximal: the parent is either misaligned or reaches outside the range.
        parent_begin, parent_end = (index >> 1) << (level + 1), ((index >> 1) + 1) << (level + 1)
        assert parent_begin < begin or parent_end > end
    assert cursor == end
    assert len(nodes) <= 2 * max(length, 1).bit_length()


def test_compact_range_append_returns_every_completed_node() -> None:
    frontier = CompactRange()
    got = [[node for node, _ in frontier.append(hash_leaf(bytes([i])))] for i in range(8)]
    assert got == [
        [(0, 0)],
        [(0, 1), (1, 0)],
        [(0, 2)],
        [(0, 3), (1, 1), (2, 0)],
        [(0, 4)],
        [(0, 5), (1, 2)],
        [(0, 6)],
        [(0, 7), (1, 3), (2, 1), (3, 0)],
    ]
    assert frontier.size == 8
    assert len(frontier.hashes) == len(root_nodes(8)) == 1


def test_compact_range_resumes_from_stored_frontier() -> None:
    leaves = [bytes([i]) for i in range(23)]
    reader = CountingReader(leaves[:13])
    resumed = CompactRange.load(reader, 13)
    assert resumed.hashes == reader.frontier.hashes
    assert resumed.hashes == [reader.nodes[node] for node in root_nodes(13)]
    copy = CompactRange(13, resumed.hashes)
    for leaf in leaves[13:]:
        resumed.append(hash_leaf(leaf))
        copy.append(hash_leaf(leaf))
    assert resumed.root() == copy.root() == Reference(leaves).mth(0, 23)
    assert CompactRange.load(reader, 0).root() == empty_root()


def test_compact_range_validates_itself() -> None:
    with pytest.raises(MalformedInput, match="needs 2 hashes, got 1"):
        CompactRange(3, [bytes(32)])
    with pytest.raises(MalformedInput):
        CompactRange(-1)
    with pytest.raises(MalformedInput, match="32 bytes, got 31"):
        CompactRange(1, [bytes(31)])
    with pytest.raises(MalformedInput, match="32 bytes, got 0"):
        CompactRange().append(b"")


def test_fold_range() -> None:
    a, b, c = (hash_leaf(bytes([i])) for i in range(3))
    assert fold_range([]) == empty_root()
    assert fold_range([a]) == a
    assert fold_range([a, b, c]) == hash_children(a, hash_children(b, c))


def test_hashing_domain_separation() -> None:
    assert hash_leaf(b"") == hashlib.sha256(b"\x00").digest()
    assert hash_children(b"a", b"b") == hashlib.sha256(b"\x01ab").digest()
    assert empty_root() == hashlib.sha256(b"").digest()


def test_generation_rejects_out_of_range_arguments() -> None:
    reader = CountingReader([b"a", b"b", b"c"])
    for index, size in [(3, 3), (0, 0), (-1, 3), (5, 3)]:
        with pytest.raises(OutOfRange):
            inclusion_proof(reader, index, size)
    for first, second in [(0, 3), (0, 0), (3, 2), (-1, 3)]:
        with pytest.raises(OutOfRange):
            consistency_proof(reader, first, second)
    with pytest.raises(OutOfRange):
        root_hash(reader, -1)
    with pytest.raises(OutOfRange):
        range_nodes(3, 2)
    assert reader.calls == []


def test_missing_node_names_the_node() -> None:
    reader = CountingReader([b"a", b"b", b"c"])
    del reader.nodes[(1, 0)]
    with pytest.raises(StorageError, match=r"node \(1, 0\) \(leaves \[0, 2\)\)"):
        inclusion_proof(reader, 2, 3)
    with pytest.raises(StorageError, match=r"node \(1, 0\)"):
        root_hash(reader, 3)
    reader.nodes[(1, 0)] = b"short"
    with pytest.raises(StorageError, match="32-byte hash, storage gave 5 bytes"):
        root_hash(reader, 3)


def test_too_many_proof_hashes_are_rejected_before_hashing() -> None:
    h = bytes(32)
    proof = [h] * (MAX_PROOF_HASHES + 1)
    with pytest.raises(MalformedProof, match=f"at most {MAX_PROOF_HASHES}"):
        verify_inclusion(h, 0, 2**200, proof, h)
    with pytest.raises(MalformedProof, match=f"at most {MAX_PROOF_HASHES}"):
        verify_consistency(1, 2**200, proof, h, h)
