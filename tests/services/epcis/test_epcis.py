"""GS1 EPCIS 2.0 export: the mapping on hand-built entries, and a realistic season through
the API, every document validated against GS1's EPCIS 2.0 JSON Schema
(tests/vectors/epcis/, with formats checked: URIs, date-times).

What is asserted: quantities exact and in the right unit; a processing run's inputs and
outputs; ledger indices, leaf hashes and event ids that match the log; time offsets kept;
every logged entry exported exactly once or documented as not exported; no commitment,
price, personal datum or free text in any export; bounds, access and problem+json.
"""

from __future__ import annotations

import base64
import copy
import json
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import jsonschema
import pytest
from hypothesis import given
from hypothesis import strategies as st
from typer.testing import CliRunner

from clients import cli
from clients import epcis as epcis_client
from schemas.events import EVENT_BODIES
from services.demo import fill_demo
from services.epcis import queries as service
from services.epcis.mapping import (
    CONDITIONAL,
    MAPPERS,
    NOT_EXPORTED,
    CaseFacts,
    Logged,
    MissingFact,
    OfferFacts,
    epcis_document,
    event_id,
    event_time,
    instant,
    map_entry,
)
from support.db import Database, database_url
from support.domain import Api, running_api
from support.paths import VECTORS

SCHEMA_PATH = VECTORS / "epcis" / "EPCIS-JSON-Schema.json"
VALIDATOR = jsonschema.Draft7Validator(
    json.loads(SCHEMA_PATH.read_text(encoding="utf-8")),
    format_checker=jsonschema.Draft7Validator.FORMAT_CHECKER,
)
LOG_TIME = "2026-09-14T02:15:00.000000Z"
LEAF = bytes(range(32))


def assert_valid(document: dict[str, Any]) -> None:
    errors = sorted(VALIDATOR.iter_errors(document), key=lambda e: list(e.absolute_path))
    assert not errors, "\n".join(f"{list(e.absolute_path)}: {e.message[:300]}" for e in errors[:10])


def doc(*events: dict[str, Any]) -> dict[str, Any]:
    return epcis_document(list(events), "2026-09-30T00:00:00.000000Z")


# --- the schema itself --------------------------------------------------------------------


def test_schema_vector_is_gs1_epcis_2_0_and_it_bites() -> None:
    schema = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    assert schema["$schema"] == "http://json-schema.org/draft-07/schema#"
    assert "TransformationEvent" in schema["definitions"]
    good = {
        "type": "ObjectEvent",
        "eventTime": "2026-09-14T10:12:00+08:00",
        "eventTimeZoneOffset": "+08:00",
        "action": "OBSERVE",
        "quantityList": [{"epcClass": "urn:altan:lot:AU-1", "quantity": 5, "uom": "MGM"}],
    }
    assert_valid(doc(good))
    mutations = {
        "no offset": lambda e: e.pop("eventTimeZoneOffset"),
        "not CBV bizStep": lambda e: e.update(bizStep="transforming"),
        "bare extension": lambda e: e.update(ledgerIndex=3),
        "uom not Rec 20 form": lambda e: e["quantityList"][0].update(uom="grams"),
        "epcClass not a URI": lambda e: e["quantityList"][0].update(epcClass="AU 1"),
        "offset past 14h": lambda e: e.update(eventTimeZoneOffset="+15:00"),
        "ILMD on OBSERVE": lambda e: e.update(ilmd={"altan:x": 1}),
    }
    for name, mutate in mutations.items():
        bad = copy.deepcopy(good)
        mutate(bad)
        assert list(VALIDATOR.iter_errors(doc(bad))), name


# --- the mapping on hand-built entries ----------------------------------------------------


@dataclass
class FakeFacts:
    units: dict[str, str] = field(default_factory=dict)
    remaining: dict[tuple[str, int], int] = field(default_factory=dict)
    offers: dict[str, OfferFacts] = field(default_factory=dict)
    cases: dict[str, CaseFacts] = field(default_factory=dict)
    certificates: dict[str, str] = field(default_factory=dict)
    log: dict[int, Logged] = field(default_factory=dict)

    def lot_unit(self, lot: str) -> str:
        if lot not in self.units:
            raise MissingFact(lot)
        return self.units[lot]

    def remaining_at(self, lot: str, index: int) -> int:
        return self.remaining[(lot, index)]

    def offer(self, offer: str) -> OfferFacts:
        return self.offers[offer]

    def case(self, case: str) -> CaseFacts:
        return self.cases[case]

    def certificate_lot(self, certificate: str) -> str:
        return self.certificates[certificate]

    def entries(self, indices: Sequence[int]) -> dict[int, Logged]:
        return {i: self.log[i] for i in indices if i in self.log}


def entry(index: int, type_: str, actor: str, body: dict[str, Any], leaf: bytes = LEAF) -> Logged:
    return Logged(index=index, leaf_hash=leaf, time=LOG_TIME, type=type_, actor=actor, body=body)


DELIVERY = {
    "occurred_at": "2026-09-14T10:12+07:00",  # a western aimag's device, no seconds
    "lot": "ORE-2026-000001",
    "miner": "partnership:khovd-3",
    "site": "SITE-KHO-0003",
    "mass_g": 1_234_567,
    "mined_on": "2026-09-10",
    "moisture_permille": 42,
    "notes": "Bat's bags, wet",
}


