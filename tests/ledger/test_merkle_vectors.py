"""Known-answer tests: transparency-dev/merkle RFC 6962 vectors (see tests/vectors/README.md)."""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping, Sequence
from typing import Any

import pytest

from ledger.errors import LedgerError, MalformedProof, RootMismatch
from ledger.hashing import empty_root, hash_leaf
from ledger.merkle import (
    CompactRange,
    NodeId,
    consistency_proof,
    inclusion_proof,
    root_hash,
    verify_consistency,
    verify_inclusion,
)
from support.paths import VECTORS

VECTORS = VECTORS / "merkle-rfc6962"

# Files labelled valid that we reject on purpose, with the reason.
DELIBERATE_REJECTIONS = {
    # Both roots are the 12-byte placeholder "don't care 2". The Go library skips the size
    # check when size1 == size2; we reject every hash that is not 32 bytes (CONVENTIONS.md).
    "consistency/additional/sizes-are-equal-one-and-proof-is-empty.json": MalformedProof,
}


def _load(kind: str) -> list[Any]:
    params = []
    for path in sorted((VECTORS / kind).rglob("*.json")):
        name = path.relative_to(VECTORS).as_posix()
        params.append(
            pytest.param(name, json.loads(path.read_text()), id=name.removesuffix(".json"))
        )
    return params


def _b64(value: str) -> bytes:
    return base64.b64decode(value, validate=True)


def _proof(vector: Mapping[str, Any]) -> list[bytes]:
    return [_b64(h) for h in vector["proof"] or []]


LEAVES_AND_ROOTS = json.loads((VECTORS / "leaves-and-roots.json").read_text())
LEAVES = [bytes.fromhex(h) for h in LEAVES_AND_ROOTS["leaves_hex"]]
ROOTS = [bytes.fromhex(h) for h in LEAVES_AND_ROOTS["roots_hex"]]


class DictReader:
    """A NodeReader backed by a dict, filled from CompactRange.append outputs."""

    def __init__(self, leaves: Sequence[bytes]) -> None:
        self.nodes: dict[NodeId, bytes] = {}
        frontier = CompactRange()
        for leaf in leaves:
            self.nodes.update(frontier.append(hash_leaf(leaf)))

    def get_nodes(self, ids: Sequence[NodeId]) -> Mapping[NodeId, bytes]:
        return {i: self.nodes[i] for i in ids if i in self.nodes}


def test_vector_files_are_all_there() -> None:
    # 98 + 98 files as copied; 12 of them are labelled valid.
    params = _load("inclusion") + _load("consistency")
    assert len(_load("inclusion")) == 98
    assert len(_load("consistency")) == 98
    assert sum(not p.values[1]["wantErr"] for p in params) == 12


@pytest.mark.parametrize(("name", "vector"), _load("inclusion"))
def test_inclusion_vector(name: str, vector: Mapping[str, Any]) -> None:
    args = (
        _b64(vector["leafHash"]),
        vector["leafIdx"],
        vector["treeSize"],
        _proof(vector),
        _b64(vector["root"]),
    )
    if vector["wantErr"]:
        with pytest.raises((MalformedProof, RootMismatch)):
            verify_inclusion(*args)
    else:
        verify_inclusion(*args)


@pytest.mark.parametrize(("name", "vector"), _load("consistency"))
def test_consistency_vector(name: str, vector: Mapping[str, Any]) -> None:
    args = (
        vector["size1"],
        vector["size2"],
        _proof(vector),
        _b64(vector["root1"]),
        _b64(vector["root2"]),
    )
    if name in DELIBERATE_REJECTIONS:
        assert not vector["wantErr"]
        with pytest.raises(DELIBERATE_REJECTIONS[name]):
            verify_consistency(*args)
    elif vector["wantErr"]:
        with pytest.raises((MalformedProof, RootMismatch)):
            verify_consistency(*args)
    else:
        verify_consistency(*args)


def test_mutations_raise_ledger_errors_only() -> None:
    # Both error types share the package root, so callers can catch LedgerError.
    assert issubclass(MalformedProof, LedgerError)
    assert issubclass(RootMismatch, LedgerError)


def _happy(kind: str) -> list[Any]:
    return [p for p in _load(kind) if p.values[0].endswith("/happy-path.json")]


