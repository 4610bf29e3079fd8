"""Logged events as GS1 EPCIS 2.0 events (JSON-LD, CBV 2.0 vocabulary): a pure mapping.

One ledger entry gives at most one EPCIS event, built from the entry alone plus a few
facts the entry names but does not state (an acceptance names its offer, not the lot; a
merge names its lots, not their masses). Those facts come through `Facts`, which the
service answers from the projection tables; nothing here reads a database or a clock.

    ledger event          EPCIS event (action)       bizStep          disposition
    ------------------    -------------------------  ---------------  ------------------
    ore.delivered         ObjectEvent ADD            commissioning    active
    processing.recorded   TransformationEvent        commissioning    active
    assay.recorded        ObjectEvent OBSERVE        inspecting       -
    lot.split             TransformationEvent        -                -  (altan:lossQuantity)
    lots.merged           TransformationEvent        -                -
    transfer.offered      TransactionEvent ADD       -                -
    transfer.accepted     ObjectEvent OBSERVE        accepting        -
    transfer.rejected     TransactionEvent DELETE    -                -
    transfer.cancelled    TransactionEvent DELETE    -                -
    lot.exported          ObjectEvent OBSERVE        departing        in_transit
    lot.refined           ObjectEvent DELETE         decommissioning  inactive
    case.opened (hold)    ObjectEvent OBSERVE        holding          non_sellable_other,
                                                                      persistent (set)
    case.resolved (hold)  ObjectEvent OBSERVE        holding          persistent (unset)
    certificate.issued    ObjectEvent OBSERVE        -                -  (bizTransaction cert)
    certificate.revoked   ObjectEvent OBSERVE        -                -  (bizTransaction cert)
    correction.recorded   the corrected entry's event again, with an errorDeclaration
                          (reason incorrect_data, correctiveEventIDs = its replacements)

Not exported (see `NOT_EXPORTED`): registrations and status changes of actors, sites and
witnesses (master data, not observations of objects), certificate requests (the issued
certificate is exported), red flags and disputes, case responses and escalations, and a
correction of an entry that is itself not exported.

Identifiers (URNs in an `altan` namespace; every id the ledger allows is URN-safe, and
anything else is percent-encoded):

    lot (class-level, with a quantity)   urn:altan:lot:<lot id>
    party (owning/possessing)            urn:altan:actor:<actor id>
    an actor's premises (readPoint ...)  urn:altan:location:<actor id>
    mine site (location)                 urn:altan:site:<site id>
    offer (bizTransaction type po)       urn:altan:offer:<offer id>
    certificate (bizTransaction cert)    urn:altan:certificate:<certificate id>
    processing run (transformationID)    urn:altan:run:<run id>
    case, assay sample                   urn:altan:case:<id>, urn:altan:sample:<id>
    event (eventID)                      urn:altan:event:<hex leaf hash of its entry>

Quantities keep the ledger's exact integers: ore in grams (UN/ECE Rec. 20 code GRM),
gold in milligrams (MGM); fineness in parts per thousand (NX). eventTime is the body's
`occurred_at` with its own UTC offset (seconds added when the device left them out),
eventTimeZoneOffset that offset, recordTime the log's time. Every event carries, in the
`altan:` namespace declared in the document's @context, its ledger index, the base64 leaf
hash of its entry (check it with `/log/proof/inclusion`), the ledger event type and the
recording actor. The entry's `staff` (which of the actor's staff recorded it) is not
exported: it is the actor's internal business, not the supply chain's.

Never exported: personal data and prices (bodies hold only their commitments, and the
commitments are left out too: they open nothing without the off-log data), nor any free
text (notes, reasons, descriptions, resolutions, names of foreign parties and refineries),
which could carry personal data.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol
from urllib.parse import quote

from ledger.encoding import b64encode

EPCIS_CONTEXT = "https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld"
ALTAN_NAMESPACE = "https://altan-ledger.org/epcis/"
SCHEMA_VERSION = "2.0"
MEDIA_TYPE = "application/ld+json"

# UN/ECE Recommendation 20 common codes.
UOM = {"g": "GRM", "mg": "MGM"}
PARTS_PER_THOUSAND = "NX"
# The chemical substance of a fineness measurement: gold (InChI=1S/Au).
GOLD = "https://identifiers.org/inchikey:PCHJSUWPFVWCPO-UHFFFAOYSA-N"

NOT_EXPORTED: dict[str, str] = {
    "actor.registered": "master data, not an observation of objects",
    "actor.status_changed": "master data (a suspension shows as refused events, not here)",
    "actor.key_added": "key management",
    "actor.key_revoked": "key management",
    "site.registered": "master data",
    "site.status_changed": "master data",
    "certificate.requested": "the certificate it leads to is exported",
    "case.responded": "free text of a case's lifecycle",
    "case.escalated": "free text of a case's lifecycle",
    "witness.registered": "log operations",
    "witness.removed": "log operations",
}
# Exported only when a condition holds; otherwise not exported.
CONDITIONAL: dict[str, str] = {
    "case.opened": "a hold (kind hold); red flags and disputes are not exported",
    "case.resolved": "the resolution of a hold",
    "correction.recorded": "a correction of an exported entry",
}


class MissingFact(LookupError):
    """The projection does not know a fact a logged event refers to (out of step)."""


@dataclass(frozen=True)
class Logged:
    """One log entry as the mapping sees it."""

    index: int
    leaf_hash: bytes
    time: str  # the log's time, RFC 3339 UTC
    type: str
    actor: str
    body: Mapping[str, Any]


@dataclass(frozen=True)
class OfferFacts:
    lot: str
    seller: str
    buyer: str


@dataclass(frozen=True)
class CaseFacts:
    kind: str
    target_kind: str
    target_id: str


class Facts(Protocol):
    """What the mapping needs to know beyond an entry; each raises MissingFact."""

    def lot_unit(self, lot: str) -> str:
        """'g' for an ore lot, 'mg' for a gold lot."""
        ...

    def remaining_at(self, lot: str, index: int) -> int:
        """The lot's mass left just before the entry at `index`, in its unit."""
        ...

    def offer(self, offer: str) -> OfferFacts: ...

    def case(self, case: str) -> CaseFacts: ...

    def certificate_lot(self, certificate: str) -> str: ...

    def entries(self, indices: Sequence[int]) -> dict[int, Logged]:
        """Entries of the log by index (those that exist)."""
        ...


