"""Rules of lots: ore delivery, processing, assay, split and merge, transfers, export and
refining, and `rules`, the domain's `Rules` (its projectors are in `services.lots.projectors`).

Rules (`@rules.handles`) only read: they check the request against the current state and raise
the `services.errors` type naming the rule broken. The figures other domains use are here
too: `yield_g_per_t` and `split_loss` (the reports read them).

Who holds what: an ore lot (grams) is in the custody of the centre that received it and
owned by the miner who delivered it; a gold lot (milligrams) is held and owned by the
centre that produced it, then by whoever accepted it in a transfer. Provenance links are
stored exact; see `services.lots.queries` for how shares are computed from them.

Rule slugs (the `rule` of the error), besides NotFound `unknown-lot|actor|site|offer`:

    Conflict       lot-exists, duplicate-output, offer-exists
    Forbidden      not-custodian, not-offer-recipient, not-offerer
    RuleViolation  bad-date, not-a-miner, miner-not-active, site-not-owned, site-not-active,
                   mined-after-delivery, not-an-ore-lot, not-a-gold-lot, lot-not-active,
                   duplicate-input, duplicate-lot, mass-exceeds-remaining, dates-out-of-order,
                   mercury-free-amalgamation, gold-exceeds-ore, outputs-exceed-ore,
                   mass-not-conserved, loss-reason-missing, reason-without-loss,
                   loss-exceeds-lot, forms-differ, held, offer-open, offer-to-self,
                   not-a-buyer, counterparty-not-active, offer-not-open, offer-stale,
                   unexpected-private-data, price-missing, bad-price, commitment-mismatch
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from datetime import date
from fractions import Fraction
from typing import Any

from sqlalchemy import bindparam, select

from ledger.commitment import matches
from ledger.errors import LedgerError
from schemas.events import (
    AssayRecorded,
    LotExported,
    LotRefined,
    LotsMerged,
    LotSplit,
    OreDelivered,
    ProcessingRecorded,
    TransferAccepted,
    TransferCancelled,
    TransferOffered,
    TransferRejected,
)
from services import roles
from services.actors.models import Actor, Site
from services.cases.models import Case
from services.cases.rules import derive_red_flag
from services.errors import Conflict, Forbidden, RuleViolation
from services.lots.models import Lot, Offer, OfferPrice, ProcessingRun
from services.lots.projectors import PROJECTORS
from services.lots.queries import active_holds, lot_holds, open_offer, share_json
from services.pipeline import Context, Rules, lookup
from services.roles import BUYER, MINER, PARTNERSHIP, PROCESSING_CENTRE

# This domain's handlers (registered below) and projectors (see domain.py).
rules = Rules(projectors=dict(PROJECTORS))

CENTRE = (PROCESSING_CENTRE,)
LABORATORY = (roles.LABORATORY,)
HOLDERS = (PROCESSING_CENTRE, BUYER)  # who can hold gold lots
BUYERS = (BUYER,)
MINERS = (MINER, PARTNERSHIP)
RECIPIENTS = (BUYER, PROCESSING_CENTRE)  # who may be offered a lot
_AMOUNT = re.compile(r"^\d{1,30}(\.\d{1,8})?$")
_CURRENCY = re.compile(r"^[A-Z]{3}$")


# --- shared checks (read only) ------------------------------------------------------------


def _day(value: str, field: str) -> date:
    try:
        return date.fromisoformat(value[:10])
    except ValueError as exc:
        raise RuleViolation("bad-date", f"{field}: {value!r} is not a date", field=field) from exc


def _lot(ctx: Context, lot_id: str, field: str) -> Lot:
    lot: Lot = lookup(ctx.session, Lot, lot_id, "lot", field)
    return lot


_LOT_EXISTS = select(Lot.id).where(Lot.id == bindparam("id"))


def _new_lot(ctx: Context, lot_id: str, field: str, seen: set[str] | None = None) -> None:
    # A Core query: an ORM get that misses costs several times more, on every new lot.
    taken = ctx.session.connection().execute(_LOT_EXISTS, {"id": lot_id}).first()
    if taken is not None:
        raise Conflict("lot-exists", f"lot {lot_id} already exists", field=field)
    if seen is not None:
        if lot_id in seen:
            raise Conflict("duplicate-output", f"lot {lot_id} is listed twice", field=field)
        seen.add(lot_id)


def _custodian(ctx: Context, lot: Lot, field: str) -> None:
    if lot.custodian_id != ctx.principal.actor_id:
        raise Forbidden(
            "not-custodian",
            f"{ctx.principal.actor_id} is not the custodian of {lot.id}",
            field=field,
        )


def _active(lot: Lot, field: str) -> None:
    if lot.status != "active":
        closed = f" by {lot.closed_by}" if lot.closed_by else ""
        raise RuleViolation("lot-not-active", f"lot {lot.id} is {lot.status}{closed}", field=field)


def _kind(lot: Lot, kind: str, field: str) -> None:
    if lot.kind != kind:
        raise RuleViolation(
            "not-an-ore-lot" if kind == "ore" else "not-a-gold-lot",
            f"lot {lot.id} is an {lot.kind} lot; this needs a {kind} lot",
            field=field,
        )


def _refuse_holds(cases: Iterable[Case], what: str, field: str) -> None:
    ids = [case.id for case in cases]
    if ids:
        raise RuleViolation(
            "held",
            f"{what} is held by case {', '.join(ids)} until the hold is resolved",
            field=field,
        )


def _not_held(ctx: Context, lot: Lot, field: str) -> None:
    _refuse_holds(lot_holds(ctx.session, lot), f"lot {lot.id}", field)


def _no_open_offer(ctx: Context, lot: Lot, field: str) -> None:
    offer = open_offer(ctx.session, lot.id)
    if offer is not None:
        raise RuleViolation(
            "offer-open",
            f"lot {lot.id} has an open offer {offer.id} to {offer.to_id}; "
            "cancel or settle it first",
            field=field,
        )


def _tradable(ctx: Context, lot_id: str, field: str) -> Lot:
    """A gold lot the principal holds, active, with no open offer and no hold."""
    lot = _lot(ctx, lot_id, field)
    _custodian(ctx, lot, field)
    _active(lot, field)
    _kind(lot, "gold", field)
    _no_open_offer(ctx, lot, field)
    _not_held(ctx, lot, field)
    return lot


# --- ore delivery -------------------------------------------------------------------------


@rules.handles("ore.delivered", OreDelivered, CENTRE)
def _deliver_ore(ctx: Context, body: OreDelivered) -> None:
    _new_lot(ctx, body.lot, "body.lot")
    miner: Actor = lookup(ctx.session, Actor, body.miner, "actor", "body.miner")
    if miner.role not in MINERS:
        raise RuleViolation(
            "not-a-miner",
            f"ore is delivered by a miner or partnership, not a {miner.role}",
            field="body.miner",
        )
    if miner.status != "active":
        raise RuleViolation(
            "miner-not-active",
            f"{miner.id} is {miner.status} ({miner.status_reason}); its ore is not received",
            field="body.miner",
        )
    site: Site = lookup(ctx.session, Site, body.site, "site", "body.site")
    if site.owner_id != miner.id:
        raise RuleViolation(
            "site-not-owned",
            f"site {site.id} belongs to {site.owner_id}, not {miner.id}",
            field="body.site",
        )
    if site.status != "active":
        raise RuleViolation(
            "site-not-active",
            f"site {site.id} is {site.status} ({site.status_reason})",
            field="body.site",
        )
    mined = _day(body.mined_on, "body.mined_on")
    if mined > _day(body.occurred_at, "body.occurred_at"):
        raise RuleViolation(
            "mined-after-delivery",
            f"mined_on {body.mined_on} is after the delivery ({body.occurred_at})",
            field="body.mined_on",
        )


# --- processing ---------------------------------------------------------------------------


def yield_g_per_t(gold_mg: int, ore_g: int) -> Fraction:
    """Grams of gold per tonne of ore, exact: (mg / 1000) / (g / 1e6)."""
    return Fraction(gold_mg * 1000, ore_g)


def _bound(value: float) -> Fraction:
    return Fraction(repr(value))  # 0.1 means 1/10, not the binary float nearest to it


@rules.handles("processing.recorded", ProcessingRecorded, CENTRE)
def _record_processing(ctx: Context, body: ProcessingRecorded) -> None:
    if ctx.session.get(ProcessingRun, body.run) is not None:
        raise Conflict(
            "run-exists", f"processing run {body.run} is already recorded", field="body.run"
        )
    seen_inputs: set[str] = set()
    for i, item in enumerate(body.inputs):
        field = f"body.inputs.{i}.lot"
        if item.lot in seen_inputs:
            raise RuleViolation(
                "duplicate-input", f"input lot {item.lot} is listed twice", field=field
            )
        seen_inputs.add(item.lot)
        lot = _lot(ctx, item.lot, field)
        _custodian(ctx, lot, field)
        _active(lot, field)
        _kind(lot, "ore", field)
        if item.mass_g > lot.remaining:
            raise RuleViolation(
                "mass-exceeds-remaining",
                f"input {lot.id}: {item.mass_g} g asked, {lot.remaining} g left",
                field=f"body.inputs.{i}.mass_g",
            )
        _not_held(ctx, lot, field)
    seen_outputs: set[str] = set()
    for i, out in enumerate(body.outputs):
        _new_lot(ctx, out.lot, f"body.outputs.{i}.lot", seen_outputs)
    started = _day(body.started_on, "body.started_on")
    if _day(body.finished_on, "body.finished_on") < started:
        raise RuleViolation(
            "dates-out-of-order",
            f"finished_on {body.finished_on} is before started_on {body.started_on}",
            field="body.finished_on",
        )
    if body.method == "amalgamation" and body.mercury_free:
        raise RuleViolation(
            "mercury-free-amalgamation",
            "amalgamation uses mercury: mercury_free must be false",
            field="body.mercury_free",
        )
    ore_g = sum(item.mass_g for item in body.inputs)
    gold_mg = sum(out.mass_mg for out in body.outputs)
    if gold_mg > ore_g * 1000:
        raise RuleViolation(
            "gold-exceeds-ore",
            f"{gold_mg} mg of gold cannot come out of {ore_g} g of ore",
            field="body.outputs",
        )
    if body.tailings_g is not None and gold_mg + body.tailings_g * 1000 > ore_g * 1000:
        raise RuleViolation(
            "outputs-exceed-ore",
            f"{gold_mg} mg of gold and {body.tailings_g} g of tailings weigh more than "
            f"the {ore_g} g of ore put in",
            field="body.tailings_g",
        )
    _flag_yield(ctx, body, gold_mg, ore_g)


def _flag_yield(ctx: Context, body: ProcessingRecorded, gold_mg: int, ore_g: int) -> None:
    """Raise a red flag (a derived `case.opened`, by the system) on the run's first output
    when its yield is outside the configured bounds."""
    low, high = _bound(ctx.settings.yield_min_g_per_t), _bound(ctx.settings.yield_max_g_per_t)
    got = yield_g_per_t(gold_mg, ore_g)
    if low <= got <= high:
        return
    derive_red_flag(
        ctx,
        target_kind="lot",
        target_id=body.outputs[0].lot,
        category="yield_out_of_bounds",
        description=(
            f"processing run {body.run} by {ctx.principal.actor_id}: yield "
            f"{share_json(got)['decimal']} g/t ({gold_mg} mg of gold from {ore_g} g of ore) "
            f"is outside the plausible bounds {ctx.settings.yield_min_g_per_t}"
            f"-{ctx.settings.yield_max_g_per_t} g/t"
        ),
        occurred_at=body.occurred_at,
    )


# --- assay --------------------------------------------------------------------------------


@rules.handles("assay.recorded", AssayRecorded, LABORATORY)
def _record_assay(ctx: Context, body: AssayRecorded) -> None:
    lot = _lot(ctx, body.lot, "body.lot")
    _active(lot, "body.lot")
    _kind(lot, "gold", "body.lot")


# --- split and merge ----------------------------------------------------------------------


@rules.handles("lot.split", LotSplit, HOLDERS)
def _split(ctx: Context, body: LotSplit) -> None:
    lot = _tradable(ctx, body.lot, "body.lot")
    seen: set[str] = set()
    for i, part in enumerate(body.into):
        _new_lot(ctx, part.lot, f"body.into.{i}.lot", seen)
    loss = split_loss(body)
    if loss > 0 and body.loss_reason is None:
        raise RuleViolation(
            "loss-reason-missing",
            f"a loss of {loss} mg needs its loss_reason (cutting, remelting, sampling...)",
            field="body.loss_reason",
        )
    if loss == 0 and body.loss_reason is not None:
        raise RuleViolation(
            "reason-without-loss",
            "loss_reason is given but loss_mg is 0 or absent",
            field="body.loss_mg",
        )
    if loss > lot.remaining:
        raise RuleViolation(
            "loss-exceeds-lot",
            f"a loss of {loss} mg is more than the {lot.remaining} mg lot {lot.id} holds",
            field="body.loss_mg",
        )
    total = sum(part.mass_mg for part in body.into)
    if total + loss != lot.remaining:
        lost = f" and {loss} mg lost" if loss else ""
        raise RuleViolation(
            "mass-not-conserved",
            f"the parts weigh {total} mg{lost}, {total + loss} mg in all; lot {lot.id} has "
            f"{lot.remaining} mg",
            field="body.into",
        )


def split_loss(body: LotSplit | Mapping[str, Any]) -> int:
    """The milligrams a split lost: `loss_mg`, 0 when absent (every split logged before
    the field existed, and every split that lost nothing). Exact: the lot's mass before
    the split is the sum of the parts plus this."""
    value = body.loss_mg if isinstance(body, LotSplit) else body.get("loss_mg")
    return value if type(value) is int else 0


@rules.handles("lots.merged", LotsMerged, HOLDERS)
def _merge(ctx: Context, body: LotsMerged) -> None:
    seen: set[str] = set()
    forms: set[str] = set()
    for i, lot_id in enumerate(body.lots):
        field = f"body.lots.{i}"
        if lot_id in seen:
            raise RuleViolation("duplicate-lot", f"lot {lot_id} is listed twice", field=field)
        seen.add(lot_id)
        forms.add(_tradable(ctx, lot_id, field).form)
    if len(forms) > 1:
        raise RuleViolation(
            "forms-differ",
            f"only lots of one form merge; got {', '.join(sorted(forms))}",
            field="body.lots",
        )
    _new_lot(ctx, body.into, "body.into")


# --- transfers ----------------------------------------------------------------------------


def _store_price(ctx: Context, body: TransferOffered, private: dict[str, Any] | None) -> None:
    """Keep the price off the log, bound to it by `price_commitment`.

    private = {"price": {"amount": "<decimal>", "currency": "MNT", "note": "..."?},
               "salt": "<64 hex>"}; the commitment is over `price`.
    """
    if body.price_commitment is None:
        if private is not None:
            raise RuleViolation(
                "unexpected-private-data",
                "private data needs a price_commitment in the body",
                field="private",
            )
        return
    if not isinstance(private, dict) or set(private) != {"price", "salt"}:
        raise RuleViolation(
            "price-missing",
            "a price_commitment needs private.price (an object) and private.salt (hex)",
            field="private",
        )
    price, salt_hex = private["price"], private["salt"]
    if (
        not isinstance(price, dict)
        or not set(price) <= {"amount", "currency", "note"}
        or not isinstance(price.get("amount"), str)
        or not _AMOUNT.fullmatch(price["amount"])
        or not isinstance(price.get("currency"), str)
        or not _CURRENCY.fullmatch(price["currency"])
        or not isinstance(price.get("note", ""), str)
        or len(price.get("note", "")) > 2000
    ):
        raise RuleViolation(
            "bad-price",
            'private.price: expected {"amount": "<decimal>", "currency": "<ISO 4217>", '
            '"note"?: "<text>"}',
            field="private.price",
        )
    try:
        salt = bytes.fromhex(salt_hex) if isinstance(salt_hex, str) else b""
        opened = matches(body.price_commitment, salt, price)
    except (ValueError, LedgerError):
        opened = False
    if not opened:
        raise RuleViolation(
            "commitment-mismatch",
            "private.price and private.salt do not open price_commitment",
            field="private",
        )
    ctx.session.add(
        OfferPrice(
            offer_id=body.offer,
            amount=price["amount"],
            currency=price["currency"],
            salt=salt_hex,
            note=price.get("note"),
        )
    )


@rules.handles("transfer.offered", TransferOffered, HOLDERS, store_private=_store_price)
def _offer(ctx: Context, body: TransferOffered) -> None:
    if ctx.session.get(Offer, body.offer) is not None:
        raise Conflict("offer-exists", f"offer {body.offer} already exists", field="body.offer")
    _tradable(ctx, body.lot, "body.lot")
    if body.to == ctx.principal.actor_id:
        raise RuleViolation(
            "offer-to-self", "a lot is not offered to its custodian", field="body.to"
        )
    buyer: Actor = lookup(ctx.session, Actor, body.to, "actor", "body.to")
    if buyer.role not in RECIPIENTS:
        raise RuleViolation(
            "not-a-buyer",
            f"a lot is offered to a buyer or a processing centre, not a {buyer.role}",
            field="body.to",
        )
    if buyer.status != "active":
        raise RuleViolation(
            "counterparty-not-active",
            f"{buyer.id} is {buyer.status} ({buyer.status_reason}) and cannot trade",
            field="body.to",
        )
    _refuse_holds(active_holds(ctx.session, "actor", buyer.id), buyer.id, "body.to")


def _offer_for(ctx: Context, offer_id: str, party: str) -> Offer:
    """The open offer `offer_id`, for its `party` ("to" may accept or reject it, "from" may
    cancel it). Who may act is checked before the offer's state, and a refusal names
    neither the parties nor the state: a stranger learns nothing about someone's offer."""
    offer: Offer = lookup(ctx.session, Offer, offer_id, "offer", "body.offer")
    allowed = offer.to_id if party == "to" else offer.from_id
    if allowed != ctx.principal.actor_id:
        rule, who = (
            ("not-offer-recipient", "its recipient may answer it")
            if party == "to"
            else ("not-offerer", "only its offerer may cancel it")
        )
        raise Forbidden(rule, f"offer {offer.id}: {who}", field="body.offer")
    if offer.status != "open":
        raise RuleViolation(
            "offer-not-open", f"offer {offer.id} is {offer.status}", field="body.offer"
        )
    return offer


