"""The real server, as an outsider meets it: `altan demo`, `altan serve`, then a verifier that
shares no code with the project (tests/independent_verifier.py), then a tampered database.
"""

from __future__ import annotations

import ast
import base64
import hashlib
import json
import sqlite3
import sys
from pathlib import Path
from typing import Any

import pytest

from independent_verifier import (
    VerificationFailed,
    consistency_ok,
    inclusion_root,
    merkle_tree_hash,
    verify_log,
)
from support.independent import _altan, _env, _server

EVENTS = 300
TAMPERED = 137
VECTORS = Path(__file__).parent / "vectors" / "merkle-rfc6962"


def _tamper(db: Path, index: int) -> None:
    """Change one byte of one stored entry: the last digit of its year."""
    conn = sqlite3.connect(db)
    try:
        (data,) = conn.execute("SELECT entry FROM log_entries WHERE idx = ?", (index,)).fetchone()
        data = bytearray(data)
        at = data.index(b'"time":"') + len(b'"time":"') + 3
        data[at] = ord("7") if data[at] != ord("7") else ord("8")
        conn.execute("UPDATE log_entries SET entry = ? WHERE idx = ?", (bytes(data), index))
        conn.commit()
    finally:
        conn.close()


def test_real_server_passes_an_independent_audit_and_a_tampered_one_fails(
    tmp_path: Path,
) -> None:
    data_dir = tmp_path / "data"
    env = _env(data_dir)
    server_log = tmp_path / "server.log"

    demo = _altan(env, "demo", "--events", str(EVENTS))
    assert demo.returncode == 0, demo.stderr
    # the first administrator, the events, and any red flag the rules raised on the way
    size = int(demo.stdout.rsplit("holds ", 1)[1].split()[0])
    assert size >= EVENTS + 1

    with _server(env, server_log) as base:
        result = verify_log(base, origin="altan.localhost/ledger")
        assert result.size == size
        assert result.entries_verified == size
        assert result.inclusion_proofs_verified >= 10
        assert result.consistency_proofs_verified >= 10
        assert {0, size - 1} <= set(result.checked_indices)
        good = _altan(env, "audit", base, "--quiet")
        assert good.returncode == 0, good.stdout + good.stderr
        assert good.stdout.startswith("OK ")

    db = data_dir / "altan.db"
    _tamper(db, TAMPERED)

    bad = _altan(env, "audit", f"sqlite:///{db}", "--quiet")
    assert bad.returncode == 1, bad.stdout + bad.stderr
    assert f"entry {TAMPERED}" in bad.stdout
    report = json.loads(_altan(env, "audit", f"sqlite:///{db}", "--json").stdout)
    assert report["ok"] is False
    assert report["failure"]["index"] == TAMPERED

    with _server(env, server_log) as base:
        # the tree is untouched (a consistent checkpoint): --full re-reads the stored rows
        remote = _altan(env, "audit", base, "--full", "--quiet")
        assert remote.returncode == 1, remote.stdout + remote.stderr
        assert f"entry {TAMPERED}" in remote.stdout
        with pytest.raises(VerificationFailed) as failed:
            verify_log(base)
        assert failed.value.index == TAMPERED


def test_independent_verifier_shares_no_code_with_the_project() -> None:
    source = (Path(__file__).parent / "independent_verifier.py").read_text()
    imported: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            imported.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            assert node.level == 0, "no relative imports"
            imported.add((node.module or "").split(".")[0])
    third_party = imported - set(sys.stdlib_module_names)
    assert third_party == {"cryptography"}, third_party


# The independent verifier's own primitives, against published known answers, so that a
# pass above means something.


def _load(kind: str) -> list[Any]:
    return [
        pytest.param(name, json.loads(p.read_text()), id=name.removesuffix(".json"))
        for p in sorted((VECTORS / kind).rglob("*.json"))
        for name in [p.relative_to(VECTORS).as_posix()]
    ]


def _b64(value: str) -> bytes:
    return base64.b64decode(value)


def test_independent_mth_matches_rfc6962_roots() -> None:
    table = json.loads((VECTORS / "leaves-and-roots.json").read_text())
    leaves = [bytes.fromhex(h) for h in table["leaves_hex"]]
    roots = [bytes.fromhex(h) for h in table["roots_hex"]]
    hashed = [hashlib.sha256(b"\x00" + d).digest() for d in leaves]
    assert [merkle_tree_hash(hashed[:n]) for n in range(len(roots))] == roots


# One vector is labelled valid but uses 12-byte placeholder roots (see tests/vectors/README.md);
# a verifier that demands 32-byte hashes rejects it, as ours does.
_SHORT_ROOTS = "consistency/additional/sizes-are-equal-one-and-proof-is-empty.json"


@pytest.mark.parametrize(("name", "vector"), _load("inclusion"))
def test_independent_inclusion_on_vectors(name: str, vector: dict[str, Any]) -> None:
    def check() -> None:
        proof = [_b64(h) for h in vector["proof"] or []]
        got = inclusion_root(vector["leafIdx"], vector["treeSize"], _b64(vector["leafHash"]), proof)
        if got != _b64(vector["root"]):
            raise VerificationFailed("root")

    if vector["wantErr"]:
        with pytest.raises(VerificationFailed):
            check()
    else:
        check()


@pytest.mark.parametrize(("name", "vector"), _load("consistency"))
def test_independent_consistency_on_vectors(name: str, vector: dict[str, Any]) -> None:
    def check() -> None:
        proof = [_b64(h) for h in vector["proof"] or []]
        consistency_ok(
            vector["size1"], vector["size2"], _b64(vector["root1"]), _b64(vector["root2"]), proof
        )

    if vector["wantErr"] or name == _SHORT_ROOTS:
        with pytest.raises(VerificationFailed):
            check()
    else:
        check()