# --- identifiers ------------------------------------------------------------------------


def urn(kind: str, ident: str) -> str:
    """`urn:altan:<kind>:<id>`, the id percent-encoded beyond URN-safe characters."""
    return f"urn:altan:{kind}:{quote(ident, safe=':')}"


def lot_uri(lot: str) -> str:
    return urn("lot", lot)


def party_uri(actor: str) -> str:
    return urn("actor", actor)


def location_uri(actor: str) -> str:
    return urn("location", actor)


def site_uri(site: str) -> str:
    return urn("site", site)


def event_id(leaf_hash: bytes) -> str:
    return urn("event", leaf_hash.hex())


# --- time -------------------------------------------------------------------------------

_MOMENT = re.compile(r"(\d{4}-\d{2}-\d{2}T\d{2}:\d{2})(:\d{2}(?:\.\d{1,6})?)?(Z|[+-]\d{2}:(\d{2}))")
_MAX_OFFSET = timedelta(hours=14)


def event_time(moment: str) -> tuple[str, str] | None:
    """(eventTime, eventTimeZoneOffset) of an RFC 3339 moment, its own offset kept; None
    when EPCIS cannot state it (no valid date, or an offset beyond +-14:00)."""
    m = _MOMENT.fullmatch(moment)
    if m is None:
        return None
    base, seconds, zone, minutes = m.groups()
    text = base + (seconds or ":00") + zone
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    offset = parsed.utcoffset()
    if offset is None or abs(offset) > _MAX_OFFSET or (minutes and int(minutes) > 59):
        return None
    return text, "+00:00" if zone == "Z" else zone


