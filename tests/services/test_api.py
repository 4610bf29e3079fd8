"""The auditor endpoints over real HTTP requests through the ASGI app (lifespan included).

Wire formats are checked byte for byte against DESIGN.md, "The log"; every bad parameter
must give an RFC 9457 problem (application/problem+json, 4xx) that names the parameter.
"""

from __future__ import annotations

import base64
import importlib
import json
import pkgutil
import re
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from fastapi import FastAPI
from sqlalchemy import text
from starlette.exceptions import StarletteDeprecationWarning

import ledger
from independent_verifier import merkle_tree_hash
from ledger import errors
from ledger.certificate import CertificateFailure, CertificateInvalid
from ledger.checkpoint import open_checkpoint
from ledger.encoding import canonical_json
from ledger.entry import RECEIPT_CONTEXT, ZERO_HASH, Entry
from ledger.hashing import hash_leaf
from ledger.merkle import verify_consistency, verify_inclusion
from ledger.note import NoteSigner, NoteVerifier
from ledger.sql.log import Log
from services import problems
from services.app import create_app
from services.clock import utc_now
from services.settings import Settings
from support.db import ORIGIN, Database, database_url
from support.log import event

with warnings.catch_warnings():
    # Starlette warns that its TestClient runs on httpx rather than httpx2; that is not ours.
    warnings.simplefilter("ignore", StarletteDeprecationWarning)
    from fastapi.testclient import TestClient

BATCHES = (1, 6, 10, 20)  # one checkpoint per batch: sizes 1, 7, 17, 37
SIZE = sum(BATCHES)
PROBLEM = "application/problem+json"
LOG_PATHS = {
    "/log/checkpoint",
    "/log/keys",
    "/log/entries",
    "/log/proof/inclusion",
    "/log/proof/consistency",
}


# -- fixtures ------------------------------------------------------------------------------


def fill(log: Log, batches: tuple[int, ...] = BATCHES) -> None:
    done = log.size()
    for n in batches:
        log.append([event(done + k) for k in range(n)], utc_now())
        done += n


def settings(data_dir: Path, **overrides: Any) -> Settings:
    overrides.setdefault("database_url", None)  # never an ALTAN_DATABASE_URL from outside
    return Settings(data_dir=data_dir, log_origin=ORIGIN, **overrides)


@contextmanager
def serve(cfg: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(cfg), raise_server_exceptions=False) as client:
        yield client


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    """The app on SQLite with SIZE entries appended through app.state.log; shared by the
    tests that only read (see `fresh_client` for the others)."""
    with serve(settings(tmp_path_factory.mktemp("api") / "data")) as c:
        fill(c.app.state.log)  # type: ignore[attr-defined]
        yield c


@pytest.fixture
def fresh_client(tmp_path: Path) -> Iterator[TestClient]:
    """Like `client`, for one test that changes the log or its keys."""
    with serve(settings(tmp_path / "data")) as c:
        fill(c.app.state.log)  # type: ignore[attr-defined]
        yield c


@pytest.fixture
def empty_client(tmp_path: Path) -> Iterator[TestClient]:
    with serve(settings(tmp_path / "data")) as c:
        yield c


def b64(text: str, size: int | None = None) -> bytes:
    raw = base64.b64decode(text, validate=True)
    assert base64.b64encode(raw).decode() == text, "base64 must be canonical, with padding"
    if size is not None:
        assert len(raw) == size
    return raw


def get_json(client: TestClient, url: str, **params: int) -> Any:
    resp = client.get(url, params=params)
    assert resp.status_code == 200, resp.text
    assert resp.headers["content-type"] == "application/json"
    return resp.json()


def verifiers(client: TestClient) -> list[NoteVerifier]:
    return [
        NoteVerifier.from_vkey(k["verifier_key"]) for k in get_json(client, "/log/keys")["keys"]
    ]


def checkpoint(client: TestClient) -> tuple[int, bytes]:
    cp, _ = open_checkpoint(client.get("/log/checkpoint").text, verifiers(client), ORIGIN)
    return cp.size, cp.root_hash


def all_entries(client: TestClient, size: int) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    while len(rows) < size:
        page = get_json(client, "/log/entries", start=len(rows), end=size)["entries"]
        assert page, "never zero entries while start < size"
        rows.extend(page)
    return rows


def leaves(client: TestClient, size: int) -> list[bytes]:
    return [b64(r["leaf_hash"], 32) for r in all_entries(client, size)]