def test_delivery_is_a_commissioning_with_exact_grams_and_the_offset_kept() -> None:
    e = map_entry(entry(7, "ore.delivered", "centre:khovd", DELIVERY), FakeFacts())
    assert e is not None
    assert e["type"] == "ObjectEvent" and e["action"] == "ADD"
    assert e["bizStep"] == "commissioning" and e["disposition"] == "active"
    assert e["quantityList"] == [
        {"epcClass": "urn:altan:lot:ORE-2026-000001", "quantity": 1_234_567, "uom": "GRM"}
    ]
    assert e["eventTime"] == "2026-09-14T10:12:00+07:00"
    assert e["eventTimeZoneOffset"] == "+07:00"
    assert e["recordTime"] == LOG_TIME
    assert e["readPoint"] == e["bizLocation"] == {"id": "urn:altan:location:centre:khovd"}
    assert {"type": "possessing_party", "source": "urn:altan:actor:partnership:khovd-3"} in e[
        "sourceList"
    ]
    assert {"type": "location", "source": "urn:altan:site:SITE-KHO-0003"} in e["sourceList"]
    assert {
        "type": "possessing_party",
        "destination": "urn:altan:actor:centre:khovd",
    } in e["destinationList"]
    assert e["ilmd"]["altan:minedOn"] == "2026-09-10"
    assert e["eventID"] == "urn:altan:event:" + LEAF.hex()
    assert e["altan:ledgerIndex"] == 7
    assert base64.b64decode(e["altan:leafHash"]) == LEAF
    assert e["altan:eventType"] == "ore.delivered"
    assert "Bat" not in json.dumps(e)  # free text (notes) is never exported
    assert_valid(doc(e))


def test_processing_run_is_a_transformation_of_the_ore_consumed_into_gold() -> None:
    body = {
        "occurred_at": "2026-09-15T16:00:00+08:00",
        "run": "RUN-2026-000009",
        "inputs": [
            {"lot": "ORE-A", "mass_g": 1_200_000},
            {"lot": "ORE-B", "mass_g": 350_001},
        ],
        "outputs": [
            {"lot": "AU-1", "form": "dore", "mass_mg": 123_456},
            {"lot": "AU-2", "form": "concentrate", "mass_mg": 7},
        ],
        "tailings_g": 1_549_000,
        "method": "gravity",
        "mercury_free": True,
        "started_on": "2026-09-15",
        "finished_on": "2026-09-15",
    }
    e = map_entry(entry(9, "processing.recorded", "centre:bornuur", body), FakeFacts())
    assert e is not None and e["type"] == "TransformationEvent"
    assert e["inputQuantityList"] == [
        {"epcClass": "urn:altan:lot:ORE-A", "quantity": 1_200_000, "uom": "GRM"},
        {"epcClass": "urn:altan:lot:ORE-B", "quantity": 350_001, "uom": "GRM"},
    ]
    assert e["outputQuantityList"] == [
        {"epcClass": "urn:altan:lot:AU-1", "quantity": 123_456, "uom": "MGM"},
        {"epcClass": "urn:altan:lot:AU-2", "quantity": 7, "uom": "MGM"},
    ]
    assert e["transformationID"] == "urn:altan:run:RUN-2026-000009"
    assert e["ilmd"]["altan:method"] == "gravity" and e["ilmd"]["altan:mercuryFree"] is True
    assert e["ilmd"]["altan:tailingsGrams"] == 1_549_000
    assert_valid(doc(e))


def test_split_and_merge_conserve_mass_exactly() -> None:
    facts = FakeFacts(units={"AU-1": "mg", "AU-2": "mg", "AU-9": "mg"})
    split = {
        "occurred_at": "2026-09-20T09:00:00+08:00",
        "lot": "AU-1",
        "into": [{"lot": "AU-1a", "mass_mg": 60_001}, {"lot": "AU-1b", "mass_mg": 63_455}],
    }
    e = map_entry(entry(20, "lot.split", "buyer:trader-7", split), facts)
    assert e is not None
    assert e["inputQuantityList"] == [
        {"epcClass": "urn:altan:lot:AU-1", "quantity": 123_456, "uom": "MGM"}
    ]
    assert [q["quantity"] for q in e["outputQuantityList"]] == [60_001, 63_455]
    facts.remaining.update({("AU-1a", 21): 60_001, ("AU-2", 21): 5})
    merge = {"occurred_at": "2026-09-21T09:00:00+08:00", "lots": ["AU-1a", "AU-2"], "into": "AU-9"}
    facts.units["AU-1a"] = "mg"
    m = map_entry(entry(21, "lots.merged", "buyer:trader-7", merge), facts)
    assert m is not None
    assert [q["quantity"] for q in m["inputQuantityList"]] == [60_001, 5]
    assert m["outputQuantityList"] == [
        {"epcClass": "urn:altan:lot:AU-9", "quantity": 60_006, "uom": "MGM"}
    ]
    assert_valid(doc(e, m))