def instant(text: str) -> datetime:
    """An eventTime or recordTime as an aware datetime (for period filters)."""
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


# --- building blocks --------------------------------------------------------------------


def _quantity(lot: str, mass: int, unit: str) -> dict[str, Any]:
    return {"epcClass": lot_uri(lot), "quantity": mass, "uom": UOM[unit]}


def _held(facts: Facts, lot: str, index: int) -> dict[str, Any]:
    """A lot with the mass it had just before entry `index`."""
    return _quantity(lot, facts.remaining_at(lot, index), facts.lot_unit(lot))


def _parties(kind: str, actors: Iterable[tuple[str, str]]) -> list[dict[str, str]]:
    """sourceList / destinationList items: (type, actor) pairs."""
    return [{"type": t, kind: party_uri(a)} for t, a in actors]


def _at(actor: str) -> dict[str, Any]:
    return {"readPoint": {"id": location_uri(actor)}, "bizLocation": {"id": location_uri(actor)}}


def _header(kind: str, e: Logged) -> dict[str, Any]:
    when = event_time(str(e.body.get("occurred_at", "")))
    out: dict[str, Any] = {"type": kind, "eventID": event_id(e.leaf_hash)}
    if when is None:  # the recorded moment cannot be stated in EPCIS: use the log's time
        out.update(eventTime=e.time, eventTimeZoneOffset="+00:00")
    else:
        out.update(eventTime=when[0], eventTimeZoneOffset=when[1])
    out["recordTime"] = e.time
    return out


def _ledger(e: Logged) -> dict[str, Any]:
    """The `altan:` extension every event carries: where it is in the log."""
    out: dict[str, Any] = {
        "altan:ledgerIndex": e.index,
        "altan:leafHash": b64encode(e.leaf_hash),
        "altan:eventType": e.type,
        "altan:recordedBy": party_uri(e.actor),
    }
    if event_time(str(e.body.get("occurred_at", ""))) is None:
        out["altan:occurredAt"] = str(e.body.get("occurred_at", ""))
    return out


Fields = dict[str, Any]
Mapper = Callable[[Logged, Facts], Fields | None]
MAPPERS: dict[str, Mapper] = {}
# The extension keys that say where an event is in the log (not part of its content).
LEDGER_KEYS = frozenset(
    {
        "altan:ledgerIndex",
        "altan:leafHash",
        "altan:eventType",
        "altan:recordedBy",
        "altan:occurredAt",
    }
)


def _maps(event_type: str) -> Callable[[Mapper], Mapper]:
    def register(fn: Mapper) -> Mapper:
        MAPPERS[event_type] = fn
        return fn

    return register


class Unmappable(Exception):
    """An entry whose body the mapping cannot read (an old entry, logged before the edge
    checked everything, that lacks a field or holds a value of another type)."""

    def __init__(self, index: int, reason: str) -> None:
        super().__init__(reason)
        self.index = index
        self.reason = reason


def map_entry(e: Logged, facts: Facts) -> dict[str, Any] | None:
    """The EPCIS event of one entry, or None when its type is not exported; raises
    Unmappable when the entry's body is not what its type promises."""
    mapper = MAPPERS.get(e.type)
    if mapper is None:
        return None
    try:
        return mapper(e, facts)
    except (KeyError, TypeError, ValueError, AttributeError, OverflowError) as exc:
        raise Unmappable(e.index, f"{type(exc).__name__} reading its body") from None


def _event(kind: str, e: Logged, fields: Fields) -> Fields:
    """An EPCIS event: the header from the entry, then `fields`, then the ledger extension."""
    return {**_header(kind, e), **fields, **_ledger(e)}


def epcis_document(events: Sequence[Mapping[str, Any]], created: str) -> dict[str, Any]:
    """An EPCISDocument holding `events`; `created` is its RFC 3339 creationDate."""
    return {
        "@context": [EPCIS_CONTEXT, {"altan": ALTAN_NAMESPACE}],
        "type": "EPCISDocument",
        "schemaVersion": SCHEMA_VERSION,
        "creationDate": created,
        "epcisBody": {"eventList": list(events)},
    }