def assert_problem(resp: Any, status: int, field: str | None) -> dict[str, Any]:
    assert resp.status_code == status, resp.text
    assert resp.headers["content-type"] == PROBLEM
    body = resp.json()
    assert {"type", "title", "status", "detail"} <= set(body)
    assert body["status"] == status
    assert body["type"].startswith("https://")
    assert isinstance(body["title"], str) and body["title"]
    assert isinstance(body["detail"], str) and body["detail"]
    assert body.get("field") == field, body
    return dict(body)


# -- /healthz ------------------------------------------------------------------------------


def test_healthz(client: TestClient) -> None:
    assert get_json(client, "/healthz") == {"status": "ok", "tree_size": SIZE}


def test_healthz_on_an_empty_log(empty_client: TestClient) -> None:
    assert get_json(empty_client, "/healthz") == {"status": "ok", "tree_size": 0}


# -- /log/keys -----------------------------------------------------------------------------


def check_key(k: dict[str, Any]) -> NoteVerifier:
    # DESIGN.md's five fields, plus the validity the key-rotation paragraph asks for.
    assert {"key_id", "verifier_key", "public_key", "algorithm", "status"} <= set(k)
    assert set(k) <= {"key_id", "verifier_key", "public_key", "algorithm", "status"} | {
        "not_before",
        "not_after",
    }
    assert re.fullmatch(r"[0-9a-f]{8}", k["key_id"])
    assert k["algorithm"] == "Ed25519"
    assert k["status"] in ("active", "retired")
    public = b64(k["public_key"], 32)
    Ed25519PublicKey.from_public_bytes(public)
    v = NoteVerifier.from_vkey(k["verifier_key"])
    assert v.name == ORIGIN
    assert v.key_id.hex() == k["key_id"]
    assert v.public_key == public
    typed = base64.b64encode(bytes([1]) + public).decode()
    assert k["verifier_key"] == f"{ORIGIN}+{k['key_id']}+{typed}"
    return v


def test_keys_exactly_as_designed(client: TestClient) -> None:
    body = get_json(client, "/log/keys")
    assert set(body) == {"keys"}
    assert len(body["keys"]) == 1
    (k,) = body["keys"]
    check_key(k)
    assert k["status"] == "active"
    assert k["not_after"] is None


def test_keys_after_rotation_keep_the_retired_key(fresh_client: TestClient) -> None:
    client = fresh_client
    runtime = client.app.state.runtime  # type: ignore[attr-defined]
    old = get_json(client, "/log/keys")["keys"][0]
    runtime.keystore.rotate(utc_now())
    runtime.log.initialise(runtime.keystore.keys(), utc_now())
    fill(runtime.log, (3,))

    keys = get_json(client, "/log/keys")["keys"]
    for k in keys:
        check_key(k)
    by_id = {k["key_id"]: k for k in keys}
    assert len(by_id) == 2
    assert by_id[old["key_id"]]["status"] == "retired"
    assert by_id[old["key_id"]]["not_after"] is not None
    (new_id,) = set(by_id) - {old["key_id"]}
    assert by_id[new_id]["status"] == "active"

    # The new checkpoint is signed by the new key; receipts by either key verify.
    _, signed_by = open_checkpoint(client.get("/log/checkpoint").text, verifiers(client))
    assert [v.key_id.hex() for v in signed_by] == [new_id]
    rows = all_entries(client, SIZE + 3)
    assert {r["key_id"] for r in rows} == {old["key_id"], new_id}
    for r in rows:
        public = Ed25519PublicKey.from_public_bytes(b64(by_id[r["key_id"]]["public_key"]))
        public.verify(b64(r["signature"], 64), RECEIPT_CONTEXT + b64(r["leaf_hash"], 32))


# -- /log/checkpoint -----------------------------------------------------------------------


def test_checkpoint_is_a_signed_note_opened_with_the_published_keys(client: TestClient) -> None:
    resp = client.get("/log/checkpoint")
    assert resp.status_code == 200
    assert resp.headers["content-type"] == "text/plain; charset=utf-8"
    assert resp.headers["cache-control"] == "no-cache"
    note = resp.text
    lines = note.split("\n")
    assert lines[0] == ORIGIN
    assert lines[1] == str(SIZE)
    assert lines[3] == ""
    assert lines[4].startswith(f"\u2014 {ORIGIN} ")
    assert note.endswith("\n")

    cp, signed_by = open_checkpoint(note, verifiers(client), ORIGIN)
    assert cp.size == SIZE
    assert b64(lines[2], 32) == cp.root_hash
    assert len(signed_by) == 1
    assert cp.root_hash == merkle_tree_hash(leaves(client, SIZE))


