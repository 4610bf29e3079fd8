"""Offline proof bundles (C2SP tlog-proof@v1): made by the log, checked with no server.

Every entry of logs of many sizes gives a bundle that verifies against the pinned key;
every single-byte change anywhere in a bundle is refused; the service serves bundles and
`altan proof` saves one that `altan verify --bundle` checks.
"""

from __future__ import annotations

import base64
import dataclasses
import json
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner, Result

import clients.proof
from clients.cli import app
from ledger.checkpoint import Checkpoint, sign_checkpoint
from ledger.entry import Event
from ledger.errors import LedgerError, MalformedInput, OriginMismatch
from ledger.keystore import KeyStore
from ledger.note import Note, NoteVerifier
from ledger.proof_bundle import HEADER, ProofBundle, parse_bundle, verify_bundle
from ledger.sql.log import Log
from support.db import ORIGIN, Clock
from support.domain import WHEN, running_api


def event(i: int) -> Event:
    return Event("ore.delivered", "centre:bornuur", {"lot": f"ORE-{i:06d}", "mass_g": 1000 + i})


def bundle_of(log: Log, index: int) -> str:
    cp = log.checkpoint()
    [row] = log.entries(index, index + 1, 1)
    proof = log.inclusion_proof(index, cp.size)
    return ProofBundle(index, tuple(proof), cp.note, row.entry).to_text()


def verifiers(keystore: KeyStore) -> list[NoteVerifier]:
    return [k.note_verifier() for k in keystore.keys()]


