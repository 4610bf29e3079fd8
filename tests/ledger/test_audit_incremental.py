"""`altan audit` with a trusted state: the first audit reads the whole log and keeps what it
verified; the next ones read only what is new, and a server that rewrites or rolls back its
history is caught by the consistency check (exit 4, both signed checkpoints kept).

Real HTTP through the ASGI app: the CLI's RemoteLog talks to the app through a transport
that can also play a dishonest server (a key it does not own, a broken receipt). The
rewriting server is the real one after an operator with the real log key changed an old
entry, re-chained and re-signed every later entry, recomputed the tree and re-signed every
checkpoint: each response verifies on its own, only the history differs.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import signal
import stat
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import text

import support.audit as audit_fixtures
from clients.follow import Auditor, default_state_dir
from clients.remote import AnswerTooLarge, RemoteLog
from ledger.audit import AuditFailure, FailureKind, StateReplay, keys_from_strings
from ledger.checkpoint import Checkpoint, open_checkpoint, sign_checkpoint
from ledger.encoding import b64decode, b64encode
from ledger.entry import ZERO_HASH, Entry, receipt_message
from ledger.errors import MalformedInput, OutOfRange, StorageError
from ledger.hashing import hash_leaf
from ledger.merkle import CompactRange, verify_consistency
from ledger.note import NoteSigner, NoteVerifier
from ledger.records import StoredEntry
from ledger.sql import storage
from ledger.sql.source import DatabaseSource
from ledger.statemap import STATE_ROOT_TYPE, StateRoot
from ledger.trusted import (
    Evidence,
    EvidenceKind,
    StateFile,
    TrustedState,
    check_consistency,
    incremental_audit,
    state_file_name,
)
from services.cli import lot_tables
from support.audit import (
    ORIGIN,
    URL,
    Network,
    altan,
    app_of,
    audit_json,
    first_audit,
    grow,
    vkey,
)
from support.certificates import BANK, populate
from support.certificates import World as CertWorld
from support.domain import Api
from support.paths import REPO

# The fixtures shared through support.audit, taken by this module's tests.
_state_home = audit_fixtures._state_home
api = audit_fixtures.api
network = audit_fixtures.network

T = "2026-09-14T02:12:00.000000Z"


# --- a server, and a network into it ---------------------------------------------------------


def served_note(api: Api) -> str:
    return str(api.client.get("/log/checkpoint").text)


def evidence_files(state: Path) -> list[Path]:
    return sorted(state.parent.glob(state.name + ".evidence-*.json"))


# --- what an operator with write access and the log key can do --------------------------------


def rewrite_history(api: Api, index: int) -> None:
    """Change entry `index`, re-chain and re-sign every entry after it, recompute every tree
    node and re-sign every checkpoint with the real log key."""
    app = app_of(api)
    engine = app.state.log.engine
    signer = app.state.runtime.keystore.active()
    with engine.begin() as conn:
        size = storage.read_size(conn)
        rows = storage.read_entries(conn, 0, size)
        sizes = [int(s) for (s,) in conn.execute(text("SELECT size FROM log_checkpoints"))]
        tree = CompactRange()
        roots: dict[int, bytes] = {0: tree.root()}
        nodes = []
        prev = ZERO_HASH
        for row in rows:
            data, leaf, sig = row.entry, row.leaf_hash, row.signature
            if row.index >= index:
                entry = Entry.from_bytes(row.entry)
                if row.index == index:  # its time: sound for any entry, a state.root too
                    entry = dataclasses.replace(entry, time="2020-02-02T02:02:02.000000Z")
                data = dataclasses.replace(entry, prev=prev).to_bytes()
                leaf = hash_leaf(data)
                sig = signer.sign(receipt_message(leaf))
                conn.execute(
                    text(
                        "UPDATE log_entries SET entry = :e, leaf_hash = :h, signature = :s, "
                        "key_id = :k WHERE idx = :i"
                    ),
                    {"e": data, "h": leaf, "s": sig, "k": signer.key.key_id, "i": row.index},
                )
            nodes.extend(tree.append(leaf))
            roots[tree.size] = tree.root()
            prev = leaf
        conn.execute(text("DELETE FROM log_nodes"))
        storage.insert_nodes(conn, nodes)
        for s in sizes:
            note = sign_checkpoint(Checkpoint(ORIGIN, s, roots[s]), signer.note_signer)
            conn.execute(
                text("UPDATE log_checkpoints SET root_hash = :r, note = :n WHERE size = :s"),
                {"r": roots[s], "n": note, "s": s},
            )


def roll_back(api: Api, size: int) -> None:
    """Cut the log back to `size` entries (a published size): as a restore from an old backup."""
    engine = app_of(api).state.log.engine
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM log_entries WHERE idx >= :m"), {"m": size})
        conn.execute(text("DELETE FROM log_nodes WHERE ((idx + 1) << level) > :m"), {"m": size})
        conn.execute(text("DELETE FROM log_checkpoints WHERE size > :m"), {"m": size})
        conn.execute(text("UPDATE log_head SET size = :m"), {"m": size})


# --- first audit, then only what is new -------------------------------------------------------


def test_help_names_the_state_options_and_exit_4() -> None:
    code, out, _ = altan("audit", "--help")
    assert code == 0
    for option in ("--state", "--no-state", "--full", "--follow", "--interval"):
        assert option in out
    assert "--rounds" not in out  # for tests
    assert "4 evidence of a rewritten or forked log" in " ".join(out.split())


def test_first_audit_saves_the_state(api: Api, network: Network, tmp_path: Path) -> None:
    state = tmp_path / "st" / "log.json"
    code, report = audit_json(api, state)
    size = api.size()
    assert code == 0, report
    assert report["ok"] is True
    assert (report["previous_size"], report["tree_size"]) == (None, size)
    assert report["entries_verified"] == report["entries_fetched"] == size
    assert report["bytes_fetched"] > 0
    assert report["state"] == str(state)

    assert stat.S_IMODE(state.stat().st_mode) == 0o600
    saved = json.loads(state.read_text())
    assert saved["format"] == "altan-ledger/trusted-state/v1"
    assert saved["origin"] == ORIGIN
    assert saved["size"] == size
    assert saved["checkpoint"] == served_note(api)
    cp, _ = open_checkpoint(saved["checkpoint"], [NoteVerifier.from_vkey(vkey(api))], ORIGIN)
    assert b64decode(saved["root_hash"]) == cp.root_hash
    assert saved["keys"] == [vkey(api)]
    last = api.client.get("/log/entries", params={"start": size - 1, "end": size}).json()
    assert saved["last_leaf_hash"] == last["entries"][0]["leaf_hash"]
    assert len(saved["compact_range"]) == size.bit_count()
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z", saved["verified_at"])
    assert saved["source"] == URL


def test_the_default_state_is_per_origin_under_xdg_state_home(
    api: Api, network: Network, tmp_path: Path
) -> None:
    code, out, err = altan("audit", URL, "--key", vkey(api), "--quiet")
    assert code == 0, out + err
    assert out.startswith(f"OK {ORIGIN}: {api.size()} entries")
    path = tmp_path / "xdg-state" / "altan" / "logs" / "altan.localhost%2Fledger.json"
    assert path.is_file()
    assert f"trusted state saved in {path}" in err
    assert "bytes in" in err
    assert default_state_dir({"XDG_STATE_HOME": "relative/ignored"}) == (
        Path.home() / ".local" / "state" / "altan" / "logs"
    )


def test_the_next_audit_reads_only_the_new_entries(
    api: Api, network: Network, tmp_path: Path
) -> None:
    state, _ = first_audit(api, tmp_path)
    old = api.size()
    grow(api, 7)
    new = api.size()  # 7 events, each with the state.root closing its append
    network.paths.clear()

    code, report = audit_json(api, state)
    assert code == 0, report
    assert (report["previous_size"], report["tree_size"]) == (old, new)
    assert report["entries_verified"] == new - old
    assert report["entries_fetched"] == new - old  # not the whole log
    assert network.paths.count("/log/proof/consistency") == 1
    assert network.paths.count("/log/checkpoint") == 1
    assert "/log/keys" not in network.paths  # the keys are pinned
    assert json.loads(state.read_text())["size"] == new

    # The text form says what happened.
    grow(api, 2)
    code, out, _ = altan("audit", URL, "--state", str(state), "--quiet")
    assert code == 0
    assert out.startswith(f"OK {ORIGIN}: {api.size() - new} new entries and ")
    assert f"({new} -> {api.size()}), consistent with the trusted checkpoint" in out

    # Nothing new: no entries read, the state only records when it was checked.
    code, report = audit_json(api, state)
    assert code == 0
    assert (report["entries_verified"], report["entries_fetched"]) == (0, 0)
    code, out, _ = altan("audit", URL, "--state", str(state), "--quiet")
    assert (code, out.split(";")[0]) == (0, f"OK {ORIGIN}: no new entries")


def test_incremental_state_equals_a_full_audits(api: Api, network: Network, tmp_path: Path) -> None:
    step = tmp_path / "step.json"
    assert audit_json(api, step)[0] == 0
    for n in (1, 5, 3):  # across powers of two and odd sizes
        grow(api, n)
        assert audit_json(api, step)[0] == 0
    whole = tmp_path / "whole.json"
    assert audit_json(api, whole)[0] == 0
    a, b = (json.loads(p.read_text()) for p in (step, whole))
    for field in ("size", "root_hash", "checkpoint", "last_leaf_hash", "compact_range"):
        assert a[field] == b[field], field
    # --full re-reads everything and still checks it against the state
    code, report = audit_json(api, step, "--full")
    assert code == 0
    assert report["entries_fetched"] == api.size()


def test_a_database_source_is_audited_incrementally_too(api: Api, tmp_path: Path) -> None:
    url = str(app_of(api).state.log.engine.url)
    state = str(tmp_path / "db.json")
    code, out, _ = altan("audit", url, "--state", state, "--json")
    assert code == 0 and json.loads(out)["entries_verified"] == api.size()
    old = api.size()
    grow(api, 3)
    code, out, _ = altan("audit", url, "--state", state, "--json")
    assert code == 0
    report = json.loads(out)
    assert report["entries_verified"] == api.size() - old
    assert report["bytes_fetched"] is None  # not over HTTP
    # Without --state a database is audited whole, as before, and nothing is kept.
    code, out, _ = altan("audit", url, "--json")
    assert code == 0 and json.loads(out)["entries_verified"] == api.size()
    assert not (tmp_path / "xdg-state").exists()


def test_no_state_keeps_nothing(api: Api, network: Network, tmp_path: Path) -> None:
    code, out, _ = altan("audit", URL, "--key", vkey(api), "--no-state", "--quiet")
    assert code == 0
    assert out.startswith(f"OK {ORIGIN}: {api.size()} entries")
    assert not (tmp_path / "xdg-state").exists()


# --- a history rewritten, forked or rolled back --------------------------------------------------


def test_a_rewritten_history_is_caught_by_the_consistency_proof(
    api: Api, network: Network, tmp_path: Path
) -> None:
    state, before = first_audit(api, tmp_path)
    trusted_note = json.loads(before)["checkpoint"]
    grow(api, 5)
    rewrite_history(api, 3)

    # The rewritten log is sound on its own: a whole audit that remembers nothing passes.
    code, out, err = altan("audit", URL, "--key", vkey(api), "--no-state", "--quiet")
    assert code == 0, out + err

    code, out, _ = altan("audit", URL, "--key", vkey(api), "--state", str(state), "--quiet")
    assert code == 4, out
    assert out.startswith("EVIDENCE inconsistent: the consistency proof from the trusted")
    assert "was rewritten" in out
    assert state.read_bytes() == before  # not moved
    [ev_file] = evidence_files(state)
    assert f"saved to {ev_file}" in out
    assert stat.S_IMODE(ev_file.stat().st_mode) == 0o600
    ev = json.loads(ev_file.read_text())
    assert ev["kind"] == "inconsistent"
    assert ev["trusted"]["checkpoint"] == trusted_note
    assert ev["served"]["checkpoint"] == served_note(api)
    # Anyone with the log's public key can check both signatures, and the proof failing.
    verifier = NoteVerifier.from_vkey(vkey(api))
    old, _ = open_checkpoint(ev["trusted"]["checkpoint"], [verifier], ORIGIN)
    new, _ = open_checkpoint(ev["served"]["checkpoint"], [verifier], ORIGIN)
    proof = ev["consistency_proof"]
    assert (proof["first"], proof["second"]) == (old.size, new.size)
    with pytest.raises(Exception, match="mismatch"):
        verify_consistency(
            old.size,
            new.size,
            [b64decode(h) for h in proof["hashes"]],
            old.root_hash,
            new.root_hash,
        )

    # Every later audit says the same, and the state stays where it was.
    code, report = audit_json(api, state)
    assert code == 4
    assert report["evidence"]["kind"] == "inconsistent"
    assert report["ok"] is False
    assert state.read_bytes() == before


def test_same_size_with_another_root_is_a_fork(api: Api, network: Network, tmp_path: Path) -> None:
    state, before = first_audit(api, tmp_path)
    rewrite_history(api, 10)
    network.paths.clear()
    code, report = audit_json(api, state)
    assert code == 4
    assert report["evidence"]["kind"] == "fork"
    assert "/log/entries" not in network.paths
    assert state.read_bytes() == before
    [ev_file] = evidence_files(state)
    ev = json.loads(ev_file.read_text())
    assert ev["trusted"]["size"] == ev["served"]["size"]
    assert ev["trusted"]["root_hash"] != ev["served"]["root_hash"]
    assert ev["consistency_proof"] is None


def test_a_rolled_back_log_is_caught(api: Api, network: Network, tmp_path: Path) -> None:
    state, before = first_audit(api, tmp_path)
    size = api.size()
    roll_back(api, size - 4)
    assert int(served_note(api).split("\n")[1]) == size - 4  # a genuine, older checkpoint

    code, out, _ = altan("audit", URL, "--state", str(state), "--quiet")
    assert code == 4
    assert out.startswith(f"EVIDENCE rollback: the log served a checkpoint for {size - 4} ")
    assert "a log never shrinks" in out
    assert state.read_bytes() == before
    [ev_file] = evidence_files(state)
    ev = json.loads(ev_file.read_text())
    assert (ev["trusted"]["size"], ev["served"]["size"]) == (size, size - 4)


def test_a_checkpoint_signed_by_another_key_is_refused(
    api: Api, network: Network, tmp_path: Path
) -> None:
    state, before = first_audit(api, tmp_path)
    grow(api, 3)
    intruder = NoteSigner(Ed25519PrivateKey.generate(), ORIGIN)

    def forge(request: httpx.Request, resp: httpx.Response) -> httpx.Response:
        if request.url.path != "/log/checkpoint":
            return resp
        cp = Checkpoint(ORIGIN, api.size(), bytes(32))
        return httpx.Response(200, text=sign_checkpoint(cp, intruder))

    network.edit = forge
    code, out, _ = altan("audit", URL, "--key", vkey(api), "--state", str(state), "--quiet")
    assert code == 1
    assert out.startswith("FAIL checkpoint_signature_invalid at log:")
    assert state.read_bytes() == before
    assert evidence_files(state) == []

    # Without --key, the keys recorded by the first audit are pinned: a server that also
    # lists the intruder's key gets no further.
    def forge_keys(request: httpx.Request, resp: httpx.Response) -> httpx.Response:
        if request.url.path == "/log/keys":
            v = intruder.verifier
            body = {
                "keys": [
                    {
                        "key_id": v.key_id.hex(),
                        "verifier_key": v.vkey,
                        "public_key": b64encode(v.public_key),
                    }
                ]
            }
            return httpx.Response(200, json=body)
        return forge(request, resp)

    network.edit = forge_keys
    code, out, _ = altan("audit", URL, "--state", str(state), "--quiet")
    assert code == 1
    assert out.startswith("FAIL checkpoint_signature_invalid")
    assert state.read_bytes() == before


def test_a_state_of_another_log_under_the_same_origin_is_refused(
    api: Api, network: Network, tmp_path: Path
) -> None:
    state, before = first_audit(api, tmp_path)
    other = NoteSigner(Ed25519PrivateKey.generate(), ORIGIN).verifier.vkey
    network.paths.clear()
    code, out, err = altan("audit", URL, "--key", other, "--state", str(state), "--quiet")
    assert (code, out) == (2, "")
    assert "none of which is pinned now" in err
    assert network.paths == ["/log/checkpoint"]
    assert state.read_bytes() == before
    # Rotation: the old key pinned next to the new one is fine.
    code, _, _ = altan("audit", URL, "--key", other, "--key", vkey(api), "--state", str(state))
    assert code == 0
    assert set(json.loads(state.read_text())["keys"]) == {other, vkey(api)}
    # A state file of another origin is not compared with this log either.
    code, _, err = altan("audit", URL, "--state", str(state), "--origin", "other.example/log")
    assert code == 2
    assert "the trusted state is of the log 'altan.localhost/ledger'" in err


def test_a_bad_new_entry_fails_and_leaves_the_state(
    api: Api, network: Network, tmp_path: Path
) -> None:
    state, before = first_audit(api, tmp_path)
    old = api.size()
    grow(api, 4)

    def break_receipt(request: httpx.Request, resp: httpx.Response) -> httpx.Response:
        if request.url.path != "/log/entries":
            return resp
        body = json.loads(resp.content)
        for e in body["entries"]:
            if e["index"] == old + 2:
                e["signature"] = b64encode(bytes(64))
        return httpx.Response(200, json=body)

    network.edit = break_receipt
    code, report = audit_json(api, state)
    assert code == 1
    assert report["failure"]["kind"] == "receipt_invalid"
    assert report["failure"]["index"] == old + 2
    assert state.read_bytes() == before
    assert stat.S_IMODE(state.stat().st_mode) == 0o600


def test_an_unreachable_server_is_no_verdict(api: Api, network: Network, tmp_path: Path) -> None:
    state, before = first_audit(api, tmp_path)
    grow(api, 2)

    def down(request: httpx.Request, resp: httpx.Response) -> httpx.Response:
        if request.url.path == "/log/proof/consistency":
            return httpx.Response(503, text="busy")
        return resp

    network.edit = down
    code, out, err = altan("audit", URL, "--state", str(state), "--quiet")
    assert code == 2
    assert out == ""
    assert "cannot read" in err and "503" in err
    assert state.read_bytes() == before


# --- --follow ---------------------------------------------------------------------------------

ROUND = re.compile(
    r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z (\d+) -> (\d+): (\d+) entries verified, "
    r"[\d,]+ bytes fetched, \d+\.\d\d s"
)


def test_follow_prints_one_line_per_round(api: Api, network: Network, tmp_path: Path) -> None:
    state = tmp_path / "log.json"
    rounds = [0]
    sizes: list[int] = []

    def more_each_round(request: httpx.Request) -> None:
        if request.url.path == "/log/checkpoint":
            rounds[0] += 1
            grow(api, rounds[0] - 1)  # 0, then 1, then 2 new events
            sizes.append(api.size())

    network.before = more_each_round
    code, out, _ = altan(
        "audit", URL, "--key", vkey(api), "--state", str(state), "--follow",
        "--interval", "0", "--rounds", "3",
    )  # fmt: skip
    assert code == 0, out
    lines = out.strip().splitlines()
    assert len(lines) == 3, out
    found = [tuple(int(g) for g in ROUND.fullmatch(line).groups()) for line in lines]  # type: ignore[union-attr]
    a, b, c = sizes
    assert a < b < c
    assert found == [(0, a, a), (a, b, b - a), (b, c, c - b)]
    assert json.loads(state.read_text())["size"] == c


def test_follow_stops_at_the_first_evidence(api: Api, network: Network, tmp_path: Path) -> None:
    state = tmp_path / "log.json"
    rounds = [0]

    def rewrite_after_the_first(request: httpx.Request) -> None:
        if request.url.path == "/log/checkpoint":
            rounds[0] += 1
            if rounds[0] == 2:
                grow(api, 1)
                rewrite_history(api, 2)

    network.before = rewrite_after_the_first
    code, out, _ = altan(
        "audit", URL, "--state", str(state), "--follow", "--interval", "0", "--rounds", "5"
    )
    assert code == 4
    lines = out.strip().splitlines()
    assert len(lines) == 2
    assert ROUND.fullmatch(lines[0])
    assert " EVIDENCE inconsistent: " in lines[1]
    assert len(evidence_files(state)) == 1


def test_follow_as_json_and_ctrl_c(api: Api, tmp_path: Path) -> None:
    net = Network(api)
    source = RemoteLog(URL, transport=net)
    auditor = Auditor(source, URL, state=tmp_path / "log.json", workers=1)
    out: list[str] = []
    err: list[str] = []
    sleeps: list[float] = []

    def interrupted(seconds: float) -> None:
        sleeps.append(seconds)
        if len(sleeps) == 2:
            raise KeyboardInterrupt

    code = auditor.follow(out.append, err.append, interval=30, as_json=True, sleep=interrupted)
    assert code == 0
    assert sleeps == [30, 30]
    assert err == ["stopped after 2 rounds"]
    first, second = (json.loads(line) for line in out)
    assert first["entries_verified"] == api.size()
    assert second["entries_verified"] == 0 and second["entries_fetched"] == 0
    assert second["bytes_fetched"] < first["bytes_fetched"]


def test_follow_rides_out_an_unreachable_server(api: Api, tmp_path: Path) -> None:
    net = Network(api)
    calls = [0]

    def flaky(request: httpx.Request, resp: httpx.Response) -> httpx.Response:
        calls[0] += request.url.path == "/log/checkpoint"
        return httpx.Response(502, text="bad gateway") if calls[0] == 2 else resp

    net.edit = flaky
    auditor = Auditor(RemoteLog(URL, transport=net), URL, state=tmp_path / "s.json", workers=1)
    out: list[str] = []
    code = auditor.follow(out.append, out.append, interval=0, rounds=3, sleep=lambda _: None)
    assert code == 0
    assert len(out) == 3
    assert " NO VERDICT: cannot read " in out[1]
    assert ROUND.fullmatch(out[2])


# --- the state file ---------------------------------------------------------------------------


def test_an_interrupted_write_leaves_the_old_state(
    api: Api, network: Network, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    state, before = first_audit(api, tmp_path)
    grow(api, 3)

    def crash(*_: object) -> None:
        raise OSError(28, "No space left on device")

    with monkeypatch.context() as m:
        m.setattr("ledger.trusted.os.fsync", crash)  # the new state never reaches the disk
        code, _, err = altan("audit", URL, "--state", str(state), "--quiet")
    assert code == 2
    assert "No space left on device" in err
    assert state.read_bytes() == before
    assert [p.name for p in state.parent.iterdir() if p.name.startswith(".")] == []

    # A temporary file left by a process killed mid-write is not the state, and is replaced.
    stale = state.with_name(f".{state.name}.{os.getpid()}.tmp")
    stale.write_text('{"format": "altan-ledger/trusted-state/v1", "si')
    code, report = audit_json(api, state)
    assert code == 0
    assert report["previous_size"] == json.loads(before)["size"]
    assert not stale.exists()


def test_a_damaged_state_is_refused_and_kept(api: Api, network: Network, tmp_path: Path) -> None:
    state, _ = first_audit(api, tmp_path)
    good = json.loads(state.read_text())

    damages: list[Callable[[dict[str, Any]], None]] = [
        lambda s: s.update(size=s["size"] + 1),
        lambda s: s.update(compact_range=[*s["compact_range"][::-1], b64encode(bytes(32))]),
        lambda s: s.update(last_leaf_hash="AAAA"),
        lambda s: s.update(checkpoint=s["checkpoint"].replace(ORIGIN, "other.example/log")),
        lambda s: s.clear(),
    ]
    for damage in damages:
        bad = json.loads(json.dumps(good))
        damage(bad)
        state.write_text(json.dumps(bad))
        code, out, err = altan("audit", URL, "--state", str(state), "--quiet")
        assert code == 2, (bad, out)
        assert "trusted state" in err
        assert json.loads(state.read_text()) == bad  # left for a person to look at

    state.write_text(json.dumps(good))
    state.chmod(0o644)
    code, _, err = altan("audit", URL, "--state", str(state), "--quiet")
    assert code == 2
    assert "expected mode 0600" in err


# --- the core, without HTTP -------------------------------------------------------------------


def test_state_json_round_trip_and_names() -> None:
    signer = NoteSigner(Ed25519PrivateKey.generate(), ORIGIN)
    tree = CompactRange()
    leaves = [hash_leaf(bytes([i])) for i in range(11)]
    for leaf in leaves:
        tree.append(leaf)
    note = sign_checkpoint(Checkpoint(ORIGIN, 11, tree.root()), signer)
    state = TrustedState(
        ORIGIN, 11, tree.root(), note, T, (signer.verifier.vkey,), leaves[-1], tuple(tree.hashes)
    )
    assert TrustedState.from_json(json.loads(json.dumps(state.to_json()))) == state
    with pytest.raises(MalformedInput, match="folds to"):
        dataclasses.replace(state, frontier=tuple(reversed(tree.hashes)))
    with pytest.raises(MalformedInput, match="does not verify"):
        dataclasses.replace(
            state, keys=(NoteSigner(Ed25519PrivateKey.generate(), ORIGIN).verifier.vkey,)
        )
    with pytest.raises(MalformedInput, match="empty tree has no last leaf"):
        empty = sign_checkpoint(Checkpoint(ORIGIN, 0, CompactRange().root()), signer)
        TrustedState(ORIGIN, 0, CompactRange().root(), empty, T, state.keys, leaves[0], ())
    with pytest.raises(MalformedInput, match="format"):
        TrustedState.from_json({**state.to_json(), "format": "v0"})

    assert state_file_name("altan.localhost/ledger") == "altan.localhost%2Fledger.json"
    assert state_file_name("../etc") == "%2E.%2Fetc.json"
    long = state_file_name("x" * 500)
    assert len(long) <= 205 and long.endswith(".json")
    assert long != state_file_name("x" * 501)


def test_check_consistency_cases() -> None:
    signer = NoteSigner(Ed25519PrivateKey.generate(), ORIGIN)
    tree = CompactRange()
    roots = {0: tree.root()}
    for i in range(9):
        tree.append(hash_leaf(bytes([i])))
        roots[tree.size] = tree.root()

    def state_at(n: int) -> TrustedState:
        t = CompactRange()
        for i in range(n):
            t.append(hash_leaf(bytes([i])))
        note = sign_checkpoint(Checkpoint(ORIGIN, n, roots[n]), signer)
        last = hash_leaf(bytes([n - 1])) if n else ZERO_HASH
        return TrustedState(
            ORIGIN, n, roots[n], note, T, (signer.verifier.vkey,), last, tuple(t.hashes)
        )

    def cp(n: int, root: bytes | None = None) -> Checkpoint:
        return Checkpoint(ORIGIN, n, roots[n] if root is None else root)

    def no_proof(first: int, second: int) -> list[bytes]:
        raise AssertionError("no proof should be asked for")

    assert check_consistency(state_at(5), cp(5), "n", no_proof) is None
    assert check_consistency(state_at(0), cp(9), "n", no_proof) is None  # the empty tree
    ev = check_consistency(state_at(5), cp(5, bytes(32)), "n", no_proof)
    assert isinstance(ev, Evidence) and ev.kind == EvidenceKind.FORK
    ev = check_consistency(state_at(5), cp(4), "n", no_proof)
    assert isinstance(ev, Evidence) and ev.kind == EvidenceKind.ROLLBACK

    # A bad proof is no evidence by itself (issue 10, hole 4): a failure without entries to
    # decide from, ...
    def bad(first: int, second: int) -> list[bytes]:
        return [bytes(32)] * 5

    for prove in (bad, lambda a, b: []):  # wrong hashes, wrong length
        got = check_consistency(state_at(5), cp(9), "n", prove)
        assert isinstance(got, AuditFailure)
        assert got.kind == FailureKind.CONSISTENCY_PROOF_INVALID

    def rows(leaves: list[bytes]) -> Callable[[int, int], list[StoredEntry]]:
        stored = [StoredEntry(i, b"", h, "", bytes(64)) for i, h in enumerate(leaves)]
        return lambda start, end: stored[start:end]

    honest = [hash_leaf(bytes([i])) for i in range(9)]
    # ... and a failure when the log's own entries show the two checkpoints consistent;
    got = check_consistency(state_at(5), cp(9), "n", bad, rows(honest))
    assert isinstance(got, AuditFailure)
    assert got.kind == FailureKind.CONSISTENCY_PROOF_INVALID
    assert "the proof was bad, not the log" in got.message
    # entries that do not back the served checkpoint prove nothing either;
    got = check_consistency(state_at(5), cp(9), "n", bad, rows(honest[:7]))
    assert isinstance(got, AuditFailure) and got.kind == FailureKind.ENTRY_MISSING
    assert got.index == 7
    got = check_consistency(state_at(5), cp(9, bytes(32)), "n", bad, rows(honest))
    assert isinstance(got, AuditFailure) and got.kind == FailureKind.ROOT_MISMATCH
    got = check_consistency(state_at(5), cp(9), "n", bad, rows([honest[1], *honest[1:]]))
    assert isinstance(got, AuditFailure) and got.kind == FailureKind.ROOT_MISMATCH
    # only entries that give the served root and another root at the trusted size do.
    rewritten = [*honest[:2], hash_leaf(b"rewritten"), *honest[3:]]
    t = CompactRange()
    for leaf in rewritten:
        t.append(leaf)
    ev = check_consistency(state_at(5), cp(9, t.root()), "n", bad, rows(rewritten))
    assert isinstance(ev, Evidence) and ev.kind == EvidenceKind.INCONSISTENT
    assert ev.proof is not None and ev.first_root is not None
    assert ev.first_root != roots[5]
    verify_consistency(5, 9, ev.proof, ev.first_root, t.root())


def test_incremental_audit_through_the_database_source(api: Api) -> None:
    engine = app_of(api).state.log.engine
    source = DatabaseSource(engine)
    first = incremental_audit(source, None, now=T, workers=1)
    assert first.ok and first.state is not None
    assert first.report.entries_verified == api.size()
    grow(api, 4)
    second = incremental_audit(source, first.state, now=T, workers=1)
    assert second.ok and second.state is not None
    added = api.size() - first.state.size
    assert (second.report.start, second.report.entries_verified) == (first.state.size, added)
    assert second.report.checkpoints_verified >= 1  # the published ones after the state

    # Entries missing from a source, behind a checkpoint that verifies: named, state kept.
    grow(api, 2)
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM log_entries WHERE idx = :i"), {"i": second.state.size})
    third = incremental_audit(source, second.state, now=T, workers=1)
    assert third.state is None and third.evidence is None
    assert third.report.failure is not None
    assert third.report.failure.kind == FailureKind.ENTRY_MISSING
    assert third.report.failure.index == second.state.size


def test_a_process_killed_mid_write_leaves_the_old_state(tmp_path: Path) -> None:
    signer = NoteSigner(Ed25519PrivateKey.generate(), ORIGIN)
    tree = CompactRange()
    tree.append(hash_leaf(b"x"))
    note = sign_checkpoint(Checkpoint(ORIGIN, 1, tree.root()), signer)
    state = TrustedState(
        ORIGIN, 1, tree.root(), note, T, (signer.verifier.vkey,), hash_leaf(b"x"), (tree.root(),)
    )
    path = tmp_path / "log.json"
    StateFile(path).save(state)
    # Another audit is killed (SIGKILL: no clean-up runs) after writing its new state to the
    # temporary file and before the rename.
    script = (
        "import os, signal\n"
        "from pathlib import Path\n"
        "from ledger.trusted import write_private_file\n"
        "os.fsync = lambda fd: os.kill(os.getpid(), signal.SIGKILL)\n"
        f'write_private_file(Path({str(path)!r}), b\'{{"format": "altan-ledger/trus\')\n'
    )
    root = REPO
    proc = subprocess.run([sys.executable, "-c", script], cwd=root, check=False, timeout=60)
    assert proc.returncode == -signal.SIGKILL
    assert StateFile(path).load() == state
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    [leftover] = [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]
    assert leftover.read_bytes().startswith(b'{"format"')  # the half-written new state
    StateFile(path).save(state)  # the next save is not disturbed by it
    assert StateFile(path).load() == state


def test_state_file_lock_and_missing_file(tmp_path: Path) -> None:
    f = StateFile(tmp_path / "deep" / "er" / "log.json")
    assert f.load() is None
    with f.locked():
        pass
    assert (tmp_path / "deep" / "er" / "log.json.lock").exists()
    (tmp_path / "dir.json").mkdir()
    with pytest.raises(StorageError):
        StateFile(tmp_path / "dir.json").load()


def test_keys_in_the_state_are_the_pinned_ones(api: Api) -> None:
    keys = keys_from_strings([vkey(api)])
    out = incremental_audit(DatabaseSource(app_of(api).state.log.engine), None, now=T, keys=keys)
    assert out.state is not None
    assert out.state.keys == (vkey(api),)


# --- issue 10: a lying proxy holding the real log key ------------------------------------------

SLASHED = ORIGIN + "/"  # the origin switch of issue 10, hole 1


def real_signer(api: Api) -> NoteSigner:
    """The log's own note signer (the operator holds it)."""
    return app_of(api).state.runtime.keystore.active().note_signer  # type: ignore[no-any-return]