def test_transfers_name_the_offer_and_both_parties_but_never_the_price() -> None:
    facts = FakeFacts(
        units={"AU-1": "mg"},
        remaining={("AU-1", 30): 9_000, ("AU-1", 31): 9_000, ("AU-1", 32): 9_000},
        offers={"OFFER-1": OfferFacts(lot="AU-1", seller="centre:bornuur", buyer="buyer:bom")},
    )
    offered = {
        "occurred_at": "2026-09-22T11:00:00+08:00",
        "offer": "OFFER-1",
        "lot": "AU-1",
        "to": "buyer:bom",
        "price_commitment": "ab" * 32,
    }
    o = map_entry(entry(30, "transfer.offered", "centre:bornuur", offered), facts)
    a = map_entry(
        entry(
            31,
            "transfer.accepted",
            "buyer:bom",
            {"occurred_at": offered["occurred_at"], "offer": "OFFER-1"},
        ),
        facts,
    )
    r = map_entry(
        entry(
            32,
            "transfer.rejected",
            "buyer:bom",
            {"occurred_at": offered["occurred_at"], "offer": "OFFER-1", "reason": "low"},
        ),
        facts,
    )
    assert o is not None and a is not None and r is not None
    assert (o["type"], o["action"]) == ("TransactionEvent", "ADD")
    assert (a["type"], a["action"], a["bizStep"]) == ("ObjectEvent", "OBSERVE", "accepting")
    assert (r["type"], r["action"]) == ("TransactionEvent", "DELETE")
    for e in (o, a, r):
        assert e["bizTransactionList"] == [
            {"type": "po", "bizTransaction": "urn:altan:offer:OFFER-1"}
        ]
        assert e["quantityList"] == [
            {"epcClass": "urn:altan:lot:AU-1", "quantity": 9_000, "uom": "MGM"}
        ]
        assert {"type": "owning_party", "source": "urn:altan:actor:centre:bornuur"} in e[
            "sourceList"
        ]
        assert {"type": "owning_party", "destination": "urn:altan:actor:buyer:bom"} in e[
            "destinationList"
        ]
    text = json.dumps([o, a, r])
    assert "ab" * 32 not in text and "commitment" not in text and "low" not in text
    assert_valid(doc(o, a, r))


def test_holds_set_and_unset_a_persistent_non_sellable_disposition() -> None:
    facts = FakeFacts(
        units={"ORE-1": "g"},
        remaining={("ORE-1", 40): 400_000, ("ORE-1", 42): 400_000},
        cases={
            "HOLD-1": CaseFacts("hold", "lot", "ORE-1"),
            "FLAG-1": CaseFacts("red_flag", "lot", "ORE-1"),
        },
    )
    when = "2026-09-23T08:00:00+08:00"
    opened = {
        "occurred_at": when,
        "case": "HOLD-1",
        "kind": "hold",
        "target": {"kind": "lot", "id": "ORE-1"},
        "category": "capacity_inconsistent",
        "description": "Dorj says the pit is empty",
    }
    h = map_entry(entry(40, "case.opened", "auditor:a", opened), facts)
    assert h is not None and h["bizStep"] == "holding"
    assert h["disposition"] == "non_sellable_other"
    assert h["persistentDisposition"] == {"set": ["non_sellable_other"]}
    assert h["quantityList"] == [
        {"epcClass": "urn:altan:lot:ORE-1", "quantity": 400_000, "uom": "GRM"}
    ]
    assert "Dorj" not in json.dumps(h)
    on_site = {**opened, "case": "HOLD-2", "target": {"kind": "site", "id": "SITE-1"}}
    s = map_entry(entry(41, "case.opened", "auditor:a", on_site), facts)
    assert (
        s is not None and s["epcList"] == [] and s["bizLocation"] == {"id": "urn:altan:site:SITE-1"}
    )
    lifted = map_entry(
        entry(
            42,
            "case.resolved",
            "auditor:a",
            {"occurred_at": when, "case": "HOLD-1", "resolution": "ok"},
        ),
        facts,
    )
    assert lifted is not None and lifted["persistentDisposition"] == {
        "unset": ["non_sellable_other"]
    }
    flag = {**opened, "case": "FLAG-1", "kind": "red_flag"}
    assert map_entry(entry(43, "case.opened", "auditor:a", flag), facts) is None
    assert (
        map_entry(
            entry(
                44,
                "case.resolved",
                "auditor:a",
                {"occurred_at": when, "case": "FLAG-1", "resolution": "x"},
            ),
            facts,
        )
        is None
    )
    assert_valid(doc(h, s, lifted))


def test_export_refining_and_certificates() -> None:
    facts = FakeFacts(
        units={"AU-1": "mg", "AU-2": "mg"},
        remaining={("AU-1", 50): 77, ("AU-2", 51): 88, ("AU-2", 52): 88, ("AU-2", 53): 88},
        certificates={"c" * 32: "AU-2"},
    )
    when = "2026-10-01T08:00:00+08:00"
    exported = {
        "occurred_at": when,
        "lot": "AU-1",
        "destination": {"country": "CH", "party": "Mr Smith's refinery", "permit": "EXP-7"},
    }
    x = map_entry(entry(50, "lot.exported", "buyer:bom", exported), facts)
    assert x is not None and (x["action"], x["bizStep"], x["disposition"]) == (
        "OBSERVE",
        "departing",
        "in_transit",
    )
    assert x["altan:destinationCountry"] == "CH" and "Smith" not in json.dumps(x)
    refined = {"occurred_at": when, "lot": "AU-2", "refinery": "Mongolbank refinery"}
    r = map_entry(entry(51, "lot.refined", "buyer:bom", refined), facts)
    assert r is not None and (r["action"], r["bizStep"], r["disposition"]) == (
        "DELETE",
        "decommissioning",
        "inactive",
    )
    issued = {
        "occurred_at": when,
        "certificate": "c" * 32,
        "lot": "AU-2",
        "kind": "gold_lot",
        "entry": 49,
        "token": "ABCDEFGHIJKLMNOP234567",
    }
    c = map_entry(entry(52, "certificate.issued", "system:altan", issued), facts)
    assert c is not None
    assert c["bizTransactionList"] == [
        {"type": "cert", "bizTransaction": "urn:altan:certificate:" + "c" * 32}
    ]
    assert c["altan:certificationInfo"]["altan:reflectsIndex"] == 49
    revoked = {"occurred_at": when, "certificate": "c" * 32, "reason": "forged"}
    v = map_entry(entry(53, "certificate.revoked", "regulator:r", revoked), facts)
    assert v is not None and v["altan:certificationInfo"]["altan:status"] == "revoked"
    assert "forged" not in json.dumps(v)
    assert_valid(doc(x, r, c, v))


