"""Witnessing in practice (issue 10, hole 9; hole 1's origin rule in `altan witness`).

- c2sp.org/tlog-witness `add-checkpoint` on both sides: `altan witness serve`'s server
  (a real HTTP server on 127.0.0.1, an ephemeral port, in a thread) answering the spec's
  status codes, and the log's submitter (`services.witnesses.push`, `altan witness push`)
  sending its checkpoint with a consistency proof, handling 409 and keeping the newest
  cosignature;
- verifiers prove against the newest checkpoint their witness policy accepts: a genuine
  certificate stays genuine with --min-cosignatures after new appends, and one whose
  cosignatures are older than --max-age is refused as `stale`;
- the witness cosigns only under the pinned key's name: another --origin is a usage error,
  and a checkpoint re-signed by the real log key under origin + "/" is refused.
"""

from __future__ import annotations

import base64
import contextlib
import json
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import text

import clients.witness as witness_client
import support.witnesses as witnesses_fixtures
from clients import cli
from clients.verify import DEFAULT_MAX_AGE_SECONDS
from clients.witness import (
    LogWitness,
    Trusted,
    Witness,
    WitnessHTTPServer,
    default_state_path,
    read_state,
    write_state,
)
from ledger.checkpoint import Checkpoint, sign_checkpoint
from ledger.cosignature import (
    AddCheckpoint,
    Cosignature,
    WitnessSigner,
    count_valid_cosignatures,
)
from ledger.errors import KeyProblem, MalformedInput
from ledger.note import Note, NoteSigner, NoteVerifier
from services.clock import utc_now
from services.settings import get_settings
from services.witnesses.push import push_checkpoint
from support.certificates import PUBLIC_URL, World, populate
from support.domain import Api, running_api
from support.witnesses import Network, altan, keygen, log_key, register, witness

ORIGIN = "altan.localhost/ledger"


# --- helpers -----------------------------------------------------------------------------------


class Clock:
    """A clock a test moves (POSIX seconds), starting at the real time."""

    def __init__(self) -> None:
        self.t = time.time()

    def __call__(self) -> float:
        return self.t


class Recording(LogWitness):
    """A witness that remembers the old sizes it was sent."""

    def __init__(self, *args: Any, **kw: Any) -> None:
        super().__init__(*args, **kw)
        self.old_sizes: list[int] = []

    def add_checkpoint(self, body: bytes) -> witness_client.Answer:
        with contextlib.suppress(MalformedInput):
            self.old_sizes.append(AddCheckpoint.from_bytes(body).old_size)
        return super().add_checkpoint(body)


@contextmanager
def serving(w: LogWitness) -> Iterator[str]:
    """`altan witness serve`'s server on 127.0.0.1, an ephemeral port, in a thread."""
    server = WitnessHTTPServer(w, "127.0.0.1", 0)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def real_signer(api: Api) -> NoteSigner:
    """The log's own note signer: what a lying operator holds."""
    signer: NoteSigner = api.client.app.state.runtime.keystore.active().note_signer
    return signer


def engine_of(api: Api) -> Any:
    return api.client.app.state.log.engine


def served(api: Api) -> tuple[str, Checkpoint]:
    note = api.client.get("/log/checkpoint").text
    return note, Checkpoint.from_text(Note.from_text(note).text)


def log_only(note: str) -> str:
    """The log's own note: its text and first signature line (no cosignatures)."""
    parsed = Note.from_text(note)
    return parsed.text + "\n" + parsed.signatures[0].to_line()


def consistency(api: Api, first: int, second: int) -> list[bytes]:
    resp = api.client.get("/log/proof/consistency", params={"first": first, "second": second})
    return [base64.b64decode(h) for h in resp.json()["hashes"]]


def add(url: str, body: bytes) -> httpx.Response:
    return httpx.post(url + "/add-checkpoint", content=body, timeout=10)


def shown_timestamp(api: Api, w: WitnessSigner) -> int:
    """The timestamp of `w`'s cosignature on the latest checkpoint as the log shows it."""
    note = Note.from_text(api.client.get("/log/checkpoint").text)
    [sig] = [s for s in note.signatures if s.name == w.name]
    return Cosignature.from_note_signature(sig).timestamp


# The fixtures shared through support.witnesses, taken by this module's tests.
api = witnesses_fixtures.api
network = witnesses_fixtures.network


# --- add-checkpoint: the witness's side ----------------------------------------------------------


