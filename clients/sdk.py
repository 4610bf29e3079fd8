# mypy: disable-error-code="empty-body"
# (the event methods of EventMethods are typed stubs: `_event` gives them their behaviour)
"""A typed Python SDK for the Altan Ledger API (httpx, wire models from `schemas/`).

    from clients.sdk import AltanClient, ActorSigner

    signer = ActorSigner.generate("processing_centre:bornuur")
    with AltanClient("https://ledger.example", token, actor=signer.actor,
                     signing_key=signer.private_key) as altan:
        receipt = altan.deliver_ore(lot="ORE-2026-000123", miner="partnership:bornuur-007",
                                    site="SITE-TOV-0042", mass_g=1_200_000,
                                    mined_on="2026-09-10")
        altan.verify_receipt(receipt)       # signed by the log, inside a signed checkpoint

Every write carries an Idempotency-Key (a fresh uuid4 unless given), so the SDK retries
connection failures and 5xx answers with backoff, and a retry after a lost answer returns
the first receipt instead of recording twice. Events are signed with the actor's Ed25519
key when one is given: the signature covers ``altan/event/v1\\n`` + RFC 8785 JSON of
{type, actor, body}, so the body is sent exactly as built and signed. The convenience
methods check a body against `schemas.events` before sending, so a malformed event fails
at once, with the same error the server would give, even when offline (`clients.outbox`).

Errors: every problem+json answer (RFC 9457) becomes an `AltanError`; the tree::

    AltanError               status, type, title, detail, field, problem (the whole document)
    ├── ClientError          4xx: the request is wrong; sending it again will not help
    │   ├── Unauthenticated  401  no or bad bearer token
    │   ├── Forbidden        403  the role or relationship does not allow it
    │   ├── NotFound         404  an id that does not exist (or a route not deployed yet)
    │   ├── Conflict         409  an id already taken, an Idempotency-Key reused
    │   └── RuleViolation    422  a rule broken (also raised locally for a malformed body)
    ├── ServerError          5xx, after the retries
    └── ConnectionFailed     no answer at all (status 0), after the retries

Verification failures of `verify_receipt` are the core's own `ledger.errors` types.
"""

from __future__ import annotations

import functools
import inspect
import random
import time
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import date, datetime
from types import TracebackType
from typing import Any, Generic, Literal, ParamSpec, TypeVar
from urllib.parse import quote

import httpx
from cryptography.exceptions import InvalidSignature as _CryptoInvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from pydantic import BaseModel, ValidationError

from clients.remote import RemoteLog
from ledger.audit import TrustedKey
from ledger.certificate import parse_qr_text, token_text
from ledger.checkpoint import Checkpoint, open_checkpoint
from ledger.commitment import commit, new_salt
from ledger.encoding import b64decode, b64encode
from ledger.entry import Entry, event_signing_message, receipt_message
from ledger.errors import InvalidSignature, KeyProblem, MalformedInput, OutOfRange, UnknownKey
from ledger.merkle import verify_inclusion
from ledger.note import key_id as note_key_id
from ledger.records import StoredEntry
from schemas.api import (
    PROBLEM_BASE,
    BatchOut,
    EventIn,
    ItemProblem,
    RecordedOut,
    SignatureIn,
    TokenOut,
)
from schemas.events import (
    EVENT_BODIES,
    BuyerKind,
    CaseTarget,
    Destination,
    GoldOutput,
    Licence,
    OreInput,
    PublicKey,
    Region,
    SplitPart,
)
from schemas.roles import RoleName

__all__ = [
    "PROBLEM_BASE",
    "ActorSigner",
    "AltanClient",
    "AltanError",
    "ClientError",
    "Conflict",
    "ConnectionFailed",
    "EventMethods",
    "Forbidden",
    "NotFound",
    "RuleViolation",
    "ServerError",
    "Unauthenticated",
    "actor_key",
    "check_body",
    "local_time",
    "new_idempotency_key",
    "prepare_event",
    "wire_event",
]

USER_AGENT = "altan-ledger-sdk/0.1"
"""Prefix of every problem `type` the service defines (mirrors `services.problems`)."""

RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
MAX_BACKOFF_SECONDS = 30.0
MAX_RETRY_AFTER_SECONDS = 60.0

# --- errors ------------------------------------------------------------------------------