@pytest.mark.parametrize(("name", "vector"), _happy("inclusion"))
def test_inclusion_vector_is_what_we_generate(name: str, vector: Mapping[str, Any]) -> None:
    reader = DictReader(LEAVES)
    index, size = vector["leafIdx"], vector["treeSize"]
    assert _b64(vector["leafHash"]) == hash_leaf(LEAVES[index])
    assert _b64(vector["root"]) == ROOTS[size]
    assert inclusion_proof(reader, index, size) == _proof(vector)


@pytest.mark.parametrize(("name", "vector"), _happy("consistency"))
def test_consistency_vector_is_what_we_generate(name: str, vector: Mapping[str, Any]) -> None:
    reader = DictReader(LEAVES)
    size1, size2 = vector["size1"], vector["size2"]
    assert _b64(vector["root1"]) == ROOTS[size1]
    assert _b64(vector["root2"]) == ROOTS[size2]
    assert consistency_proof(reader, size1, size2) == _proof(vector)


def test_roots_via_compact_range() -> None:
    frontier = CompactRange()
    assert frontier.root() == ROOTS[0] == empty_root()
    for size, leaf in enumerate(LEAVES, start=1):
        frontier.append(hash_leaf(leaf))
        assert frontier.root() == ROOTS[size], size


@pytest.mark.parametrize("size", range(len(ROOTS)))
def test_roots_via_root_hash(size: int) -> None:
    assert root_hash(DictReader(LEAVES), size) == ROOTS[size]
    # A reader holding only the first `size` leaves gives the same root.
    assert root_hash(DictReader(LEAVES[:size]), size) == ROOTS[size]


# --- regressions: traps a naive port of RFC 9162 falls into -----------------------------------


@pytest.mark.parametrize(
    "proof", [pytest.param([], id="empty-proof"), pytest.param([empty_root()], id="one-hash")]
)
def test_regression_consistency_between_two_empty_trees_is_rejected(proof: list[bytes]) -> None:
    # A verifier that returns early on size1 == size2 accepts this; no proof from an empty
    # tree is meaningful (consistency/additional/sizes-are-equal-zero-*).
    with pytest.raises(MalformedProof, match="non-empty first tree"):
        verify_consistency(0, 0, proof, empty_root(), empty_root())


def test_regression_consistency_from_empty_tree_is_rejected() -> None:
    with pytest.raises(MalformedProof, match="non-empty first tree"):
        verify_consistency(0, 8, [], empty_root(), ROOTS[8])


@pytest.mark.parametrize(
    ("leaf_hash", "root"),
    [
        pytest.param(b"", b"", id="empty-leaf-and-root"),
        pytest.param(b"", hash_leaf(LEAVES[0]), id="empty-leaf"),
        pytest.param(hash_leaf(LEAVES[0]), b"", id="empty-root"),
        pytest.param(hash_leaf(LEAVES[0])[:31], ROOTS[1], id="short-leaf"),
        pytest.param(hash_leaf(LEAVES[0]), ROOTS[1] + b"\x00", id="long-root"),
    ],
)
def test_regression_hashes_that_are_not_32_bytes_are_rejected(
    leaf_hash: bytes, root: bytes
) -> None:
    # For a 1-leaf tree the root *is* the leaf hash and the proof is empty, so a verifier
    # that never checks lengths accepts b"" == b"" (inclusion/single-entry/empty-root-and-leaf).
    with pytest.raises(MalformedProof, match="must be 32 bytes"):
        verify_inclusion(leaf_hash, 0, 1, [], root)


def test_regression_equal_sizes_with_short_roots_are_rejected() -> None:
    # The Go library returns early on size1 == size2 and only compares the roots, so two equal
    # 12-byte roots pass there; we check sizes first (see DELIBERATE_REJECTIONS).
    with pytest.raises(MalformedProof, match="must be 32 bytes, got 12"):
        verify_consistency(1, 1, [], b"don't care 2", b"don't care 2")


def test_regression_empty_proof_element_is_rejected() -> None:
    with pytest.raises(MalformedProof, match="proof hash 0 must be 32 bytes, got 0"):
        verify_inclusion(hash_leaf(LEAVES[0]), 0, 2, [b""], ROOTS[2])