def test_add_checkpoint_answers_with_the_specs_status_codes(api: Api, tmp_path: Path) -> None:
    clock = Clock()
    w = LogWitness(log_key(api.client), witness(), tmp_path / "state.json", clock=clock)
    with serving(w) as url:
        # 400: malformed (no old line, no blank line, a bad hash, a leading zero)
        note0, cp0 = served(api)
        for body in (b"nonsense", b"old 0\n" + note0.encode(), b"old 01\n\n" + note0.encode()):
            assert add(url, body).status_code == 400
        assert add(url, b"old 0\nnot-base64\n\n" + note0.encode()).status_code == 400

        # 200 from size 0 (never cosigned): one cosignature line, valid, state saved first
        resp = add(url, AddCheckpoint(0, (), note0).to_bytes())
        assert resp.status_code == 200, resp.text
        line = Cosignature.from_line(resp.text)
        assert count_valid_cosignatures(note0 + resp.text, [w.signer.key]) == [w.signer.key]
        assert line.timestamp == int(clock.t)
        state = read_state(tmp_path / "state.json", ORIGIN)
        assert state is not None and (state.size, state.root_hash) == (cp0.size, cp0.root_hash)

        api.register("miner:bat", "miner")
        api.register("miner:dorj", "miner")
        note1, cp1 = served(api)
        proof = consistency(api, cp0.size, cp1.size)
        assert proof

        # 409: another old size; the body is this witness's size, as text/x.tlog.size
        resp = add(url, AddCheckpoint(0, (), note1).to_bytes())
        assert resp.status_code == 409
        assert resp.headers["content-type"] == "text/x.tlog.size"
        assert resp.content == f"{cp0.size}\n".encode()

        # 422: a consistency proof with one flipped bit; a proof from size 0
        bad = [bytes([proof[0][0] ^ 1]) + proof[0][1:], *proof[1:]]
        assert add(url, AddCheckpoint(cp0.size, tuple(bad), note1).to_bytes()).status_code == 422

        # 403: signed by another key under the log's name; 404: the real key, another origin
        stranger = NoteSigner(witness_key_material(), ORIGIN)
        forged = sign_checkpoint(cp1, stranger)
        assert add(url, AddCheckpoint(cp0.size, tuple(proof), forged).to_bytes()).status_code == 403
        other = sign_checkpoint(Checkpoint(ORIGIN + "/", cp1.size, cp1.root_hash), real_signer(api))
        resp = add(url, AddCheckpoint(cp0.size, tuple(proof), other).to_bytes())
        assert resp.status_code == 404

        # 400: an old size larger than the checkpoint's
        assert add(url, AddCheckpoint(cp1.size + 1, (), note1).to_bytes()).status_code == 400
        # none of these moved the state
        state = read_state(tmp_path / "state.json", ORIGIN)
        assert state is not None and state.size == cp0.size

        # 200 with the right proof
        resp = add(url, AddCheckpoint(cp0.size, tuple(proof), note1).to_bytes())
        assert resp.status_code == 200, resp.text
        assert count_valid_cosignatures(note1 + resp.text, [w.signer.key]) == [w.signer.key]

        # The same size again: re-cosigned with a fresh timestamp (an unchanged log)
        clock.t += 900
        resp = add(url, AddCheckpoint(cp1.size, (), note1).to_bytes())
        assert resp.status_code == 200 and Cosignature.from_line(resp.text).timestamp == int(
            clock.t
        )
        # ... but not with a proof between equal sizes (422), nor another root (409)
        assert add(url, AddCheckpoint(cp1.size, tuple(proof), note1).to_bytes()).status_code == 422
        fork = sign_checkpoint(Checkpoint(ORIGIN, cp1.size, bytes(32)), real_signer(api))
        resp = add(url, AddCheckpoint(cp1.size, (), fork).to_bytes())
        assert (resp.status_code, resp.content) == (409, f"{cp1.size}\n".encode())
        # and a smaller tree is a 409 too (the old size is not the witness's)
        assert add(url, AddCheckpoint(cp0.size, (), note0).to_bytes()).status_code == 409

        # Bounded body, POST only, one path
        assert add(url, b"x" * (witness_client.MAX_ADD_CHECKPOINT_BYTES + 1)).status_code == 413
        assert httpx.get(url + "/add-checkpoint").status_code == 405
        assert httpx.post(url + "/other", content=b"x").status_code == 404
    state = read_state(tmp_path / "state.json", ORIGIN)
    assert state is not None and (state.size, state.root_hash) == (cp1.size, cp1.root_hash)


def witness_key_material() -> Any:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    return Ed25519PrivateKey.generate()


# --- add-checkpoint: the log's side ---------------------------------------------------------------


