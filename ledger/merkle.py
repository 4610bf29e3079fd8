"""An RFC 9162 Merkle tree kept as stored perfect subtrees, with O(log n) proofs.

Storage keeps the hash of every *perfect* subtree as a node ``(level, index)`` covering the
leaves ``[index << level, (index + 1) << level)``; level 0 holds leaf hashes. A subtree of the
RFC 9162 tree that is not perfect (it lies on the right border) is never stored: its hash is
folded from the perfect nodes of :func:`range_nodes`, exactly as the MTH recursion would.

Proofs are made in two steps: a pure *plan* names the nodes each proof hash is folded from
(integer arithmetic only, O(log n) ids), then one ``reader.get_nodes`` call fetches them all.

Verification follows RFC 9162 §2.1.3.2 and §2.1.4.2 after a numbered checklist: shape problems
(hash sizes, counts, indices) raise :class:`MalformedProof`; a well formed proof that leads to
another root raises :class:`RootMismatch`. Bad arguments on the *generating* side (a leaf past
the end, a proof from an empty tree) raise :class:`OutOfRange`; a node missing from storage
raises :class:`StorageError`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Protocol

from ledger.errors import MalformedInput, MalformedProof, OutOfRange, RootMismatch, StorageError
from ledger.hashing import HASH_SIZE, empty_root, hash_children

NodeId = tuple[int, int]
"""A stored perfect subtree ``(level, index)``: leaves ``[index << level, (index+1) << level)``."""

ProofPlan = list[tuple[NodeId, ...]]
"""One tuple per proof hash, bottom up: the nodes whose :func:`fold_range` gives that hash."""

MAX_PROOF_HASHES = 128
"""Verifiers refuse longer proofs; a tree of 2**64 leaves needs at most 65 hashes."""


class NodeReader(Protocol):
    """Where proofs read stored node hashes from."""

    def get_nodes(self, ids: Sequence[NodeId]) -> Mapping[NodeId, bytes]:
        """Return the hash of every node in ``ids``, in one storage round trip."""
        ...


# --- pure node arithmetic ---------------------------------------------------------------------


def range_nodes(begin: int, end: int) -> list[NodeId]:
    """Split the leaf range ``[begin, end)`` into maximal aligned perfect subtrees, left to right.

    Levels rise then fall, e.g. ``range_nodes(3, 13) == [(0, 3), (2, 1), (2, 2), (0, 12)]``.
    """
    if begin < 0 or end < begin:
        raise OutOfRange(f"a leaf range needs 0 <= begin <= end, got [{begin}, {end})")
    nodes: list[NodeId] = []
    while begin < end:
        level = (end - begin).bit_length() - 1
        if begin:
            level = min(level, (begin & -begin).bit_length() - 1)
        nodes.append((level, begin >> level))
        begin += 1 << level
    return nodes


def root_nodes(size: int) -> list[NodeId]:
    """Return the perfect subtrees whose right fold is the root of a tree of ``size`` leaves."""
    return range_nodes(0, size)


def fold_range(hashes: Sequence[bytes]) -> bytes:
    """Return the RFC 9162 hash of a range from the hashes of its :func:`range_nodes`.

    Folds from the right, as the MTH recursion does: ``H(h0, H(h1, ... H(hn-2, hn-1)))``.
    An empty range has the empty-tree hash.
    """
    if not hashes:
        return empty_root()
    acc = hashes[-1]
    for i in range(len(hashes) - 2, -1, -1):
        acc = hash_children(hashes[i], acc)
    return acc


def _path_plan(level: int, index: int, size: int) -> ProofPlan:
    """Plan the sibling hashes, bottom up, from perfect node ``(level, index)`` to the root.

    Walks the levels of the tree of ``size`` leaves. At each level the sibling ``index ^ 1``
    is either a stored perfect node (left of the last node at this level), the last node at
    this level (perfect or not: folded from its range nodes), or absent (then the RFC tree
    carries the node up unchanged and the proof has no hash for this level).
    """
    plan: ProofPlan = []
    last = (size - 1) >> level
    while last:
        sibling = index ^ 1
        if sibling < last:
            plan.append(((level, sibling),))
        elif sibling == last:
            plan.append(tuple(range_nodes(sibling << level, size)))
        index >>= 1
        last >>= 1
        level += 1
    return plan


def _path_length(level: int, index: int, size: int) -> int:
    """Number of hashes in the path of :func:`_path_plan` (no walking, two bit counts)."""
    last = (size - 1) >> level
    inner = (index ^ last).bit_length()
    return inner + (index >> inner).bit_count()


def _trailing_zeros(n: int) -> int:
    return (n & -n).bit_length() - 1


def inclusion_proof_plan(index: int, size: int) -> ProofPlan:
    """Plan the RFC 9162 §2.1.3.1 ``PATH(index, D[size])``: node ids per proof hash, bottom up."""
    if size <= 0:
        raise OutOfRange(f"no inclusion proof in an empty tree (size {size})")
    if not 0 <= index < size:
        raise OutOfRange(f"leaf index must be in [0, {size}), got {index}")
    return _path_plan(0, index, size)


def consistency_proof_plan(first: int, second: int) -> ProofPlan:
    """Plan the RFC 9162 §2.1.4.1 ``PROOF(first, D[second])``: node ids per proof hash.

    The proof is the largest perfect node ending at ``first`` (left out when ``first`` is a
    power of two: the verifier holds it as the first root) followed by that node's path.
    """
    if first <= 0:
        raise OutOfRange(f"no consistency proof from an empty tree (first size {first})")
    if first > second:
        raise OutOfRange(f"first size must not exceed second size, got {first} > {second}")
    if first == second:
        return []
    level = _trailing_zeros(first)
    index = (first - 1) >> level
    plan = _path_plan(level, index, second)
    if index:
        plan.insert(0, ((level, index),))
    return plan


def inclusion_proof_length(index: int, size: int) -> int:
    """Return how many hashes the inclusion proof of leaf ``index`` in ``size`` leaves has."""
    return _path_length(0, index, size)


def consistency_proof_length(first: int, second: int) -> int:
    """Return how many hashes the consistency proof from ``first`` to ``second`` leaves has."""
    if first == second:
        return 0
    level = _trailing_zeros(first)
    index = (first - 1) >> level
    return _path_length(level, index, second) + (1 if index else 0)


# --- reading from storage ---------------------------------------------------------------------


def _lookup(found: Mapping[NodeId, bytes], node: NodeId) -> bytes:
    try:
        value = found[node]
    except KeyError:
        level, index = node
        raise StorageError(
            f"node {node} (leaves [{index << level}, {(index + 1) << level})) "
            "expected in storage, not found"
        ) from None
    if len(value) != HASH_SIZE:
        raise StorageError(
            f"node {node} expected a {HASH_SIZE}-byte hash, storage gave {len(value)} bytes"
        )
    return value


def _execute(reader: NodeReader, plan: ProofPlan) -> list[bytes]:
    ids = [node for element in plan for node in element]
    if not ids:
        return []
    found = reader.get_nodes(ids)
    return [fold_range([_lookup(found, node) for node in element]) for element in plan]


def root_hash(reader: NodeReader, size: int) -> bytes:
    """Return the RFC 9162 root of the first ``size`` leaves (one ``get_nodes`` call).

    ``size == 0`` gives :func:`~ledger.hashing.empty_root` without reading storage.
    """
    if size < 0:
        raise OutOfRange(f"tree size must be >= 0, got {size}")
    ids = root_nodes(size)
    if not ids:
        return empty_root()
    found = reader.get_nodes(ids)
    return fold_range([_lookup(found, node) for node in ids])


def inclusion_proof(reader: NodeReader, index: int, size: int) -> list[bytes]:
    """Return the RFC 9162 §2.1.3.1 inclusion proof of leaf ``index`` in ``size`` leaves.

    Reads O(log size) nodes with at most one ``get_nodes`` call (none when the proof is
    empty, i.e. ``size == 1``). Raises :class:`OutOfRange` when ``index`` is not in
    ``[0, size)`` and :class:`StorageError` when a node is missing.
    """
    return _execute(reader, inclusion_proof_plan(index, size))


def consistency_proof(reader: NodeReader, first: int, second: int) -> list[bytes]:
    """Return the RFC 9162 §2.1.4.1 consistency proof from ``first`` to ``second`` leaves.

    Reads O(log second) nodes with at most one ``get_nodes`` call (none when
    ``first == second``). Raises :class:`OutOfRange` when ``first`` is 0 or ``first > second``
    and :class:`StorageError` when a node is missing.
    """
    return _execute(reader, consistency_proof_plan(first, second))


# --- verification -----------------------------------------------------------------------------


def _check_count(proof: Sequence[bytes]) -> None:
    if len(proof) > MAX_PROOF_HASHES:
        raise MalformedProof(f"a proof has at most {MAX_PROOF_HASHES} hashes, got {len(proof)}")


def _check_hash(what: str, value: bytes) -> None:
    if len(value) != HASH_SIZE:
        raise MalformedProof(f"{what} must be {HASH_SIZE} bytes, got {len(value)}")


def _check_proof_hashes(proof: Sequence[bytes]) -> None:
    for i, element in enumerate(proof):
        _check_hash(f"proof hash {i}", element)


def root_from_inclusion_proof(
    leaf_hash: bytes, index: int, size: int, proof: Sequence[bytes]
) -> bytes:
    """Return the root that ``proof`` gives for ``leaf_hash`` at ``index`` (RFC 9162 §2.1.3.2).

    Raises :class:`MalformedProof` if the proof is malformed; checks nothing against a root.
    """
    # 1. Bound the work before anything else.
    _check_count(proof)
    # 2. Every hash is exactly HASH_SIZE bytes.
    _check_hash("leaf hash", leaf_hash)
    _check_proof_hashes(proof)
    # 3. The leaf lies inside a non-empty tree.
    if size <= 0:
        raise MalformedProof(f"inclusion proofs need a non-empty tree, got size {size}")
    if not 0 <= index < size:
        raise MalformedProof(f"leaf index must be in [0, {size}), got {index}")
    # 4. The proof has exactly the length the tree shape requires.
    expected = inclusion_proof_length(index, size)
    if len(proof) != expected:
        raise MalformedProof(
            f"inclusion proof for leaf {index} of {size} needs {expected} hashes, got {len(proof)}"
        )
    # 5. RFC 9162 §2.1.3.2, step by step.
    fn, sn, r = index, size - 1, leaf_hash
    for p in proof:
        if sn == 0:
            raise MalformedProof("inclusion proof is longer than the path to the root")
        if fn & 1 or fn == sn:
            r = hash_children(p, r)
            while not (fn & 1 or fn == 0):
                fn >>= 1
                sn >>= 1
        else:
            r = hash_children(r, p)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise MalformedProof("inclusion proof is shorter than the path to the root")
    return r


def verify_inclusion(
    leaf_hash: bytes, index: int, size: int, proof: Sequence[bytes], root: bytes
) -> None:
    """Check that ``leaf_hash`` is leaf ``index`` of the tree of ``size`` leaves with ``root``.

    Raises :class:`MalformedProof` for a malformed proof (hash sizes, index, length, count)
    and :class:`RootMismatch` when the proof leads to another root.
    """
    _check_hash("root", root)
    calculated = root_from_inclusion_proof(leaf_hash, index, size, proof)
    if calculated != root:
        raise RootMismatch(expected=root, calculated=calculated)


def verify_consistency(
    size1: int, size2: int, proof: Sequence[bytes], root1: bytes, root2: bytes
) -> None:
    """Check that the tree of ``size2`` leaves with ``root2`` extends the one with ``root1``.

    Raises :class:`MalformedProof` for a malformed proof (hash sizes, sizes, length, count;
    any proof from an empty tree, even to itself) and :class:`RootMismatch` when the proof
    does not lead to both roots.
    """
    # 1. Bound the work before anything else.
    _check_count(proof)
    # 2. Every hash is exactly HASH_SIZE bytes.
    _check_hash("first root", root1)
    _check_hash("second root", root2)
    _check_proof_hashes(proof)
    # 3. Sizes: the first tree is not empty and not larger than the second.
    if size1 <= 0:
        raise MalformedProof(f"consistency proofs need a non-empty first tree, got size {size1}")
    if size1 > size2:
        raise MalformedProof(f"first size must not exceed second size, got {size1} > {size2}")
    # 4. The proof has exactly the length the two sizes require.
    expected = consistency_proof_length(size1, size2)
    if len(proof) != expected:
        raise MalformedProof(
            f"consistency proof from {size1} to {size2} needs {expected} hashes, got {len(proof)}"
        )
    # 5. Equal sizes: nothing to hash, the roots must be equal.
    if size1 == size2:
        if root1 != root2:
            raise RootMismatch(expected=root2, calculated=root1, what="equal-size root")
        return
    # 6. RFC 9162 §2.1.4.2, step by step.
    path = list(proof)
    if size1 & (size1 - 1) == 0:
        path.insert(0, root1)
    fn, sn = size1 - 1, size2 - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            raise MalformedProof("consistency proof is longer than the path to the root")
        if fn & 1 or fn == sn:
            fr = hash_children(c, fr)
            sr = hash_children(c, sr)
            while not (fn & 1 or fn == 0):
                fn >>= 1
                sn >>= 1
        else:
            sr = hash_children(sr, c)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise MalformedProof("consistency proof is shorter than the path to the root")
    # 7. Both roots must come out.
    if fr != root1:
        raise RootMismatch(expected=root1, calculated=fr, what="first root")
    if sr != root2:
        raise RootMismatch(expected=root2, calculated=sr, what="second root")


# --- appending --------------------------------------------------------------------------------


class CompactRange:
    """The frontier of an append-only tree: the hashes of ``root_nodes(size)``, left to right.

    Appending a leaf merges it with the trailing frontier nodes it completes, so an append
    costs one hash per completed node (amortised two) and never re-hashes the frontier.
    """

    __slots__ = ("_hashes", "_size")

    def __init__(self, size: int = 0, hashes: Sequence[bytes] = ()) -> None:
        """Build the frontier of a tree of ``size`` leaves from the hashes of its root nodes."""
        if size < 0:
            raise MalformedInput(f"compact range size must be >= 0, got {size}")
        expected = size.bit_count()  # == len(root_nodes(size))
        if len(hashes) != expected:
            raise MalformedInput(
                f"compact range of size {size} needs {expected} hashes, got {len(hashes)}"
            )
        for i, value in enumerate(hashes):
            if len(value) != HASH_SIZE:
                raise MalformedInput(
                    f"compact range hash {i} must be {HASH_SIZE} bytes, got {len(value)}"
                )
        self._size = size
        self._hashes = list(hashes)

    @classmethod
    def load(cls, reader: NodeReader, size: int) -> CompactRange:
        """Read the frontier of the first ``size`` leaves from storage (one ``get_nodes`` call)."""
        ids = root_nodes(size)
        if not ids:
            return cls()
        found = reader.get_nodes(ids)
        return cls(size, [_lookup(found, node) for node in ids])

    @property
    def size(self) -> int:
        """Number of leaves appended so far."""
        return self._size

    @property
    def hashes(self) -> list[bytes]:
        """A copy of the frontier hashes, in the order of ``root_nodes(size)``."""
        return list(self._hashes)

    def append(self, leaf_hash: bytes) -> list[tuple[NodeId, bytes]]:
        """Append one leaf hash; return every perfect node it completes, bottom up.

        The first entry is the leaf itself at ``(0, index)``; appending leaf 3 returns nodes
        ``(0, 3)``, ``(1, 1)`` and ``(2, 0)``. Storage should insert all of them.
        """
        if len(leaf_hash) != HASH_SIZE:
            raise MalformedInput(f"leaf hash must be {HASH_SIZE} bytes, got {len(leaf_hash)}")
        hashes = self._hashes
        index = self._size
        level = 0
        value = leaf_hash
        completed: list[tuple[NodeId, bytes]] = [((0, index), value)]
        while index & 1:
            value = hash_children(hashes.pop(), value)
            index >>= 1
            level += 1
            completed.append(((level, index), value))
        hashes.append(value)
        self._size += 1
        return completed

    def root(self) -> bytes:
        """Return the RFC 9162 root of the leaves appended so far."""
        return fold_range(self._hashes)

    def __repr__(self) -> str:
        return f"CompactRange(size={self._size})"
