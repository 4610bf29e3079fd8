"""The published contract of `POST /events`: every event body, discriminated by `type`.

At run time `/events` parses a request as `schemas.api.EventIn` (a `type` string and a
free-form `body`) and the service then checks, in this order, that the type exists (404),
that the caller's role may record it (403) and only then the body against its model in
`schemas.events` (422). That order is part of the promised behaviour (a stranger to a type
learns nothing of its body's rules), so the parsing stays as it is; this module only
*describes* it: the OpenAPI document's `EventIn` becomes a `oneOf` of one request model
per event type, `{type: <const>, body: <its body model>, private?, signature?,
idempotency_key?}`, with a `discriminator` on `type` and a realistic example of each.

The examples are one scenario, `SCENARIO`: a season at a processing centre in Bornuur
(Töv aimag), each step recorded by the actor named, in order, on a fresh log. The tests
post them through the real server (tests/services/test_openapi_contract.py), so they cannot rot.
Two values of that scenario cannot be known before it runs and are stated as a reader
would see them: the index of the entry a correction corrects, and the id of the
certificate revoked (a hash of a token signed at issue time).
"""

from __future__ import annotations

import copy
import inspect
from dataclasses import dataclass
from typing import Annotated, Any, Final, Literal, Union

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, create_model

from schemas.api import SignatureIn
from schemas.events import EVENT_BODIES
from schemas.types import Identifier

# --- the private data that opens a commitment (kept off the log) ---------------------------

Salt = Annotated[
    str,
    Field(
        pattern=r"^[0-9a-f]{64}$",
        description="32 random bytes as 64 lowercase hex digits; a new salt for every value",
    ),
]


class PersonalPrivate(BaseModel):
    """Opens `personal_commitment` = SHA-256(salt || RFC 8785 JSON of `personal`); kept in
    `personal_records`, never in the log, and erased on a lawful request."""

    model_config = ConfigDict(extra="forbid", strict=True)

    personal: Annotated[
        dict[str, Any],
        Field(description="the person's data, e.g. name, national_id, phone (at most 16 KiB)"),
    ]
    salt: Salt


class Price(BaseModel):
    """A price, kept off the log (`offer_prices`)."""

    model_config = ConfigDict(extra="forbid", strict=True)

    amount: Annotated[str, Field(pattern=r"^\d{1,30}(\.\d{1,8})?$", description="decimal")]
    currency: Annotated[str, Field(pattern=r"^[A-Z]{3}$", description="ISO 4217")]
    note: Annotated[str, Field(max_length=2000)] | None = None


class PricePrivate(BaseModel):
    """Opens `price_commitment` = SHA-256(salt || RFC 8785 JSON of `price`); readable by
    the two parties, auditors and regulators only."""

    model_config = ConfigDict(extra="forbid", strict=True)

    price: Price
    salt: Salt


# Which event types take private data, and its shape (the others refuse any, 422).
PRIVATE_DATA: Final[dict[str, type[BaseModel]]] = {
    "actor.registered": PersonalPrivate,
    "transfer.offered": PricePrivate,
}
# Recorded by the system only (an answer to another event); any role posting it gets 403.
SYSTEM_ONLY: Final = frozenset({"certificate.issued"})


# --- the scenario --------------------------------------------------------------------------


@dataclass(frozen=True)
class Example:
    """One step of the scenario: who records it, a one-line summary and the request."""

    actor: str
    summary: str
    request: dict[str, Any]

    @property
    def type(self) -> str:
        return str(self.request["type"])


def _step(actor: str, summary: str, type_: str, body: dict[str, Any], **extra: Any) -> Example:
    return Example(actor, summary, {"type": type_, "body": body, **extra})


ADMIN: Final = "admin:root"  # the first administrator (`altan init`)
REGULATOR: Final = "regulator:mrpam"
AUDITOR: Final = "auditor:mrpam-audit"
CENTRE: Final = "centre:bornuur-2"
PARTNERSHIP: Final = "partnership:tuul"
CENTRAL_BANK: Final = "buyer:mongolbank"
EXPORTER: Final = "buyer:khan-export"
LAB: Final = "lab:darkhan"