# --- lots -------------------------------------------------------------------------------


@_maps("ore.delivered")
def _delivered(e: Logged, facts: Facts) -> Fields:
    b = e.body
    ilmd: Fields = {"altan:site": site_uri(b["site"]), "altan:minedOn": b["mined_on"]}
    if b.get("moisture_permille") is not None:
        ilmd["altan:moisturePermille"] = b["moisture_permille"]
    return _event(
        "ObjectEvent",
        e,
        {
            "action": "ADD",
            "quantityList": [_quantity(b["lot"], b["mass_g"], "g")],
            "bizStep": "commissioning",
            "disposition": "active",
            **_at(e.actor),
            "sourceList": [
                *_parties(
                    "source", [("possessing_party", b["miner"]), ("owning_party", b["miner"])]
                ),
                {"type": "location", "source": site_uri(b["site"])},
            ],
            "destinationList": [
                *_parties(
                    "destination", [("possessing_party", e.actor), ("owning_party", b["miner"])]
                ),
                {"type": "location", "destination": location_uri(e.actor)},
            ],
            "ilmd": ilmd,
        },
    )


@_maps("processing.recorded")
def _processed(e: Logged, facts: Facts) -> Fields:
    b = e.body
    ilmd: Fields = {
        "altan:method": b["method"],
        "altan:mercuryFree": b["mercury_free"],
        "altan:startedOn": b["started_on"],
        "altan:finishedOn": b["finished_on"],
        "altan:forms": [
            {"altan:lot": lot_uri(out["lot"]), "altan:form": out["form"]} for out in b["outputs"]
        ],
    }
    if b.get("tailings_g") is not None:
        ilmd["altan:tailingsGrams"] = b["tailings_g"]
    return _event(
        "TransformationEvent",
        e,
        {
            "inputQuantityList": [_quantity(i["lot"], i["mass_g"], "g") for i in b["inputs"]],
            "outputQuantityList": [_quantity(o["lot"], o["mass_mg"], "mg") for o in b["outputs"]],
            "transformationID": urn("run", b["run"]),
            "bizStep": "commissioning",
            "disposition": "active",
            **_at(e.actor),
            "ilmd": ilmd,
        },
    )


@_maps("assay.recorded")
def _assayed(e: Logged, facts: Facts) -> Fields:
    b = e.body
    fields: Fields = {
        "action": "OBSERVE",
        "quantityList": [_held(facts, b["lot"], e.index)],
        "bizStep": "inspecting",
        "readPoint": {"id": location_uri(e.actor)},
        "sensorElementList": [
            {
                "sensorReport": [
                    {
                        "type": "Dimensionless",
                        "chemicalSubstance": GOLD,
                        "value": b["fineness_ppt"],
                        "uom": PARTS_PER_THOUSAND,
                    }
                ]
            }
        ],
        "altan:assayMethod": b.get("method", "fire_assay"),
    }
    if b.get("sample") is not None:
        fields["altan:sample"] = urn("sample", b["sample"])
    return _event("ObjectEvent", e, fields)


@_maps("lot.split")
def _split(e: Logged, facts: Facts) -> Fields:
    b = e.body
    parts = [(p["lot"], p["mass_mg"]) for p in b["into"]]
    # the lot = its parts + what the split lost (`loss_mg`, absent in older entries); the
    # loss is stated as a quantity, its reason is free text and stays out (see above)
    loss = b.get("loss_mg") if type(b.get("loss_mg")) is int else 0
    fields: Fields = {
        "inputQuantityList": [_quantity(b["lot"], sum(m for _, m in parts) + loss, "mg")],
        "outputQuantityList": [_quantity(lot, m, "mg") for lot, m in parts],
        **_at(e.actor),
    }
    if loss:
        fields["altan:lossQuantity"] = {"quantity": loss, "uom": UOM["mg"]}
    return _event("TransformationEvent", e, fields)


