"""Problems a centre clerk can read (issue 11, finding 10), through real HTTP on SQLite and
PostgreSQL.

Before: titles like "Invalid string pattern mismatch" and pydantic's messages with raw
regular expressions in `detail`; only the first of several mistakes reported; a failed
atomic batch answered 200. Now every problem lists all its mistakes in `errors` (field,
JSON pointer, stable rule, plain detail) in English or, for `Accept-Language: mn`, in
Mongolian; a failed atomic batch is a 422 problem listing each item, with nothing
appended; and a bad body without a valid token is a 401 (the token is checked first).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel

from schemas import api as api_schemas
from schemas import log as log_schemas
from schemas import witnesses as witness_schemas
from schemas.events import EVENT_BODIES
from services.problem_texts import FIELD_RULES, PATTERNS, RULES, negotiate
from support.domain import WHEN
from support.roles import MAY_RECORD, ROLES
from support.world import CENTRE, DATABASES, MINER, World, delivery, populated

# What must never reach a reader: regular-expression syntax and pydantic's own wording.
REGEX_OR_INTERNALS = re.compile(
    r"[\^\[\]]|\$|\\d|\\w|\{\d|\(\?|String should|Input should|Field required|Value error"
    r"|Extra inputs|errors\.pydantic|valid integer|model_type"
)
CYRILLIC = re.compile("[\u0400-\u04ff]")


@pytest.fixture(scope="module", params=DATABASES)
def world(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[World]:
    with populated(Path(tmp_path_factory.mktemp("problems")), request.param) as w:
        yield w


def post(world: World, actor: str, payload: dict[str, Any], lang: str | None = None) -> Any:
    extra = {"Accept-Language": lang} if lang else {}
    return world.api.client.post("/events", json=payload, headers=world.api.headers(actor, **extra))


def texts(problem: dict[str, Any]) -> list[str]:
    """Every text of a problem a person reads: title, detail, each error's, each item's."""
    out = [problem["title"], problem["detail"]]
    out += [e["detail"] for e in problem.get("errors") or []]
    for result in problem.get("results") or []:
        if "problem" in result:
            out += texts(result["problem"])
    return out


def assert_readable(problem: dict[str, Any], lang: str = "en") -> None:
    for text in texts(problem):
        assert not REGEX_OR_INTERNALS.search(text), (text, problem)
        if lang == "mn":
            assert CYRILLIC.search(text), (text, problem)


# A delivery with five mistakes: a lot id with a space, a mass in words, no site, an
# unknown field and a day that does not exist.
FIVE_MISTAKES = {
    "type": "ore.delivered",
    "body": {
        "occurred_at": WHEN,
        "lot": "ORE 7",
        "miner": MINER,
        "mass_g": "two tonnes",
        "mined_on": "2026-02-30",
        "colour": "yellow",
    },
}


def test_every_mistake_of_a_body_is_listed(world: World) -> None:
    before = world.api.size()
    resp = post(world, CENTRE, FIVE_MISTAKES)
    world.refused(resp, 422, "invalid-string-pattern-mismatch", "body.lot")
    problem = resp.json()
    assert problem["title"] == "Invalid request"  # not "Invalid string pattern mismatch"
    found = {(e["field"], e["rule"]) for e in problem["errors"]}
    assert found == {
        ("body.lot", "string-pattern-mismatch"),
        ("body.site", "missing"),
        ("body.mass_g", "int-type"),
        ("body.mined_on", "date"),
        ("body.colour", "extra-forbidden"),
    }, problem
    pointers = {e["field"]: e["pointer"] for e in problem["errors"]}
    assert pointers["body.mass_g"] == "#/body/mass_g"
    assert problem["detail"].startswith("5 mistakes in the request")
    lot = next(e for e in problem["errors"] if e["field"] == "body.lot")
    assert "like ORE-2026-000123" in lot["detail"]  # the form, in words, with an example
    day = next(e for e in problem["errors"] if e["field"] == "body.mined_on")
    assert "not a real date" in day["detail"]
    assert_readable(problem)
    assert resp.headers["content-language"] == "en"
    assert world.api.size() == before


@pytest.mark.parametrize(
    "header", ["mn", "mn-MN", "mn-Cyrl-MN,en;q=0.5", "en;q=0.3, mn;q=0.9", "MN"]
)
def test_accept_language_mn_words_the_problem_in_mongolian(world: World, header: str) -> None:
    resp = post(world, CENTRE, FIVE_MISTAKES, lang=header)
    problem = resp.json()
    assert resp.status_code == 422
    assert resp.headers["content-language"] == "mn"
    assert "Accept-Language" in resp.headers["vary"]
    assert problem["type"].endswith("/invalid-string-pattern-mismatch")  # the contract stays
    assert problem["title"] == "Хүсэлт буруу байна"
    assert problem["detail"].startswith("Хүсэлтэд 5 алдаа байна")
    by_field = {e["field"]: e["detail"] for e in problem["errors"]}
    assert by_field["body.site"] == "body.site (Талбай): заавал бөглөх ёстой"
    assert "Жин" in by_field["body.mass_g"]  # the certificate pages' word for mass
    assert_readable(problem, "mn")


@pytest.mark.parametrize("header", [None, "", "en", "fr-FR", "*", "mn;q=0", "de, en;q=0.1"])
def test_english_without_a_mongolian_preference(world: World, header: str | None) -> None:
    resp = post(world, CENTRE, FIVE_MISTAKES, lang=header)
    assert resp.headers["content-language"] == "en"
    assert resp.json()["title"] == "Invalid request"


def test_refusals_of_the_rules_are_in_mongolian_too(world: World) -> None:
    # a domain rule: the Mongolian sentence, then the service's own specifics
    resp = post(
        world,
        CENTRE,
        {"type": "ore.delivered", "body": {"occurred_at": WHEN, **delivery("ORE-1")}},
        lang="mn",
    )
    world.refused(resp, 409, "lot-exists", "body.lot")
    problem = resp.json()
    assert problem["detail"].startswith("Ийм дугаартай багц аль хэдийн бүртгэгдсэн")
    assert "ORE-1" in problem["detail"]
    assert problem["errors"] == [
        {
            "field": "body.lot",
            "pointer": "#/body/lot",
            "rule": "lot-exists",
            "detail": problem["detail"],
        }
    ]
    # a query parameter of a read: every mistake, no pointer (not in a body)
    resp = world.api.client.get(
        "/cases",
        params={"limit": "many", "status": "lost"},
        headers=world.api.headers("admin:root", **{"Accept-Language": "mn"}),
    )
    problem = resp.json()
    assert resp.status_code == 422, problem
    assert {e["field"] for e in problem["errors"]} == {"limit", "status"}
    assert all("pointer" not in e for e in problem["errors"])
    assert_readable(problem, "mn")
    # a path that does not exist, and the token checked before the body
    assert post(world, "admin:root", {}, lang="mn").json()["title"] != "Invalid request"
    resp = world.api.client.post("/events", json={}, headers={"Accept-Language": "mn"})
    assert resp.status_code == 401
    assert resp.json()["title"].startswith("Нэвтэрнэ үү")
    assert_readable(resp.json(), "mn")


# -- no regular expression, no pydantic wording, for a battery of bad inputs --------------

FILLERS: list[Any] = ["bad value!", "", [], {}, -1, 10**30, True, 1.5, None, "x" * 3000]


def _who(type_: str) -> str | None:
    roles = sorted(MAY_RECORD.get(type_, ()))
    return ROLES[roles[0]] if roles else None


def battery() -> Iterator[tuple[str, dict[str, Any]]]:
    """(actor, payload): every event type's body with each field given each wrong filler,
    an empty body, and the envelope's own mistakes."""
    for type_, model in sorted(EVENT_BODIES.items()):
        who = _who(type_)
        if who is None:
            continue
        yield who, {"type": type_, "body": {}}
        for filler in FILLERS:
            body = dict.fromkeys(model.model_fields, filler)
            yield who, {"type": type_, "body": body}
    yield CENTRE, {"type": 7, "body": [], "private": "x", "signature": {"key_id": "XYZ"}}
    yield CENTRE, {"kind": "ore.delivered"}