@rules.handles("transfer.accepted", TransferAccepted, RECIPIENTS)
def _accept(ctx: Context, body: TransferAccepted) -> None:
    offer = _offer_for(ctx, body.offer, "to")
    lot = _lot(ctx, offer.lot_id, "body.offer")
    if lot.status != "active" or lot.custodian_id != offer.from_id:
        raise RuleViolation(
            "offer-stale",
            f"lot {lot.id} is {lot.status} with {lot.custodian_id}; the offer no longer holds",
            field="body.offer",
        )
    seller: Actor | None = ctx.session.get(Actor, offer.from_id)
    if seller is None or seller.status != "active":
        status = "unknown" if seller is None else seller.status
        raise RuleViolation(
            "counterparty-not-active",
            f"the offerer {offer.from_id} is {status} and cannot trade",
            field="body.offer",
        )
    _not_held(ctx, lot, "body.offer")
    _refuse_holds(
        active_holds(ctx.session, "actor", ctx.principal.actor_id),
        ctx.principal.actor_id,
        "body.offer",
    )


@rules.handles("transfer.rejected", TransferRejected, RECIPIENTS)
def _reject(ctx: Context, body: TransferRejected) -> None:
    _offer_for(ctx, body.offer, "to")


@rules.handles("transfer.cancelled", TransferCancelled, HOLDERS)
def _cancel(ctx: Context, body: TransferCancelled) -> None:
    _offer_for(ctx, body.offer, "from")


# --- export and refining (terminal) -------------------------------------------------------


@rules.handles("lot.exported", LotExported, BUYERS)
def _export(ctx: Context, body: LotExported) -> None:
    _tradable(ctx, body.lot, "body.lot")


@rules.handles("lot.refined", LotRefined, BUYERS)
def _refine(ctx: Context, body: LotRefined) -> None:
    _tradable(ctx, body.lot, "body.lot")