def test_correction_is_an_error_declaration_of_the_corrected_event() -> None:
    wrong = entry(7, "ore.delivered", "centre:khovd", DELIVERY, leaf=b"\x01" * 32)
    right = entry(9, "ore.delivered", "centre:khovd", {**DELIVERY, "lot": "ORE-2"}, b"\x02" * 32)
    facts = FakeFacts(log={7: wrong, 9: right})
    body = {
        "occurred_at": "2026-09-16T12:00:00+07:00",
        "corrects": 7,
        "reason": "typed 1234567 instead of 123456",
        "replaced_by": [9],
    }
    d = map_entry(entry(10, "correction.recorded", "centre:khovd", body, b"\x03" * 32), facts)
    original = map_entry(wrong, facts)
    assert d is not None and original is not None
    assert d["eventID"] == original["eventID"] == event_id(b"\x01" * 32)
    assert d["eventTime"] == original["eventTime"]
    assert d["quantityList"] == original["quantityList"]
    assert d["recordTime"] == LOG_TIME
    assert d["errorDeclaration"] == {
        "declarationTime": "2026-09-16T12:00:00+07:00",
        "reason": "incorrect_data",
        "correctiveEventIDs": [event_id(b"\x02" * 32)],
    }
    assert d["altan:ledgerIndex"] == 10 and d["altan:corrects"] == 7
    assert d["altan:eventType"] == "correction.recorded"
    assert "typed" not in json.dumps(d)
    assert_valid(doc(d))
    # A correction of an entry that is not exported is not exported either.
    facts.log[5] = entry(5, "actor.registered", "admin:root", {"occurred_at": LOG_TIME})
    assert (
        map_entry(entry(11, "correction.recorded", "x:y", {**body, "corrects": 5}), facts) is None
    )


def test_every_event_type_is_exported_or_documented_as_not() -> None:
    exported = set(MAPPERS) - set(CONDITIONAL)
    assert set(EVENT_BODIES) == exported | set(CONDITIONAL) | set(NOT_EXPORTED)
    assert not (exported & set(NOT_EXPORTED)) and not (set(CONDITIONAL) & set(NOT_EXPORTED))
    assert set(CONDITIONAL) <= set(MAPPERS)


def test_a_moment_epcis_cannot_state_falls_back_to_the_log_time() -> None:
    body = {"occurred_at": "2026-02-30T10:00:00+08:00", "lot": "AU-1", "fineness_ppt": 900}
    e = map_entry(
        entry(3, "assay.recorded", "lab:l", body),
        FakeFacts(units={"AU-1": "mg"}, remaining={("AU-1", 3): 1}),
    )
    assert e is not None
    assert (e["eventTime"], e["eventTimeZoneOffset"]) == (LOG_TIME, "+00:00")
    assert e["altan:occurredAt"] == "2026-02-30T10:00:00+08:00"
    assert_valid(doc(e))


# The body schema's own pattern for occurred_at (schemas.events.Moment).
MOMENT = r"\A\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,6})?)?(Z|[+-]\d{2}:\d{2})\Z"


@given(st.from_regex(MOMENT))
def test_any_recordable_moment_gives_a_valid_event_with_its_instant_and_offset(
    moment: str,
) -> None:
    facts = FakeFacts(units={"AU-1": "mg"}, remaining={("AU-1", 1): 5})
    body = {"occurred_at": moment, "lot": "AU-1", "fineness_ppt": 999}
    e = map_entry(entry(1, "assay.recorded", "lab:l", body), facts)
    assert e is not None
    assert_valid(doc(e))
    stated = event_time(moment)
    if stated is not None:
        assert e["eventTimeZoneOffset"] == ("+00:00" if moment.endswith("Z") else moment[-6:])
        zone = "+00:00" if moment.endswith("Z") else moment[-6:]
        wall = moment[: len(moment) - (1 if moment.endswith("Z") else 6)]
        wall += ":00" if len(wall) == 16 else ""
        assert e["eventTime"] == stated[0]
        assert e["eventTime"].startswith(wall)  # the device's own wall clock, kept
        assert instant(e["eventTime"]) == datetime.fromisoformat(wall + zone)
        assert "altan:occurredAt" not in e
    else:
        assert e["eventTime"] == LOG_TIME and e["altan:occurredAt"] == moment


@given(
    st.lists(st.integers(1, 1_000_000_000), min_size=1, max_size=8),
    st.lists(st.integers(1, 1_000_000_000), min_size=1, max_size=5),
)
def test_any_run_keeps_its_inputs_and_outputs_exactly(ore: list[int], gold: list[int]) -> None:
    body = {
        "occurred_at": "2026-09-15T16:00:00+08:00",
        "run": "RUN-1",
        "inputs": [{"lot": f"ORE-{i}", "mass_g": g} for i, g in enumerate(ore)],
        "outputs": [{"lot": f"AU-{i}", "form": "dore", "mass_mg": m} for i, m in enumerate(gold)],
        "method": "flotation",
        "mercury_free": True,
        "started_on": "2026-09-15",
        "finished_on": "2026-09-15",
    }
    e = map_entry(entry(2, "processing.recorded", "centre:c", body), FakeFacts())
    assert e is not None
    assert [(q["epcClass"], q["quantity"], q["uom"]) for q in e["inputQuantityList"]] == [
        (f"urn:altan:lot:ORE-{i}", g, "GRM") for i, g in enumerate(ore)
    ]
    assert [(q["epcClass"], q["quantity"], q["uom"]) for q in e["outputQuantityList"]] == [
        (f"urn:altan:lot:AU-{i}", m, "MGM") for i, m in enumerate(gold)
    ]
    assert_valid(doc(e))