def resigned(api: Api, origin: str, size: int | None = None, root: bytes | None = None) -> str:
    """The served checkpoint re-signed with the real log key under `origin` (same tree unless
    `size` / `root` say otherwise)."""
    cp, _ = open_checkpoint(served_note(api), [NoteVerifier.from_vkey(vkey(api))], ORIGIN)
    size = cp.size if size is None else size
    root = cp.root_hash if root is None else root
    return sign_checkpoint(Checkpoint(origin, size, root), real_signer(api))


def serve_checkpoint(network: Network, note: Callable[[], str]) -> None:
    def edit(request: httpx.Request, resp: httpx.Response) -> httpx.Response:
        if request.url.path == "/log/checkpoint":
            return httpx.Response(200, text=note())
        return resp

    network.edit = edit


def test_an_origin_switch_under_the_pinned_key_is_evidence(
    api: Api, network: Network, tmp_path: Path
) -> None:
    # The default state file is keyed by the pinned key's name: no --state needed.
    code, out, err = altan("audit", URL, "--key", vkey(api), "--quiet")
    assert code == 0, out + err
    logs = tmp_path / "xdg-state" / "altan" / "logs"
    state = logs / "altan.localhost%2Fledger.json"
    before = state.read_bytes()
    grow(api, 3)
    rewrite_history(api, 3)  # and serve it under a slightly different origin
    serve_checkpoint(network, lambda: resigned(api, SLASHED))

    code, out, _ = altan("audit", URL, "--key", vkey(api), "--quiet")
    assert code == 4, out  # before the fix: a fresh state for "…/ledger/" and exit 0
    assert out.startswith("EVIDENCE origin_changed: the log's key signed a checkpoint")
    assert sorted(p.name for p in logs.glob("*.json")) == [
        "altan.localhost%2Fledger.json",
        *[p.name for p in evidence_files(state)],
    ]
    assert state.read_bytes() == before
    [ev_file] = evidence_files(state)
    ev = json.loads(ev_file.read_text())
    assert ev["kind"] == "origin_changed"
    assert ev["served"]["origin"] == SLASHED
    assert ev["trusted"]["checkpoint"] == json.loads(before)["checkpoint"]
    code, out, _ = altan("evidence", str(ev_file), "--key", vkey(api))
    assert code == 0, out
    assert out.startswith("PROVES origin_changed: the key of 'altan.localhost/ledger' signed")

    # The same with --state, and with the keys recorded in the state instead of --key.
    code, report = audit_json(api, state)
    assert (code, report["evidence"]["kind"]) == (4, "origin_changed")
    code, out, _ = altan("audit", URL, "--state", str(state), "--quiet")
    assert code == 4 and out.startswith("EVIDENCE origin_changed")


