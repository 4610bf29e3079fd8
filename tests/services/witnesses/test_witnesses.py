"""Witnesses (issue 5), through real HTTP on the ASGI app: registration through the log,
`POST /log/cosignatures` and its refusals, `GET /log/checkpoint` with cosignatures, the
`altan witness` command, and a split view (two servers with one log key and diverging
histories) caught by a witness and by `altan verify --min-cosignatures`.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import stat
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import select

import clients.witness as witness_client
import support.witnesses as witnesses_fixtures
from clients.verify import verify_online
from clients.witness import Refusal, Witness, default_state_path, follow, load_key, read_state
from ledger.checkpoint import Checkpoint, open_checkpoint
from ledger.cosignature import (
    Cosignature,
    WitnessKey,
    WitnessSigner,
    cosign,
    count_valid_cosignatures,
)
from ledger.errors import OutOfRange
from ledger.note import Note, NoteVerifier
from ledger.sql import storage
from services.app import create_app
from services.domains import rebuild
from services.settings import Settings
from services.witnesses.cosignatures import MAX_SUBMISSION_BYTES
from services.witnesses.models import Witness as WitnessRow
from services.witnesses.queries import checkpoint_note
from support.certificates import PUBLIC_URL, REGULATOR, World, populate
from support.db import Database, database_url
from support.domain import Api, running_api
from support.witnesses import (
    NOW,
    Network,
    altan,
    cosign_latest,
    keygen,
    log_key,
    post,
    register,
    submission,
    witness,
)

# The fixtures shared through support.witnesses, taken by this module's tests.
api = witnesses_fixtures.api
network = witnesses_fixtures.network


def problem(resp: httpx.Response, status: int, slug: str) -> dict[str, Any]:
    assert resp.status_code == status, resp.text
    assert resp.headers["content-type"].startswith("application/problem+json")
    body: dict[str, Any] = resp.json()
    assert body["type"].endswith("/" + slug), body
    return body


# --- registration through the log --------------------------------------------------------


def test_a_registered_witness_cosigns_and_the_checkpoint_carries_it(api: Api) -> None:
    w = witness()
    entry = register(api, w)
    listed = api.client.get("/log/witnesses").json()["witnesses"]
    assert listed == [
        {
            "name": w.name,
            "key_id": w.key.key_id.hex(),
            "vkey": w.key.vkey,
            "status": "active",
            "registered_index": entry["index"],
            "removed_index": None,
            "removed_reason": None,
        }
    ]

    before = api.client.get("/log/checkpoint").text
    resp = cosign_latest(api.client, w)
    assert resp.status_code == 201, resp.text
    size = Checkpoint.from_text(Note.from_text(before).text).size
    assert resp.json() == {
        "tree_size": size,
        "cosignatures": [
            {"witness": w.name, "key_id": w.key.key_id.hex(), "timestamp": NOW, "stored": True}
        ],
    }

    after = api.client.get("/log/checkpoint")
    assert after.headers["cache-control"] == "no-cache"
    note = after.text
    assert note.startswith(before)  # the log's note, then the cosignature line
    [line] = note[len(before) :].splitlines(keepends=True)
    assert Cosignature.from_line(line).timestamp == NOW
    cp, signed_by = open_checkpoint(note, [log_key(api.client)])
    assert cp.size == size and len(signed_by) == 1
    assert count_valid_cosignatures(note, [w.key]) == [w.key]

    # Idempotent: the same again is acknowledged, not stored twice.
    again = cosign_latest(api.client, w)
    assert again.status_code == 200 and again.json()["cosignatures"][0]["stored"] is False
    assert api.client.get("/log/checkpoint").text == note
    # A fresher one for the same checkpoint replaces it (issue 10: the newest is kept, so
    # that verifiers demanding recent cosignatures see it); an older one does not.
    later = cosign_latest(api.client, w, NOW + 60)  # the served note already holds NOW's
    assert later.status_code == 201
    assert [c["stored"] for c in later.json()["cosignatures"]] == [False, True]
    [line] = api.client.get("/log/checkpoint").text[len(before) :].splitlines(keepends=True)
    assert Cosignature.from_line(line).timestamp == NOW + 60
    older = cosign_latest(api.client, w, NOW + 30)
    assert older.status_code == 200
    assert [c["stored"] for c in older.json()["cosignatures"]] == [False, False]
    [line] = api.client.get("/log/checkpoint").text[len(before) :].splitlines(keepends=True)
    assert Cosignature.from_line(line).timestamp == NOW + 60

    # A new append: the new latest checkpoint carries no cosignature yet.
    api.register("miner:bat", "miner")
    fresh = api.client.get("/log/checkpoint").text
    assert count_valid_cosignatures(fresh, [w.key]) == []


def test_an_unregistered_witness_is_refused(api: Api) -> None:
    registered, stranger = witness("w.example/one"), witness("w.example/stranger")
    register(api, registered)
    before = api.client.get("/log/checkpoint").text
    body = problem(cosign_latest(api.client, stranger), 403, "unknown-witness")
    assert "w.example/stranger" in body["detail"]
    # Same name as a registered witness, another key: unknown too.
    impostor = witness("w.example/one")
    problem(cosign_latest(api.client, impostor), 403, "unknown-witness")
    # The log's own signature line alone is no cosignature.
    problem(post(api.client, before), 403, "unknown-witness")
    assert api.client.get("/log/checkpoint").text == before


def test_a_removed_witness_is_refused_and_its_cosignatures_no_longer_shown(api: Api) -> None:
    w = witness()
    register(api, w)
    uncosigned = api.client.get("/log/checkpoint").text
    assert cosign_latest(api.client, w).status_code == 201
    cosigned = api.client.get("/log/checkpoint").text
    assert cosigned != uncosigned
    removed = api.ok(REGULATOR, "witness.removed", {"witness": w.name, "reason": "key lost"})
    problem(cosign_latest(api.client, w), 403, "witness-removed")
    # Its old cosignature of the (older) checkpoint is no longer shown either.
    size = Checkpoint.from_text(Note.from_text(cosigned).text).size
    with storage.read_transaction(api.client.app.state.log.engine) as conn:
        assert checkpoint_note(conn, size) == uncosigned
    [row] = api.client.get("/log/witnesses").json()["witnesses"]
    assert (row["status"], row["removed_index"], row["removed_reason"]) == (
        "removed",
        removed["index"],
        "key lost",
    )
    # Removed for good: the same key cannot come back; a new key may.
    resp = api.post("admin:root", "witness.registered", {"witness": w.name, "key": w.key.vkey})
    problem(resp, 409, "witness-key-removed")
    successor = WitnessSigner(Ed25519PrivateKey.generate(), w.name)
    register(api, successor)
    assert cosign_latest(api.client, successor).status_code == 201


def test_a_cosignature_over_a_checkpoint_the_log_never_published_is_refused(api: Api) -> None:
    w = witness()
    register(api, w)
    note = Note.from_text(api.client.get("/log/checkpoint").text)
    cp = Checkpoint.from_text(note.text)
    log_line = note.signatures[0].to_line()

    def forged(fake: Checkpoint) -> str:
        body = fake.to_text()
        return body + "\n" + log_line + cosign(body, NOW, w)

    fork = Checkpoint(cp.origin, cp.size, bytes(32))
    body = problem(post(api.client, forged(fork)), 409, "checkpoint-mismatch")
    assert "did not publish this one" in body["detail"]
    problem(
        post(api.client, forged(Checkpoint(cp.origin, cp.size + 5, cp.root_hash))),
        409,
        "unknown-checkpoint",
    )
    problem(
        post(api.client, forged(Checkpoint(cp.origin, cp.size, cp.root_hash, ("extra",)))),
        409,
        "checkpoint-mismatch",
    )
    problem(
        post(api.client, forged(Checkpoint("other.example/log", cp.size, cp.root_hash))),
        409,
        "checkpoint-mismatch",
    )
    with storage.read_transaction(api.client.app.state.log.engine) as conn:
        assert storage.checkpoint_at(conn, cp.size) is not None
        assert checkpoint_note(conn) == note.to_text()  # nothing stored


def test_bad_cosignatures_are_refused(api: Api) -> None:
    w = witness()
    register(api, w)
    note = api.client.get("/log/checkpoint").text
    body = Note.from_text(note).text
    good = Cosignature.from_line(cosign(body, NOW, w))
    flipped = Cosignature(good.name, good.key_id, good.timestamp, bytes(64))
    problem(post(api.client, submission(note, flipped.to_line())), 422, "bad-cosignature")
    moved = Cosignature(good.name, good.key_id, good.timestamp + 1, good.signature)
    problem(post(api.client, submission(note, moved.to_line())), 422, "bad-cosignature")
    short = f"\u2014 {w.name} {base64.b64encode(w.key.key_id + bytes(64)).decode()}\n"
    problem(post(api.client, submission(note, short)), 422, "bad-cosignature")
    # One good line does not carry a bad one by another registered witness.
    other = witness("w.example/two")
    register(api, other)
    note = api.client.get("/log/checkpoint").text
    body = Note.from_text(note).text
    bad = Cosignature.from_line(cosign(body, NOW, other))
    bad = Cosignature(bad.name, bad.key_id, bad.timestamp, bytes(64))
    resp = post(api.client, submission(note, cosign(body, NOW, w), bad.to_line()))
    problem(resp, 422, "bad-cosignature")
    assert count_valid_cosignatures(api.client.get("/log/checkpoint").text, [w.key]) == []


def test_cosignatures_from_the_future_are_refused(api: Api) -> None:
    w = witness()
    register(api, w)
    problem(cosign_latest(api.client, w, ts=(1 << 62)), 422, "cosignature-from-the-future")


@pytest.mark.parametrize(
    "text",
    [b"", b"not a note", "x\n\n\u2014 w AAAA\n".encode(), b"\xff\xfe", b"x" * (16 * 1024 + 1)],
)
def test_malformed_or_oversized_submissions_are_400(api: Api, text: bytes) -> None:
    resp = api.client.post("/log/cosignatures", content=text)
    assert resp.status_code == 400, resp.text
    assert resp.headers["content-type"].startswith("application/problem+json")
    assert len(text) <= MAX_SUBMISSION_BYTES or "at most" in resp.json()["detail"]


def test_registration_rules(api: Api) -> None:
    w = witness()

    def refused(body: dict[str, Any], status: int, slug: str, by: str = "admin:root") -> None:
        before = api.size()
        problem(api.post(by, "witness.registered", body), status, slug)
        assert api.size() == before

    other_name = WitnessSigner(Ed25519PrivateKey.generate(), "w.example/other")
    refused({"witness": w.name, "key": other_name.key.vkey}, 422, "witness-name-mismatch")
    log_vkey = log_key(api.client).vkey  # a log key (type 0x01) is not a witness key
    refused({"witness": log_vkey.split("+")[0], "key": log_vkey}, 422, "bad-witness-key")
    wrong_id = w.key.vkey.replace(f"+{w.key.key_id.hex()}+", "+00000000+")
    refused({"witness": w.name, "key": wrong_id}, 422, "bad-witness-key")
    refused({"witness": "has space", "key": w.key.vkey}, 422, "invalid-string-pattern-mismatch")
    register(api, w, by=REGULATOR)
    refused({"witness": w.name, "key": w.key.vkey}, 409, "witness-exists")
    same_key = WitnessKey.from_public_key("w.example/alias", w.key.public_key)
    refused({"witness": same_key.name, "key": same_key.vkey}, 409, "witness-key-reused")
    gone = api.post("admin:root", "witness.removed", {"witness": "w.example/none", "reason": "x"})
    problem(gone, 404, "unknown-witness")


def test_the_witnesses_table_is_a_projection_of_the_log(api: Api) -> None:
    a, b = witness("w.example/a"), witness("w.example/b")
    register(api, a)
    register(api, b)
    api.ok(REGULATOR, "witness.removed", {"witness": a.name, "reason": "retired"})
    engine = api.client.app.state.log.engine

    def rows() -> list[tuple[Any, ...]]:
        with storage.read_transaction(engine) as conn:
            return [tuple(r) for r in conn.execute(select(WitnessRow.__table__))]

    live = rows()
    assert len(live) == 2
    with storage.write_transaction(engine) as conn:
        rebuild(conn)
    assert sorted(rows()) == sorted(live)


def test_witnesses_on_both_databases(database: Database, tmp_path: Path) -> None:
    """Registration, acceptance, idempotence, removal and the shown note on SQLite and
    PostgreSQL (BigInteger timestamps up to 2^63 - 1, LargeBinary keys and signatures)."""
    url, _ = database_url(database)
    with running_api(tmp_path, database_url=url) as a:
        w = witness()
        register(a, w)
        before = a.client.get("/log/checkpoint").text
        assert cosign_latest(a.client, w).status_code == 201
        assert cosign_latest(a.client, w).status_code == 200
        note = a.client.get("/log/checkpoint").text
        assert note.startswith(before) and count_valid_cosignatures(note, [w.key]) == [w.key]
        a.ok("admin:root", "witness.removed", {"witness": w.name, "reason": "rotated"})
        problem(cosign_latest(a.client, w), 403, "witness-removed")
        with storage.read_transaction(a.client.app.state.log.engine) as conn:
            size = Checkpoint.from_text(Note.from_text(before).text).size
            assert checkpoint_note(conn, size) == before


def test_checkpoint_note_of_an_older_size(api: Api) -> None:
    w = witness()
    register(api, w)
    assert cosign_latest(api.client, w).status_code == 201
    cosigned = api.client.get("/log/checkpoint").text
    size = Checkpoint.from_text(Note.from_text(cosigned).text).size
    api.register("miner:bat", "miner")
    with storage.read_transaction(api.client.app.state.log.engine) as conn:
        assert checkpoint_note(conn, size) == cosigned
        with pytest.raises(OutOfRange):
            checkpoint_note(conn, size + 10_000)


def test_the_certificate_verdict_carries_the_cosignatures(tmp_path: Path) -> None:
    with running_api(tmp_path, public_url=PUBLIC_URL) as a:
        world = populate(a)
        world.gold("AU-1", 50_000)
        world.request("AU-1")
        w = witness()
        register(a, w)
        assert cosign_latest(a.client, w, int(time.time())).status_code == 201
        view = world.verdict(world.latest_token("AU-1"))
        assert count_valid_cosignatures(view["checkpoint"], [w.key]) == [w.key]
        record = world.certificates("AU-1")[0]
        v = verify_online(
            record["qr_text"],
            world.vkeys(),
            client=a.client,
            witnesses=[w.key.vkey],
            min_cosignatures=1,
        )
        assert (v.verdict, v.cosigned_by) == ("genuine", (w.name,))


# --- the witness command -----------------------------------------------------------------


def test_keygen_writes_a_private_file_and_prints_the_vkey(tmp_path: Path) -> None:
    path, vkey = keygen(tmp_path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    key = WitnessKey.from_vkey(vkey)
    assert load_key(path).key == key
    assert path.read_text().startswith("altan-witness-key: v1\nname: witness.example.mn/w1\n")
    code, _, err = altan("witness", "keygen", "w", "--out", str(path))
    assert code == 2 and "expected a new file" in err  # never overwritten
    os.chmod(path, 0o644)
    with pytest.raises(Exception, match="mode 0600"):
        load_key(path)


def test_keygen_with_a_passphrase(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ALTAN_WITNESS_PASSPHRASE", "correct horse")
    path, vkey = keygen(tmp_path)
    assert "ENCRYPTED PRIVATE KEY" in path.read_text()
    assert load_key(path, b"correct horse").key.vkey == vkey
    with pytest.raises(Exception, match="cannot read the key"):
        load_key(path, b"wrong")


def test_the_witness_command_cosigns_follows_and_stays_quiet_when_nothing_changed(
    api: Api, tmp_path: Path, network: Network
) -> None:
    network.hosts["ledger.test"] = api.client
    path, vkey = keygen(tmp_path)
    api.ok("admin:root", "witness.registered", {"witness": "witness.example.mn/w1", "key": vkey})
    pinned = log_key(api.client).vkey
    run = ("witness", "http://ledger.test", "--key", pinned, "--witness-key", str(path))

    code, out, err = altan(*run)
    assert code == 0, err
    assert out.startswith("COSIGNED altan.localhost/ledger: size ") and "first checkpoint" in out
    note = api.client.get("/log/checkpoint").text
    assert count_valid_cosignatures(note, [WitnessKey.from_vkey(vkey)])
    state = read_state(default_state_path(path), "altan.localhost/ledger")
    assert state is not None and state.checkpoint == Note.from_text(note).text + "\n" + (
        Note.from_text(note).signatures[0].to_line()
    )

    code, out, _ = altan(*run)
    assert (code, out.split(":")[0]) == (0, "UNCHANGED altan.localhost/ledger")

    first = state.size
    api.register("miner:bat", "miner")
    api.register("miner:dorj", "miner")
    code, out, _ = altan(*run, "--follow", "--interval", "0", "--rounds", "2")
    assert code == 0
    lines = out.splitlines()
    assert lines[0].startswith("COSIGNED") and f"(from {first})" in lines[0]
    assert lines[1].startswith("UNCHANGED")


def test_the_witness_refuses_a_checkpoint_not_signed_by_the_pinned_key(
    api: Api, tmp_path: Path, network: Network
) -> None:
    network.hosts["ledger.test"] = api.client
    path, _ = keygen(tmp_path)
    stranger = NoteVerifier("altan.localhost/ledger", *_raw_key_id("altan.localhost/ledger")).vkey
    code, out, err = altan(
        "witness", "http://ledger.test", "--key", stranger, "--witness-key", str(path)
    )
    assert code == 1, err
    assert json.loads(out)["reason"] == "bad_checkpoint"
    assert not default_state_path(path).exists()


def _raw_key_id(name: str) -> tuple[bytes, bytes]:
    from ledger.note import key_id

    public = Ed25519PrivateKey.generate().public_key().public_bytes_raw()
    return key_id(name, public), public


def test_the_witness_reports_a_log_that_refuses_its_cosignature(
    api: Api, tmp_path: Path, network: Network
) -> None:
    """Never registered: the round cannot complete (2); the log is not accused (not 1)."""
    network.hosts["ledger.test"] = api.client
    path, _ = keygen(tmp_path)
    pinned = log_key(api.client).vkey
    code, _, err = altan(
        "witness", "http://ledger.test", "--key", pinned, "--witness-key", str(path)
    )
    assert code == 2
    assert "the log refused the cosignature: HTTP 403" in err


# --- a split view ------------------------------------------------------------------------


@contextmanager
def serve(data_dir: Path, tokens: dict[str, str]) -> Iterator[Api]:
    """A service over an existing data directory (no bootstrap: the tokens are copied)."""
    app = create_app(Settings(data_dir=data_dir, public_url=PUBLIC_URL))
    from fastapi.testclient import TestClient

    with TestClient(app) as client:
        api = Api(client, tokens["admin:root"])
        api.tokens.update(tokens)
        yield api


def test_a_split_view_is_caught_by_the_witness_and_by_verify(
    tmp_path: Path, network: Network, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two servers with the same log key show two logs that share a prefix. A witness that
    follows one refuses the other (the consistency proof fails), and a buyer who requires a
    cosignature gets `not_witnessed` from the server no witness vouched for, or `stale`
    when that server proves against the common checkpoint, cosigned longer ago than the
    buyer's --max-age (commit 3ea4aba: an old cosigned checkpoint can hide later entries)."""
    # The witness cosigned the common prefix two hours ago; it cosigns A's view now.
    monkeypatch.setattr(witness_client, "now", lambda: time.time() - 7200)
    key_path, vkey = keygen(tmp_path)
    run = ["witness", "http://a.test", "--witness-key", str(key_path)]

    # The common prefix: the world, a certificate, the witness registered and following.
    with running_api(tmp_path / "a", public_url=PUBLIC_URL) as first:
        world = populate(first)
        world.gold("AU-1", 50_000)
        world.request("AU-1")
        qr_text = world.certificates("AU-1")[0]["qr_text"]
        first.ok(
            "admin:root", "witness.registered", {"witness": "witness.example.mn/w1", "key": vkey}
        )
        pinned = log_key(first.client).vkey
        network.hosts["a.test"] = first.client
        code, out, err = altan(*run, "--key", pinned)
        assert code == 0, err
        tokens = dict(first.tokens)
    shutil.copytree(tmp_path / "a" / "data", tmp_path / "b" / "data")

    with ExitStack() as stack:
        a = stack.enter_context(serve(tmp_path / "a" / "data", tokens))
        b = stack.enter_context(serve(tmp_path / "b" / "data", tokens))
        network.hosts.update({"a.test": a.client, "b.test": b.client})
        monkeypatch.setattr(witness_client, "now", time.time)
        assert log_key(a.client) == log_key(b.client)  # one log key, two histories
        common = Checkpoint.from_text(Note.from_text(a.client.get("/log/checkpoint").text).text)

        World(a).deliver("ORE-A", 1_000_000)
        World(b).deliver("ORE-B", 2_000_000)
        World(b).deliver("ORE-B2", 3_000_000)
        cp_a = Checkpoint.from_text(Note.from_text(a.client.get("/log/checkpoint").text).text)
        cp_b = Checkpoint.from_text(Note.from_text(b.client.get("/log/checkpoint").text).text)
        assert common.size < cp_a.size < cp_b.size and cp_a.root_hash != cp_b.root_hash

        # The witness follows A: A extends what it cosigned, so it cosigns again.
        code, out, err = altan(*run, "--key", pinned)
        assert code == 0, err
        assert f"size {cp_a.size} (from {common.size})" in out

        # Shown B, whose tree does not extend A's: refused, with the evidence, no state change.
        state_before = default_state_path(key_path).read_bytes()
        code, out, err = altan(
            "witness", "http://b.test", "--witness-key", str(key_path), "--key", pinned
        )
        assert code == 1, (out, err)
        evidence = json.loads(out)
        assert evidence["reason"] == "inconsistent"
        assert evidence["trusted"]["size"] == cp_a.size
        assert evidence["trusted"]["root_hash"] == base64.b64encode(cp_a.root_hash).decode()
        assert evidence["presented"]["size"] == cp_b.size
        assert evidence["presented"]["root_hash"] == base64.b64encode(cp_b.root_hash).decode()
        assert (
            Checkpoint.from_text(Note.from_text(evidence["presented"]["checkpoint"]).text) == cp_b
        )
        assert "REFUSED (inconsistent)" in err
        assert default_state_path(key_path).read_bytes() == state_before

        # B cannot be given the witness's cosignature of A's view either.
        a_note = a.client.get("/log/checkpoint").text
        problem(post(b.client, a_note), 409, "checkpoint-mismatch")

        # A buyer who requires one cosignature by the pinned witness.
        require = ["--key", pinned, "--witness", vkey, "--min-cosignatures", "1"]
        code, out, _ = altan("verify", qr_text, "--server", "http://b.test", *require)
        assert code == 1, out
        assert out.startswith("NOT GENUINE (stale): the pinned witnesses cosigned the server's")
        assert f"(tree size {common.size})" in out
        # The bound is --max-age: with a window of three hours, B may hide what it appended
        # since the witness's cosignature of the common prefix, and is believed.
        code, out, _ = altan(
            "verify", qr_text, "--server", "http://b.test", *require, "--max-age", "10800"
        )
        assert code == 0 and f"(tree size {common.size})" in out, out
        code, out, _ = altan("verify", qr_text, "--server", "http://a.test", *require, "--json")
        assert code == 0, out
        verdict = json.loads(out)
        assert (verdict["verdict"], verdict["cosigned_by"]) == (
            "genuine",
            ["witness.example.mn/w1"],
        )
        # Without the requirement B's answer still looks fine: that is what witnesses add.
        code, out, _ = altan("verify", qr_text, "--server", "http://b.test", "--key", pinned)
        assert code == 0, out


