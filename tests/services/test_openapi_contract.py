"""The published contract of `POST /events` (issue 11, finding 12).

`/openapi.json` must show every event body of `schemas/events.py` under a union
discriminated by `type`, each with an example; every example must validate against its own
published schema, and the examples, posted in order through the real HTTP app on a fresh
log, must each be accepted (201), so that they cannot rot. Publishing the contract must not
change what the server accepts: an unknown type is still a 404, a role's type a 403, before
any body rule (422).
"""

from __future__ import annotations

import copy
from typing import Any

import pytest
from jsonschema import Draft202012Validator
from pydantic import ValidationError

import support.openapi as openapi_fixtures
from schemas.event_contract import (
    PRIVATE_DATA,
    SCENARIO,
    SYSTEM_EXAMPLES,
    SYSTEM_ONLY,
    Example,
    examples_by_type,
    request_models,
)
from schemas.events import EVENT_BODIES
from services.domains import HANDLERS
from support.domain import Api, running_api
from support.openapi import Player

# The fixtures shared through support.openapi, taken by this module's tests.
api = openapi_fixtures.api

SCHEMAS = "#/components/schemas/"


@pytest.fixture(scope="module")
def spec(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The document as a client fetches it, over HTTP."""
    with running_api(tmp_path_factory.mktemp("openapi")) as api:
        resp = api.client.get("/openapi.json")
        assert resp.status_code == 200
        document: dict[str, Any] = resp.json()
        return document


def validator(spec: dict[str, Any], name: str) -> Draft202012Validator:
    """A JSON Schema 2020-12 validator of the component `name`, resolving the document's
    `$ref`s (OpenAPI 3.1 schemas are JSON Schema 2020-12)."""
    root = {"$ref": SCHEMAS + name, "components": spec["components"]}
    return Draft202012Validator(root, format_checker=Draft202012Validator.FORMAT_CHECKER)


def resolve(spec: dict[str, Any], ref: str) -> dict[str, Any]:
    assert ref.startswith(SCHEMAS), ref
    found: dict[str, Any] = spec["components"]["schemas"][ref.removeprefix(SCHEMAS)]
    return found


# --- the document ----------------------------------------------------------------------------


def test_every_event_type_is_in_the_discriminated_union(spec: dict[str, Any]) -> None:
    """Before: `body` was `{"type": "object", "additionalProperties": true}`."""
    union = spec["components"]["schemas"]["EventIn"]
    assert union["discriminator"]["propertyName"] == "type"
    mapping = union["discriminator"]["mapping"]
    assert set(mapping) == set(EVENT_BODIES)
    assert sorted(v["$ref"] for v in union["oneOf"]) == sorted(mapping.values())
    for type_, ref in mapping.items():
        variant = resolve(spec, ref)
        assert variant["properties"]["type"]["const"] == type_
        assert variant["required"] == ["type", "body"]
        assert variant["additionalProperties"] is False
        body = resolve(spec, variant["properties"]["body"]["$ref"])
        # every field of the body model is published, with what it requires
        model = EVENT_BODIES[type_]
        assert set(body["properties"]) == set(model.model_fields), type_
        assert set(body.get("required", [])) == {
            name for name, field in model.model_fields.items() if field.is_required()
        }
        assert body["additionalProperties"] is False
        # each with an example of its own type
        assert variant["examples"], type_
        assert all(e["type"] == type_ for e in variant["examples"])
        assert ("private" in variant["properties"]) == (type_ in PRIVATE_DATA)
    # both entry points take the union
    single = spec["paths"]["/events"]["post"]["requestBody"]["content"]["application/json"]
    assert single["schema"] == {"$ref": SCHEMAS + "EventIn"}
    batch = spec["components"]["schemas"]["BatchIn"]["properties"]["items"]
    assert batch["items"] == {"$ref": SCHEMAS + "EventIn"}
    # and /docs has one named example per example a client may post
    named = single["examples"]
    assert len(named) == len(SCENARIO)
    assert {e["value"]["type"] for e in named.values()} == set(EVENT_BODIES) - SYSTEM_ONLY


def test_commitments_and_salts_are_published(spec: dict[str, Any]) -> None:
    """Prices and personal data: the commitment in the body, the data and salt beside it."""
    components = spec["components"]["schemas"]
    offered = components["TransferOffered"]["properties"]["price_commitment"]["anyOf"][0]
    assert offered["pattern"] == "^[0-9a-f]{64}$" and "SHA-256" in offered["description"]
    price = components["PricePrivate"]
    assert set(price["properties"]) == {"price", "salt"}
    assert price["properties"]["salt"]["pattern"] == "^[0-9a-f]{64}$"
    assert set(components["Price"]["properties"]) == {"amount", "currency", "note"}
    assert set(components["PersonalPrivate"]["properties"]) == {"personal", "salt"}


def test_the_contract_matches_the_rules() -> None:
    """What the document says of private data and system-only types is what the server
    does (its handlers), and every type has a handler."""
    assert set(HANDLERS) == set(EVENT_BODIES)
    assert set(PRIVATE_DATA) == {t for t, h in HANDLERS.items() if h.store_private is not None}
    assert set(SYSTEM_ONLY) == {t for t, h in HANDLERS.items() if not h.roles}
    assert all(examples_by_type().values())


def test_every_example_validates_against_its_own_schema(spec: dict[str, Any]) -> None:
    """Each example, against its variant's published schema, the whole union, and the
    pydantic models the server checks bodies with; and not against another type's."""
    union = validator(spec, "EventIn")
    mapping = spec["components"]["schemas"]["EventIn"]["discriminator"]["mapping"]
    models = request_models()
    for type_, examples in examples_by_type().items():
        own = validator(spec, mapping[type_].removeprefix(SCHEMAS))
        for example in examples:
            request = example.request
            assert list(own.iter_errors(request)) == [], (type_, request)
            assert list(union.iter_errors(request)) == [], (type_, request)
            models[type_].model_validate(request)
            EVENT_BODIES[type_].model_validate(request["body"])
            if type_ in PRIVATE_DATA and "private" in request:
                PRIVATE_DATA[type_].model_validate(request["private"])
            other = next(t for t in EVENT_BODIES if t != type_ and t in mapping)
            with pytest.raises(ValidationError):
                models[other].model_validate({**request, "type": other})


def test_published_examples_are_the_scenario(spec: dict[str, Any]) -> None:
    """The document shows the very examples the scenario below posts."""
    schemas = spec["components"]["schemas"]
    mapping = schemas["EventIn"]["discriminator"]["mapping"]
    for type_, examples in examples_by_type().items():
        published = resolve(spec, mapping[type_])["examples"]
        assert published == [e.request for e in examples]


# --- the scenario, through the real server ----------------------------------------------------


def _as_played(player: Player, example: Example) -> dict[str, Any]:
    """The example's request with the two values no example can know beforehand: the
    index of the entry a correction corrects and the id of a certificate (the hash of a
    token signed at issue time)."""
    request = copy.deepcopy(example.request)
    body = request["body"]
    if example.type == "correction.recorded":
        body["corrects"] = player.index_of("ore.delivered", lot="ORE-TUUL-0002")
    if example.type == "certificate.revoked":
        resp = player.api.client.get("/lots/AU-TUUL-0001/certificates", headers=player.headers())
        assert resp.status_code == 200, resp.text
        body["certificate"] = resp.json()["certificates"][-1]["id"]  # the first issued
    return request


@pytest.mark.parametrize("batch", [False, True], ids=["one-by-one", "one-batch-per-actor-run"])
def test_the_examples_are_accepted_in_order(api: Api, batch: bool) -> None:
    """Every example of every type a client may post is recorded (201) in scenario order,
    through the real HTTP app, on SQLite and PostgreSQL; the system's example has the
    shape of what the system records."""
    player = Player(api)
    if not batch:
        for example in SCENARIO:
            player.post(example.actor, _as_played(player, example))
    else:
        # the same examples as items of POST /events/batch (atomic), one batch per run of
        # consecutive steps by one actor: the batch's items take the same union
        runs: list[list[Example]] = []
        for example in SCENARIO:
            # a step that names an earlier one's result starts a batch of its own
            late = example.type in ("correction.recorded", "certificate.revoked")
            if runs and runs[-1][0].actor == example.actor and not late:
                runs[-1].append(example)
            else:
                runs.append([example])
        for run in runs:
            items = [_as_played(player, e) for e in run]
            resp = api.client.post(
                "/events/batch",
                json={"items": items, "atomic": True},
                headers=player.headers(run[0].actor),
            )
            assert resp.status_code == 200, resp.text
            out = resp.json()
            assert out["failed"] == 0, out
            for item, result in zip(items, out["results"], strict=True):
                player.receipts.append((item, result["recorded"]))
    types = {request["type"] for request, _ in player.receipts}
    assert types == set(EVENT_BODIES) - SYSTEM_ONLY
    # the system answered the certificate request as its example shows
    (issued_example,) = SYSTEM_EXAMPLES
    issued = player.entries("certificate.issued")
    requested = player.index_of("certificate.requested", lot="AU-TUUL-0001")
    (answer,) = [e for e in issued if e["body"]["entry"] == requested]
    assert answer["actor"] == "system:altan"
    assert set(answer["body"]) == set(issued_example.request["body"])
    assert {k: answer["body"][k] for k in ("lot", "kind")} == {
        k: issued_example.request["body"][k] for k in ("lot", "kind")
    }
    # what the examples say happened, happened
    lot = api.client.get("/lots/AU-TUUL-0003", headers=player.headers()).json()
    assert lot["custodian"] == "buyer:mongolbank" and lot["status"] == "refined"


def test_publishing_changed_no_answer(api: Api) -> None:
    """The union is documentation: the server still checks the type (404), then the role
    (403), then the body (422), as before, and an item off the schema is still refused the
    same way."""
    player = Player(api)
    body = {"occurred_at": "2026-09-14T10:12:00+08:00", "lot": "X"}
    cases = [
        ({"type": "ore.teleported", "body": body}, 404, "unknown-event-type"),
        ({"type": "certificate.issued", "body": {}}, 403, "role-not-allowed"),
        ({"type": "ore.delivered", "body": {"lot": 1}}, 403, "role-not-allowed"),
        ({"type": "actor.registered", "body": {"actor": "x:y"}}, 422, "invalid-missing"),
    ]
    before = api.size()
    for request, status, rule in cases:
        resp = api.client.post("/events", json=request, headers=player.headers())
        assert resp.status_code == status, resp.text
        assert resp.json()["type"].endswith(rule), resp.text
    assert api.size() == before