def test_an_origin_switch_without_a_state_is_a_failure(
    api: Api, network: Network, tmp_path: Path
) -> None:
    serve_checkpoint(network, lambda: resigned(api, SLASHED))
    state = tmp_path / "new.json"
    code, report = audit_json(api, state)
    assert code == 1
    assert report["failure"]["kind"] == "checkpoint_signature_invalid"
    assert "origin mismatch" in report["failure"]["message"]
    assert SLASHED in report["failure"]["message"]
    assert not state.exists()
    # The whole audit without a state (`ledger.audit.audit`) checks the pinned origin too.
    code, out, _ = altan("audit", URL, "--key", vkey(api), "--no-state", "--quiet")
    assert code == 1, out
    assert out.startswith("FAIL checkpoint_signature_invalid at log:")
    assert "altan.localhost/ledger/" in out
    # An --origin that is not the pinned key's name is a usage error, before any request.
    network.paths.clear()
    code, out, err = altan("audit", URL, "--key", vkey(api), "--origin", SLASHED, "--quiet")
    assert (code, out) == (2, "")
    assert "the pinned keys are of the log 'altan.localhost/ledger'" in err
    assert network.paths == []


def test_trust_on_first_use_keeps_its_state_when_the_server_renames_its_keys(
    api: Api, network: Network, tmp_path: Path
) -> None:
    code, out, err = altan("audit", URL, "--quiet")  # no --key: the server's keys, once
    assert code == 0, out + err
    # The operator lists the same public key under a new name and signs under it.
    signer = app_of(api).state.runtime.keystore.active()
    renamed = NoteSigner(signer._private_key, SLASHED)  # the operator holds the key

    def edit(request: httpx.Request, resp: httpx.Response) -> httpx.Response:
        if request.url.path == "/log/keys":
            v = renamed.verifier
            key = {"key_id": v.key_id.hex(), "verifier_key": v.vkey}
            return httpx.Response(
                200, json={"keys": [{**key, "public_key": b64encode(v.public_key)}]}
            )
        if request.url.path == "/log/checkpoint":
            cp, _ = open_checkpoint(served_note(api), [NoteVerifier.from_vkey(vkey(api))])
            return httpx.Response(
                200, text=sign_checkpoint(dataclasses.replace(cp, origin=SLASHED), renamed)
            )
        return resp

    network.edit = edit
    code, out, _ = altan("audit", URL, "--quiet")
    assert code == 1, out  # the state kept for this URL pins the first key: not a fresh start
    assert out.startswith("FAIL checkpoint_signature_invalid")
    logs = tmp_path / "xdg-state" / "altan" / "logs"
    assert [p.name for p in logs.glob("*.json")] == ["altan.localhost%2Fledger.json"]


