"""`altan evidence FILE --key K`: an evidence file proves only what the log's key signed.

Evidence written by a real audit is checked in tests/ledger/test_audit_incremental.py (a rewrite, a
fork, a rollback and an origin switch, all confirmed). Here: doctored files, built with a
key of our own, that must not prove anything, and files that cannot be read (issue 10,
hole 4: a bad proof from an honest log is not evidence).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from typer.testing import CliRunner

from clients import cli
from ledger.audit import keys_from_strings
from ledger.checkpoint import Checkpoint, sign_checkpoint
from ledger.encoding import b64decode, b64encode
from ledger.errors import KeyProblem, MalformedInput
from ledger.evidence import MAX_EVIDENCE_BYTES, check_evidence, load_evidence
from ledger.hashing import hash_leaf
from ledger.merkle import CompactRange, NodeId, consistency_proof
from ledger.note import NoteSigner

ORIGIN = "altan.localhost/ledger"
SIGNER = NoteSigner(Ed25519PrivateKey.generate(), ORIGIN)
KEY = SIGNER.verifier.vkey


class Tree:
    """Leaves, their roots at every size and every stored node (a NodeReader)."""

    def __init__(self, leaves: Sequence[bytes]) -> None:
        self.nodes: dict[NodeId, bytes] = {}
        self.roots: dict[int, bytes] = {}
        t = CompactRange()
        for leaf in leaves:
            self.nodes.update(t.append(hash_leaf(leaf)))
            self.roots[t.size] = t.root()

    def get_nodes(self, ids: Sequence[NodeId]) -> Mapping[NodeId, bytes]:
        return {i: self.nodes[i] for i in ids}


HONEST = Tree([bytes([i]) for i in range(13)])
REWRITTEN = Tree([b"rewritten" if i == 3 else bytes([i]) for i in range(13)])


def note(size: int, root: bytes, origin: str = ORIGIN, signer: NoteSigner = SIGNER) -> str:
    return sign_checkpoint(Checkpoint(origin, size, root), signer)


def evidence(
    kind: str, trusted: str, served: str, proof: dict[str, Any] | None = None
) -> dict[str, Any]:
    return {
        "format": "altan-ledger/evidence/v1",
        "kind": kind,
        "trusted": {"checkpoint": trusted},
        "served": {"checkpoint": served},
        "consistency_proof": proof,
    }


def proof_of(tree: Tree, first: int, second: int, first_root: bytes | None) -> dict[str, Any]:
    hashes = consistency_proof(tree, first, second)
    return {
        "first": first,
        "second": second,
        "hashes": [b64encode(h) for h in hashes],
        "first_root": None if first_root is None else b64encode(first_root),
    }


def altan_evidence(tmp_path: Path, obj: object, *extra: str) -> tuple[int, str, str]:
    path = tmp_path / "ev.json"
    path.write_text(json.dumps(obj))
    result = CliRunner().invoke(
        cli.app, ["evidence", str(path), "--key", KEY, *extra], catch_exceptions=False
    )
    return result.exit_code, result.stdout, " ".join(result.stderr.split())


def test_a_rewritten_history_is_proven(tmp_path: Path) -> None:
    ev = evidence(
        "inconsistent",
        note(5, HONEST.roots[5]),
        note(13, REWRITTEN.roots[13]),
        proof_of(REWRITTEN, 5, 13, REWRITTEN.roots[5]),
    )
    code, out, _ = altan_evidence(tmp_path, ev)
    assert code == 0, out
    assert out.startswith("PROVES inconsistent: the log signed a tree of 13 entries whose first 5")
    code, out, _ = altan_evidence(tmp_path, ev, "--json")
    found = json.loads(out)
    assert (found["proves"], found["kind"]) == (True, "inconsistent")


def test_consistent_checkpoints_called_inconsistent_prove_nothing(tmp_path: Path) -> None:
    trusted, served = note(5, HONEST.roots[5]), note(13, HONEST.roots[13])
    # The honest proof: it shows the two consistent.
    code, out, _ = altan_evidence(
        tmp_path, evidence("inconsistent", trusted, served, proof_of(HONEST, 5, 13, None))
    )
    assert code == 1
    assert out.startswith("DOES NOT PROVE inconsistent: proves nothing: the proof shows")
    assert "the two checkpoints are consistent" in out
    # The false evidence of issue 10: the honest proof with one bit flipped, as a broken cache
    # serves it. A proof that fails proves nothing about the log.
    flipped = proof_of(HONEST, 5, 13, None)
    raw = bytearray(b64decode(flipped["hashes"][0]))
    raw[0] ^= 1
    flipped["hashes"] = [b64encode(bytes(raw)), *flipped["hashes"][1:]]
    code, out, _ = altan_evidence(tmp_path, evidence("inconsistent", trusted, served, flipped))
    assert code == 1
    assert "a bad proof is not a bad log" in out
    # A "first root" the proof does not lead to.
    lying = {**flipped, "first_root": b64encode(REWRITTEN.roots[5])}
    code, out, _ = altan_evidence(tmp_path, evidence("inconsistent", trusted, served, lying))
    assert code == 1 and "does not verify" in out
    # No proof at all; sizes that do not grow.
    assert altan_evidence(tmp_path, evidence("inconsistent", trusted, served))[0] == 1
    assert altan_evidence(tmp_path, evidence("inconsistent", served, trusted))[0] == 1


def test_forks_rollbacks_and_origins_that_are_not(tmp_path: Path) -> None:
    five = note(5, HONEST.roots[5])
    code, out, _ = altan_evidence(tmp_path, evidence("fork", five, note(5, HONEST.roots[5])))
    assert code == 1 and "a fork needs two roots for one size" in out
    code, out, _ = altan_evidence(tmp_path, evidence("fork", five, note(5, REWRITTEN.roots[5])))
    assert code == 0 and out.startswith("PROVES fork:")
    code, out, _ = altan_evidence(tmp_path, evidence("rollback", five, note(9, HONEST.roots[9])))
    assert code == 1 and "a rollback needs a smaller served tree" in out
    code, out, _ = altan_evidence(tmp_path, evidence("origin_changed", five, five))
    assert code == 1 and "names the log's own origin" in out
    switched = note(5, REWRITTEN.roots[5], ORIGIN + "/")
    code, out, _ = altan_evidence(tmp_path, evidence("origin_changed", five, switched))
    assert code == 0 and "under another origin, 'altan.localhost/ledger/'" in out
    # The origin may change only where the kind says so.
    code, out, _ = altan_evidence(tmp_path, evidence("fork", five, switched))
    assert code == 1 and "the served checkpoint is not the pinned log's" in out


def test_only_the_pinned_key_counts(tmp_path: Path) -> None:
    other = NoteSigner(Ed25519PrivateKey.generate(), ORIGIN)
    forged = evidence(
        "fork", note(5, HONEST.roots[5], signer=other), note(5, REWRITTEN.roots[5], signer=other)
    )
    code, out, _ = altan_evidence(tmp_path, forged)
    assert code == 1
    assert "the trusted checkpoint is not the pinned log's" in out
    # The keys listed in the file are a claim, not a trust anchor.
    code, _, _ = altan_evidence(tmp_path, {**forged, "keys": [other.verifier.vkey]})
    assert code == 1
    # Keys of two logs cannot be pinned together.
    two = keys_from_strings(
        [KEY, NoteSigner(Ed25519PrivateKey.generate(), "x.example/l").verifier.vkey]
    )
    with pytest.raises(KeyProblem):
        check_evidence(forged, two)


def test_unreadable_files_are_no_verdict(tmp_path: Path) -> None:
    code, _, err = altan_evidence(tmp_path, {"format": "v0"})
    assert code == 2 and "expected a JSON object of format" in err
    code, _, err = altan_evidence(tmp_path, evidence("mistake", "a", "b"))
    assert code == 2 and "unknown kind 'mistake'" in err
    code, _, err = altan_evidence(tmp_path, {**evidence("fork", "a", "b"), "trusted": None})
    assert code == 2 and "trusted.checkpoint" in err
    big = tmp_path / "big.json"
    big.write_bytes(b" " * (MAX_EVIDENCE_BYTES + 1))
    result = CliRunner().invoke(cli.app, ["evidence", str(big), "--key", KEY])
    assert result.exit_code == 2 and "at most" in result.stderr
    with pytest.raises(MalformedInput, match="not JSON"):
        load_evidence(b"{")
    result = CliRunner().invoke(cli.app, ["evidence", str(tmp_path / "none.json"), "--key", KEY])
    assert result.exit_code == 2
    result = CliRunner().invoke(cli.app, ["evidence", str(big), "--key", "not-a-key"])
    assert result.exit_code == 2