def test_checkpoint_of_an_empty_log(empty_client: TestClient) -> None:
    size, root = checkpoint(empty_client)
    assert size == 0
    assert root == merkle_tree_hash([])


def test_checkpoint_rejects_a_key_that_is_not_published(client: TestClient) -> None:
    stranger = NoteSigner(Ed25519PrivateKey.generate(), ORIGIN).verifier
    with pytest.raises(errors.UnknownKey):
        open_checkpoint(client.get("/log/checkpoint").text, [stranger])


# -- /log/entries --------------------------------------------------------------------------


def test_entries_wire_format(client: TestClient) -> None:
    keys = {k["key_id"]: k for k in get_json(client, "/log/keys")["keys"]}
    body = get_json(client, "/log/entries", start=0, end=SIZE)
    assert set(body) == {"entries"}
    rows = body["entries"]
    assert [r["index"] for r in rows] == list(range(SIZE))
    prev = ZERO_HASH
    for r in rows:
        assert set(r) == {"index", "entry", "leaf_hash", "key_id", "signature"}
        data = b64(r["entry"])
        leaf = b64(r["leaf_hash"], 32)
        assert leaf == hash_leaf(data)
        # RFC 8785 canonical bytes, with the fields DESIGN.md names.
        obj = json.loads(data)
        assert canonical_json(obj) == data
        assert {"v", "index", "prev", "time", "type", "actor", "body"} <= set(obj)
        assert obj["v"] == 1
        assert obj["index"] == r["index"]
        assert b64(obj["prev"], 32) == prev
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z", obj["time"])
        assert (obj["type"], obj["actor"]) == ("ore.delivered", "centre:zaamar")
        assert obj["body"] == dict(event(r["index"]).body)
        assert Entry.from_bytes(data).index == r["index"]
        # The receipt: Ed25519 over "altan/entry/v1\n" || leaf hash by a published key.
        assert r["key_id"] in keys
        public = Ed25519PublicKey.from_public_bytes(b64(keys[r["key_id"]]["public_key"], 32))
        public.verify(b64(r["signature"], 64), b"altan/entry/v1\n" + leaf)
        prev = leaf
    assert b64(rows[0]["entry"]).find(base64.b64encode(bytes(32))) > 0  # first prev: zeros


def test_entries_end_is_exclusive_and_clipped_to_the_size(client: TestClient) -> None:
    def indices(start: int, end: int) -> list[int]:
        return [
            r["index"] for r in get_json(client, "/log/entries", start=start, end=end)["entries"]
        ]

    assert indices(3, 5) == [3, 4]
    assert indices(0, 1) == [0]
    assert indices(SIZE - 1, SIZE) == [SIZE - 1]
    assert indices(30, 10_000) == list(range(30, SIZE))
    assert indices(SIZE - 1, 2**62) == [SIZE - 1]


def test_entries_cache_headers(client: TestClient) -> None:
    full = client.get("/log/entries", params={"start": 2, "end": 6})
    assert full.headers["cache-control"] == "public, max-age=31536000, immutable"
    # A page clipped at the log's size will grow: it must not be cached as final.
    clipped = client.get("/log/entries", params={"start": 30, "end": 40})
    assert len(clipped.json()["entries"]) == SIZE - 30
    assert "immutable" not in clipped.headers.get("cache-control", "")


def test_entries_page_cap_from_settings(tmp_path: Path) -> None:
    with serve(settings(tmp_path / "data", entries_page_max=5)) as c:
        fill(c.app.state.log)  # type: ignore[attr-defined]
        rows = get_json(c, "/log/entries", start=0, end=SIZE)["entries"]
        assert [r["index"] for r in rows] == [0, 1, 2, 3, 4]
        short = c.get("/log/entries", params={"start": 0, "end": SIZE})
        assert "immutable" not in short.headers.get("cache-control", "")
        # Never zero while start < size: every start gives its own entry first.
        for start in range(SIZE):
            page = get_json(c, "/log/entries", start=start, end=SIZE)["entries"]
            assert 1 <= len(page) <= 5
            assert page[0]["index"] == start
        assert len(all_entries(c, SIZE)) == SIZE


