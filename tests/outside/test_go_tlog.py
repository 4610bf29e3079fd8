"""Go's golang.org/x/mod/sumdb/{note,tlog} verify our checkpoints and proofs (issues 14, 15).

A real server (running_api, over its ASGI HTTP interface) grows a log of a few dozen
entries; after each append the test keeps the signed checkpoint it serves. Go's note.Open
must verify every checkpoint with our C2SP vkey, tlog.CheckRecord every inclusion proof
that /log/proof/inclusion serves and tlog.CheckTree the consistency proofs that
/log/proof/consistency serves; one flipped bit in a proof, a root or a signature must make
Go refuse (so these tests can fail).

The extension-line measurement (issue 14: may the map root ride in the checkpoint as a
C2SP extension line?): the latest checkpoint re-signed with the log's key with an
`altan-map/v1 <base64 32 bytes>` line after the root, then read by Go and by each of our
own readers of checkpoints.
"""

from __future__ import annotations

import base64
import itertools
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from typer.testing import CliRunner

import clients.witness as witness_client
import support.go_tlog as go_helpers
import support.witnesses as witnesses
from clients import cli
from clients.remote import RemoteLog
from clients.witness import LogWitness, generate_key
from ledger.checkpoint import Checkpoint, open_checkpoint
from ledger.cosignature import AddCheckpoint, WitnessSigner, cosignatures_by, verify_cosignature
from ledger.errors import InvalidSignature
from ledger.keys import LogSigner
from ledger.note import Note, NoteSigner, NoteVerifier
from ledger.proof_bundle import ProofBundle, verify_bundle
from support.domain import Api, running_api
from support.go_tlog import GoTlog
from support.liars import LogView, LyingServer

go_tlog = go_helpers.go_tlog

ORIGIN = "altan.localhost/ledger"  # running_api's log
URL = "http://ledger.test"  # what the CLI is told; the proxy answers every host
APPENDS = 30
MAP_ROOT = bytes(range(32))
EXTENSION = "altan-map/v1 " + base64.b64encode(MAP_ROOT).decode()


@dataclass
class Grown:
    """The server after APPENDS appends, and every checkpoint it served on the way."""

    api: Api
    signer: LogSigner
    vkey: str
    entries: list[dict[str, Any]]
    checkpoints: dict[int, str]  # tree size -> the signed note served at that size

    @property
    def size(self) -> int:
        return max(self.checkpoints)

    def inclusion(self, index: int, size: int) -> dict[str, Any]:
        resp = self.api.client.get(
            "/log/proof/inclusion", params={"index": index, "tree_size": size}
        )
        assert resp.status_code == 200, resp.text
        row = self.entries[index]
        return {**resp.json(), "leaf_hash": row["leaf_hash"], "entry": row["entry"]}

    def consistency(self, first: int, second: int) -> dict[str, Any]:
        resp = self.api.client.get(
            "/log/proof/consistency", params={"first": first, "second": second}
        )
        assert resp.status_code == 200, resp.text
        out: dict[str, Any] = resp.json()
        return out

    def latest(self) -> str:
        return self.checkpoints[self.size]


@pytest.fixture(scope="module")
def grown(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Grown]:
    with running_api(tmp_path_factory.mktemp("go-tlog")) as api:
        checkpoints: dict[int, str] = {}

        def keep() -> None:
            note = api.client.get("/log/checkpoint").text
            checkpoints[Checkpoint.from_text(Note.from_text(note).text).size] = note

        keep()
        for i in range(APPENDS):
            api.ok("admin:root", "actor.registered", {"actor": f"auditor:go{i}", "role": "auditor"})
            keep()
        # two witnesses cosign the latest checkpoint: Go must skip their cosignature/v1 lines
        signers = [witnesses.witness(f"witness.example.mn/go{i}") for i in (1, 2)]
        for w in signers:
            witnesses.register(api, w)
        keep()
        for w in signers:
            assert witnesses.cosign_latest(api.client, w).status_code == 201
        keep()
        size = max(checkpoints)
        assert checkpoints[size].count("\u2014 witness.example.mn/go") == 2
        rows = api.client.get("/log/entries", params={"start": 0, "end": size}).json()["entries"]
        assert [r["index"] for r in rows] == list(range(size))
        keys = api.client.get("/log/keys").json()["keys"]
        app = api.client.app
        yield Grown(
            api=api,
            signer=app.state.runtime.keystore.active(),  # type: ignore[attr-defined]
            vkey=keys[0]["verifier_key"],
            entries=rows,
            checkpoints=checkpoints,
        )