# --- a realistic season through the API -----------------------------------------------------

AUDITOR = "auditor:asm-federation"
REGULATOR = "regulator:mrpam"
WHEN = "2026-10-20T10:00:00+08:00"


@dataclass
class Season:
    api: Api
    log: list[dict[str, Any]]  # every entry as JSON, with its index and leaf hash
    gold_lot: str  # split, merged back and exported by its buyer
    buyer: str
    merged: str

    def get(self, path: str, actor: str = AUDITOR, **params: Any) -> httpx.Response:
        return self.api.client.get(path, params=params, headers=self.api.headers(actor))


def _token(api: Api, actor: str) -> None:
    if actor in api.tokens:
        return
    resp = api.client.post(
        f"/actors/{actor}/tokens", json={"label": "epcis"}, headers=api.headers("admin:root")
    )
    assert resp.status_code == 201, resp.text
    api.tokens[actor] = resp.json()["token"]


def _read_log(api: Api) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    size = api.size()
    while len(out) < size:
        resp = api.client.get("/log/entries", params={"start": len(out), "end": size})
        for item in resp.json()["entries"]:
            data = json.loads(base64.b64decode(item["entry"]))
            out.append({**data, "leaf_hash": item["leaf_hash"]})
    return out


def _accepted_gold(log: list[dict[str, Any]], api: Api) -> list[tuple[str, str]]:
    """(lot, buyer) of gold lots a buyer accepted and still holds, free to trade."""
    offers = {e["body"]["offer"]: e["body"] for e in log if e["type"] == "transfer.offered"}
    found = []
    for e in log:
        if e["type"] != "transfer.accepted":
            continue
        offer = offers[e["body"]["offer"]]
        view = api.client.get(f"/lots/{offer['lot']}", headers=api.headers("admin:root")).json()
        if view["status"] == "active" and view["custodian"] == offer["to"] and not view["holds"]:
            found.append((offer["lot"], offer["to"]))
    return found


@pytest.fixture(scope="module")
def season(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Season]:
    with running_api(tmp_path_factory.mktemp("epcis")) as api:
        recorded, _ = fill_demo(api.client.app.state.events, 700, seed=2026)  # type: ignore[attr-defined]
        assert recorded >= 700
        for actor in (AUDITOR, REGULATOR, "centre:bornuur", "centre:zaamar", "centre:mandal"):
            _token(api, actor)
        log = _read_log(api)
        gold = _accepted_gold(log, api)
        assert len(gold) >= 2, "the demo season should sell at least two lots"
        (lot, buyer), (lot2, buyer2) = gold[0], gold[1]
        _token(api, buyer)
        _token(api, buyer2)
        view = api.client.get(f"/lots/{lot}", headers=api.headers(AUDITOR)).json()
        half = view["mass"] // 2
        api.ok(
            buyer,
            "lot.split",
            {
                "occurred_at": WHEN,
                "lot": lot,
                "into": [
                    {"lot": f"{lot}-a", "mass_mg": half},
                    {"lot": f"{lot}-b", "mass_mg": view["mass"] - half},
                ],
            },
        )
        merged = f"{lot}-m"
        api.ok(
            buyer,
            "lots.merged",
            {"occurred_at": WHEN, "lots": [f"{lot}-a", f"{lot}-b"], "into": merged},
        )
        api.ok(
            buyer,
            "lot.exported",
            {
                "occurred_at": "2026-10-21T09:30:00+08:00",
                "lot": merged,
                "destination": {
                    "country": "CH",
                    "party": "Private Buyer Batbayar",
                    "permit": "EX-1",
                },
            },
        )
        api.ok(buyer2, "lot.refined", {"occurred_at": WHEN, "lot": lot2, "refinery": "Mongolbank"})
        # A western-aimag delivery (UTC+7), corrected by the centre with a replacement.
        site_owner = next(e["body"] for e in log if e["type"] == "site.registered")
        bad = api.ok(
            "centre:bornuur",
            "ore.delivered",
            {
                "occurred_at": "2026-10-22T08:05+07:00",
                "lot": "ORE-WEST-1",
                "miner": site_owner["owner"],
                "site": site_owner["site"],
                "mass_g": 9_000_000,
                "mined_on": "2026-10-20",
                "notes": "weighed by Tsetseg",
            },
        )
        good = api.ok(
            "centre:bornuur",
            "ore.delivered",
            {
                "occurred_at": "2026-10-22T08:20:00+07:00",
                "lot": "ORE-WEST-2",
                "miner": site_owner["owner"],
                "site": site_owner["site"],
                "mass_g": 900_000,
                "mined_on": "2026-10-20",
            },
        )
        api.ok(
            "centre:bornuur",
            "correction.recorded",
            {
                "occurred_at": WHEN,
                "corrects": bad["index"],
                "reason": "scale misread",
                "replaced_by": [good["index"]],
            },
        )
        # A hold on a lot and its lifting; a hold on a site.
        api.ok(
            AUDITOR,
            "case.opened",
            {
                "occurred_at": WHEN,
                "case": "HOLD-LOT-1",
                "kind": "hold",
                "target": {"kind": "lot", "id": "ORE-WEST-2"},
                "category": "capacity_inconsistent",
                "description": "a lot too heavy for the site",
            },
        )
        api.ok(
            AUDITOR,
            "case.resolved",
            {"occurred_at": WHEN, "case": "HOLD-LOT-1", "resolution": "weighed again"},
        )
        api.ok(
            AUDITOR,
            "case.opened",
            {
                "occurred_at": WHEN,
                "case": "HOLD-SITE-1",
                "kind": "hold",
                "target": {"kind": "site", "id": site_owner["site"]},
                "category": "land_use",
                "description": "pasture",
            },
        )
        # A certificate revoked.
        cert = next(e["body"] for e in _read_log(api) if e["type"] == "certificate.issued")
        api.ok(
            REGULATOR,
            "certificate.revoked",
            {"occurred_at": WHEN, "certificate": cert["certificate"], "reason": "lost"},
        )
        yield Season(api, _read_log(api), lot, buyer, merged)