def test_the_log_pushes_its_checkpoint_with_a_proof_and_keeps_the_newest(
    api: Api, tmp_path: Path
) -> None:
    clock = Clock()
    signer = witness()
    w = Recording(log_key(api.client), signer, tmp_path / "state.json", clock=clock)
    with serving(w) as url:
        register(api, signer, url=url)
        engine = engine_of(api)

        [first] = push_checkpoint(engine, utc_now())
        assert (first.outcome, first.witness) == ("cosigned", signer.name), first
        note, cp = served(api)
        assert count_valid_cosignatures(note, [signer.key]) == [signer.key]
        assert w.old_sizes == [0]

        # New entries: pushed from the size the witness cosigned, with a consistency proof.
        api.register("miner:bat", "miner")
        [second] = push_checkpoint(engine, utc_now())
        assert second.outcome == "cosigned" and second.size == api.size()
        assert w.old_sizes == [0, cp.size]
        shown = shown_timestamp(api, signer)

        # Nothing new: pushed again, cosigned again with a fresh timestamp, the newest kept.
        clock.t += 600
        [third] = push_checkpoint(engine, utc_now())
        assert third.outcome == "cosigned"
        assert shown_timestamp(api, signer) == shown + 600

        # The log forgets what the witness cosigned (a restored database): 409 names the
        # witness's size, and the retry from it succeeds.
        with engine.begin() as conn:
            conn.execute(text("DELETE FROM log_cosignatures"))
        size = api.size()
        [fourth] = push_checkpoint(engine, utc_now())
        assert fourth.outcome == "cosigned", fourth
        assert w.old_sizes[-2:] == [0, size]