@_maps("lots.merged")
def _merged(e: Logged, facts: Facts) -> Fields:
    b = e.body
    inputs = [_held(facts, lot, e.index) for lot in b["lots"]]
    total = sum(int(q["quantity"]) for q in inputs)
    return _event(
        "TransformationEvent",
        e,
        {
            "inputQuantityList": inputs,
            "outputQuantityList": [_quantity(b["into"], total, facts.lot_unit(b["into"]))],
            **_at(e.actor),
        },
    )


# --- transfers --------------------------------------------------------------------------


def _trade(offer: str, o: OfferFacts, quantity: Fields) -> Fields:
    return {
        "bizTransactionList": [{"type": "po", "bizTransaction": urn("offer", offer)}],
        "quantityList": [quantity],
        "sourceList": _parties(
            "source", [("owning_party", o.seller), ("possessing_party", o.seller)]
        ),
        "destinationList": _parties(
            "destination", [("owning_party", o.buyer), ("possessing_party", o.buyer)]
        ),
    }


@_maps("transfer.offered")
def _offered(e: Logged, facts: Facts) -> Fields:
    b = e.body
    o = OfferFacts(lot=b["lot"], seller=e.actor, buyer=b["to"])
    trade = _trade(b["offer"], o, _held(facts, o.lot, e.index))
    return _event(
        "TransactionEvent",
        e,
        {
            "bizTransactionList": trade.pop("bizTransactionList"),
            "action": "ADD",
            **trade,
            **_at(e.actor),
        },
    )


@_maps("transfer.accepted")
def _accepted(e: Logged, facts: Facts) -> Fields:
    offer = e.body["offer"]
    o = facts.offer(offer)
    return _event(
        "ObjectEvent",
        e,
        {
            "action": "OBSERVE",
            "bizStep": "accepting",
            **_at(e.actor),
            **_trade(offer, o, _held(facts, o.lot, e.index)),
        },
    )


def _withdrawn(e: Logged, facts: Facts) -> Fields:
    offer = e.body["offer"]
    o = facts.offer(offer)
    trade = _trade(offer, o, _held(facts, o.lot, e.index))
    return _event(
        "TransactionEvent",
        e,
        {
            "bizTransactionList": trade.pop("bizTransactionList"),
            "action": "DELETE",
            **trade,
            "readPoint": {"id": location_uri(e.actor)},
        },
    )


_maps("transfer.rejected")(_withdrawn)
_maps("transfer.cancelled")(_withdrawn)


# --- export and refining ----------------------------------------------------------------


def _destination(b: Mapping[str, Any]) -> Fields:
    dest = b.get("destination")
    if not dest:
        return {}
    out: Fields = {"altan:destinationCountry": dest["country"]}
    if dest.get("permit") is not None:
        out["altan:exportPermit"] = dest["permit"]
    return out


@_maps("lot.exported")
def _exported(e: Logged, facts: Facts) -> Fields:
    b = e.body
    return _event(
        "ObjectEvent",
        e,
        {
            "action": "OBSERVE",
            "quantityList": [_held(facts, b["lot"], e.index)],
            "bizStep": "departing",
            "disposition": "in_transit",
            "readPoint": {"id": location_uri(e.actor)},
            "sourceList": _parties(
                "source", [("owning_party", e.actor), ("possessing_party", e.actor)]
            ),
            **_destination(b),
        },
    )


@_maps("lot.refined")
def _refined(e: Logged, facts: Facts) -> Fields:
    b = e.body
    return _event(
        "ObjectEvent",
        e,
        {
            "action": "DELETE",
            "quantityList": [_held(facts, b["lot"], e.index)],
            "bizStep": "decommissioning",
            "disposition": "inactive",
            "readPoint": {"id": location_uri(e.actor)},
            **_destination(b),
        },
    )


# --- holds --------------------------------------------------------------------------------


def _hold_target(e: Logged, facts: Facts, kind: str, target: str) -> Fields:
    """What a hold is on: a lot (with its mass then) or everything at a place."""
    if kind == "lot":
        return {"quantityList": [_held(facts, target, e.index)]}
    where = site_uri(target) if kind == "site" else location_uri(target)
    return {"epcList": [], "bizLocation": {"id": where}}