def _pages(season: Season, limit: int, **params: Any) -> list[dict[str, Any]]:
    """Every page of /epcis/events, following Link rel=next."""
    docs = []
    resp = season.get("/epcis/events", limit=limit, **params)
    while True:
        assert resp.status_code == 200, resp.text
        assert resp.headers["content-type"] == "application/ld+json"
        docs.append(resp.json())
        nxt = resp.links.get("next")
        if nxt is None:
            return docs
        resp = season.api.client.get(nxt["url"], headers=season.api.headers(AUDITOR))


def _expected(entry: dict[str, Any], log: list[dict[str, Any]]) -> bool:
    """Whether an entry is exported, from the documented rules alone."""
    t, b = entry["type"], entry["body"]
    if t in NOT_EXPORTED:
        return False
    if t == "case.opened":
        return bool(b["kind"] == "hold")
    if t == "case.resolved":
        opened = next(
            e for e in log if e["type"] == "case.opened" and e["body"]["case"] == b["case"]
        )
        return bool(opened["body"]["kind"] == "hold")
    if t == "correction.recorded":
        return _expected(log[b["corrects"]], log)
    return t in MAPPERS


def test_every_page_of_the_season_validates_and_every_entry_maps_once(season: Season) -> None:
    docs = _pages(season, limit=97)
    assert len(docs) > 3
    events = [e for d in docs for e in d["epcisBody"]["eventList"]]
    for d in docs:
        assert_valid(d)
    indices = [e["altan:ledgerIndex"] for e in events]
    assert indices == sorted(set(indices))
    by_index = {e["altan:ledgerIndex"]: e for e in events}
    for logged_entry in season.log:
        i = logged_entry["index"]
        assert (i in by_index) == _expected(logged_entry, season.log), logged_entry["type"]
    types = {e["altan:eventType"] for e in events}
    assert {
        "ore.delivered",
        "processing.recorded",
        "assay.recorded",
        "transfer.offered",
        "transfer.accepted",
        "transfer.rejected",
        "certificate.issued",
        "lot.split",
        "lots.merged",
        "lot.exported",
        "lot.refined",
        "case.opened",
        "case.resolved",
        "correction.recorded",
        "certificate.revoked",
    } <= types


def test_ledger_indices_leaf_hashes_and_times_match_the_log(season: Season) -> None:
    events = [e for d in _pages(season, limit=1000) for e in d["epcisBody"]["eventList"]]
    for e in events:
        logged_entry = season.log[e["altan:ledgerIndex"]]
        assert e["altan:leafHash"] == logged_entry["leaf_hash"]
        assert e["altan:eventType"] == logged_entry["type"]
        assert e["recordTime"] == logged_entry["time"]
        if logged_entry["type"] == "correction.recorded":
            continue
        assert e["eventID"] == event_id(base64.b64decode(logged_entry["leaf_hash"]))
        moment = logged_entry["body"]["occurred_at"]
        assert instant(e["eventTime"]) == instant(event_time(moment)[0])  # type: ignore[index]
        assert e["eventTimeZoneOffset"] == ("+00:00" if moment.endswith("Z") else moment[-6:])
    west = next(
        e
        for e in events
        if e.get("quantityList", [{}])[0].get("epcClass") == "urn:altan:lot:ORE-WEST-1"
        and e["altan:eventType"] == "ore.delivered"
    )
    assert (west["eventTime"], west["eventTimeZoneOffset"]) == (
        "2026-10-22T08:05:00+07:00",
        "+07:00",
    )


def test_the_season_quantities_are_the_logged_ones(season: Season) -> None:
    events = {
        e["altan:ledgerIndex"]: e
        for d in _pages(season, limit=1000)
        for e in d["epcisBody"]["eventList"]
    }
    runs = [x for x in season.log if x["type"] == "processing.recorded"]
    assert runs
    for run in runs:
        e = events[run["index"]]
        assert [(q["epcClass"], q["quantity"]) for q in e["inputQuantityList"]] == [
            (f"urn:altan:lot:{i['lot']}", i["mass_g"]) for i in run["body"]["inputs"]
        ]
        assert [(q["epcClass"], q["quantity"]) for q in e["outputQuantityList"]] == [
            (f"urn:altan:lot:{o['lot']}", o["mass_mg"]) for o in run["body"]["outputs"]
        ]
    for x in season.log:
        if x["type"] == "ore.delivered":
            assert events[x["index"]]["quantityList"][0]["quantity"] == x["body"]["mass_g"]
    split = next(x for x in season.log if x["type"] == "lot.split")
    merge = next(x for x in season.log if x["type"] == "lots.merged")
    s, m = events[split["index"]], events[merge["index"]]
    total = sum(p["mass_mg"] for p in split["body"]["into"])
    assert s["inputQuantityList"][0]["quantity"] == total
    assert [q["quantity"] for q in m["inputQuantityList"]] == [
        p["mass_mg"] for p in split["body"]["into"]
    ]
    assert m["outputQuantityList"][0]["quantity"] == total
    hold = next(e for e in events.values() if e.get("altan:case") == "urn:altan:case:HOLD-LOT-1")
    assert hold["quantityList"][0]["quantity"] == 900_000