def test_entries_page_cap_from_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ALTAN_ENTRIES_PAGE_MAX", "4")
    cfg = settings(tmp_path / "data")
    assert cfg.entries_page_max == 4
    with serve(cfg) as c:
        fill(c.app.state.log)  # type: ignore[attr-defined]
        rows = get_json(c, "/log/entries", start=10, end=SIZE)["entries"]
        assert [r["index"] for r in rows] == [10, 11, 12, 13]


# -- proofs --------------------------------------------------------------------------------


def test_inclusion_proofs_verify_against_the_checkpoint(client: TestClient) -> None:
    size, root = checkpoint(client)
    hashes = leaves(client, size)
    for index in range(size):
        body = get_json(client, "/log/proof/inclusion", index=index, tree_size=size)
        assert set(body) == {"index", "tree_size", "hashes"}
        assert (body["index"], body["tree_size"]) == (index, size)
        verify_inclusion(hashes[index], index, size, [b64(h, 32) for h in body["hashes"]], root)
    # Smaller trees: the sizes of earlier checkpoints, and a few more.
    for tree_size in (1, 2, 7, 16, 17, 36):
        sub_root = merkle_tree_hash(hashes[:tree_size])
        for index in {0, tree_size // 2, tree_size - 1}:
            body = get_json(client, "/log/proof/inclusion", index=index, tree_size=tree_size)
            proof = [b64(h, 32) for h in body["hashes"]]
            verify_inclusion(hashes[index], index, tree_size, proof, sub_root)


def test_inclusion_proof_responses_are_immutable(client: TestClient) -> None:
    resp = client.get("/log/proof/inclusion", params={"index": 3, "tree_size": 8})
    assert resp.headers["cache-control"] == "public, max-age=31536000, immutable"


def test_consistency_proofs_verify_against_the_checkpoint(client: TestClient) -> None:
    size, root = checkpoint(client)
    hashes = leaves(client, size)
    for first in range(1, size + 1):
        body = get_json(client, "/log/proof/consistency", first=first, second=size)
        assert set(body) == {"first", "second", "hashes"}
        assert (body["first"], body["second"]) == (first, size)
        proof = [b64(h, 32) for h in body["hashes"]]
        verify_consistency(first, size, proof, merkle_tree_hash(hashes[:first]), root)
    assert get_json(client, "/log/proof/consistency", first=size, second=size)["hashes"] == []
    for first, second in [(1, 7), (7, 17), (1, 17), (16, 17), (3, 5), (8, 16)]:
        body = get_json(client, "/log/proof/consistency", first=first, second=second)
        proof = [b64(h, 32) for h in body["hashes"]]
        verify_consistency(
            first,
            second,
            proof,
            merkle_tree_hash(hashes[:first]),
            merkle_tree_hash(hashes[:second]),
        )


# -- the same happy path on every database -------------------------------------------------


def test_happy_path_on_database(database: Database, tmp_path: Path) -> None:
    url, schema = database_url(database)
    with serve(settings(tmp_path / "data", database_url=url)) as c:
        fill(c.app.state.log)  # type: ignore[attr-defined]
        assert get_json(c, "/healthz") == {"status": "ok", "tree_size": SIZE}
        for k in get_json(c, "/log/keys")["keys"]:
            check_key(k)
        size, root = checkpoint(c)
        assert size == SIZE
        rows = all_entries(c, SIZE)
        prev = ZERO_HASH
        for r in rows:
            data = b64(r["entry"])
            assert hash_leaf(data) == b64(r["leaf_hash"], 32)
            assert b64(json.loads(data)["prev"], 32) == prev
            prev = hash_leaf(data)
        hashes = [b64(r["leaf_hash"], 32) for r in rows]
        assert merkle_tree_hash(hashes) == root
        for index in (0, 16, SIZE - 1):
            body = get_json(c, "/log/proof/inclusion", index=index, tree_size=SIZE)
            verify_inclusion(hashes[index], index, SIZE, [b64(h) for h in body["hashes"]], root)
        for first in (1, 7, 17, SIZE):
            body = get_json(c, "/log/proof/consistency", first=first, second=SIZE)
            proof = [b64(h) for h in body["hashes"]]
            verify_consistency(first, SIZE, proof, merkle_tree_hash(hashes[:first]), root)
        assert_problem(c.get("/log/entries", params={"start": SIZE, "end": SIZE + 1}), 400, "start")
    # The rows really are where the URL said (for PostgreSQL: in the test's own schema).
    with database.engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM log_entries")).scalar() == SIZE
        if schema is not None:
            where = conn.execute(
                text("SELECT table_schema FROM information_schema.tables WHERE table_name = :t"),
                {"t": "log_entries"},
            ).scalars()
            assert schema in set(where)


# -- bad parameters: problem+json, 4xx, naming the field -----------------------------------

HUGE = 2**70
BAD: list[tuple[str, dict[str, Any], int, str]] = [
    # /log/entries
    ("/log/entries", {}, 422, "start"),
    ("/log/entries", {"end": 5}, 422, "start"),
    ("/log/entries", {"start": 0}, 422, "end"),
    ("/log/entries", {"start": "abc", "end": 5}, 422, "start"),
    ("/log/entries", {"start": 0, "end": "1.5"}, 422, "end"),
    ("/log/entries", {"start": "", "end": 5}, 422, "start"),
    ("/log/entries", {"start": -1, "end": 5}, 422, "start"),
    ("/log/entries", {"start": 0, "end": -5}, 422, "end"),
    ("/log/entries", {"start": 0, "end": 0}, 422, "end"),
    ("/log/entries", {"start": SIZE, "end": SIZE + 1}, 400, "start"),
    ("/log/entries", {"start": 1000, "end": 2000}, 400, "start"),
    ("/log/entries", {"start": 2**62 - 1, "end": 2**62}, 400, "start"),
    ("/log/entries", {"start": 5, "end": 5}, 400, "end"),
    ("/log/entries", {"start": 5, "end": 2}, 400, "end"),
    ("/log/entries", {"start": HUGE, "end": HUGE + 1}, 422, "start"),
    ("/log/entries", {"start": 0, "end": HUGE}, 422, "end"),
    # /log/proof/inclusion
    ("/log/proof/inclusion", {}, 422, "index"),
    ("/log/proof/inclusion", {"index": 0}, 422, "tree_size"),
    ("/log/proof/inclusion", {"tree_size": 5}, 422, "index"),
    ("/log/proof/inclusion", {"index": "x", "tree_size": 5}, 422, "index"),
    ("/log/proof/inclusion", {"index": 0, "tree_size": "1e3"}, 422, "tree_size"),
    ("/log/proof/inclusion", {"index": -1, "tree_size": 5}, 422, "index"),
    ("/log/proof/inclusion", {"index": 0, "tree_size": 0}, 422, "tree_size"),
    ("/log/proof/inclusion", {"index": 0, "tree_size": -3}, 422, "tree_size"),
    ("/log/proof/inclusion", {"index": SIZE, "tree_size": SIZE}, 400, "index"),
    ("/log/proof/inclusion", {"index": 5, "tree_size": 3}, 400, "index"),
    ("/log/proof/inclusion", {"index": 0, "tree_size": SIZE + 1}, 400, "tree_size"),
    ("/log/proof/inclusion", {"index": 0, "tree_size": 2**62}, 400, "tree_size"),
    ("/log/proof/inclusion", {"index": HUGE, "tree_size": SIZE}, 422, "index"),
    ("/log/proof/inclusion", {"index": 0, "tree_size": HUGE}, 422, "tree_size"),
    # /log/proof/consistency
    ("/log/proof/consistency", {}, 422, "first"),
    ("/log/proof/consistency", {"first": 1}, 422, "second"),
    ("/log/proof/consistency", {"second": 5}, 422, "first"),
    ("/log/proof/consistency", {"first": "one", "second": 5}, 422, "first"),
    ("/log/proof/consistency", {"first": 0, "second": 5}, 422, "first"),
    ("/log/proof/consistency", {"first": -1, "second": 5}, 422, "first"),
    ("/log/proof/consistency", {"first": 1, "second": 0}, 422, "second"),
    ("/log/proof/consistency", {"first": 6, "second": 5}, 400, "first"),
    ("/log/proof/consistency", {"first": 1, "second": SIZE + 1}, 400, "second"),
    ("/log/proof/consistency", {"first": SIZE + 1, "second": SIZE + 1}, 400, "second"),
    ("/log/proof/consistency", {"first": HUGE, "second": SIZE}, 422, "first"),
    ("/log/proof/consistency", {"first": 1, "second": HUGE}, 422, "second"),
]


@pytest.mark.parametrize(
    ("path", "params", "status", "field"),
    BAD,
    ids=[f"{p.removeprefix('/log/')}-{q}" for p, q, _, _ in BAD],
)
def test_bad_parameters_are_problems(
    client: TestClient, path: str, params: dict[str, Any], status: int, field: str
) -> None:
    body = assert_problem(client.get(path, params=params), status, field)
    slug = "validation-error" if status == 422 else "out-of-range"
    assert body["type"] == problems.PROBLEM_BASE + slug
    if status == 422:
        assert body["errors"][0]["field"] == field


ODD = [
    *("1.0", " 1", "1 ", "+1", "0x10", "1_000", "%00", "NaN", "inf", "1e999", "9" * 400),
    *("\u0661", "\u00b2"),  # ARABIC-INDIC DIGIT ONE, SUPERSCRIPT TWO
]


@pytest.mark.parametrize("value", ODD)
@pytest.mark.parametrize(
    ("path", "name", "other"),
    [
        ("/log/entries", "start", {"end": 5}),
        ("/log/entries", "end", {"start": 0}),
        ("/log/proof/inclusion", "index", {"tree_size": 5}),
        ("/log/proof/inclusion", "tree_size", {"index": 0}),
        ("/log/proof/consistency", "first", {"second": 5}),
        ("/log/proof/consistency", "second", {"first": 1}),
    ],
)
def test_odd_numbers_are_never_server_errors(
    client: TestClient, path: str, name: str, other: dict[str, int], value: str
) -> None:
    resp = client.get(path, params={name: value, **other})
    assert resp.status_code < 500, resp.text
    if resp.status_code == 422:  # not a number: the problem names this parameter
        assert_problem(resp, 422, name)
    elif resp.status_code >= 400:  # a number ("1_000"), but out of range here
        assert resp.headers["content-type"] == PROBLEM
        assert resp.json()["field"] in {name, *other}


def test_an_empty_log_has_no_entries_or_proofs(empty_client: TestClient) -> None:
    assert_problem(empty_client.get("/log/entries?start=0&end=1"), 400, "start")
    assert_problem(empty_client.get("/log/proof/inclusion?index=0&tree_size=1"), 400, "tree_size")
    assert_problem(empty_client.get("/log/proof/consistency?first=1&second=1"), 400, "second")


def test_unknown_route_is_a_problem(client: TestClient) -> None:
    body = assert_problem(client.get("/log/nothing-here"), 404, None)
    assert body["type"] == problems.PROBLEM_BASE + "not-found"
    assert_problem(client.get("/nothing-here"), 404, None)  # "/" is the console's landing page


def test_wrong_method_is_a_problem(client: TestClient) -> None:
    resp = client.post("/log/checkpoint", content=b"x")
    assert_problem(resp, 405, None)
    assert resp.headers["allow"] == "GET"


# -- the error table -----------------------------------------------------------------------


def ledger_error_classes() -> list[type[errors.LedgerError]]:
    """Every LedgerError subclass, once every ledger module is imported."""
    for mod in pkgutil.walk_packages(ledger.__path__, "ledger."):
        importlib.import_module(mod.name)
    found: list[type[errors.LedgerError]] = []
    todo: list[type[errors.LedgerError]] = [errors.LedgerError]
    while todo:
        cls = todo.pop()
        if cls not in found:
            found.append(cls)
            todo.extend(cls.__subclasses__())
    return found


def test_every_ledger_error_has_its_own_problem_type() -> None:
    classes = ledger_error_classes()
    assert len(classes) > 10
    missing = [f"{c.__module__}.{c.__qualname__}" for c in classes if c not in problems.ERROR_TABLE]
    assert missing == [], f"add these to services.problems.ERROR_TABLE: {missing}"
    slugs = [kind.slug for kind in problems.ERROR_TABLE.values()]
    assert len(slugs) == len(set(slugs)), "each problem type needs its own slug"
    for kind in problems.ERROR_TABLE.values():
        assert 400 <= kind.status < 600
        assert re.fullmatch(r"[a-z]+(-[a-z]+)*", kind.slug)
        assert kind.title


def _instance(cls: type[errors.LedgerError]) -> errors.LedgerError:
    if issubclass(cls, errors.RootMismatch):
        return cls(bytes(32), bytes([1]) * 32)
    if issubclass(cls, errors.OriginMismatch):
        return cls("a.example/log", "b.example/log")
    if issubclass(cls, CertificateInvalid):
        return cls(CertificateFailure.BAD_SIGNATURE, "something specific went wrong")
    return cls("something specific went wrong", field="start")


def test_every_ledger_error_renders_as_its_problem() -> None:
    app = FastAPI()
    problems.install(app)
    classes = {c.__name__: c for c in ledger_error_classes()}

    @app.get("/raise/{name}")
    def _raise(name: str) -> None:
        raise _instance(classes[name])

    with TestClient(app, raise_server_exceptions=False) as c:
        for name, cls in classes.items():
            kind = problems.ERROR_TABLE[cls]
            exc = _instance(cls)
            resp = c.get(f"/raise/{name}")
            body = assert_problem(resp, kind.status, getattr(exc, "field", None))
            assert body["type"] == problems.PROBLEM_BASE + kind.slug
            assert body["title"] == kind.title
            if kind.status < 500:
                assert body["detail"] == str(exc)
            else:  # no internals leak from server-side failures
                assert "something specific" not in body["detail"]


# -- OpenAPI -------------------------------------------------------------------------------


def test_openapi_documents_the_auditor_api_fully(client: TestClient) -> None:
    doc = get_json(client, "/openapi.json")
    assert LOG_PATHS | {"/healthz"} <= set(doc["paths"])
    assert doc["info"]["description"].strip()
    auditor_paths = {p: ops for p, ops in doc["paths"].items() if p in LOG_PATHS | {"/healthz"}}
    for path, ops in auditor_paths.items():
        assert set(ops) == {"get"}, path
        op = ops["get"]
        assert op.get("summary", "").strip(), f"{path}: no summary"
        assert op.get("description", "").strip(), f"{path}: no description"
        for param in op.get("parameters", []):
            assert param["in"] == "query"
            assert param["required"] is True
            assert param.get("description", "").strip(), f"{path} {param['name']}: no description"
            assert param["schema"].get("examples") or param.get("example") is not None
        ok = op["responses"]["200"]
        assert ok.get("description", "").strip()
        (media_type,) = ok["content"]
        media = ok["content"][media_type]
        assert "example" in media or "examples" in media, f"{path}: no response example"
        if path == "/log/checkpoint":
            assert media_type == "text/plain"
        else:
            assert media_type == "application/json"
        if op.get("parameters"):
            for status in ("400", "422"):
                assert op["responses"][status]["description"].strip(), f"{path} {status}"
    params = {
        path: [p["name"] for p in doc["paths"][path]["get"].get("parameters", [])]
        for path in auditor_paths
    }
    assert params["/log/entries"] == ["start", "end"]
    assert params["/log/proof/inclusion"] == ["index", "tree_size"]
    assert params["/log/proof/consistency"] == ["first", "second"]
    assert params["/log/checkpoint"] == params["/log/keys"] == params["/healthz"] == []


def test_openapi_examples_are_real_and_verify(client: TestClient) -> None:
    """The documented examples come from one real log: they must verify, not just look right."""
    paths = get_json(client, "/openapi.json")["paths"]

    def example(path: str, media_type: str = "application/json") -> Any:
        return paths[path]["get"]["responses"]["200"]["content"][media_type]["example"]

    (key,) = example("/log/keys")["keys"]
    verifier = check_key_example(key)
    cp, _ = open_checkpoint(example("/log/checkpoint", "text/plain"), [verifier])
    (row,) = example("/log/entries")["entries"]
    data = b64(row["entry"])
    assert hash_leaf(data) == b64(row["leaf_hash"], 32)
    assert canonical_json(json.loads(data)) == data
    assert Entry.from_bytes(data).prev == ZERO_HASH
    assert row["key_id"] == key["key_id"]
    assert verifier.verify(RECEIPT_CONTEXT + hash_leaf(data), b64(row["signature"], 64))
    inclusion = example("/log/proof/inclusion")
    assert inclusion["tree_size"] == cp.size
    consistency = example("/log/proof/consistency")
    assert consistency["second"] == cp.size


def check_key_example(key: dict[str, Any]) -> NoteVerifier:
    verifier = NoteVerifier.from_vkey(key["verifier_key"])
    assert verifier.key_id.hex() == key["key_id"]
    assert verifier.public_key == b64(key["public_key"], 32)
    assert (key["algorithm"], key["status"]) == ("Ed25519", "active")
    return verifier