_BORNUUR: Final = {"aimag": "Töv", "soum": "Bornuur"}
_CENTRE_KEY: Final = {
    "key_id": "1bba9152",
    "public_key": "RFAVkZ/nZz/8YOF1FQZE7R4BcEtJbUG6fpVenU4SlTk=",
}
_PERSONAL_SALT: Final = "70feecc649c0d045d658554f64e7fece3c9d0dc7a71089ab2ed65fbd6c9da9ae"
_PRICE_SALT: Final = "43fdbb492a4cef2922f629ebc92740e31308e924fa77a6629438f46fc423d852"

SCENARIO: Final[tuple[Example, ...]] = (
    # registrations: the cast, by the administrator (officers) or a regulator
    _step(ADMIN, "a regulator: the minerals authority", "actor.registered", {
        "occurred_at": "2026-09-01T09:00:00+08:00",
        "actor": REGULATOR, "role": "regulator",
        "region": {"aimag": "Ulaanbaatar", "soum": "Chingeltei"},
    }),
    _step(ADMIN, "an auditor", "actor.registered", {
        "occurred_at": "2026-09-01T09:02:00+08:00",
        "actor": AUDITOR, "role": "auditor",
    }),
    _step(REGULATOR, "a processing centre with its licence", "actor.registered", {
        "occurred_at": "2026-09-01T09:05:00+08:00",
        "actor": CENTRE, "role": "processing_centre", "region": _BORNUUR,
        "licence": {"number": "MV-017342", "valid_from": "2025-03-01",
                    "valid_until": "2030-02-28"},
    }),
    _step(REGULATOR, "a miners' partnership; its head's personal data stays off the log",
          "actor.registered", {
        "occurred_at": "2026-09-01T09:10:00+08:00",
        "actor": PARTNERSHIP, "role": "partnership", "members": 6, "region": _BORNUUR,
        "personal_commitment":
            "ed508a2af6968db92ec45a8365817d1dff513eff02d196e44a0b7e45f5b4d6dc",
    }, private={
        "personal": {"name": "Дорж Батбаяр", "national_id": "УБ85031214",
                     "phone": "+976 9911 2233"},
        "salt": _PERSONAL_SALT,
    }),
    _step(REGULATOR, "a buyer: the central bank", "actor.registered", {
        "occurred_at": "2026-09-01T09:15:00+08:00",
        "actor": CENTRAL_BANK, "role": "buyer", "buyer_kind": "central_bank",
        "region": {"aimag": "Ulaanbaatar", "soum": "Chingeltei"},
    }),
    _step(REGULATOR, "a buyer: a licensed exporter", "actor.registered", {
        "occurred_at": "2026-09-01T09:20:00+08:00",
        "actor": EXPORTER, "role": "buyer", "buyer_kind": "exporter",
        "region": {"aimag": "Ulaanbaatar", "soum": "Khan-Uul"},
    }),
    _step(REGULATOR, "an assay laboratory", "actor.registered", {
        "occurred_at": "2026-09-01T09:25:00+08:00",
        "actor": LAB, "role": "laboratory", "region": {"aimag": "Darkhan-Uul", "soum": "Darkhan"},
    }),
    _step(REGULATOR, "the partnership's mine site, with its permit", "site.registered", {
        "occurred_at": "2026-09-01T09:40:00+08:00",
        "site": "SITE-TUUL-1", "owner": PARTNERSHIP, "region": _BORNUUR,
        "lat": "48.51234", "lon": "106.27123",
        "permit": {"number": "XV-021345", "valid_from": "2024-05-01",
                   "valid_until": "2029-04-30"},
        "capacity_g_per_year": 900000000,
    }),
    _step(CENTRE, "the centre registers its tablet's Ed25519 key to sign its events",
          "actor.key_added", {
        "occurred_at": "2026-09-02T08:30:00+08:00",
        "actor": CENTRE, "key": _CENTRE_KEY,
    }),
    # delivery: ore in grams
    _step(CENTRE, "1.2 t of ore received from the partnership", "ore.delivered", {
        "occurred_at": "2026-09-14T10:12:00+08:00",
        "lot": "ORE-TUUL-0001", "miner": PARTNERSHIP, "site": "SITE-TUUL-1",
        "mass_g": 1200000, "mined_on": "2026-09-10", "moisture_permille": 45,
        "notes": "Шуудай 24, тус бүр 50 кг",
    }),
    _step(CENTRE, "a second delivery, 950 kg", "ore.delivered", {
        "occurred_at": "2026-09-14T10:40:00+08:00",
        "lot": "ORE-TUUL-0002", "miner": PARTNERSHIP, "site": "SITE-TUUL-1",
        "mass_g": 950000, "mined_on": "2026-09-11",
    }),
    _step(CENTRE, "the centre flags a mistake in its own entry (the entry stays)",
          "correction.recorded", {
        "occurred_at": "2026-09-14T11:05:00+08:00",
        "corrects": 12,
        "reason": "ORE-TUUL-0002: жинлүүр буруу тохируулагдсан байсан, бодит жин 905 кг",
    }),
    # processing run: ore in grams in, gold in milligrams out
    _step(CENTRE, "a gravity run: ore in (g), two doré lots out (mg)", "processing.recorded", {
        "occurred_at": "2026-09-16T17:30:00+08:00",
        "run": "RUN-BORNUUR-0001",
        "inputs": [{"lot": "ORE-TUUL-0001", "mass_g": 1200000}],
        "outputs": [
            {"lot": "AU-TUUL-0001", "form": "dore", "mass_mg": 6400},
            {"lot": "AU-TUUL-0002", "form": "dore", "mass_mg": 3200},
        ],
        "tailings_g": 1190000, "method": "gravity", "mercury_free": True,
        "started_on": "2026-09-15", "finished_on": "2026-09-16",
    }),
    # assay
    _step(LAB, "fineness of a doré lot, in parts per thousand", "assay.recorded", {
        "occurred_at": "2026-09-18T14:20:00+08:00",
        "lot": "AU-TUUL-0001", "fineness_ppt": 823, "sample": "S-DRK-2026-0457",
        "method": "fire_assay",
    }),
    # certificates: the custodian asks, the system answers with certificate.issued
    _step(CENTRE, "the custodian asks for the lot's certificate", "certificate.requested", {
        "occurred_at": "2026-09-20T11:00:00+08:00",
        "lot": "AU-TUUL-0001",
    }),
    # split and merge: mass conserved exactly, a stated loss included
    _step(CENTRE, "a lot cut in two; 20 mg lost, with the reason", "lot.split", {
        "occurred_at": "2026-09-21T10:00:00+08:00",
        "lot": "AU-TUUL-0001",
        "into": [{"lot": "AU-TUUL-0001-A", "mass_mg": 4000},
                 {"lot": "AU-TUUL-0001-B", "mass_mg": 2380}],
        "loss_mg": 20, "loss_reason": "Хайчлах, дахин хайлуулах үеийн хорогдол",
    }),
    _step(CENTRE, "two doré lots melted into one", "lots.merged", {
        "occurred_at": "2026-09-21T15:30:00+08:00",
        "lots": ["AU-TUUL-0001-B", "AU-TUUL-0002"], "into": "AU-TUUL-0003",
    }),
    # cases
    _step(AUDITOR, "an auditor raises a red flag on the site", "case.opened", {
        "occurred_at": "2026-09-22T09:00:00+08:00",
        "case": "CASE-2026-0031", "kind": "red_flag",
        "target": {"kind": "site", "id": "SITE-TUUL-1"},
        "category": "capacity_inconsistent",
        "description": "Сарын хүдрийн нийлүүлэлт тусгай зөвшөөрлийн хүчин чадлаас давсан",
        "parties": [PARTNERSHIP],
    }),
    _step(PARTNERSHIP, "the site's owner answers", "case.responded", {
        "occurred_at": "2026-09-23T16:45:00+08:00",
        "case": "CASE-2026-0031",
        "response": "Хоёр дахь уурхайн амнаас олборлосон хүдэр, баримтыг хавсаргав",
    }),
    _step(AUDITOR, "escalated to the regulator", "case.escalated", {
        "occurred_at": "2026-09-24T10:00:00+08:00",
        "case": "CASE-2026-0031", "to": REGULATOR,
        "reason": "Тусгай зөвшөөрлийн хүрээг шалгах шаардлагатай",
    }),
    # offers and transfers: the price stays off the log, bound by its commitment
    _step(CENTRE, "an offer to the central bank; the price in private, committed",
          "transfer.offered", {
        "occurred_at": "2026-09-25T09:30:00+08:00",
        "offer": "OFFER-2026-0001", "lot": "AU-TUUL-0003", "to": CENTRAL_BANK,
        "price_commitment":
            "ad992b955bce9841b853e382efccbef0683dae917ca96f7cc3a8287dd8564d0c",
    }, private={
        "price": {"amount": "1327000", "currency": "MNT",
                  "note": "Монголбанкны 2026-09-25-ны ханшаар, 823 пробын цэвэр алтаар"},
        "salt": _PRICE_SALT,
    }),
    _step(CENTRAL_BANK, "the buyer accepts: it becomes the custodian", "transfer.accepted", {
        "occurred_at": "2026-09-25T14:00:00+08:00",
        "offer": "OFFER-2026-0001",
    }),
    _step(CENTRE, "another offer to the central bank", "transfer.offered", {
        "occurred_at": "2026-09-26T09:00:00+08:00",
        "offer": "OFFER-2026-0002", "lot": "AU-TUUL-0001-A", "to": CENTRAL_BANK,
    }),
    _step(CENTRAL_BANK, "the buyer rejects it, saying why", "transfer.rejected", {
        "occurred_at": "2026-09-26T15:10:00+08:00",
        "offer": "OFFER-2026-0002", "reason": "Энэ сард худалдан авах хязгаар хүрсэн",
    }),
    _step(CENTRE, "an offer to the exporter", "transfer.offered", {
        "occurred_at": "2026-09-27T09:00:00+08:00",
        "offer": "OFFER-2026-0003", "lot": "AU-TUUL-0001-A", "to": EXPORTER,
    }),
    _step(CENTRE, "the centre withdraws it", "transfer.cancelled", {
        "occurred_at": "2026-09-27T11:20:00+08:00",
        "offer": "OFFER-2026-0003", "reason": "Үнийн саналыг шинэчилнэ",
    }),
    _step(CENTRE, "offered again to the exporter", "transfer.offered", {
        "occurred_at": "2026-09-28T09:00:00+08:00",
        "offer": "OFFER-2026-0004", "lot": "AU-TUUL-0001-A", "to": EXPORTER,
    }),
    _step(EXPORTER, "the exporter accepts", "transfer.accepted", {
        "occurred_at": "2026-09-28T13:40:00+08:00",
        "offer": "OFFER-2026-0004",
    }),
    # where the gold leaves the chain
    _step(CENTRAL_BANK, "the central bank has its lot refined", "lot.refined", {
        "occurred_at": "2026-09-30T10:00:00+08:00",
        "lot": "AU-TUUL-0003", "refinery": "Монголбанкны үнэт металлын цэвэршүүлэх үйлдвэр",
    }),
    _step(EXPORTER, "the exporter ships its lot abroad", "lot.exported", {
        "occurred_at": "2026-10-02T08:15:00+08:00",
        "lot": "AU-TUUL-0001-A",
        "destination": {"country": "CH", "party": "Argor-Heraeus SA",
                        "permit": "EXP-2026-0193"},
    }),
    _step(REGULATOR, "the regulator closes the case", "case.resolved", {
        "occurred_at": "2026-10-05T11:00:00+08:00",
        "case": "CASE-2026-0031",
        "resolution": "Хоёр дахь ам тусгай зөвшөөрлийн хүрээнд байна; зөрчилгүй",
    }),
    _step(REGULATOR, "a certificate revoked, with the reason", "certificate.revoked", {
        "occurred_at": "2026-10-06T09:30:00+08:00",
        "certificate": "5f0c2a8e9d4b17c3a6e8f01b2d9c4e7a",
        "reason": "Гэрчилгээний хэвлэмэл хуулбар алдагдсан",
    }),
    # status changes
    _step(REGULATOR, "a site suspended", "site.status_changed", {
        "occurred_at": "2026-10-07T10:00:00+08:00",
        "site": "SITE-TUUL-1", "status": "suspended",
        "reason": "Нөхөн сэргээлтийн төлөвлөгөө хугацаандаа ирүүлээгүй",
    }),
    _step(REGULATOR, "an actor suspended", "actor.status_changed", {
        "occurred_at": "2026-10-08T10:00:00+08:00",
        "actor": PARTNERSHIP, "status": "suspended",
        "reason": "Нөхөн сэргээлтийн төлөвлөгөө хугацаандаа ирүүлээгүй",
    }),
    _step(CENTRE, "the centre revokes the key of a lost tablet", "actor.key_revoked", {
        "occurred_at": "2026-10-09T08:00:00+08:00",
        "actor": CENTRE, "key_id": _CENTRE_KEY["key_id"],
        "reason": "Таблет алдагдсан",
    }),
    # witnesses
    _step(ADMIN, "a witness whose cosignatures the log shows", "witness.registered", {
        "occurred_at": "2026-10-10T09:00:00+08:00",
        "witness": "witness.mrpam.gov.mn/w1",
        "key": "witness.mrpam.gov.mn/w1+841bd6ce+BPTYN/zMA/yWiiePhGYpZz1cfNF40TCttU2pyAcH8SYP",
        "url": "https://witness.mrpam.gov.mn",
    }),
    _step(ADMIN, "the witness removed", "witness.removed", {
        "occurred_at": "2026-10-20T09:00:00+08:00",
        "witness": "witness.mrpam.gov.mn/w1",
        "reason": "Гэрч серверийн түлхүүрийг сольсон",
    }),
)  # fmt: skip