@pytest.mark.parametrize("database", ["sqlite"], indirect=True)
@settings(max_examples=25, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(sizes=st.lists(st.integers(1, 9), min_size=1, max_size=4), pick=st.integers(0, 10**6))
def test_every_entry_of_any_log_has_a_bundle_that_verifies(
    log: Log, keystore: KeyStore, clock: Clock, sizes: list[int], pick: int
) -> None:
    start = log.size()
    for n in sizes:
        log.append([event(start + i) for i in range(n)], clock())
    index = pick % log.size()  # the log grows across examples: draw a share, not an index
    text = bundle_of(log, index)
    verified = verify_bundle(text, verifiers(keystore), origin=ORIGIN)
    assert verified.entry.index == index
    assert verified.checkpoint.size == log.size()
    assert parse_bundle(text).to_text() == text  # one text form


@pytest.mark.parametrize("database", ["sqlite"], indirect=True)
def test_every_changed_byte_is_refused(log: Log, keystore: KeyStore, clock: Clock) -> None:
    log.append([event(i) for i in range(11)], clock())
    text = bundle_of(log, 6)
    raw = text.encode()
    for pos in range(len(raw)):
        changed = bytearray(raw)
        changed[pos] ^= 0x01
        with pytest.raises(LedgerError):
            verify_bundle(bytes(changed), verifiers(keystore), origin=ORIGIN)


@pytest.mark.parametrize("database", ["sqlite"], indirect=True)
def test_a_bundle_by_another_log_or_for_another_entry_is_refused(
    log: Log, keystore: KeyStore, clock: Clock, tmp_path: Path
) -> None:
    log.append([event(i) for i in range(5)], clock())
    text = bundle_of(log, 2)
    other = KeyStore(tmp_path / "other", ORIGIN)
    other.load_or_create(clock())
    with pytest.raises(LedgerError):
        verify_bundle(text, [k.note_verifier() for k in other.keys()])
    moved = text.replace("index 2\n", "index 3\n")
    with pytest.raises(MalformedInput):
        verify_bundle(moved, verifiers(keystore))  # the entry says it is entry 2
    no_entry = "\n".join(line for line in text.split("\n") if not line.startswith("extra "))
    with pytest.raises(MalformedInput):
        verify_bundle(no_entry, verifiers(keystore))
    with pytest.raises(LedgerError):
        verify_bundle(text, verifiers(keystore), min_cosignatures=1)  # nobody cosigned


@pytest.mark.parametrize(
    "text",
    [
        "",
        HEADER,
        f"{HEADER}\nindex 01\n\nx",
        f"{HEADER}\nindex -1\n\nx",
        f"{HEADER}\nindex 1\nnot base64\n\nx",
        f"{HEADER}\nindex 1\n{base64.b64encode(bytes(31)).decode()}\n\nx",
        "c2sp.org/tlog-proof@v2\nindex 1\n\nx",
    ],
)
def test_malformed_bundles(text: str) -> None:
    with pytest.raises(MalformedInput):
        parse_bundle(text)


def test_served_saved_and_verified_offline(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with running_api(tmp_path) as api:
        body = {"actor": "centre:bornuur", "role": "processing_centre"}
        out = api.ok("admin:root", "actor.registered", body)
        vkey = api.client.get("/log/keys").json()["keys"][0]["verifier_key"]

        resp = api.client.get("/log/proof/bundle", params={"index": out["index"]})
        assert resp.status_code == 200
        assert resp.text.startswith(HEADER + "\nextra ")
        assert "tlog-proof" in resp.headers["content-disposition"]
        verified = verify_bundle(resp.text, [NoteVerifier.from_vkey(vkey)])
        assert verified.entry.event.type == "actor.registered"
        assert verified.entry.event.body["occurred_at"] == WHEN

        beyond = api.client.get("/log/proof/bundle", params={"index": 10_000})
        assert beyond.status_code == 400
        assert beyond.headers["content-type"].startswith("application/problem+json")

        def fetch(base_url: str, index: int, client: object = None) -> str:
            r = api.client.get("/log/proof/bundle", params={"index": index})
            r.raise_for_status()
            return r.text

        monkeypatch.setattr(clients.proof, "fetch_bundle", fetch)
        saved = tmp_path / "entry.tlog-proof"
        runner = CliRunner()
        ok = runner.invoke(
            app, ["proof", "http://x", str(out["index"]), "--out", str(saved), "--key", vkey]
        )
        assert ok.exit_code == 0, ok.output
        assert verify_bundle(saved.read_text(), [NoteVerifier.from_vkey(vkey)])

        wrong = KeyStore(tmp_path / "wrong", "another.example/log")
        wrong.load_or_create(Clock()())
        bad = runner.invoke(
            app,
            ["proof", "http://x", str(out["index"]), "--key", wrong.active().key.verifier_key],
        )
        assert bad.exit_code == 1


def test_altan_verify_bundle_with_and_without_witnesses(tmp_path: Path) -> None:
    from support.witnesses import cosign_latest, register, witness

    with running_api(tmp_path) as api:
        w = witness()
        register(api, w)
        out = api.ok(
            "admin:root",
            "actor.registered",
            {"actor": "centre:bornuur", "role": "processing_centre"},
        )
        vkey = api.client.get("/log/keys").json()["keys"][0]["verifier_key"]
        runner = CliRunner()

        def verify(path: Path, *extra: str) -> Result:
            return runner.invoke(app, ["verify", str(path), "--bundle", "--key", vkey, *extra])

        plain = tmp_path / "plain.tlog-proof"
        plain.write_text(api.client.get("/log/proof/bundle", params={"index": out["index"]}).text)
        ok = verify(plain)
        assert ok.exit_code == 0, ok.output
        assert ok.output.startswith("INCLUDED IN THE LOG; STATUS UNKNOWN OFFLINE: entry ")
        assert "a bundle proves that this entry is in the log, not that a certificate" in (
            ok.output
        )
        demand = ("--witness", w.key.vkey, "--min-cosignatures", "1")
        unwitnessed = verify(plain, *demand)
        assert unwitnessed.exit_code == 1
        assert "not_witnessed" in unwitnessed.output

        assert cosign_latest(api.client, w).status_code == 201
        cosigned = tmp_path / "cosigned.tlog-proof"
        cosigned.write_text(
            api.client.get("/log/proof/bundle", params={"index": out["index"]}).text
        )
        assert verify(cosigned, *demand).exit_code == 0

        tampered = tmp_path / "tampered.tlog-proof"
        tampered.write_text(cosigned.read_text().replace("index ", "index 1", 1))
        bad = verify(tampered, "--json")
        assert bad.exit_code == 1
        assert json.loads(bad.output)["reason"] == "malformed"
        missing = verify(tmp_path / "nowhere.tlog-proof")
        assert missing.exit_code == 2


def test_a_bundle_says_it_proves_inclusion_not_status(tmp_path: Path) -> None:
    """Hole 8 of issue 10, for bundles: inclusion is proven, a certificate's status is not."""
    with running_api(tmp_path) as api:
        out = api.ok(
            "admin:root",
            "actor.registered",
            {"actor": "centre:bornuur", "role": "processing_centre"},
        )
        vkey = api.client.get("/log/keys").json()["keys"][0]["verifier_key"]
        path = tmp_path / "entry.tlog-proof"
        path.write_text(api.client.get("/log/proof/bundle", params={"index": out["index"]}).text)
        result = CliRunner().invoke(app, ["verify", str(path), "--bundle", "--key", vkey, "--json"])
        assert result.exit_code == 0, result.output
        verdict = json.loads(result.output)
        assert (verdict["genuine"], verdict["reason"]) == (True, "included")
        assert (verdict["status"], verdict["status_checked"]) == ("unknown_offline", False)
        assert "not that a certificate for it is still current" in verdict["message"]


def test_a_checkpoint_resigned_by_the_real_key_under_another_origin_is_refused(
    tmp_path: Path,
) -> None:
    """Hole 1 of issue 10, for bundles (c2sp.org/tlog-proof verification step 2): whoever
    holds the log key signs the same tree under the origin with a trailing "/"; the bundle
    verifies as a signed note, but names another log than the key pinned."""
    with running_api(tmp_path) as api:
        out = api.ok(
            "admin:root",
            "actor.registered",
            {"actor": "centre:bornuur", "role": "processing_centre"},
        )
        vkey = api.client.get("/log/keys").json()["keys"][0]["verifier_key"]
        honest = api.client.get("/log/proof/bundle", params={"index": out["index"]}).text
        bundle = parse_bundle(honest)
        cp = Checkpoint.from_text(Note.from_text(bundle.checkpoint_note).text)
        signer = api.client.app.state.runtime.keystore.active().note_signer  # type: ignore[attr-defined]
        other = Checkpoint(cp.origin + "/", cp.size, cp.root_hash, cp.extensions)
        lied = dataclasses.replace(bundle, checkpoint_note=sign_checkpoint(other, signer)).to_text()

        pinned = [NoteVerifier.from_vkey(vkey)]
        assert verify_bundle(honest, pinned).checkpoint.origin == cp.origin
        with pytest.raises(OriginMismatch):
            verify_bundle(lied, pinned)
        with pytest.raises(OriginMismatch):
            clients.proof.verify_bundle_text(lied, [vkey])

        path = tmp_path / "lied.tlog-proof"
        path.write_text(lied)
        result = CliRunner().invoke(app, ["verify", str(path), "--bundle", "--key", vkey, "--json"])
        assert result.exit_code == 1, result.output
        verdict = json.loads(result.output)
        assert (verdict["genuine"], verdict["reason"]) == (False, "other_log")
        assert f"found {cp.origin + '/'!r}" in verdict["message"]