def test_no_commitment_price_personal_datum_or_free_text_leaks(season: Season) -> None:
    text = json.dumps(_pages(season, limit=1000), ensure_ascii=False)
    secrets = set()
    for x in season.log:
        for key in ("personal_commitment", "price_commitment"):
            if x["body"].get(key):
                secrets.add(x["body"][key])
    assert secrets, "the demo season has commitments"
    for value in secrets:
        assert value not in text
    for word in (
        "commitment",
        "price",
        "salt",
        "Partnership no.",
        "+976",
        "per gram",
        "Batbayar",
        "Mongolbank",
        "Tsetseg",
        "scale misread",
        "herders",
        "pasture",
        "capacity this month",
        "documents checked",
        "fineness below",
    ):
        assert word not in text, word


def test_period_filter_by_occurred_at(season: Season) -> None:
    since, until = "2026-09-01T00:00:00+08:00", "2026-09-15T00:00:00+08:00"
    events = [
        e
        for d in _pages(season, limit=1000, **{"from": since, "to": until})
        for e in d["epcisBody"]["eventList"]
    ]
    assert events
    for e in events:
        assert instant(since) <= instant(e["eventTime"]) < instant(until)
    everything = [e for d in _pages(season, limit=1000) for e in d["epcisBody"]["eventList"]]
    expected = [e for e in everything if instant(since) <= instant(e["eventTime"]) < instant(until)]
    assert [e["eventID"] for e in events] == [e["eventID"] for e in expected]
    # Index range: only entries start <= i < end.
    ranged = season.get("/epcis/events", start=100, end=200).json()["epcisBody"]["eventList"]
    assert ranged and all(100 <= e["altan:ledgerIndex"] < 200 for e in ranged)


def test_a_lots_export_holds_it_and_its_upstream_lots(season: Season) -> None:
    resp = season.get(f"/epcis/lots/{season.merged}", actor=season.buyer)
    assert resp.status_code == 200, resp.text
    assert resp.headers["content-type"] == "application/ld+json"
    document = resp.json()
    assert_valid(document)
    events = document["epcisBody"]["eventList"]
    classes = {
        q["epcClass"]
        for e in events
        for key in ("quantityList", "inputQuantityList", "outputQuantityList")
        for q in e.get(key, [])
    }
    provenance = season.get(f"/lots/{season.merged}/provenance").json()
    for node in provenance["nodes"]:
        assert f"urn:altan:lot:{node['lot']}" in classes
    types = [e["altan:eventType"] for e in events]
    assert "ore.delivered" in types and "processing.recorded" in types
    assert types.count("lot.exported") == 1
    indices = [e["altan:ledgerIndex"] for e in events]
    assert indices == sorted(set(indices))


def test_access_bounds_and_problems(season: Season, monkeypatch: pytest.MonkeyPatch) -> None:
    c, h = season.api.client, season.api.headers
    refused = c.get("/epcis/events", headers=h(season.buyer))
    assert refused.status_code == 403
    assert refused.headers["content-type"] == "application/problem+json"
    other = next(
        b
        for b in (
            "buyer:khan-bank",
            "buyer:trader-0007",
            "buyer:trader-0113",
            "buyer:bank-of-mongolia",
        )
        if b != season.buyer
    )
    _token(season.api, other)
    # another's lot answers as an absent one does (issue 11)
    assert c.get(f"/epcis/lots/{season.merged}", headers=h(other)).status_code == 404
    assert c.get("/epcis/lots/NO-SUCH-LOT", headers=h(AUDITOR)).status_code == 404
    assert c.get("/epcis/events").status_code == 401
    for params, status in [
        ({"start": 10, "end": 10}, 400),
        ({"from": "2026-09-01T00:00:00"}, 400),  # no offset
        ({"from": "2026-09-02T00:00:00+08:00", "to": "2026-09-01T00:00:00+08:00"}, 400),
        ({"limit": service.PAGE_MAX + 1}, 422),
        ({"start": -1}, 422),
    ]:
        resp = c.get("/epcis/events", params=params, headers=h(AUDITOR))
        assert resp.status_code == status, (params, resp.text)
        assert resp.headers["content-type"] == "application/problem+json"
    past = c.get("/epcis/events", params={"start": 10**9}, headers=h(AUDITOR))
    assert past.status_code == 200 and past.json()["epcisBody"]["eventList"] == []
    monkeypatch.setattr(service, "MAX_LOT_ENTRIES", 3)
    big = c.get(f"/epcis/lots/{season.merged}", headers=h(AUDITOR))
    assert big.status_code == 422
    assert big.json()["type"].endswith("/epcis-too-large")
    monkeypatch.setattr(service, "SCAN_MAX", 50)
    page = c.get("/epcis/events", params={"end": 400}, headers=h(AUDITOR))
    assert page.status_code == 200
    assert max(e["altan:ledgerIndex"] for e in page.json()["epcisBody"]["eventList"]) < 50
    assert "start=50" in page.headers["link"] and 'rel="next"' in page.headers["link"]