def flip_a_bit_in_the_proof(request: httpx.Request, resp: httpx.Response) -> httpx.Response:
    """A broken cache in front of an honest log: one bit of the consistency proof flipped."""
    if request.url.path != "/log/proof/consistency":
        return resp
    body = json.loads(resp.content)
    first = bytearray(b64decode(body["hashes"][0]))
    first[0] ^= 1
    body["hashes"][0] = b64encode(bytes(first))
    return httpx.Response(200, json=body)


def test_a_bad_proof_from_an_honest_log_is_no_evidence(
    api: Api, network: Network, tmp_path: Path
) -> None:
    state, before = first_audit(api, tmp_path)
    grow(api, 5)
    network.edit = flip_a_bit_in_the_proof
    code, report = audit_json(api, state)
    assert code == 1, report  # before the fix: exit 4 and an "evidence" file
    assert report["evidence"] is None
    assert report["failure"]["kind"] == "consistency_proof_invalid"
    assert "the server served a bad consistency proof" in report["failure"]["message"]
    assert "the proof was bad, not the log" in report["failure"]["message"]
    assert evidence_files(state) == []
    assert state.read_bytes() == before
    code, out, _ = altan("audit", URL, "--state", str(state), "--quiet")
    assert code == 1 and out.startswith("FAIL consistency_proof_invalid at log:")
    # Without the broken cache the same log verifies.
    network.edit = None
    assert audit_json(api, state)[0] == 0