def test_a_rollback_and_a_same_size_fork_are_refused(tmp_path: Path) -> None:
    """The witness's checks on their own, against a fake log that shows what it likes."""
    from ledger.note import NoteSigner

    log_signer = NoteSigner(Ed25519PrivateKey.generate(), "fake.example/log")
    shown: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/log/checkpoint":
            return httpx.Response(200, text=shown[-1])
        if request.url.path == "/log/cosignatures":
            return httpx.Response(201, json={"tree_size": 0, "cosignatures": []})
        return httpx.Response(404)

    def show(size: int, root: bytes) -> None:
        shown.append(log_signer.sign(Checkpoint("fake.example/log", size, root).to_text()))

    client = httpx.Client(base_url="http://fake.test", transport=httpx.MockTransport(handler))
    w = Witness(
        client,
        log_signer.verifier,
        witness(),
        tmp_path / "state.json",
        clock=lambda: float(NOW),
    )
    show(5, b"\x05" * 32)
    assert w.round().outcome == "cosigned"
    show(5, b"\x06" * 32)
    with pytest.raises(Refusal) as fork:
        w.round()
    assert fork.value.reason == "fork"
    show(4, b"\x04" * 32)
    with pytest.raises(Refusal) as rollback:
        w.round()
    assert rollback.value.reason == "rollback"
    reports: list[Any] = []
    show(5, b"\x05" * 32)
    follow(w, 0, rounds=1, report=reports.append)
    # The fake log shows no cosignature of this unchanged checkpoint: cosigned again.
    assert [r.outcome for r in reports] == ["recosigned"]
    state = read_state(tmp_path / "state.json", "fake.example/log")
    assert state is not None and (state.size, state.root_hash) == (5, b"\x05" * 32)


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["witness", "--help"], ["keygen", "run"]),
        (["witness", "keygen", "--help"], ["--out", "ALTAN_WITNESS_PASSPHRASE"]),
        (["witness", "run", "--help"], ["--witness-key", "--follow", "--state", "--interval"]),
        (["verify", "--help"], ["--witness", "--min-cosignatures"]),
    ],
)
def test_the_documented_commands_exist(args: list[str], words: list[str]) -> None:
    code, out, _ = altan(*args)
    assert code == 0
    for word in words:
        assert word in out


def test_verify_needs_as_many_witnesses_as_cosignatures_it_requires(api: Api) -> None:
    w = witness()
    pinned = log_key(api.client).vkey
    code, out, _ = altan(
        "verify", "ABCD", "--key", pinned, "--witness", w.key.vkey, "--min-cosignatures", "2"
    )
    assert code == 2 and "--min-cosignatures 2" in out
    code, out, _ = altan("verify", "ABCD", "--key", pinned, "--witness", pinned, "--online")
    assert code == 2 and "0x04" in out  # a log key is not a witness key