class Forward(httpx.BaseTransport):
    """The CLI's network: every request goes to the app under test."""

    def __init__(self, api: Api) -> None:
        self.client = api.client

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        resp = self.client.request(request.method, str(request.url), headers=request.headers)
        keep = {k: v for k, v in resp.headers.items() if k.lower() in ("content-type", "link")}
        return httpx.Response(resp.status_code, headers=keep, content=resp.content)


def test_cli_export_epcis_writes_one_document(
    season: Season, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(
        epcis_client, "_http_client", lambda: httpx.Client(transport=Forward(season.api))
    )
    monkeypatch.setattr(service, "SCAN_MAX", 200)  # several pages to join
    runner = CliRunner()
    out = tmp_path / "season.jsonld"
    token = season.api.tokens[AUDITOR]
    result = runner.invoke(
        cli.app,
        [
            "export-epcis",
            "http://testserver",
            "--token",
            token,
            "--from",
            "2026-08-01T00:00+08:00",
            "--to",
            "2026-12-01T00:00+08:00",
            "-o",
            str(out),
        ],
    )
    assert result.exit_code == 0, result.output
    document = json.loads(out.read_text(encoding="utf-8"))
    assert_valid(document)
    single = [
        e
        for d in _pages(
            season, limit=1000, **{"from": "2026-08-01T00:00+08:00", "to": "2026-12-01T00:00+08:00"}
        )
        for e in d["epcisBody"]["eventList"]
    ]
    assert [e["eventID"] for e in document["epcisBody"]["eventList"]] == [
        e["eventID"] for e in single
    ]
    result = runner.invoke(
        cli.app,
        [
            "export-epcis",
            "http://testserver",
            "--token",
            season.api.tokens[season.buyer],
            "--lot",
            season.merged,
        ],
    )
    assert result.exit_code == 0, result.output
    lot_doc = json.loads(result.stdout)
    assert_valid(lot_doc)
    refused = runner.invoke(
        cli.app, ["export-epcis", "http://testserver", "--token", season.api.tokens[season.buyer]]
    )
    assert refused.exit_code == 1
    assert "403" in refused.output


def test_readme_section_commands_exist() -> None:
    result = CliRunner().invoke(cli.app, ["export-epcis", "--help"])
    assert result.exit_code == 0
    for option in ("--lot", "--from", "--to", "--start", "--end", "--token", "--output"):
        assert option in result.output
    assert re.search(r"EPCIS 2\.0", result.output)


def test_both_routes_on_each_database(database: Database, tmp_path: Path) -> None:
    """A small chain on SQLite and on PostgreSQL: the reads by index and the provenance
    facts behave the same."""
    url, _ = database_url(database)
    with running_api(tmp_path, database_url=url) as api:
        api.register("regulator:tov", "regulator")
        api.register("auditor:mrpam", "auditor")
        region = {"aimag": "Töv", "soum": "Bornuur"}
        api.register("partnership:tuul", "partnership", by="regulator:tov", region=region)
        api.register("centre:bornuur", "processing_centre")
        api.register("buyer:mongolbank", "buyer")
        site = {"site": "SITE-1", "owner": "partnership:tuul", "region": region}
        api.ok("regulator:tov", "site.registered", {**site, "lat": "48.5", "lon": "106.2"})
        for lot, grams in (("ORE-1", 1_000_000), ("ORE-2", 500_000)):
            delivery: dict[str, Any] = {"lot": lot, "miner": "partnership:tuul", "site": "SITE-1"}
            delivery.update(mass_g=grams, mined_on="2026-09-10")
            api.ok("centre:bornuur", "ore.delivered", delivery)
        run = {
            "run": "RUN-1",
            "inputs": [{"lot": "ORE-1", "mass_g": 600_000}, {"lot": "ORE-2", "mass_g": 500_000}],
            "outputs": [{"lot": "AU-1", "form": "dore", "mass_mg": 11_000}],
            "method": "gravity",
            "mercury_free": True,
            "started_on": "2026-09-12",
            "finished_on": "2026-09-13",
        }
        api.ok("centre:bornuur", "processing.recorded", run)
        hold = {"case": "H-1", "kind": "hold", "target": {"kind": "lot", "id": "ORE-1"}}
        api.ok("auditor:mrpam", "case.opened", {**hold, "category": "other", "description": "d"})
        offer = {"offer": "OF-1", "lot": "AU-1", "to": "buyer:mongolbank"}
        api.ok("centre:bornuur", "transfer.offered", offer)
        api.ok("buyer:mongolbank", "transfer.accepted", {"offer": "OF-1"})
        everything = api.client.get("/epcis/events", headers=api.headers("auditor:mrpam"))
        mine = api.client.get("/epcis/lots/AU-1", headers=api.headers("buyer:mongolbank"))
    for resp in (everything, mine):
        assert resp.status_code == 200, resp.text
        assert_valid(resp.json())
    events = mine.json()["epcisBody"]["eventList"]
    types = [e["altan:eventType"] for e in events]
    assert types.count("ore.delivered") == 2 and "transfer.accepted" in types
    held = next(e for e in events if e["altan:eventType"] == "case.opened")
    assert held["quantityList"][0]["quantity"] == 400_000  # 1,000,000 g less the run's 600,000