def test_evidence_of_a_rewrite_a_fork_and_a_rollback_checks_offline(
    api: Api, network: Network, tmp_path: Path
) -> None:
    state, _ = first_audit(api, tmp_path)
    grow(api, 4)
    rewrite_history(api, 3)
    assert audit_json(api, state)[0] == 4
    [rewrite] = evidence_files(state)
    code, out, _ = altan("evidence", str(rewrite), "--key", vkey(api))
    assert code == 0, out
    assert out.startswith("PROVES inconsistent: the log signed a tree of ")
    ev = json.loads(rewrite.read_text())
    assert ev["consistency_proof"]["first_root"] != ev["trusted"]["root_hash"]

    # A fork: the same size, re-signed with another root.
    serve_checkpoint(
        network, lambda: resigned(api, ORIGIN, json.loads(state.read_text())["size"], bytes(32))
    )
    assert audit_json(api, state)[0] == 4
    fork = next(p for p in evidence_files(state) if p != rewrite)
    code, out, _ = altan("evidence", str(fork), "--key", vkey(api), "--json")
    assert code == 0
    assert json.loads(out)["kind"] == "fork" and json.loads(out)["proves"] is True

    # A rollback is said to be what it is: the server went back to an older tree.
    serve_checkpoint(network, lambda: resigned(api, ORIGIN, 1, hash_leaf(b"x")))
    assert audit_json(api, state)[0] == 4
    [back] = [p for p in evidence_files(state) if p not in (rewrite, fork)]
    code, out, _ = altan("evidence", str(back), "--key", vkey(api))
    assert code == 0
    assert out.startswith("PROVES rollback:") and "does not prove a rewritten history" in out