def test_a_witness_that_saw_a_larger_tree_is_a_conflict_not_a_retry(
    api: Api, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A witness that cosigned a larger tree than the log now has: a rollback or a split
    view. The submitter reports it (exit 1 from `altan witness push`), never re-sends."""
    signer = witness()
    state = tmp_path / "state.json"
    w = Recording(log_key(api.client), signer, state)
    _, cp = served(api)
    write_state(state, ORIGIN, Trusted(cp.size + 1000, bytes(32), "elsewhere", 0))
    with serving(w) as url:
        register(api, signer, url=url)
        [result] = push_checkpoint(engine_of(api), utc_now())
        assert result.outcome == "conflict" and "rollback or a split view" in result.detail
        assert w.old_sizes == [0]  # asked once, not again from the witness's larger size

        # The operator's command, on the same database.
        for name in ("ALTAN_DATABASE_URL", "ALTAN_READ_DATABASE_URL"):
            monkeypatch.delenv(name, raising=False)
        monkeypatch.setenv("ALTAN_DATA_DIR", str(tmp_path / "data"))
        get_settings.cache_clear()
        if not any(c.name == "serve" for c in cli.app.registered_commands):
            cli._attach_server_commands()
        try:
            code, out, _ = altan("witness", "push")
        finally:
            get_settings.cache_clear()
        assert code == 1, out
        assert out.startswith(f"CONFLICT {signer.name} ({url}): the witness cosigned tree size")


def test_bad_witness_answers_are_reported_and_nothing_is_stored(api: Api, tmp_path: Path) -> None:
    registered, impostor = witness("w.example/one"), witness("w.example/one")
    # A server answering with another key's cosignature under the registered name.
    w = LogWitness(log_key(api.client), impostor, tmp_path / "state.json")
    with serving(w) as url:
        register(api, registered, url=url)
        [result] = push_checkpoint(engine_of(api), utc_now())
        assert result.outcome == "bad_answer", result
    # Nobody listening any more.
    [result] = push_checkpoint(engine_of(api), utc_now())
    assert result.outcome == "unreachable"
    note, _ = served(api)
    assert count_valid_cosignatures(note, [registered.key, impostor.key]) == []


def test_witness_urls_are_http_or_https_and_bounded(api: Api) -> None:
    w = witness()
    for url in ("ftp://w.example", "javascript:alert(1)", "http://" + "a" * 300, "http://a b"):
        body = {"witness": w.name, "key": w.key.vkey, "url": url}
        assert api.post("admin:root", "witness.registered", body).status_code == 422, url


# --- verifiers: the newest checkpoint their witness policy accepts --------------------------------


def verify_json(
    qr_text: str, vkeys: list[str], w: WitnessSigner, *extra: str
) -> tuple[int, dict[str, Any]]:
    args = ["verify", qr_text, "--server", "http://ledger.test", "--json"]
    for k in vkeys:
        args += ["--key", k]
    code, out, _ = altan(*args, "--witness", w.key.vkey, "--min-cosignatures", "1", *extra)
    return code, json.loads(out)


@pytest.fixture
def certified(tmp_path: Path, network: Network) -> Iterator[tuple[Api, World, str]]:
    with running_api(tmp_path, public_url=PUBLIC_URL) as a:
        world = populate(a)
        world.gold("AU-1", 50_000)
        world.request("AU-1")
        network.hosts["ledger.test"] = a.client
        yield a, world, world.certificates("AU-1")[0]["qr_text"]


def test_a_certificate_stays_genuine_after_appends_with_min_cosignatures(
    certified: tuple[Api, World, str], tmp_path: Path
) -> None:
    """Before issue 10 any append after the last witness round turned this certificate
    into `not_witnessed`: the verdict's only checkpoint was the latest, uncosigned."""
    api, world, qr_text = certified
    signer = witness()
    w = LogWitness(log_key(api.client), signer, tmp_path / "state.json")
    with serving(w) as url:
        register(api, signer, url=url)
        [pushed] = push_checkpoint(engine_of(api), utc_now())
        assert pushed.outcome == "cosigned"
    cosigned = api.size()
    world.deliver("ORE-LATER", 1_000_000)  # the log moves on; no witness cosigned that yet
    assert api.size() > cosigned

    code, verdict = verify_json(qr_text, world.vkeys(), signer)
    assert code == 0, verdict
    assert verdict["verdict"] == "genuine" and verdict["cosigned_by"] == [signer.name]
    assert verdict["checkpoint"]["tree_size"] == cosigned  # the newest witnessed one


def test_a_stale_cosignature_is_refused(certified: tuple[Api, World, str], tmp_path: Path) -> None:
    api, world, qr_text = certified
    signer = witness()
    clock = Clock()
    clock.t -= 2 * 3600  # the witness last cosigned two hours ago
    w = LogWitness(log_key(api.client), signer, tmp_path / "state.json", clock=clock)
    with serving(w) as url:
        register(api, signer, url=url)
        assert push_checkpoint(engine_of(api), utc_now())[0].outcome == "cosigned"
        world.deliver("ORE-LATER", 1_000_000)

        code, verdict = verify_json(qr_text, world.vkeys(), signer)
        assert (code, verdict["verdict"], verdict["reason"]) == (1, "not_genuine", "stale")
        assert "--max-age" in verdict["detail"]
        assert DEFAULT_MAX_AGE_SECONDS == 3600
        code, verdict = verify_json(qr_text, world.vkeys(), signer, "--max-age", "10800")
        assert (code, verdict["verdict"]) == (0, "genuine")

        # The next push (a fresh cosignature of the latest) makes it current again.
        clock.t = time.time()
        assert push_checkpoint(engine_of(api), utc_now())[0].outcome == "cosigned"
        code, verdict = verify_json(qr_text, world.vkeys(), signer)
        assert (code, verdict["checkpoint"]["tree_size"]) == (0, api.size())


class Lying:
    """A proxy in front of the real server (a host of test_witnesses.Network) that answers
    `rewrite(path, real answer)` instead of the real answer."""

    def __init__(self, api: Api, rewrite: Callable[[str, httpx.Response], httpx.Response]):
        self.api, self.rewrite = api, rewrite

    def request(self, method: str, path: str, **kw: Any) -> httpx.Response:
        real = self.api.client.request(method, path, **kw)
        resp = httpx.Response(real.status_code, headers=real.headers, content=real.content)
        return self.rewrite(path, resp)


def verdict_rewritten(api: Api, change: Callable[[dict[str, Any]], None]) -> Lying:
    def rewrite(path: str, resp: httpx.Response) -> httpx.Response:
        if not path.startswith("/api/c/"):
            return resp
        doc = resp.json()
        change(doc)
        return httpx.Response(200, json=doc)

    return Lying(api, rewrite)


def test_a_bad_witnessed_alternative_is_not_counted(
    certified: tuple[Api, World, str], tmp_path: Path, network: Network
) -> None:
    api, world, qr_text = certified
    signer = witness()
    w = LogWitness(log_key(api.client), signer, tmp_path / "state.json")
    with serving(w) as url:
        register(api, signer, url=url)
        assert push_checkpoint(engine_of(api), utc_now())[0].outcome == "cosigned"
    world.deliver("ORE-LATER", 1_000_000)

    def no_alternative(doc: dict[str, Any]) -> None:
        doc["witnessed"] = []

    def bad_proof(doc: dict[str, Any]) -> None:
        doc["witnessed"][0]["proof"]["path"][0] = "00" * 32

    def other_origin(doc: dict[str, Any]) -> None:
        cp = Checkpoint.from_text(Note.from_text(doc["witnessed"][0]["checkpoint"]).text)
        moved = Checkpoint(cp.origin + "/", cp.size, cp.root_hash)
        doc["witnessed"][0]["checkpoint"] = sign_checkpoint(moved, real_signer(api))

    for rewrite in (no_alternative, bad_proof, other_origin):
        network.hosts["ledger.test"] = verdict_rewritten(api, rewrite)
        code, verdict = verify_json(qr_text, world.vkeys(), signer)
        assert (code, verdict["reason"]) == (1, "not_witnessed"), (rewrite.__name__, verdict)


# --- the witness command: origin rule and re-cosigning -----------------------------------------


def test_another_origin_is_a_usage_error_and_a_re_signed_origin_is_refused(
    api: Api, tmp_path: Path, network: Network
) -> None:
    path, vkey = keygen(tmp_path)
    api.ok("admin:root", "witness.registered", {"witness": "witness.example.mn/w1", "key": vkey})
    pinned = log_key(api.client).vkey
    run = ("witness", "http://ledger.test", "--key", pinned, "--witness-key", str(path))
    network.hosts["ledger.test"] = api.client

    code, _, err = altan(*run, "--origin", ORIGIN + "/")
    assert code == 2 and "expected the pinned key's name" in err
    code, _, err = altan(*run, "--origin", ORIGIN)  # the pinned name itself: fine
    assert code == 0, err
    with pytest.raises(KeyProblem):
        LogWitness(NoteVerifier.from_vkey(pinned), witness(), tmp_path / "s.json", origin="x/y")

    # A lying operator re-signs the latest checkpoint with the real key under origin + "/".
    api.register("miner:bat", "miner")
    _, cp = served(api)
    moved = sign_checkpoint(Checkpoint(ORIGIN + "/", cp.size, cp.root_hash), real_signer(api))

    def rewrite(path: str, resp: httpx.Response) -> httpx.Response:
        return httpx.Response(200, text=moved) if path == "/log/checkpoint" else resp

    network.hosts["ledger.test"] = Lying(api, rewrite)
    before = default_state_path(path).read_bytes()
    code, out, err = altan(*run)
    assert code == 1, err
    assert json.loads(out)["reason"] == "bad_checkpoint" and "REFUSED" in err
    assert default_state_path(path).read_bytes() == before
    state = json.loads(before)
    assert list(state["logs"]) == [ORIGIN]  # nothing filed under the server's origin


def test_the_witness_re_cosigns_an_unchanged_checkpoint_after_the_refresh_interval(
    api: Api, tmp_path: Path, network: Network, monkeypatch: pytest.MonkeyPatch
) -> None:
    network.hosts["ledger.test"] = api.client
    path, vkey = keygen(tmp_path)
    api.ok("admin:root", "witness.registered", {"witness": "witness.example.mn/w1", "key": vkey})
    run = (
        "witness",
        "http://ledger.test",
        "--key",
        log_key(api.client).vkey,
        "--witness-key",
        str(path),
    )
    t = time.time() - 1000  # the first round was a while ago
    monkeypatch.setattr(witness_client, "now", lambda: t)
    code, out, err = altan(*run)
    assert code == 0 and out.startswith("COSIGNED"), err
    signer = witness_client.load_key(path)
    first = shown_timestamp(api, signer)

    monkeypatch.setattr(witness_client, "now", lambda: t + 60)
    code, out, _ = altan(*run)
    assert out.startswith("UNCHANGED")  # a recent cosignature is shown: nothing to do
    monkeypatch.setattr(witness_client, "now", lambda: t + witness_client.REFRESH_SECONDS + 1)
    code, out, err = altan(*run)
    assert code == 0 and out.startswith("RECOSIGNED"), err
    assert shown_timestamp(api, signer) == first + witness_client.REFRESH_SECONDS + 1


def test_the_serve_and_push_commands_are_documented() -> None:
    if not any(c.name == "serve" for c in cli.app.registered_commands):
        cli._attach_server_commands()
    code, out, _ = altan("witness", "serve", "--help")
    assert code == 0
    for word in ("--key", "--witness-key", "--port", "--host", "409", "add-checkpoint"):
        assert word in out
    code, out, _ = altan("witness", "push", "--help")
    assert code == 0 and "--every" in out
    code, out, _ = altan("verify", "--help")
    assert code == 0 and "--max-age" in out
    assert Witness.__mro__[1] is LogWitness
