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
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner, Result

import clients.proof
from clients.cli import app
from ledger.certificate import certificate_id
from ledger.checkpoint import Checkpoint, sign_checkpoint
from ledger.entry import Event
from ledger.errors import LedgerError, MalformedInput, OriginMismatch, StatusProofInvalid
from ledger.keystore import KeyStore
from ledger.note import Note, NoteVerifier
from ledger.proof_bundle import HEADER, ProofBundle, parse_bundle, verify_bundle
from ledger.sql.log import Log
from support.certificates import PUBLIC_URL, REGULATOR, World
from support.db import ORIGIN, Clock
from support.domain import WHEN, running_api
from support.status_vectors import SyntheticLog, log_signer
from support.verify_online import App
from support.verify_online import world as world


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
            return str(r.text)

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
        assert "status not included" in ok.output
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


# --- bundles with a status (issue 14) ---------------------------------------------------------


def _status_log() -> tuple[SyntheticLog, bytes]:
    log = SyntheticLog()
    log.gold("AU-1")
    return log, log.certify("AU-1")


def _pinned(log: SyntheticLog) -> list[NoteVerifier]:
    return [NoteVerifier.from_vkey(log.vkey)]


def test_a_bundle_of_a_certificates_entry_proves_its_status() -> None:
    log, token = _status_log()
    reflected = log.facts(token).ledger_index
    text = log.bundle(reflected, token=token)
    assert parse_bundle(text).to_text() == text  # one text form
    verified = verify_bundle(text, _pinned(log))
    assert verified.entry.index == reflected and verified.certificate is not None
    assert verified.status is not None and verified.status.tree_size == log.size
    assert verified.verdict == ("genuine", None)
    assert clients.proof.bundle_verdict(verified) == (
        "genuine",
        None,
        f"status as of checkpoint {log.size}: genuine and current",
    )
    # still a tlog-proof@v1: header, one extra line, the index, hashes, the checkpoint
    lines = text.split("\n")
    assert lines[0] == HEADER and lines[1].startswith("extra ") and lines[2] == f"index {reflected}"
    envelope = json.loads(base64.b64decode(lines[1].removeprefix("extra ")))
    assert set(envelope) == {"entry", "status", "certificate"}
    # without a status, byte for byte the bundle it always was: the entry in `extra`
    plain = log.bundle(reflected, status=False)
    assert base64.b64decode(plain.split("\n")[1].removeprefix("extra ")) == log.raw[reflected]
    assert verify_bundle(plain, _pinned(log)).status is None


def test_a_certificate_issued_entry_needs_no_token() -> None:
    log, token = _status_log()
    issued = next(e.index for e in log.entries if e.event.type == "certificate.issued")
    verified = verify_bundle(log.bundle(issued), _pinned(log))
    assert verified.certificate_id == certificate_id(token)
    assert verified.verdict == ("genuine", None)


@pytest.mark.parametrize(
    ("history", "verdict"),
    [
        ("revoke", ("not_genuine", "revoked")),
        ("reissue", ("not_current", "superseded")),
        ("transfer", ("not_current", "transferred")),
        ("hold", ("not_current", "held")),
    ],
)
def test_a_bundle_says_the_status_as_of_its_checkpoint(
    history: str, verdict: tuple[str, str]
) -> None:
    log, token = _status_log()
    reflected = log.facts(token).ledger_index
    before = log.bundle(reflected, token=token)
    if history == "revoke":
        log.revoke(token)
    elif history == "reissue":
        log.certify("AU-1")
    elif history == "transfer":
        log.transfer("AU-1")
    else:
        log.hold("AU-1")
    after = verify_bundle(log.bundle(reflected, token=token), _pinned(log))
    assert after.verdict == verdict
    # the bundle made before still says what was true as of its own checkpoint
    assert verify_bundle(before, _pinned(log)).verdict == ("genuine", None)


def test_every_changed_byte_of_a_status_bundle_is_refused() -> None:
    log, token = _status_log()
    log.revoke(token)
    text = log.bundle(log.facts(token).ledger_index, token=token)
    raw = text.encode()
    for pos in range(len(raw)):
        changed = bytearray(raw)
        changed[pos] ^= 0x01
        with pytest.raises(LedgerError):
            verify_bundle(bytes(changed), _pinned(log))