# What the system recorded in answer to `certificate.requested` above (never posted).
SYSTEM_EXAMPLES: Final[tuple[Example, ...]] = (
    _step("system:altan", "the system's answer to a request: the token, as in the QR",
          "certificate.issued", {
        "occurred_at": "2026-09-20T11:00:00+08:00",
        "certificate": "5f0c2a8e9d4b17c3a6e8f01b2d9c4e7a",
        "lot": "AU-TUUL-0001", "kind": "gold_lot", "entry": 16,
        "token": "2UECIDBCAEBBOV2BGVKFKTBNGAYDAMJDKBFQEAQDAEBQEQBVHAYTEMZUGU3TMNZYHE",
    }),
)  # fmt: skip


def examples_by_type() -> dict[str, list[Example]]:
    """Every example of the scenario (and the system's), by event type, in scenario order."""
    out: dict[str, list[Example]] = {type_: [] for type_ in EVENT_BODIES}
    for example in (*SCENARIO, *SYSTEM_EXAMPLES):
        out[example.type].append(example)
    return out


# --- the request models and the OpenAPI schema -----------------------------------------------


def _model_name(type_: str) -> str:
    return EVENT_BODIES[type_].__name__ + "Event"


def request_models() -> dict[str, type[BaseModel]]:
    """One request model per event type: `{type: <const>, body: <its model>, ...}`.

    For the document and for checking examples; `/events` itself parses `EventIn` (see the
    module's docstring for why)."""
    examples = examples_by_type()
    models: dict[str, type[BaseModel]] = {}
    for type_, body in EVENT_BODIES.items():
        private: Any = PRIVATE_DATA.get(type_)
        fields: dict[str, Any] = {
            "type": (Literal[type_], ...),
            "body": (body, ...),
            "signature": (SignatureIn | None, None),
            "idempotency_key": (
                Identifier | None,
                Field(None, description="for batch items; single requests use the header"),
            ),
        }
        if private is not None:
            fields["private"] = (
                private | None,
                Field(None, description="kept off the log; opens the commitment in the body"),
            )
        # a body's own docstring, else what its first example shows
        doc = inspect.cleandoc(body.__doc__ or "") or (examples[type_][0].summary + ".")
        who = "Recorded by the system only." if type_ in SYSTEM_ONLY else ""
        models[type_] = create_model(
            _model_name(type_),
            __config__=ConfigDict(
                extra="forbid",
                title=_model_name(type_),
                json_schema_extra={
                    "description": " ".join(p for p in (f"`{type_}`.", doc, who) if p),
                    "examples": [copy.deepcopy(e.request) for e in examples[type_]],
                },
            ),
            **fields,
        )
    return models