def _target_uri(kind: str, target: str) -> str:
    return {"lot": lot_uri, "site": site_uri}.get(kind, party_uri)(target)


@_maps("case.opened")
def _case_opened(e: Logged, facts: Facts) -> Fields | None:
    b = e.body
    if b["kind"] != "hold":
        return None
    kind, target = b["target"]["kind"], b["target"]["id"]
    return _event(
        "ObjectEvent",
        e,
        {
            "action": "OBSERVE",
            **_hold_target(e, facts, kind, target),
            "bizStep": "holding",
            "disposition": "non_sellable_other",
            "persistentDisposition": {"set": ["non_sellable_other"]},
            "altan:case": urn("case", b["case"]),
            "altan:caseCategory": b["category"],
            "altan:caseTarget": _target_uri(kind, target),
        },
    )


@_maps("case.resolved")
def _case_resolved(e: Logged, facts: Facts) -> Fields | None:
    case = facts.case(e.body["case"])
    if case.kind != "hold":
        return None
    return _event(
        "ObjectEvent",
        e,
        {
            "action": "OBSERVE",
            **_hold_target(e, facts, case.target_kind, case.target_id),
            "bizStep": "holding",
            "persistentDisposition": {"unset": ["non_sellable_other"]},
            "altan:case": urn("case", e.body["case"]),
            "altan:caseTarget": _target_uri(case.target_kind, case.target_id),
        },
    )


# --- certificates -------------------------------------------------------------------------


def _certified(lot: Fields, certificate: str, info: Fields) -> Fields:
    return {
        "action": "OBSERVE",
        "quantityList": [lot],
        "bizTransactionList": [{"type": "cert", "bizTransaction": urn("certificate", certificate)}],
        "altan:certificationInfo": {"altan:certificate": urn("certificate", certificate), **info},
    }


@_maps("certificate.issued")
def _issued(e: Logged, facts: Facts) -> Fields:
    b = e.body
    info: Fields = {"altan:kind": b["kind"], "altan:reflectsIndex": b["entry"]}
    if b.get("supersedes") is not None:
        info["altan:supersedes"] = urn("certificate", b["supersedes"])
    info["altan:token"] = b["token"]
    return _event(
        "ObjectEvent", e, _certified(_held(facts, b["lot"], e.index), b["certificate"], info)
    )


@_maps("certificate.revoked")
def _revoked(e: Logged, facts: Facts) -> Fields:
    certificate = e.body["certificate"]
    lot = _held(facts, facts.certificate_lot(certificate), e.index)
    return _event("ObjectEvent", e, _certified(lot, certificate, {"altan:status": "revoked"}))


# --- corrections (EPCIS error declarations) -----------------------------------------------


@_maps("correction.recorded")
def _correction(e: Logged, facts: Facts) -> Fields | None:
    """The corrected entry's event again, declared in error (EPCIS 2.0 error declaration):
    the same eventID, time and content, this entry's recordTime, an errorDeclaration naming
    the replacing entries' events, and this entry's own place in the log."""
    b = e.body
    replaced_by: list[int] = list(b.get("replaced_by", []))
    found = facts.entries([b["corrects"], *replaced_by])
    wrong = found.get(b["corrects"])
    if wrong is None or wrong.type == "correction.recorded":
        return None
    original = map_entry(wrong, facts)
    if original is None:
        return None
    declared = event_time(str(b.get("occurred_at", "")))
    event = {k: v for k, v in original.items() if k not in LEDGER_KEYS}
    event["recordTime"] = e.time
    event["errorDeclaration"] = {
        "declarationTime": e.time if declared is None else declared[0],
        "reason": "incorrect_data",
        "correctiveEventIDs": [event_id(found[i].leaf_hash) for i in replaced_by if i in found],
    }
    return {**event, **_ledger(e), "altan:corrects": b["corrects"]}