def _flip_b64(value: str, byte: int = 0) -> str:
    raw = bytearray(base64.b64decode(value))
    raw[byte] ^= 1
    return base64.b64encode(bytes(raw)).decode()


def _resigned(g: Grown, note: str, **change: Any) -> str:
    """`note`'s checkpoint with `change` (fields of Checkpoint), signed again by the log key."""
    cp = Checkpoint.from_text(Note.from_text(note).text)
    fields = {"origin": cp.origin, "size": cp.size, "root_hash": cp.root_hash, **change}
    return g.signer.note_signer.sign(Checkpoint(**fields).to_text())


# --- honest log: Go verifies everything ---------------------------------------------------------


def test_the_log_grew_and_published_many_checkpoints(grown: Grown) -> None:
    assert grown.size >= APPENDS
    assert len(grown.checkpoints) >= APPENDS // 2


def test_go_verifies_every_checkpoint_and_every_inclusion_proof(
    grown: Grown, go_tlog: GoTlog
) -> None:
    proofs = [grown.inclusion(i, grown.size) for i in range(grown.size)]
    # and each entry in some older published tree
    older = sorted(grown.checkpoints)[1:-1:3]
    proofs += [grown.inclusion(i, size) for size in older for i in (0, size // 2, size - 1)]
    verdict = go_tlog.check(
        [grown.vkey], list(grown.checkpoints.values()), origin=ORIGIN, inclusion=proofs
    )
    assert verdict.ok, verdict.output
    assert verdict.output.count("ok   inclusion") == len(proofs)
    assert verdict.output.count("ok   checkpoint") == len(grown.checkpoints)
    # the latest carries two witness cosignatures, which note.Open leaves unverified
    assert "1 signature(s) verified, 2 unverified" in verdict.output


def test_go_verifies_consistency_proofs(grown: Grown, go_tlog: GoTlog) -> None:
    sizes = sorted(s for s in grown.checkpoints if s > 0)
    pairs = [(a, b) for a in sizes[::4] for b in sizes[::3] if a <= b]
    pairs += list(itertools.pairwise(sizes))
    proofs = [grown.consistency(a, b) for a, b in pairs]
    verdict = go_tlog.check(
        [grown.vkey], list(grown.checkpoints.values()), origin=ORIGIN, consistency=proofs
    )
    assert verdict.ok, verdict.output
    assert verdict.output.count("ok   consistency") == len(pairs) > 20


# --- tampering: Go refuses ------------------------------------------------------------------------


def test_go_refuses_a_flipped_inclusion_proof_hash(grown: Grown, go_tlog: GoTlog) -> None:
    proof = grown.inclusion(3, grown.size)
    proof["hashes"][1] = _flip_b64(proof["hashes"][1], 7)
    verdict = go_tlog.check([grown.vkey], [grown.latest()], inclusion=[proof])
    assert verdict.code == 1, verdict.output
    assert "tlog.CheckRecord" in verdict.failures()[0]


def test_go_refuses_a_flipped_entry(grown: Grown, go_tlog: GoTlog) -> None:
    proof = {**grown.inclusion(5, grown.size), "leaf_hash": ""}
    proof["entry"] = _flip_b64(proof["entry"], 10)
    verdict = go_tlog.check([grown.vkey], [grown.latest()], inclusion=[proof])
    assert verdict.code == 1 and "tlog.CheckRecord" in verdict.output, verdict.output


def test_go_refuses_a_leaf_hash_that_is_not_the_entrys(grown: Grown, go_tlog: GoTlog) -> None:
    proof = grown.inclusion(5, grown.size)
    proof["leaf_hash"] = _flip_b64(proof["leaf_hash"])
    verdict = go_tlog.check([grown.vkey], [grown.latest()], inclusion=[proof])
    assert verdict.code == 1 and "is not tlog.RecordHash" in verdict.output, verdict.output


def test_go_refuses_a_flipped_consistency_proof_hash(grown: Grown, go_tlog: GoTlog) -> None:
    sizes = sorted(grown.checkpoints)
    first, second = sizes[len(sizes) // 3], grown.size
    proof = grown.consistency(first, second)
    proof["hashes"][-1] = _flip_b64(proof["hashes"][-1], 31)
    notes = [grown.checkpoints[first], grown.checkpoints[second]]
    verdict = go_tlog.check([grown.vkey], notes, consistency=[proof])
    assert verdict.code == 1 and "tlog.CheckTree" in verdict.output, verdict.output


def test_go_refuses_a_flipped_root_in_the_signed_text(grown: Grown, go_tlog: GoTlog) -> None:
    note = grown.latest()
    cp = Checkpoint.from_text(Note.from_text(note).text)
    root = base64.b64encode(cp.root_hash).decode()
    forged = note.replace(root, _flip_b64(root, 31), 1)
    assert forged != note
    verdict = go_tlog.check([grown.vkey], [forged])
    assert verdict.code == 1 and "note.Open" in verdict.output, verdict.output


def test_go_refuses_proofs_against_a_flipped_root_the_log_key_signed(
    grown: Grown, go_tlog: GoTlog
) -> None:
    note = grown.latest()
    cp = Checkpoint.from_text(Note.from_text(note).text)
    forged = _resigned(grown, note, root_hash=bytes([cp.root_hash[0] ^ 1]) + cp.root_hash[1:])
    verdict = go_tlog.check([grown.vkey], [forged], inclusion=[grown.inclusion(0, grown.size)])
    assert verdict.code == 1, verdict.output
    assert "ok   checkpoint" in verdict.output and "tlog.CheckRecord" in verdict.output


def test_go_refuses_a_flipped_signature(grown: Grown, go_tlog: GoTlog) -> None:
    note = Note.from_text(grown.latest())
    own = note.signatures[0].to_line()
    name, sig = own.rstrip("\n").rsplit(" ", 1)
    forged = note.text + "\n" + f"{name} {_flip_b64(sig, 20)}\n"
    verdict = go_tlog.check([grown.vkey], [forged])
    assert verdict.code == 1 and "note.Open" in verdict.output, verdict.output


def test_go_refuses_a_checkpoint_signed_by_another_key_of_the_same_name(
    grown: Grown, go_tlog: GoTlog
) -> None:
    other = NoteSigner(Ed25519PrivateKey.generate(), ORIGIN)
    forged = other.sign(Note.from_text(grown.latest()).text)
    verdict = go_tlog.check([grown.vkey], [forged])
    assert verdict.code == 1 and "note.Open" in verdict.output, verdict.output
    assert go_tlog.check([grown.vkey], [_resigned(grown, grown.latest())]).ok  # ours does


# --- issue 14: a C2SP extension line in the checkpoint --------------------------------------------


@pytest.fixture(scope="module")
def extended(grown: Grown) -> str:
    """The latest checkpoint with EXTENSION after the root, signed again with the log key."""
    note = _resigned(grown, grown.latest(), extensions=(EXTENSION,))
    assert Note.from_text(note).text.endswith(f"\n{EXTENSION}\n")
    return note


def test_go_note_open_and_a_c2sp_parser_accept_an_extension_line(
    grown: Grown, extended: str, go_tlog: GoTlog
) -> None:
    sizes = sorted(grown.checkpoints)
    verdict = go_tlog.check(
        [grown.vkey],
        [extended, grown.checkpoints[sizes[5]]],
        origin=ORIGIN,
        inclusion=[grown.inclusion(i, grown.size) for i in range(0, grown.size, 4)],
        consistency=[grown.consistency(sizes[5], grown.size)],
    )
    assert verdict.ok, verdict.output
    assert "1 extension line(s)" in verdict.output


def test_our_checkpoint_parsers_accept_an_extension_line(grown: Grown, extended: str) -> None:
    verifier = NoteVerifier.from_vkey(grown.vkey)
    cp, signed_by = open_checkpoint(extended, [verifier], ORIGIN)
    assert cp.extensions == (EXTENSION,) and signed_by == [verifier]
    plain = Checkpoint.from_text(Note.from_text(grown.latest()).text)
    assert (cp.size, cp.root_hash) == (plain.size, plain.root_hash)


def test_a_cosignature_covers_the_extension_line(grown: Grown, extended: str) -> None:
    witness = WitnessSigner(Ed25519PrivateKey.generate(), "witness.example.mn/go")
    body = Note.from_text(extended).text
    cosignature = witness.cosign(body, 1_790_000_000)
    verify_cosignature(body, cosignature, witness.key)
    with pytest.raises(InvalidSignature):
        verify_cosignature(body.replace("altan-map/v1", "altan-map/v2"), cosignature, witness.key)
    cosigned = Note(body, (*Note.from_text(extended).signatures, cosignature.to_note_signature()))
    assert [w.name for w, _ in cosignatures_by(cosigned, [witness.key])] == [witness.name]


def test_a_witness_cosigns_an_extended_checkpoint_pushed_to_it(
    grown: Grown, extended: str, tmp_path: Path
) -> None:
    witness = WitnessSigner(Ed25519PrivateKey.generate(), "witness.example.mn/go")
    log = LogWitness(NoteVerifier.from_vkey(grown.vkey), witness, tmp_path / "state.json")
    sizes = sorted(s for s in grown.checkpoints if s > 0)
    first = sizes[len(sizes) // 2]
    push = AddCheckpoint(0, (), grown.checkpoints[first]).to_bytes()
    assert log.add_checkpoint(push).status == 200
    proof = tuple(base64.b64decode(h) for h in grown.consistency(first, grown.size)["hashes"])
    answer = log.add_checkpoint(AddCheckpoint(first, proof, extended).to_bytes())
    assert answer.status == 200, answer.body
    # the same tree again without the line: an unchanged (size, root), cosigned again
    again = log.add_checkpoint(AddCheckpoint(grown.size, (), grown.latest()).to_bytes())
    assert again.status == 200, again.body


def test_a_proof_bundle_with_an_extended_checkpoint_verifies(
    grown: Grown, extended: str, tmp_path: Path
) -> None:
    index = 7
    proof = tuple(base64.b64decode(h) for h in grown.inclusion(index, grown.size)["hashes"])
    entry = base64.b64decode(grown.entries[index]["entry"])
    text = ProofBundle(index, proof, extended, entry).to_text()
    verified = verify_bundle(text, [NoteVerifier.from_vkey(grown.vkey)])
    assert verified.checkpoint.extensions == (EXTENSION,)
    path = tmp_path / "entry.tlog-proof"
    path.write_text(text, encoding="utf-8")
    result = CliRunner().invoke(
        cli.app,
        ["verify", str(path), "--bundle", "--key", grown.vkey, "--json"],
        catch_exceptions=False,
    )
    assert result.exit_code == 0, result.stdout + result.stderr
    doc = json.loads(result.stdout)
    assert (doc["genuine"], doc["reason"]) == (True, "included"), doc


def _altan(*args: str) -> tuple[int, str]:
    """Exit code and standard output (the log lines go to standard error)."""
    result = CliRunner().invoke(cli.app, list(args), catch_exceptions=False)
    return result.exit_code, result.stdout


def test_altan_audit_and_witness_run_accept_extension_lines(
    grown: Grown, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """The real entries, served by a proxy whose checkpoints carry EXTENSION (signed by the
    real key): `altan audit` (with and without state) and `altan witness run` accept them,
    from a plain checkpoint to an extended one and back."""
    proxy = LyingServer(grown.api.client)
    monkeypatch.setattr(cli, "_remote_log", lambda url: RemoteLog(url, transport=proxy))
    monkeypatch.setattr(
        witness_client, "new_http_client", lambda base: httpx.Client(base_url=base, transport=proxy)
    )
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "xdg-state"))
    entries = [base64.b64decode(r["entry"]) for r in grown.entries]
    keys = grown.api.client.get("/log/keys").json()
    key = tmp_path / "witness.key"
    generate_key("witness.example.mn/go", key)
    audit = ("audit", URL, "--key", grown.vkey, "--state", str(tmp_path / "audit.json"), "--json")
    run = ["witness", "run", URL, "--key", grown.vkey, "--witness-key", str(key)]
    run += ["--state", str(tmp_path / "witness.json")]
    half = len(entries) // 2
    views = [
        LogView(entries[:half], grown.signer, ORIGIN, keys),
        LogView(entries[: half + 3], grown.signer, ORIGIN, keys, extensions=(EXTENSION,)),
        LogView(entries, grown.signer, ORIGIN, keys, extensions=(EXTENSION, "another/v1 x")),
        LogView(entries, grown.signer, ORIGIN, keys),
    ]
    for view in views:
        proxy.view = view
        code, out = _altan(*audit)
        assert code == 0, out
        assert json.loads(out)["tree_size"] == view.size
        code, out = _altan("audit", URL, "--key", grown.vkey, "--no-state", "--json")
        assert code == 0, out
        code, out = _altan(*run)
        assert code == 0 and out.split()[0] in ("COSIGNED", "RECOSIGNED", "UNCHANGED"), out
    assert len(proxy.cosignatures) >= 3
    for submission in proxy.cosignatures[1:3]:
        assert EXTENSION in Note.from_text(submission).text