def test_a_status_that_does_not_belong_to_the_bundle_is_refused() -> None:
    log, token = _status_log()
    reflected = log.facts(token).ledger_index
    log.gold("AU-2")
    other = log.certify("AU-2")
    older = log.size
    log.revoke(token)
    pinned = _pinned(log)
    with pytest.raises(StatusProofInvalid) as caught:  # the state before the revocation
        verify_bundle(log.bundle(reflected, token=token, root=older - 1), pinned)
    assert caught.value.reason == "not_latest_root"
    with pytest.raises(StatusProofInvalid) as caught:  # another lot's status
        verify_bundle(log.bundle(reflected, token=token, lot="AU-2"), pinned)
    assert caught.value.reason == "map_proof"
    with pytest.raises(MalformedInput):  # a token that does not reflect this entry
        verify_bundle(log.bundle(reflected, token=other, lot="AU-1"), pinned)
    with pytest.raises(MalformedInput):  # a status and no certificate to judge
        verify_bundle(log.bundle(reflected, lot="AU-1"), pinned)
    stranger = SyntheticLog(signer=log_signer(9))  # a token by a key nobody pinned
    stranger.gold("AU-1")
    forged = stranger.certify("AU-1")
    assert stranger.facts(forged).ledger_index == reflected
    with pytest.raises(LedgerError):
        verify_bundle(log.bundle(reflected, token=forged), pinned)


def test_a_status_bundle_through_the_service_and_the_cli(
    world: World, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`altan proof URL INDEX --certificate QR` through the real service, then `altan verify
    --bundle`: "status as of checkpoint N"; the certificate.issued entry's bundle carries
    its status unasked; an older bundle still says what held as of its checkpoint."""
    monkeypatch.setattr(
        clients.proof,
        "new_http_client",
        lambda base: httpx.Client(base_url=base, transport=App(world)),
    )
    world.gold("AU-1", 50_000)
    world.request("AU-1")
    [record] = world.certificates("AU-1")
    [vkey] = world.vkeys()
    runner = CliRunner()

    def proof(index: int, path: Path, *extra: str) -> Result:
        args = ["proof", PUBLIC_URL, str(index), "--out", str(path), "--key", vkey, *extra]
        return runner.invoke(app, args)

    def check(path: Path) -> tuple[int, dict[str, Any]]:
        out = runner.invoke(app, ["verify", str(path), "--bundle", "--key", vkey, "--json"])
        return out.exit_code, json.loads(out.stdout)

    current = tmp_path / "current.tlog-proof"
    made = proof(record["entry"], current, "--certificate", record["qr_text"])
    assert made.exit_code == 0, made.output
    assert f"status as of checkpoint {world.size()}: genuine and current" in made.output
    code, doc = check(current)
    assert code == 0, doc
    assert (doc["verdict"], doc["status"], doc["status_proof"]["as_of"]) == (
        "genuine",
        "proven",
        world.size(),
    )
    assert doc["message"].startswith(f"status as of checkpoint {world.size()}: genuine")
    line = runner.invoke(app, ["verify", str(current), "--bundle", "--key", vkey])
    assert line.stdout.startswith(f"GENUINE status as of checkpoint {world.size()}: genuine")

    issued = tmp_path / "issued.tlog-proof"
    assert proof(record["issued_index"], issued).exit_code == 0
    assert check(issued)[1]["verdict"] == "genuine"

    world.api.ok(REGULATOR, "certificate.revoked", {"certificate": record["id"], "reason": "x"})
    revoked = tmp_path / "revoked.tlog-proof"
    made = proof(record["entry"], revoked, "--certificate", record["qr_text"])
    assert made.exit_code == 0, made.output  # written and verified: what it proves is said
    assert f"status as of checkpoint {world.size()}: revoked: a regulator revoked" in (made.output)
    code, doc = check(revoked)
    assert (code, doc["verdict"], doc["reason"]) == (1, "not_genuine", "revoked")
    line = runner.invoke(app, ["verify", str(revoked), "--bundle", "--key", vkey])
    assert line.stdout.startswith(f"NOT GENUINE (revoked): status as of checkpoint {world.size()}")
    assert check(current)[0] == 0  # true as of its own, older checkpoint

    plain = tmp_path / "plain.tlog-proof"
    made = proof(record["entry"], plain)  # the reflected entry, no token: no status
    assert made.exit_code == 0 and "status not included" in made.output
    code, doc = check(plain)
    assert (code, doc["reason"], doc["status_checked"]) == (0, "included", False)
    assert doc["message"].count("status not included") == 1

    # a tampered status in a bundle is refused with its reason
    bundle = parse_bundle(revoked.read_text())
    assert bundle.status is not None
    lied_status = dataclasses.replace(
        bundle.status,
        state=dataclasses.replace(bundle.status.state, revoked=()),  # type: ignore[type-var]
    )
    lied = tmp_path / "lied.tlog-proof"
    lied.write_text(dataclasses.replace(bundle, status=lied_status).to_text())
    code, doc = check(lied)
    assert (code, doc["reason"]) == (1, "proof_invalid")