# --- issue 10, hole 5: bounded reads ----------------------------------------------------------


def test_a_400_mib_entries_answer_is_refused_early(
    api: Api, network: Network, tmp_path: Path
) -> None:
    import tracemalloc

    sent = [0]

    def endless() -> Iterator[bytes]:
        chunk = b'{"entries": [' + b" " * (64 * 1024 - 13)
        for _ in range(400 * 16):  # 400 MiB, made as it is read: never held
            sent[0] += len(chunk)
            yield chunk
            chunk = b" " * (64 * 1024)

    def huge(request: httpx.Request, resp: httpx.Response) -> httpx.Response:
        if request.url.path == "/log/entries":
            return httpx.Response(200, content=endless())
        return resp

    network.edit = huge
    tracemalloc.start()
    try:
        code, out, err = altan(
            "audit", URL, "--key", vkey(api), "--state", str(tmp_path / "s.json")
        )
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert (code, out) == (2, "")
    assert "/log/entries: the server's answer is larger than 458,752 bytes; refused" in err
    assert sent[0] < 1 << 20  # it stopped reading at the cap (7 entries * 64 KiB)
    assert peak < 32 << 20, peak
    assert not (tmp_path / "s.json").exists()


def test_a_checkpoint_of_2_64_minus_1_entries_gets_a_named_verdict(
    api: Api, network: Network, tmp_path: Path
) -> None:
    huge = (1 << 64) - 1
    # Without a state: the entries are missing.
    serve_checkpoint(network, lambda: resigned(api, ORIGIN, huge, bytes(32)))
    code, report = audit_json(api, tmp_path / "first.json", "--workers", "1")
    assert code == 1, report["error"]
    assert report["failure"]["kind"] == "entry_missing"
    assert report["tree_size"] == huge
    # With a state: a size jump the server cannot prove, nor back with entries.
    network.edit = None
    state, _ = first_audit(api, tmp_path)
    serve_checkpoint(network, lambda: resigned(api, ORIGIN, huge, bytes(32)))
    code, report = audit_json(api, state, "--workers", "1")
    assert code == 1, report
    assert report["failure"]["kind"] == "entry_missing"
    assert (
        f"the checkpoint covers {huge} entries but the server has only"
        in (report["failure"]["message"])
    )
    assert evidence_files(state) == []