EVENT_IN_DESCRIPTION: Final = (
    "One event to record: its `type` (which selects the body's schema), its `body` (logged "
    "exactly as sent), optional `private` data kept off the log (opening the commitment in the "
    "body: actor.registered and transfer.offered), and an optional actor signature. The server "
    "checks the type (404), the caller's role (403), then the body (422), in this order."
)


def event_union_schema(ref_template: str) -> dict[str, Any]:
    """The JSON Schema of the union of every event request, discriminated by `type`; its
    `$defs` hold the models it refers to (through `ref_template`)."""
    models = list(request_models().values())
    union: Any = Annotated[Union[tuple(models)], Field(discriminator="type")]  # noqa: UP007
    adapter: TypeAdapter[Any] = TypeAdapter(union)
    schema = adapter.json_schema(ref_template=ref_template, mode="validation")
    schema["title"] = "EventIn"
    schema["description"] = EVENT_IN_DESCRIPTION
    return schema


def publish_event_contract(openapi: dict[str, Any]) -> dict[str, Any]:
    """Replace the free-form `EventIn` of an OpenAPI document (used by `POST /events` and
    by the items of `POST /events/batch`) with the union of every event request. Returns
    the same document, changed in place."""
    components: dict[str, Any] = openapi.setdefault("components", {}).setdefault("schemas", {})
    schema = event_union_schema("#/components/schemas/{model}")
    for name, definition in schema.pop("$defs", {}).items():
        known = components.get(name)
        if known is not None and known != definition and name != "EventIn":
            raise RuntimeError(f"two different OpenAPI schemas named {name}")
        components[name] = definition
    components["EventIn"] = schema
    return openapi


def openapi_examples() -> dict[str, dict[str, Any]]:
    """Named examples of the `POST /events` request body, every example of every event
    type a client may post, in scenario order, for the `/docs` page's drop-down."""
    out: dict[str, dict[str, Any]] = {}
    for example in SCENARIO:
        name = example.type
        n = 2
        while name in out:
            name, n = f"{example.type} ({n})", n + 1
        out[name] = {
            "summary": f"{name}: {example.summary} (by {example.actor})",
            "value": copy.deepcopy(example.request),
        }
    return out


def _check() -> None:
    # Every request type has an example (a programming error caught at import).
    missing = [t for t, examples in examples_by_type().items() if not examples]
    if missing:  # pragma: no cover
        raise RuntimeError(f"event types without an example: {missing}")


_check()
__all__ = [
    "PRIVATE_DATA",
    "SCENARIO",
    "SYSTEM_EXAMPLES",
    "SYSTEM_ONLY",
    "Example",
    "event_union_schema",
    "examples_by_type",
    "openapi_examples",
    "publish_event_contract",
    "request_models",
]