class AltanError(Exception):
    """An RFC 9457 problem from the service (or, for `ConnectionFailed`, no answer at all).

    `problem` is the whole problem document as received (it may hold more members, such as
    `errors` for a request the framework refused).
    """

    def __init__(
        self,
        status: int,
        type: str,
        title: str,
        detail: str,
        field: str | None = None,
        problem: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.type = type
        self.title = title
        self.detail = detail
        self.field = field
        self.problem: dict[str, Any] = dict(problem) if problem is not None else {}

    @property
    def rule(self) -> str:
        """The rule's slug (`bad-actor-signature`): the last segment of a service `type`."""
        if self.type.startswith(PROBLEM_BASE):
            return self.type[len(PROBLEM_BASE) :]
        return self.type

    def __str__(self) -> str:
        where = f" (field {self.field})" if self.field else ""
        return f"{self.status} {self.title}: {self.detail}{where}"

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(status={self.status}, type={self.type!r}, "
            f"field={self.field!r}, detail={self.detail!r})"
        )

    @classmethod
    def from_problem(cls, problem: Mapping[str, Any], status: int | None = None) -> AltanError:
        """The error of the right class for a problem document (or a batch item's problem)."""
        code = status if status is not None else _int(problem.get("status"), 0)
        field = problem.get("field")
        kind = _error_class(code)
        return kind(
            code,
            str(problem.get("type") or "about:blank"),
            str(problem.get("title") or ""),
            str(problem.get("detail") or ""),
            str(field) if field is not None else None,
            problem,
        )

    @classmethod
    def from_item(cls, problem: ItemProblem) -> AltanError:
        """The error for one failed item of a batch."""
        return cls.from_problem(problem.model_dump(), problem.status)


class ClientError(AltanError):
    """A 4xx answer: the request is wrong and sending it again will not help."""


class Unauthenticated(ClientError):
    """401: no bearer token, or one that is unknown or revoked."""


class Forbidden(ClientError):
    """403: the principal's role or relationship does not allow this."""


class NotFound(ClientError):
    """404: an id that does not exist, or a route this server does not have."""


class Conflict(ClientError):
    """409: an id already taken, or an Idempotency-Key used before with another request."""


class RuleViolation(ClientError):
    """422: a rule broken (also raised before sending, for a body that cannot validate)."""


class ServerError(AltanError):
    """A 5xx answer that persisted through the retries."""


class ConnectionFailed(AltanError):
    """No answer at all (connection refused, timeout, connection dropped), after the retries.

    The status is 0. When a write fails this way its outcome is unknown: send it again with
    the same idempotency key (the SDK does) and the server records it at most once.
    """


_BY_STATUS: dict[int, type[AltanError]] = {
    401: Unauthenticated,
    403: Forbidden,
    404: NotFound,
    409: Conflict,
    422: RuleViolation,
}


def _error_class(status: int) -> type[AltanError]:
    if status in _BY_STATUS:
        return _BY_STATUS[status]
    if 400 <= status < 500:
        return ClientError
    if status >= 500:
        return ServerError
    return AltanError


def _int(value: object, default: int) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else default


def error_from_response(resp: httpx.Response) -> AltanError:
    """The `AltanError` for a 4xx/5xx response (problem+json, or anything else)."""
    problem: dict[str, Any] = {}
    if "json" in resp.headers.get("content-type", ""):
        try:
            doc = resp.json()
        except ValueError:
            doc = None
        if isinstance(doc, dict):
            problem = doc
    if not problem:
        problem = {"title": resp.reason_phrase, "detail": resp.text[:500]}
    problem.setdefault("title", resp.reason_phrase)
    return AltanError.from_problem(problem, resp.status_code)


# --- local checks, time, keys --------------------------------------------------------------


def check_body(type: str, body: Mapping[str, Any]) -> None:
    """Validate a body against `schemas.events` as the server will, raising the same error.

    Unknown type: `NotFound` (field `type`); invalid body: `RuleViolation` with the rule
    `invalid-<pydantic error type>` and the field `body.<path>`. Domain rules (does the lot
    exist, is there enough ore left) are the server's alone.
    """
    model = EVENT_BODIES.get(type)
    if model is None:
        raise NotFound(
            404,
            PROBLEM_BASE + "unknown-event-type",
            "Unknown event type",
            f"no event type {type!r}",
            "type",
        )
    try:
        model.model_validate(dict(body))
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        rule = f"invalid-{first['type'].replace('_', '-')}"
        raise RuleViolation(
            422,
            PROBLEM_BASE + rule,
            rule.replace("-", " ").capitalize(),
            f"body.{where}: {first['msg']}",
            f"body.{where}" if where else "body",
        ) from exc


def local_time(moment: datetime | None = None) -> str:
    """RFC 3339 with the UTC offset, to the second: the field device's local time now, or
    `moment` (a naive datetime is taken as local time)."""
    value = moment if moment is not None else datetime.now()
    return value.astimezone().isoformat(timespec="seconds")


def new_idempotency_key() -> str:
    """A fresh idempotency key (a random UUID)."""
    return str(uuid.uuid4())


def _raw_public(key: Ed25519PublicKey | Ed25519PrivateKey | bytes) -> bytes:
    if isinstance(key, Ed25519PrivateKey):
        key = key.public_key()
    if isinstance(key, Ed25519PublicKey):
        return key.public_bytes(Encoding.Raw, PublicFormat.Raw)
    if isinstance(key, bytes) and len(key) == 32:
        return key
    raise KeyProblem(
        f"expected an Ed25519 key or 32 raw public key bytes, got {type(key).__name__}"
    )


def actor_key(actor: str, key: Ed25519PublicKey | Ed25519PrivateKey | bytes) -> PublicKey:
    """The `{key_id, public_key}` an event body lists for `actor`'s Ed25519 key.

    key_id = hex of SHA-256(actor || 0x0A || 0x01 || public key)[:4], as the server checks.
    """
    raw = _raw_public(key)
    return PublicKey(key_id=note_key_id(actor, raw).hex(), public_key=b64encode(raw))


class ActorSigner:
    """An actor's own Ed25519 key, signing events as that actor."""

    def __init__(self, actor: str, private_key: Ed25519PrivateKey) -> None:
        if not isinstance(private_key, Ed25519PrivateKey):
            raise KeyProblem(
                f"actor key: expected an Ed25519 private key, got {type(private_key).__name__}"
            )
        self.actor = actor
        self.private_key = private_key
        self.public_key = actor_key(actor, private_key)

    @classmethod
    def generate(cls, actor: str) -> ActorSigner:
        """A new random key for `actor` (register `public_key` before signing with it)."""
        return cls(actor, Ed25519PrivateKey.generate())

    @property
    def key_id(self) -> str:
        """The key's 8-hex-digit id."""
        return self.public_key.key_id

    def sign(self, type: str, body: Mapping[str, Any]) -> SignatureIn:
        """The signature over `altan/event/v1\\n` + RFC 8785 {type, actor, body}."""
        sig = self.private_key.sign(event_signing_message(type, self.actor, body))
        return SignatureIn(key_id=self.key_id, signature=b64encode(sig))

    def __repr__(self) -> str:
        return f"ActorSigner(actor={self.actor!r}, key_id={self.key_id!r})"


def prepare_event(
    signer: ActorSigner | None,
    type: str,
    body: Mapping[str, Any],
    private: Mapping[str, Any] | None = None,
    idempotency_key: str | None = None,
) -> EventIn:
    """The event as it will be sent: the body as given, signed by `signer` (if any), with
    `idempotency_key` or a fresh one."""
    body_dict = dict(body)
    return EventIn(
        type=type,
        body=body_dict,
        private=dict(private) if private is not None else None,
        signature=signer.sign(type, body_dict) if signer is not None else None,
        idempotency_key=idempotency_key or new_idempotency_key(),
    )


def wire_event(event: EventIn, *, with_key: bool) -> dict[str, Any]:
    """The JSON of one event as sent: the body untouched (no field dropped or added)."""
    out: dict[str, Any] = {"type": event.type, "body": event.body}
    if event.private is not None:
        out["private"] = event.private
    if event.signature is not None:
        out["signature"] = {
            "key_id": event.signature.key_id,
            "signature": event.signature.signature,
        }
    if with_key and event.idempotency_key is not None:
        out["idempotency_key"] = event.idempotency_key
    return out


# --- building bodies -----------------------------------------------------------------------

Day = str | date
When = str | datetime | None


def _json(value: Any) -> Any:
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json", exclude_none=True)
    if isinstance(value, Mapping):
        return {str(k): _json(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json(v) for v in value]
    if isinstance(value, datetime):
        return local_time(value)
    if isinstance(value, date):
        return value.isoformat()
    return value


def _is_list(value: object) -> bool:
    return isinstance(value, Sequence) and not isinstance(value, str | bytes)


def _body(occurred_at: When, model: type[BaseModel], fields: Mapping[str, Any]) -> dict[str, Any]:
    """The body of `model` from keyword values, in the schema's field order.

    A None is left out (the schema's default applies), and so is an empty list for a field
    the schema does not require (`keys`, `parties`, `replaced_by`), while an empty list for
    a required one (`inputs`) is sent, to be refused with the schema's own error.
    """
    stray = set(fields) - set(model.model_fields)
    if stray:  # a field the schema does not know would be silently lost: a bug here
        raise TypeError(f"{model.__name__}: no fields {sorted(stray)}")
    moment = occurred_at if isinstance(occurred_at, str) else local_time(occurred_at)
    out: dict[str, Any] = {"occurred_at": moment}
    for name, info in model.model_fields.items():
        value = fields.get(name)
        if value is None or (_is_list(value) and not value and not info.is_required()):
            continue
        out[name] = _json(list(value) if _is_list(value) else value)
    return out


def _key_entry(actor: str, key: Ed25519PublicKey | PublicKey | Mapping[str, Any]) -> Any:
    if isinstance(key, Ed25519PublicKey):
        return actor_key(actor, key)
    return key


def _seal(fields: dict[str, Any], name: str, commitment: str) -> dict[str, Any] | None:
    """Replace off-log data `fields[name]` (personal data, a price) by its salted commitment
    in the body; the data and its salt become the event's `private` part."""
    data = fields.pop(name)
    if data is None:
        return None
    salt = new_salt()
    fields[commitment] = commit(salt, dict(data))
    return {name: dict(data), "salt": salt.hex()}


def _actor_fields(fields: dict[str, Any]) -> dict[str, Any] | None:
    fields["keys"] = [_key_entry(fields["actor"], k) for k in fields["keys"]]
    return _seal(fields, "personal", "personal_commitment")


def _key_fields(fields: dict[str, Any]) -> None:
    fields["key"] = _key_entry(fields["actor"], fields["key"])


def _price_fields(fields: dict[str, Any]) -> dict[str, Any] | None:
    return _seal(fields, "price", "price_commitment")


R = TypeVar("R")
T = TypeVar("T")
P = ParamSpec("P")

_CALL_PARAMETERS = frozenset({"self", "occurred_at", "idempotency_key"})
"""Parameters of every event method that are not body fields."""


def _event(
    type: str,
    *,
    shape: Callable[[dict[str, Any]], dict[str, Any] | None] | None = None,
    off_log: frozenset[str] = frozenset(),
) -> Callable[[Callable[P, T]], Callable[P, T]]:
    """Turn a typed method stub into the method recording events of `type`.

    The stub gives the signature and the docstring; the body is built from the call's
    arguments, one per field of the event's schema (`EVENT_BODIES[type]`). `shape` turns
    arguments that are not body fields as given (`off_log`: personal data, a price) into
    body fields and returns the event's `private` part. Checked once, at import: every
    parameter is a field of the schema or declared off the log, and every required field
    has a parameter, so a method cannot drift from its schema unnoticed.
    """
    model = EVENT_BODIES[type]

    def make(stub: Callable[P, T]) -> Callable[P, T]:
        signature = inspect.signature(stub)
        names = {n for n in signature.parameters if n not in _CALL_PARAMETERS}
        required = {n for n, f in model.model_fields.items() if f.is_required()}
        unknown = names - off_log - set(model.model_fields)
        missing = required - names - {"occurred_at"}
        if unknown or missing or not _CALL_PARAMETERS.issubset(signature.parameters):
            raise TypeError(
                f"{stub.__name__} does not match {model.__name__}: parameters {sorted(unknown)} "
                f"are not fields, fields {sorted(missing)} have no parameter"
            )

        @functools.wraps(stub)
        def method(*args: P.args, **kwargs: P.kwargs) -> T:
            bound = signature.bind(*args, **kwargs)
            bound.apply_defaults()
            fields = dict(bound.arguments)
            events: EventMethods[T] = fields.pop("self")
            occurred_at = fields.pop("occurred_at")
            idempotency_key = fields.pop("idempotency_key")
            private = shape(fields) if shape is not None else None
            body = _body(occurred_at, model, fields)
            return events._checked(type, body, idempotency_key, private)

        method.event_type = type  # type: ignore[attr-defined]  # for tests and tools
        return method

    return make


class EventMethods(Generic[R]):
    """One method per event type, building its body from keyword arguments.

    Keyword arguments match the fields of `schemas.events`; nested values may be given as
    the schema's models or as plain dicts, days as `date` or "YYYY-MM-DD". `occurred_at`
    defaults to the local time now with its UTC offset: pass it (with `idempotency_key`)
    when a retry may come from a later run, so that the request is the same. The body is
    checked against the schema before it is sent (or queued).

    Each method is a typed stub bound to its schema by `_event`: the body is built from
    the schema's fields, so adding an event type takes its schema and one stub here.
    """

    def _emit(
        self,
        type: str,
        body: dict[str, Any],
        private: dict[str, Any] | None,
        idempotency_key: str | None,
    ) -> R:
        raise NotImplementedError

    def _checked(
        self,
        type: str,
        body: dict[str, Any],
        idempotency_key: str | None,
        private: dict[str, Any] | None = None,
    ) -> R:
        check_body(type, body)
        return self._emit(type, body, private, idempotency_key)

    # The stubs' bodies are empty (mypy: empty-body is disabled for this module): `_event`
    # supplies the behaviour from the signature.

    # actors, keys, sites

    @_event("actor.registered", shape=_actor_fields, off_log=frozenset({"personal"}))
    def register_actor(
        self,
        *,
        actor: str,
        role: RoleName,
        buyer_kind: BuyerKind | None = None,
        licence: Licence | Mapping[str, Any] | None = None,
        region: Region | Mapping[str, Any] | None = None,
        members: int | None = None,
        keys: Sequence[Ed25519PublicKey | PublicKey | Mapping[str, Any]] = (),
        personal: Mapping[str, Any] | None = None,
        occurred_at: When = None,
        idempotency_key: str | None = None,
    ) -> R:
        """`actor.registered`. With `personal` (name, national id, phone...), the body
        carries only its salted commitment (`ledger.commitment`), and the data with its salt
        goes as off-log `private` data, erasable later."""

    @_event("actor.status_changed")
    def change_actor_status(
        self,
        *,
        actor: str,
        status: str,
        reason: str,
        occurred_at: When = None,
        idempotency_key: str | None = None,
    ) -> R:
        """`actor.status_changed`: active, suspended or revoked, with the reason."""

    @_event("actor.key_added", shape=_key_fields)
    def add_key(
        self,
        *,
        actor: str,
        key: Ed25519PublicKey | PublicKey | Mapping[str, Any],
        occurred_at: When = None,
        idempotency_key: str | None = None,
    ) -> R:
        """`actor.key_added`: a public key (its key id is computed for an Ed25519 key)."""

    @_event("actor.key_revoked")
    def revoke_key(
        self,
        *,
        actor: str,
        key_id: str,
        reason: str,
        occurred_at: When = None,
        idempotency_key: str | None = None,
    ) -> R:
        """`actor.key_revoked`."""

    @_event("site.registered")
    def register_site(
        self,
        *,
        site: str,
        owner: str,
        region: Region | Mapping[str, Any],
        lat: str,
        lon: str,
        permit: Licence | Mapping[str, Any] | None = None,
        capacity_g_per_year: int | None = None,
        occurred_at: When = None,
        idempotency_key: str | None = None,
    ) -> R:
        """`site.registered`: coordinates as decimal strings ("47.918", "106.917")."""

    @_event("site.status_changed")
    def change_site_status(
        self,
        *,
        site: str,
        status: str,
        reason: str,
        occurred_at: When = None,
        idempotency_key: str | None = None,
    ) -> R:
        """`site.status_changed`: active, suspended or closed, with the reason."""

    # lots

    @_event("ore.delivered")
    def deliver_ore(
        self,
        *,
        lot: str,
        miner: str,
        site: str,
        mass_g: int,
        mined_on: Day,
        moisture_permille: int | None = None,
        notes: str | None = None,
        occurred_at: When = None,
        idempotency_key: str | None = None,
    ) -> R:
        """`ore.delivered`: a centre receives an ore lot (grams) from a miner's site."""

    @_event("processing.recorded")
    def record_processing(
        self,
        *,
        run: str,
        inputs: Sequence[OreInput | Mapping[str, Any]],
        outputs: Sequence[GoldOutput | Mapping[str, Any]],
        method: str,
        mercury_free: bool,
        started_on: Day,
        finished_on: Day,
        tailings_g: int | None = None,
        occurred_at: When = None,
        idempotency_key: str | None = None,
    ) -> R:
        """`processing.recorded`: ore lots (grams) consumed into gold lots (milligrams)."""

    @_event("assay.recorded")
    def record_assay(
        self,
        *,
        lot: str,
        fineness_ppt: int,
        sample: str | None = None,
        method: str | None = None,
        occurred_at: When = None,
        idempotency_key: str | None = None,
    ) -> R:
        """`assay.recorded`: a laboratory's fineness (parts per thousand) for a gold lot."""

    @_event("lot.split")
    def split_lot(
        self,
        *,
        lot: str,
        into: Sequence[SplitPart | Mapping[str, Any]],
        loss_mg: int | None = None,
        loss_reason: str | None = None,
        occurred_at: When = None,
        idempotency_key: str | None = None,
    ) -> R:
        """`lot.split`: a gold lot into parts; the parts plus `loss_mg` (with its
        `loss_reason`) add up exactly to the lot."""

    @_event("lots.merged")
    def merge_lots(
        self,
        *,
        lots: Sequence[str],
        into: str,
        occurred_at: When = None,
        idempotency_key: str | None = None,
    ) -> R:
        """`lots.merged`: gold lots of one form into a new lot."""

    @_event("transfer.offered", shape=_price_fields, off_log=frozenset({"price"}))
    def offer_lot(
        self,
        *,
        offer: str,
        lot: str,
        to: str,
        price: Mapping[str, str] | None = None,
        occurred_at: When = None,
        idempotency_key: str | None = None,
    ) -> R:
        """`transfer.offered`. With `price` ({"amount": "<decimal>", "currency": "MNT",
        "note"?: ...}), the body carries only its salted commitment and the price goes off
        the log as `private` data (seen by the two parties, auditors and regulators)."""

    @_event("transfer.accepted")
    def accept_offer(
        self, *, offer: str, occurred_at: When = None, idempotency_key: str | None = None
    ) -> R:
        """`transfer.accepted`: custody and ownership move to the buyer."""

    @_event("transfer.rejected")
    def reject_offer(
        self,
        *,
        offer: str,
        reason: str | None = None,
        occurred_at: When = None,
        idempotency_key: str | None = None,
    ) -> R:
        """`transfer.rejected` (by the recipient)."""

    @_event("transfer.cancelled")
    def cancel_offer(
        self,
        *,
        offer: str,
        reason: str | None = None,
        occurred_at: When = None,
        idempotency_key: str | None = None,
    ) -> R:
        """`transfer.cancelled` (by the offerer, before acceptance)."""

    @_event("lot.exported")
    def export_lot(
        self,
        *,
        lot: str,
        destination: Destination | Mapping[str, Any],
        occurred_at: When = None,
        idempotency_key: str | None = None,
    ) -> R:
        """`lot.exported`: closes the lot with its destination."""

    @_event("lot.refined")
    def refine_lot(
        self,
        *,
        lot: str,
        refinery: str,
        destination: Destination | Mapping[str, Any] | None = None,
        occurred_at: When = None,
        idempotency_key: str | None = None,
    ) -> R:
        """`lot.refined`: closes the lot at a refinery."""

    # certificates

    @_event("certificate.requested")
    def request_certificate(
        self, lot: str, *, occurred_at: When = None, idempotency_key: str | None = None
    ) -> R:
        """`certificate.requested`: the custodian (or a regulator) asks for a gold lot's
        certificate; the log answers in the same receipt with a derived
        `certificate.issued` (see `lot_certificates` for its token, QR and links)."""

    @_event("certificate.revoked")
    def revoke_certificate(
        self,
        certificate: str,
        reason: str,
        *,
        occurred_at: When = None,
        idempotency_key: str | None = None,
    ) -> R:
        """`certificate.revoked` (a regulator): the certificate's verdict becomes
        "not genuine: revoked", with `reason`, for everyone who checks it online."""

    # cases

    @_event("case.opened")
    def open_case(
        self,
        *,
        case: str,
        kind: str,
        target: CaseTarget | Mapping[str, Any],
        category: str,
        description: str,
        parties: Sequence[str] = (),
        occurred_at: When = None,
        idempotency_key: str | None = None,
    ) -> R:
        """`case.opened`: a hold, red flag or dispute on a lot, actor or site."""

    @_event("case.responded")
    def respond_case(
        self,
        *,
        case: str,
        response: str,
        occurred_at: When = None,
        idempotency_key: str | None = None,
    ) -> R:
        """`case.responded`: the answer of the party concerned."""

    @_event("case.resolved")
    def resolve_case(
        self,
        *,
        case: str,
        resolution: str,
        occurred_at: When = None,
        idempotency_key: str | None = None,
    ) -> R:
        """`case.resolved`: lifts a hold."""

    @_event("case.escalated")
    def escalate_case(
        self,
        *,
        case: str,
        to: str,
        reason: str,
        occurred_at: When = None,
        idempotency_key: str | None = None,
    ) -> R:
        """`case.escalated`: handed to another body (a court, a ministry)."""

    @_event("correction.recorded")
    def record_correction(
        self,
        *,
        corrects: int,
        reason: str,
        replaced_by: Sequence[int] = (),
        occurred_at: When = None,
        idempotency_key: str | None = None,
    ) -> R:
        """`correction.recorded`: a mistaken entry is corrected by reference, never edited."""

    # witnesses

    @_event("witness.registered")
    def register_witness(
        self,
        *,
        witness: str,
        key: str,
        url: str | None = None,
        occurred_at: When = None,
        idempotency_key: str | None = None,
    ) -> R:
        """`witness.registered` (an administrator or regulator): the log accepts the
        cosignatures of the witness `witness` under its vkey `key` (`altan witness keygen`)
        and, given a `url`, submits its checkpoints there."""

    @_event("witness.removed")
    def remove_witness(
        self,
        witness: str,
        reason: str,
        *,
        occurred_at: When = None,
        idempotency_key: str | None = None,
    ) -> R:
        """`witness.removed` (an administrator or regulator): the log no longer accepts the
        witness's cosignatures."""


# --- the client ------------------------------------------------------------------------------


class AltanClient(EventMethods[RecordedOut]):
    """The Altan Ledger API, typed.

    base_url: the service ("https://ledger.example"); token: a bearer token (reads of
    `/log/*` need none). actor + signing_key: sign every event as that actor (the actor of
    the token). transport: an httpx transport (tests use one into the app in-process);
    http: an existing `httpx.Client` to send through instead, with its own timeouts (not
    closed by `close`).
    retries/backoff: how often and how patiently connection failures and 429/5xx answers are
    retried (delays backoff·2^n, jittered); writes are retried with the same idempotency key.
    """

    def __init__(
        self,
        base_url: str,
        token: str | None,
        *,
        actor: str | None = None,
        signing_key: Ed25519PrivateKey | None = None,
        transport: httpx.BaseTransport | None = None,
        timeout: float = 30,
        http: httpx.Client | None = None,
        retries: int = 3,
        backoff: float = 0.5,
    ) -> None:
        if signing_key is not None and actor is None:
            raise ValueError("signing_key needs actor: the signature covers the actor's id")
        if http is not None and transport is not None:
            raise ValueError("give either transport or http, not both")
        if retries < 0 or backoff < 0:
            raise ValueError("retries and backoff cannot be negative")
        self.base_url = base_url.rstrip("/")
        self.actor = actor
        self.signer = ActorSigner(actor, signing_key) if actor and signing_key else None
        self._token = token
        self._owns_http = http is None
        self._http = http or httpx.Client(transport=transport, timeout=httpx.Timeout(timeout))
        self._retries = retries
        self._backoff = backoff
        # The log reads go through this client's connection, retries and errors.
        self._log = RemoteLog(
            self.base_url,
            fetch=lambda path, params: self._send("GET", path, params=params, retry=True),
        )

    def close(self) -> None:
        """Close the connection pool (unless it was given as `http`)."""
        if self._owns_http:
            self._http.close()

    def __enter__(self) -> AltanClient:
        return self

    def __exit__(
        self,
        _type: type[BaseException] | None,
        _exc: BaseException | None,
        _tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"AltanClient({self.base_url!r}, actor={self.actor!r})"

    # transport, retries, errors

    def _send(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        params: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
        retry: bool,
        auth: bool = True,
    ) -> httpx.Response:
        """One request with retries; 4xx/5xx answers raise `AltanError`.

        retry: the request may be sent again after an unknown outcome (reads, and writes
        with idempotency keys). Others are retried only when the connection was never made.
        auth: send the bearer token (not for public pages, which must not need one).
        """
        hdrs = {"User-Agent": USER_AGENT, "Accept": "application/json, application/problem+json"}
        if self._token is not None and auth:
            hdrs["Authorization"] = f"Bearer {self._token}"
        hdrs.update(headers or {})
        attempt = 0
        while True:
            try:
                resp = self._http.request(
                    method,
                    self.base_url + path,
                    json=json,
                    params=dict(params) if params else None,
                    headers=hdrs,
                )
            except httpx.TransportError as exc:
                never_sent = isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout)
                if (retry or never_sent) and attempt < self._retries:
                    self._pause(attempt, None)
                    attempt += 1
                    continue
                raise ConnectionFailed(
                    0,
                    "about:blank",
                    "No answer",
                    f"{method} {path}: {type(exc).__name__}: {exc} (after {attempt + 1} attempts)",
                ) from exc
            if resp.status_code in RETRY_STATUSES and retry and attempt < self._retries:
                self._pause(attempt, resp.headers.get("retry-after"))
                attempt += 1
                continue
            if resp.status_code >= 400:
                raise error_from_response(resp)
            return resp

    def _pause(self, attempt: int, retry_after: str | None) -> None:
        delay = min(MAX_BACKOFF_SECONDS, self._backoff * 2**attempt)
        delay *= random.uniform(0.5, 1.0)  # noqa: S311 - jitter, not a secret
        if retry_after is not None and retry_after.strip().isdigit():
            delay = max(delay, min(float(retry_after), MAX_RETRY_AFTER_SECONDS))
        if delay > 0:
            time.sleep(delay)

    def _get_json(self, path: str, **params: Any) -> dict[str, Any]:
        data = self._send("GET", path, params=params, retry=True).json()
        if not isinstance(data, dict):
            raise MalformedInput(f"GET {path}: expected a JSON object, got {type(data).__name__}")
        return data

    # writing events

    def prepare(
        self,
        type: str,
        body: Mapping[str, Any],
        *,
        private: Mapping[str, Any] | None = None,
        idempotency_key: str | None = None,
    ) -> EventIn:
        """The event as it will be sent: signed (when the client has a key) and with an
        idempotency key (a fresh one unless given). The body is not changed."""
        return prepare_event(self.signer, type, body, private, idempotency_key)

    def record(
        self,
        type: str,
        body: Mapping[str, Any],
        *,
        private: Mapping[str, Any] | None = None,
        idempotency_key: str | None = None,
    ) -> RecordedOut:
        """`POST /events`: record one event and return the log's receipt.

        The body is sent exactly as given (no local check: see the convenience methods).
        Retried on connection failures and 5xx with the same Idempotency-Key, so at most one
        entry results; a retry of a recorded event returns the first receipt.
        """
        return self.send(self.prepare(type, body, private=private, idempotency_key=idempotency_key))

    def send(self, event: EventIn) -> RecordedOut:
        """`POST /events` for a prepared (signed, keyed) event; see `record`."""
        headers = {}
        if event.idempotency_key is not None:
            headers["Idempotency-Key"] = event.idempotency_key
        resp = self._send(
            "POST",
            "/events",
            json=wire_event(event, with_key=False),
            headers=headers,
            retry=event.idempotency_key is not None,
        )
        return RecordedOut.model_validate(resp.json())

    def record_batch(
        self, items: Sequence[EventIn | Mapping[str, Any]], atomic: bool = False
    ) -> BatchOut:
        """`POST /events/batch`: one result per item, in order.

        Items are `EventIn` (sent as they are, signed and keyed when missing) or dicts with
        `type`, `body` and optionally `private` and `idempotency_key`. Not atomic: valid
        items are recorded even when others fail (see each result's `problem`; turn it into
        an exception with `AltanError.from_item`). Atomic: all or nothing; when any item
        fails nothing is recorded and `RuleViolation` (422, `batch-failed`) is raised, its
        `problem` listing every failing item's mistakes (`errors`, fields `items.<n>...`)
        and each item's result (`results`). Every item has an idempotency key, so the
        batch is retried safely.
        """
        events = [self._item(item) for item in items]
        payload = {"items": [wire_event(e, with_key=True) for e in events], "atomic": atomic}
        resp = self._send("POST", "/events/batch", json=payload, retry=True)
        out = BatchOut.model_validate(resp.json())
        if len(out.results) != len(events):
            raise MalformedInput(f"batch: sent {len(events)} items, got {len(out.results)} results")
        return out

    def _item(self, item: EventIn | Mapping[str, Any]) -> EventIn:
        if isinstance(item, EventIn):
            if item.signature is not None and item.idempotency_key is not None:
                return item
            signature = item.signature
            if signature is None and self.signer is not None:
                signature = self.signer.sign(item.type, item.body)
            return item.model_copy(
                update={
                    "signature": signature,
                    "idempotency_key": item.idempotency_key or new_idempotency_key(),
                }
            )
        unknown = set(item) - {"type", "body", "private", "idempotency_key"}
        if unknown:
            raise ValueError(f"batch item: unexpected keys {sorted(unknown)}")
        return self.prepare(
            str(item["type"]),
            item["body"],
            private=item.get("private"),
            idempotency_key=item.get("idempotency_key"),
        )

    def _emit(
        self,
        type: str,
        body: dict[str, Any],
        private: dict[str, Any] | None,
        idempotency_key: str | None,
    ) -> RecordedOut:
        return self.record(type, body, private=private, idempotency_key=idempotency_key)

    # actors, tokens, sites, personal data

    def get_actor(self, actor_id: str) -> dict[str, Any]:
        """`GET /actors/{id}`: registration, licence, region, status and keys."""
        return self._get_json(f"/actors/{_seg(actor_id)}")

    def get_site(self, site_id: str) -> dict[str, Any]:
        """`GET /sites/{id}`: a mine site and its status."""
        return self._get_json(f"/sites/{_seg(site_id)}")

    def issue_token(self, actor: str, label: str) -> TokenOut:
        """`POST /actors/{id}/tokens`: a bearer token for a user of `actor` (shown once)."""
        resp = self._send(
            "POST", f"/actors/{_seg(actor)}/tokens", json={"label": label}, retry=False
        )
        return TokenOut.model_validate(resp.json())

    def revoke_token(self, token_id: str) -> None:
        """`DELETE /tokens/{id}`: the token stops working at once."""
        self._send("DELETE", f"/tokens/{_seg(token_id)}", retry=False)

    def get_personal(self, actor_id: str) -> dict[str, Any]:
        """`GET /actors/{id}/personal`: off-log personal data and its salt (or erasure)."""
        return self._get_json(f"/actors/{_seg(actor_id)}/personal")

    def erase_personal(self, actor_id: str, reason: str) -> dict[str, Any]:
        """`POST /actors/{id}/personal/erasure`: delete a person's data on a lawful request."""
        resp = self._send(
            "POST",
            f"/actors/{_seg(actor_id)}/personal/erasure",
            json={"reason": reason},
            retry=True,  # erasing twice is erasing once
        )
        data: dict[str, Any] = resp.json()
        return data

    # lots

    def get_lot(self, lot_id: str) -> dict[str, Any]:
        """`GET /lots/{id}`: a lot as it stands (mass, custodian, owner, status, holds)."""
        return self._get_json(f"/lots/{_seg(lot_id)}")

    # lists: every page, one after another (README "Lists")

    def _pages(self, path: str, page_size: int, **params: str | None) -> Iterator[dict[str, Any]]:
        """The items of every page of a list, in order, following `next_cursor`."""
        query: dict[str, Any] = {k: v for k, v in params.items() if v is not None}
        query["limit"] = page_size
        while True:
            data = self._get_json(path, **query)
            items = data.get("items")
            if not isinstance(items, list):
                raise MalformedInput(f"GET {path}: expected a list of items")
            yield from items
            cursor = data.get("next_cursor")
            if cursor is None:
                return
            if not isinstance(cursor, str):
                raise MalformedInput(f"GET {path}: expected next_cursor to be text or null")
            query["cursor"] = cursor

    def lots(
        self,
        *,
        custodian: str | None = None,
        owner: str | None = None,
        status: str | None = None,
        kind: str | None = None,
        page_size: int = 50,
    ) -> Iterator[dict[str, Any]]:
        """`GET /lots`: the lots the caller may read (an officer: all; anyone else: those it
        is a party to), filtered, newest first by creation index, fetched `page_size` at a
        time (at most 200) as the iteration goes. Each: lot, kind, form, status, custodian,
        owner, unit, mass, remaining, created_index, updated_index, occurred_at."""
        return self._pages(
            "/lots", page_size, custodian=custodian, owner=owner, status=status, kind=kind
        )

    def offers(
        self,
        *,
        to: str | None = None,
        from_: str | None = None,
        status: str | None = None,
        page_size: int = 50,
    ) -> Iterator[dict[str, Any]]:
        """`GET /offers`: transfer offers the caller is a side of (an officer: all), newest
        first; a buyer's inbox is `offers(to=<its id>, status="open")`. Each as
        `GET /offers/{id}` answers it (the price only for the sides, auditors, regulators)."""
        return self._pages("/offers", page_size, to=to, status=status, **{"from": from_})

    def deliveries(self, actor_id: str, *, page_size: int = 50) -> Iterator[dict[str, Any]]:
        """`GET /actors/{id}/deliveries`: a miner's or partnership's ore deliveries, newest
        first (a centre sees those it received): lot, site, centre, mass_g, remaining_g,
        status, mined_on, occurred_at, index, receipt (its latest receipt's id, or None)."""
        return self._pages(f"/actors/{_seg(actor_id)}/deliveries", page_size)

    def actors(self, *, role: str | None = None, page_size: int = 50) -> Iterator[dict[str, Any]]:
        """`GET /actors`: actors' public records (actor, role, buyer_kind, status) by id:
        an officer lists all; anyone else itself and the actors it trades with."""
        return self._pages("/actors", page_size, role=role)

    def sites(
        self, *, owner: str | None = None, status: str | None = None, page_size: int = 50
    ) -> Iterator[dict[str, Any]]:
        """`GET /sites`: mine sites' public fields (site, owner, region, status) by id: an
        officer lists all; a miner or partnership its own."""
        return self._pages("/sites", page_size, owner=owner, status=status)

    def lot_history(self, lot_id: str) -> list[dict[str, Any]]:
        """`GET /lots/{id}/history`: every entry about the lot, by index, each with its
        type, `occurred_at` and a one-line English `summary`."""
        data = self._get_json(f"/lots/{_seg(lot_id)}/history")
        events = data.get("events")
        if not isinstance(events, list):
            raise MalformedInput(f"GET /lots/{lot_id}/history: expected a list of events")
        return events

    # certificates

    def lot_certificates(self, lot_id: str) -> list[dict[str, Any]]:
        """`GET /lots/{id}/certificates`: the lot's certificates (or receipts), newest first;
        each with its id, token, `qr_text` (the URL the QR holds), `superseded_by`,
        `revoked` and `links` (png, svg, print, verify)."""
        data = self._get_json(f"/lots/{_seg(lot_id)}/certificates")
        certificates = data.get("certificates")
        if not isinstance(certificates, list):
            raise MalformedInput(f"GET /lots/{lot_id}/certificates: expected a list")
        return certificates

    def get_certificate(self, certificate_id: str) -> dict[str, Any]:
        """`GET /certificates/{id}`: one issued certificate or receipt (as in
        `lot_certificates`), readable by its lot's parties, auditors and regulators."""
        return self._get_json(f"/certificates/{_seg(certificate_id)}")

    def certificate_png(self, certificate_id: str) -> bytes:
        """`GET /certificates/{id}/qr.png`: the certificate's QR code as a PNG image."""
        return self._get_bytes(f"/certificates/{_seg(certificate_id)}/qr.png", "image/png")

    def certificate_svg(self, certificate_id: str) -> str:
        """`GET /certificates/{id}/qr.svg`: the certificate's QR code as SVG text."""
        path = f"/certificates/{_seg(certificate_id)}/qr.svg"
        return self._get_bytes(path, "image/svg+xml").decode("utf-8")

    def certificate_print(
        self,
        certificate_id: str,
        size: Literal["A5", "A6"] = "A6",
        lang: Literal["mn", "en"] = "mn",
    ) -> str:
        """`GET /certificates/{id}/print`: a printable A5 or A6 HTML page (Mongolian or
        English) with the QR, the lot's facts and how to verify it."""
        path = f"/certificates/{_seg(certificate_id)}/print"
        resp = self._send(
            "GET",
            path,
            params={"size": size, "lang": lang},
            headers={"Accept": "text/html, application/problem+json"},
            retry=True,
        )
        return resp.text

    def check_certificate(self, token_or_url: str) -> dict[str, Any]:
        """`GET /api/c/{token}`: this server's verdict on a certificate, as JSON
        (`schemas.certificates.VerdictOut`), asked without the bearer token as anyone may.

        token_or_url: the QR's URL (its host is not used: the question goes to this
        client's server) or the bare base32 token; MalformedInput when it holds no token.
        The answer is the server's word: `clients.verify.verify_online` also checks its
        proof against pinned keys.
        """
        token = token_text(parse_qr_text(token_or_url))
        resp = self._send("GET", f"/api/c/{token}", retry=True, auth=False)
        data = resp.json()
        if not isinstance(data, dict):
            raise MalformedInput(f"GET /api/c/: expected a JSON object, got {type(data).__name__}")
        return data

    def _get_bytes(self, path: str, media_type: str) -> bytes:
        resp = self._send(
            "GET", path, headers={"Accept": f"{media_type}, application/problem+json"}, retry=True
        )
        return resp.content

    def health(self) -> dict[str, Any]:
        """`GET /healthz`: `{"status": "ok", "tree_size": n}`."""
        return self._get_json("/healthz")

    # the log

    @property
    def log(self) -> RemoteLog:
        """The log as an `ledger.audit.AuditSource` (for `ledger.audit.audit`)."""
        return self._log

    def checkpoint(self) -> str:
        """`GET /log/checkpoint`: the latest signed checkpoint note."""
        return self._log.checkpoint()

    def log_keys(self) -> list[TrustedKey]:
        """`GET /log/keys`: every log public key, retired included."""
        return self._log.keys()

    def entries(self, start: int, end: int) -> Iterator[StoredEntry]:
        """`GET /log/entries`, page by page: stored entries start <= index < end."""
        return self._log.entries(start, end)

    def entry(self, index: int) -> Entry:
        """The parsed entry at `index` (its event, actor key id and signature included)."""
        for row in self._log.entries(index, index + 1):
            return Entry.from_bytes(row.entry)
        raise OutOfRange(f"entry {index}: not in the log")

    def inclusion_proof(self, index: int, tree_size: int) -> list[bytes]:
        """`GET /log/proof/inclusion`: the audit path of entry `index` in the tree of that size."""
        return self._log.inclusion_proof(index, tree_size)

    def consistency_proof(self, first: int, second: int) -> list[bytes]:
        """`GET /log/proof/consistency`: that tree `second` extends tree `first`."""
        return self._log.consistency_proof(first, second)

    def verify_receipt(
        self,
        receipt: RecordedOut,
        *,
        trusted_keys: Sequence[TrustedKey] | None = None,
        origin: str | None = None,
    ) -> Checkpoint:
        """Check a receipt and that its entry is in the log; return the checkpoint used.

        1. the receipt's key is a log key (pin `trusted_keys` to not trust the server's list);
        2. its signature verifies over ``altan/entry/v1\\n`` || leaf hash;
        3. the latest checkpoint verifies with those keys (and names `origin`, when given);
        4. the checkpoint covers the entry, and its inclusion proof leads to the root.

        Raises `ledger.errors` types: UnknownKey, InvalidSignature, OriginMismatch,
        OutOfRange (not yet covered), RootMismatch, MalformedInput.
        """
        keys = list(trusted_keys) if trusted_keys is not None else self.log_keys()
        leaf = b64decode(receipt.leaf_hash, size=32, what="leaf_hash")
        signature = b64decode(receipt.signature, size=64, what="signature")
        key = next((k for k in keys if k.key_id == receipt.key_id), None)
        if key is None:
            raise UnknownKey(
                f"receipt signed by key {receipt.key_id}, expected one of "
                f"{sorted(k.key_id for k in keys)}"
            )
        try:
            Ed25519PublicKey.from_public_bytes(key.public_key).verify(
                signature, receipt_message(leaf)
            )
        except _CryptoInvalidSignature as exc:
            raise InvalidSignature(
                f"receipt of entry {receipt.index}: the signature by {key.key_id} does not "
                "verify over its leaf hash"
            ) from exc
        checkpoint, _ = open_checkpoint(
            self.checkpoint(), [k.note_verifier() for k in keys], origin
        )
        if receipt.index >= checkpoint.size:
            raise OutOfRange(
                f"entry {receipt.index}: expected it below the checkpoint size, "
                f"found size {checkpoint.size}"
            )
        proof = self.inclusion_proof(receipt.index, checkpoint.size)
        verify_inclusion(leaf, receipt.index, checkpoint.size, proof, checkpoint.root_hash)
        return checkpoint

    # reports (auditors, regulators, administrators; a centre reads its own mass balance)

    def report_mass_balance(
        self, *, centre: str | None = None, start: Day | None = None, end: Day | None = None
    ) -> dict[str, Any]:
        """`GET /reports/mass-balance`: per centre, ore received and processed (g), gold
        produced and fine gold (mg), recovery per run (g/t) with its distribution and
        outliers, stock on hand against receipts minus consumption. Days `start`..`end`
        (inclusive) by occurred_at in UTC+8."""
        params = _report_params(centre=centre, start=start, end=end)
        return self._get_json("/reports/mass-balance", **params)

    def report_custody(self, lot_id: str) -> dict[str, Any]:
        """`GET /reports/custody/{lot}`: the lot's chain of custody back to sites and
        miners, each step with its ledger index and inclusion-proof link."""
        return self._get_json(f"/reports/custody/{_seg(lot_id)}")

    def report_red_flags(
        self, *, start: Day | None = None, end: Day | None = None, hold_days: int | None = None
    ) -> dict[str, Any]:
        """`GET /reports/red-flags`: red flags of the period with their evidence indices,
        and what the record cannot show (`not_computable`)."""
        params = _report_params(start=start, end=end, hold_days=hold_days)
        return self._get_json("/reports/red-flags", **params)

    def report_csv(
        self,
        report: Literal["mass-balance", "custody", "red-flags"],
        *,
        table: str | None = None,
        lot: str | None = None,
        centre: str | None = None,
        start: Day | None = None,
        end: Day | None = None,
        hold_days: int | None = None,
    ) -> str:
        """One table of a report as CSV text (`?format=csv&table=`; the report's first
        table when `table` is None). `lot` is needed for `custody`, and only there."""
        if (report == "custody") != (lot is not None):
            raise ValueError("give lot for the custody report, and only for it")
        path = f"/reports/custody/{_seg(lot)}" if lot is not None else f"/reports/{report}"
        params = _report_params(
            centre=centre, start=start, end=end, hold_days=hold_days, table=table
        )
        resp = self._send(
            "GET",
            path,
            params={**params, "format": "csv"},
            headers={"Accept": "text/csv, application/problem+json"},
            retry=True,
        )
        return resp.text

    def report_page(
        self, *, start: Day | None = None, end: Day | None = None, hold_days: int | None = None
    ) -> str:
        """`GET /reports`: the self-contained HTML page (mass balance, charts, red flags)."""
        resp = self._send(
            "GET",
            "/reports",
            params=_report_params(start=start, end=end, hold_days=hold_days),
            headers={"Accept": "text/html, application/problem+json"},
            retry=True,
        )
        return resp.text


def _seg(value: str) -> str:
    """An id as one path segment, percent-encoded (ids hold ':' and '.', never '/')."""
    return quote(value, safe=":@-._~")


def _report_params(
    *, start: Day | None = None, end: Day | None = None, **more: str | int | None
) -> dict[str, str]:
    """Query parameters of a report: days as YYYY-MM-DD under `from`/`to`, no blanks."""
    params: dict[str, Any] = {"from": start, "to": end, **more}
    return {
        k: v.isoformat() if isinstance(v, date) else str(v)
        for k, v in params.items()
        if v is not None
    }