def test_remote_answers_that_do_not_fit_the_question_are_refused(api: Api) -> None:
    net = Network(api)
    size = api.size()

    def lie(request: httpx.Request, resp: httpx.Response) -> httpx.Response:
        path = request.url.path
        if path == "/log/entries":
            body = json.loads(resp.content)
            if request.url.params["start"] == "0":  # more entries than asked
                body["entries"] = body["entries"] * 2
            else:  # a page that goes backwards
                body["entries"] = [dict(e, index=0) for e in body["entries"]][:1]
            return httpx.Response(200, json=body)
        if path == "/log/proof/consistency":
            return httpx.Response(200, json={"hashes": [b64encode(bytes(32))] * 66})
        if path == "/log/checkpoint":
            return httpx.Response(200, content=b"x" * (65 * 1024))
        return resp

    net.edit = lie
    log = RemoteLog(URL, transport=net, page=5)
    with pytest.raises(
        MalformedInput, match="asked for at most 5 entries from 0, the server sent 10"
    ):
        list(log.entries(0, size))
    with pytest.raises(MalformedInput, match="asked for entries from 5, the page ends at 0"):
        list(log.entries(5, size))
    with pytest.raises(MalformedInput, match="expected at most 65 hashes, the server sent 66"):
        log.consistency_proof(1, size)
    with pytest.raises(AnswerTooLarge, match="larger than 65,536 bytes"):
        log.checkpoint()
    # A proof the server refuses (beyond its tree) is OutOfRange, not a network problem.
    net.edit = None
    with pytest.raises(OutOfRange, match="HTTP 422"):
        log.consistency_proof(1, 1 << 63)