def test_no_detail_shows_a_regex_or_pydantic_wording(world: World) -> None:
    before = world.api.size()
    seen: set[str] = set()
    for lang in ("en", "mn"):
        for who, payload in battery():
            resp = post(world, who, payload, lang=lang)
            assert 400 <= resp.status_code < 500, (payload, resp.text)
            problem = resp.json()
            assert_readable(problem, lang)
            assert problem["errors"], problem
            for e in problem["errors"]:
                seen.add(e["rule"])
                # each kind of mistake has its own sentence, not the fallback
                assert "see the field's example" not in e["detail"], e
                assert e["rule"] in FIELD_RULES or e["rule"] in RULES, e
    assert world.api.size() == before
    # the battery reached the kinds of mistakes the issue names
    assert {"string-pattern-mismatch", "string-too-long", "missing", "int-type"} <= seen, seen
    assert {"bool-type", "date-time", "literal-error", "extra-forbidden"} <= seen, seen


# -- batches ----------------------------------------------------------------------------------


def item(body: dict[str, Any], key: str | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {"type": "ore.delivered", "body": {"occurred_at": WHEN, **body}}
    if key is not None:
        out["idempotency_key"] = key
    return out


def test_a_failed_atomic_batch_is_a_problem_listing_each_item(world: World) -> None:
    before = world.api.size()
    new = world.next("ORE")
    items = [
        item(delivery(new)),  # fine on its own
        item({**delivery(world.next("ORE")), "mass_g": 0, "site": "no site!"}),  # two mistakes
        item(delivery("ORE-1")),  # already recorded
    ]
    resp = world.api.client.post(
        "/events/batch",
        json={"items": items, "atomic": True},
        headers=world.api.headers(CENTRE),
    )
    world.refused(resp, 422, "batch-failed")
    problem = resp.json()
    assert {(e["field"], e["rule"]) for e in problem["errors"]} == {
        ("items.1.body.mass_g", "greater-than"),
        ("items.1.body.site", "string-pattern-mismatch"),
        ("items.2.body.lot", "lot-exists"),
    }, problem
    assert {e["pointer"] for e in problem["errors"]} >= {"#/items/1/body/mass_g"}
    assert (problem["recorded"], problem["failed"]) == (0, 3)
    assert [r["status"] for r in problem["results"]] == [422, 422, 409]
    assert problem["results"][0]["problem"]["type"].endswith("/batch-aborted")
    assert len(problem["results"][1]["problem"]["errors"]) == 2
    assert_readable(problem)
    # nothing appended, the valid item's lot does not exist
    assert world.api.size() == before
    assert (
        world.api.client.get(f"/lots/{new}", headers=world.api.headers(CENTRE)).status_code == 404
    )
    # the same batch, not atomic: the valid item is recorded, each other one answered
    resp = world.api.client.post(
        "/events/batch",
        json={"items": items},
        headers=world.api.headers(CENTRE, **{"Accept-Language": "mn"}),
    )
    out = resp.json()
    assert resp.status_code == 200, out
    assert [r["status"] for r in out["results"]] == [201, 422, 409]
    assert len(out["results"][1]["problem"]["errors"]) == 2
    assert_readable(out["results"][1]["problem"], "mn")
    assert world.api.size() > before  # the delivery (and its receipt)
    assert (
        world.api.client.get(f"/lots/{new}", headers=world.api.headers(CENTRE)).status_code == 200
    )


def test_an_atomic_batch_refused_before_the_log_is_a_problem_too(world: World) -> None:
    # one Idempotency-Key for two different items: refused by the route itself
    before = world.api.size()
    items = [
        item(delivery(world.next("ORE")), key="same-key"),
        item(delivery(world.next("ORE")), key="same-key"),
    ]
    resp = world.api.client.post(
        "/events/batch",
        json={"items": items, "atomic": True},
        headers=world.api.headers(CENTRE),
    )
    world.refused(resp, 422, "batch-failed", "items.1.idempotency_key")
    problem = resp.json()
    assert [r["status"] for r in problem["results"]] == [422, 409]
    assert world.api.size() == before


def test_the_sdk_raises_the_failed_atomic_batch(world: World) -> None:
    from clients.sdk import AltanClient, RuleViolation

    client = AltanClient(
        "http://testserver",
        world.api.tokens[CENTRE],
        transport=world.api.client._transport,
        backoff=0,
    )
    before = world.api.size()
    with pytest.raises(RuleViolation) as raised:
        client.record_batch(
            [item(delivery(world.next("ORE"))), item(delivery("ORE-1"))], atomic=True
        )
    assert raised.value.rule == "batch-failed"
    assert [r["status"] for r in raised.value.problem["results"]] == [422, 409]
    assert world.api.size() == before


# -- the token before the body ----------------------------------------------------------------

WRITES = [
    ("POST", "/events"),
    ("POST", "/events/batch"),
    ("POST", f"/actors/{MINER}/tokens"),
    ("DELETE", "/tokens/some-token"),
    ("POST", f"/actors/{MINER}/personal/erasure"),
]
BAD_BODIES = [b"{not json", b'{"type": 7, "body": "x", "extra": [1, 2]}', b"\xff\xfe{", b"[" * 5000]


@pytest.mark.parametrize(("method", "path"), WRITES)
def test_a_bad_body_without_a_valid_token_is_401(world: World, method: str, path: str) -> None:
    before = world.api.size()
    for token in (None, "not-a-token"):
        for raw in BAD_BODIES:
            headers = {"Content-Type": "application/json"}
            if token is not None:
                headers["Authorization"] = f"Bearer {token}"
            resp = world.api.client.request(method, path, content=raw, headers=headers)
            assert resp.status_code == 401, (method, path, raw[:20], resp.text)
            problem = resp.json()
            assert [e["rule"] for e in problem["errors"]] == [
                "missing-token" if token is None else "bad-token"
            ]
            assert resp.headers["www-authenticate"] == "Bearer"
    assert world.api.size() == before


def test_reads_with_a_bad_query_still_answer_422_or_401(world: World) -> None:
    # with a token: every mistake of the query listed
    resp = world.api.client.get(
        "/cases", params={"limit": 0}, headers=world.api.headers("admin:root")
    )
    assert resp.status_code == 422
    assert resp.json()["errors"][0] == {
        "field": "limit",
        "rule": "greater-than-equal",
        "detail": "limit: must be 1 or more",
    }
    # without one: the token is what is wrong
    assert world.api.client.get("/cases", params={"limit": 0}).status_code == 401
    # a public read: its query's mistakes
    resp = world.api.client.get("/log/proof/consistency", params={"first": "x", "second": 0})
    assert resp.status_code == 422
    assert [e["field"] for e in resp.json()["errors"]] == ["first", "second"]


# -- the glossary -------------------------------------------------------------------------------


def test_language_negotiation() -> None:
    assert negotiate(None) == "en"
    assert negotiate("mn") == negotiate("mn-MN") == negotiate("MN-cyrl") == "mn"
    assert negotiate("en-GB, mn;q=0.8") == "en"
    assert negotiate("ru, mn;q=0.8, en;q=0.7") == "mn"
    assert negotiate("mn;q=0, en") == "en"
    assert negotiate("mn;q=abc") == "en"
    assert negotiate("*;q=0.5, mn;q=0.4") == "en"


def _patterns(schema: Any) -> Iterator[str]:
    if isinstance(schema, dict):
        if isinstance(schema.get("pattern"), str):
            yield schema["pattern"]
        for value in schema.values():
            yield from _patterns(value)
    elif isinstance(schema, list):
        for value in schema:
            yield from _patterns(value)


def test_every_pattern_of_the_schemas_is_said_in_words() -> None:
    models: list[type[BaseModel]] = list(EVENT_BODIES.values())
    for module in (api_schemas, log_schemas, witness_schemas):
        models += [
            m
            for m in vars(module).values()
            if isinstance(m, type) and issubclass(m, BaseModel) and m is not BaseModel
        ]
    found = {p for m in models for p in _patterns(m.model_json_schema())}
    assert found, "no pattern found: the walk is broken"
    assert found <= set(PATTERNS), found - set(PATTERNS)


def test_the_glossary_is_complete_and_plain_in_both_languages() -> None:
    for name, table in (("FIELD_RULES", FIELD_RULES), ("PATTERNS", PATTERNS), ("RULES", RULES)):
        for key, words in table.items():
            for text in (words.en, words.mn):
                assert text and not REGEX_OR_INTERNALS.search(text), (name, key, text)
            assert CYRILLIC.search(words.mn), (name, key)
            assert not CYRILLIC.search(words.en), (name, key)