# --- issue 14: the lots' states and the state map, carried on between audits -------------------


def add_lots(api: Api, tag: str) -> None:
    """Lots through the real service: a gold lot with a certificate, sold; an ore lot."""
    world = CertWorld(api)
    if "regulator:tov" not in api.tokens:
        populate(api)
    world.gold(f"AU-{tag}", 2000)
    world.request(f"AU-{tag}")
    world.offer_and_accept(f"OF-{tag}", f"AU-{tag}", BANK)
    world.deliver(f"ORE-X{tag}", 700)


def last_state_root(api: Api) -> StateRoot:
    size = api.size()
    page = api.client.get("/log/entries", params={"start": size - 1, "end": size}).json()
    entry = Entry.from_bytes(b64decode(page["entries"][0]["entry"]))
    return StateRoot.from_entry(entry)


def kept_replay(state: Path) -> StateReplay:
    path = state.with_name(state.name + ".replay")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    return StateReplay.from_bytes(path.read_bytes())


def test_the_lots_states_are_kept_and_carried_on(
    api: Api, network: Network, tmp_path: Path
) -> None:
    add_lots(api, "1")
    state, _ = first_audit(api, tmp_path)
    replay = kept_replay(state)
    assert replay.size == api.size() and replay.committed is not None
    assert replay.map_root() == last_state_root(api).root
    assert replay.lots.state("AU-1") is not None

    old = api.size()
    add_lots(api, "2")
    code, report = audit_json(api, state)
    assert code == 0, report
    assert report["entries_fetched"] == api.size() - old  # the map went on, not from 0
    replay = kept_replay(state)
    assert replay.size == api.size()
    assert replay.map_root() == last_state_root(api).root
    sold = replay.lots.state("AU-2")
    assert sold is not None and sold.custodian == BANK

    # a round with nothing new leaves the replay file as it was
    before = state.with_name(state.name + ".replay").stat().st_mtime_ns
    assert audit_json(api, state)[0] == 0
    assert state.with_name(state.name + ".replay").stat().st_mtime_ns == before


@pytest.mark.parametrize("how", ["from-before-the-map", "damaged", "of-another-tree"])
def test_a_state_without_a_usable_replay_replays_the_whole_log_once(
    api: Api, network: Network, tmp_path: Path, how: str
) -> None:
    add_lots(api, "1")
    state, _ = first_audit(api, tmp_path)
    path = state.with_name(state.name + ".replay")
    if how == "from-before-the-map":
        path.unlink()
    elif how == "damaged":
        path.write_bytes(path.read_bytes()[:-9])
    else:  # a replay at another size than the state (a state moved by an older client)
        replay = StateReplay()
        path.write_bytes(replay.to_bytes())
    add_lots(api, "2")
    code, report = audit_json(api, state)
    assert code == 0, report  # not a failure
    assert report["entries_fetched"] == api.size()  # the whole log, once
    assert kept_replay(state).size == api.size()
    old = api.size()
    grow(api, 2)
    code, report = audit_json(api, state)
    assert code == 0, report
    assert report["entries_fetched"] == api.size() - old  # and from then on only the new


def test_a_replay_others_can_read_is_refused(api: Api, network: Network, tmp_path: Path) -> None:
    state, _ = first_audit(api, tmp_path)
    path = state.with_name(state.name + ".replay")
    path.chmod(0o644)
    code, _, err = altan("audit", URL, "--state", str(state), "--quiet")
    assert code == 2
    assert "expected mode 0600" in err


def test_a_wrong_state_root_among_the_new_entries_is_named(
    api: Api, network: Network, tmp_path: Path
) -> None:
    add_lots(api, "1")
    state, before = first_audit(api, tmp_path)
    replay_before = state.with_name(state.name + ".replay").read_bytes()
    engine = app_of(api).state.log.engine
    with engine.begin() as conn:  # an insider edits the map's head row
        conn.execute(text("UPDATE state_head SET lots = lots + 3"))
    old = api.size()
    add_lots(api, "2")
    code, report = audit_json(api, state)
    assert code == 1, report
    failure = report["failure"]
    # the state.root closing the first append after the edit
    page = api.client.get("/log/entries", params={"start": old, "end": old + 10}).json()
    types = [Entry.from_bytes(b64decode(e["entry"])).event.type for e in page["entries"]]
    first = old + types.index(STATE_ROOT_TYPE)
    assert (failure["kind"], failure["index"]) == ("state_root_mismatch", first)
    assert "it counts" in failure["message"]
    assert state.read_bytes() == before  # nothing moved
    assert state.with_name(state.name + ".replay").read_bytes() == replay_before


def test_an_incremental_database_audit_compares_the_tables_too(api: Api, tmp_path: Path) -> None:
    add_lots(api, "1")
    engine = app_of(api).state.log.engine
    source = DatabaseSource(engine, tables=lot_tables)
    first = incremental_audit(source, None, now=T, workers=1)
    assert first.ok and first.state is not None and first.state.go_on_from() is not None
    add_lots(api, "2")
    with engine.begin() as conn:
        conn.execute(text("UPDATE certificates SET revoked_index = 0 WHERE lot_id = 'AU-2'"))
    second = incremental_audit(source, first.state, now=T, workers=1)
    assert second.state is None and second.report.failure is not None
    assert second.report.failure.kind == FailureKind.STATE_TABLE_MISMATCH
    assert {d.lot for d in second.report.failure.differences} == {"AU-2"}
    assert second.report.start == first.state.size  # from the replay, not from 0


def test_rounds_of_one_auditor_go_on_from_the_replay_they_hold(api: Api, tmp_path: Path) -> None:
    # --follow: the replay is read from the file once, then carried from round to round
    # (reading a replay of many lots takes seconds); the file is still written each time
    add_lots(api, "1")
    state = tmp_path / "s.json"
    auditor = Auditor(RemoteLog(URL, transport=Network(api)), URL, state=state, workers=1)
    assert auditor.run_round().exit_code == 0
    replay_file = state.with_name(state.name + ".replay")
    replay_file.write_bytes(b"not read again")
    old = api.size()
    add_lots(api, "2")
    second = auditor.run_round()
    assert second.exit_code == 0 and second.entries_fetched == api.size() - old
    assert kept_replay(state).size == api.size()  # written anew
