"""Read side of lots: holds, a lot's facts and history, provenance up and down.

Provenance links (`LotLink`) are stored exactly as the events state them, never as rounded
shares:

- processing run: one link per (output, input) pair whose `mass` is the input's grams
  consumed by the whole run (the same figure on every output of that input);
- split: one link per part, `mass` = the part's milligrams;
- merge: one link per merged lot, `mass` = its milligrams merged (all it had left).

So every child's links come from the one event that created it, in one unit, and the
share of a parent in a child's content is ``link.mass / sum(mass of the child's links)``
(for a run: that input's share of the ore put in; the output's share of what an input
gave is ``output mass / total output mass`` of the run). Shares are exact
`fractions.Fraction` values, multiplied along every path back to the ore lots; they are
given out as ``"num/den"`` strings beside a 6-digit decimal string.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from fractions import Fraction
from typing import Any, cast

from sqlalchemy import ColumnElement, Select, and_, func, literal, or_, select, tuple_, union
from sqlalchemy.orm import Session

from ledger.entry import Entry
from ledger.sql import storage
from services.actors.models import Actor, Site
from services.cases.models import Case
from services.errors import RuleViolation
from services.lots.models import Lot, LotEvent, LotLink, Offer
from services.pipeline import lookup
from services.roles import PROCESSING_CENTRE, SITE_OWNERS

# A hold blocks trade while its case is in one of these states.
BLOCKING_STATUSES = ("raised", "responded", "escalated")
# Provenance walks stop with an error past this many lots (protects the server).
MAX_NODES = 10_000
_CHUNK = 500  # ids per IN (...) query


# --- holds ---------------------------------------------------------------------------------


def active_holds(session: Session, target_kind: str, target_id: str) -> list[Case]:
    """Holds that block trade and target this lot, actor or site, oldest first."""
    return _holds(session, [(target_kind, target_id)])


def hold_targets(lot: Lot) -> list[tuple[str, str]]:
    """What a hold may target to stop this lot: the lot, its custodian and owner, and for
    an ore lot its site (and its miner, who owns it)."""
    targets = [("lot", lot.id), ("actor", lot.custodian_id)]
    if lot.owner_id != lot.custodian_id:
        targets.append(("actor", lot.owner_id))
    if lot.site_id is not None:
        targets.append(("site", lot.site_id))
    if lot.miner_id is not None and lot.miner_id != lot.owner_id:
        targets.append(("actor", lot.miner_id))
    return targets


def lot_holds(session: Session, lot: Lot) -> list[Case]:
    """Every active hold that stops this lot from trading (see `hold_targets`)."""
    return _holds(session, hold_targets(lot))


def _holds(session: Session, targets: Sequence[tuple[str, str]]) -> list[Case]:
    if not targets:
        return []
    match = or_(*(and_(Case.target_kind == k, Case.target_id == i) for k, i in targets))
    stmt = (
        select(Case)
        .where(Case.kind == "hold", Case.status.in_(BLOCKING_STATUSES), match)
        .order_by(Case.opened_index)
    )
    return list(session.scalars(stmt))


def open_offer(session: Session, lot_id: str) -> Offer | None:
    """The lot's open transfer offer, if any (there is at most one)."""
    stmt = select(Offer).where(Offer.lot_id == lot_id, Offer.status == "open").limit(1)
    return session.scalars(stmt).first()


# --- who is a party to what (read permissions) ---------------------------------------------


def lot_parties(session: Session, lot: Lot) -> set[str]:
    """The actors a lot's record belongs to: its custodian, owner and miner, and both
    sides of every offer of it (these, and the officers, may read it)."""
    parties = {lot.custodian_id, lot.owner_id}
    if lot.miner_id:
        parties.add(lot.miner_id)
    for offer in session.scalars(select(Offer).where(Offer.lot_id == lot.id)):
        parties.update((offer.from_id, offer.to_id))
    return parties


def lot_case_parties(session: Session, lot_id: str) -> set[str] | None:
    """Who answers a case about a lot: its custodian and owner; None if there is no such
    lot (the cases domain's `Parties` of a lot, given it in services/domains.py)."""
    lot = session.get(Lot, lot_id)
    return {lot.custodian_id, lot.owner_id} if lot is not None else None


def trades_with(session: Session, actor_id: str, other_id: str) -> bool:
    """Whether two actors trade with each other: both are parties to one lot (a centre
    and the miner whose ore it received, say) or to one offer."""
    if actor_id == other_id:
        return True

    def party(x: str) -> ColumnElement[bool]:
        return or_(Lot.custodian_id == x, Lot.owner_id == x, Lot.miner_id == x)

    lot = select(Lot.id).where(party(actor_id), party(other_id)).limit(1)
    if session.scalars(lot).first() is not None:
        return True
    pair = or_(
        and_(Offer.from_id == actor_id, Offer.to_id == other_id),
        and_(Offer.from_id == other_id, Offer.to_id == actor_id),
    )
    return session.scalars(select(Offer.id).where(pair).limit(1)).first() is not None


# --- a lot --------------------------------------------------------------------------------


def lot_view(session: Session, lot_id: str) -> dict[str, Any]:
    """A lot's current facts, its open offer and the holds that stop it."""
    lot: Lot = lookup(session, Lot, lot_id, "lot", "lot")
    offer = open_offer(session, lot.id)
    return {
        "lot": lot.id,
        "kind": lot.kind,
        "form": lot.form,
        "unit": lot.unit,
        "mass": lot.mass,
        "remaining": lot.remaining,
        "fineness_ppt": lot.fineness_ppt,
        "custodian": lot.custodian_id,
        "owner": lot.owner_id,
        "status": lot.status,
        "closed_by": lot.closed_by,
        "site": lot.site_id,
        "miner": lot.miner_id,
        "mercury_free": lot.mercury_free,
        "created_index": lot.created_index,
        "occurred_at": lot.created_at,
        "open_offer": None
        if offer is None
        else {"offer": offer.id, "from": offer.from_id, "to": offer.to_id},
        "holds": [case.id for case in lot_holds(session, lot)],
    }


def lot_history(session: Session, lot_id: str) -> list[dict[str, int | str]]:
    """Every ledger entry that concerns the lot, by index (each one can be proven)."""
    lookup(session, Lot, lot_id, "lot", "lot")
    stmt = select(LotEvent).where(LotEvent.lot_id == lot_id).order_by(LotEvent.index)
    return [{"index": ev.index, "type": ev.type} for ev in session.scalars(stmt)]


# --- provenance ---------------------------------------------------------------------------


def share_json(share: Fraction) -> dict[str, str]:
    """An exact share as ``{"fraction": "num/den", "decimal": "0.333333"}`` (half up)."""
    scaled = (share.numerator * 10**6 * 2 + share.denominator) // (2 * share.denominator)
    whole, frac = divmod(scaled, 10**6)
    return {"fraction": f"{share.numerator}/{share.denominator}", "decimal": f"{whole}.{frac:06d}"}


def _chunks(ids: Sequence[str]) -> Iterable[Sequence[str]]:
    for start in range(0, len(ids), _CHUNK):
        yield ids[start : start + _CHUNK]


def _too_large(what: str) -> RuleViolation:
    return RuleViolation(
        "provenance-too-large",
        f"the {what} provenance of this lot has more than {MAX_NODES} lots",
    )


def upstream(session: Session, lot_id: str) -> dict[str, Any]:
    """Where a lot came from: every lot it was made of, back to ore lots, sites and miners.

    Returns the provenance graph (a DAG: a split lot merged back shares its ancestors)
    as `nodes` and `links`, each link with the parent's exact share of the child, and
    `origins`: the share of each ore lot, site and miner in this lot (each sums to 1).
    """
    root: Lot = lookup(session, Lot, lot_id, "lot", "lot")
    lots: dict[str, Lot] = {root.id: root}
    depth: dict[str, int] = {root.id: 0}
    links: dict[str, list[LotLink]] = {}
    frontier = [root.id]
    while frontier:
        found: list[LotLink] = []
        for chunk in _chunks(frontier):
            found.extend(session.scalars(select(LotLink).where(LotLink.child_id.in_(chunk))))
        new: list[str] = []
        for link in found:
            links.setdefault(link.child_id, []).append(link)
            if link.parent_id not in depth:
                depth[link.parent_id] = depth[link.child_id] + 1
                new.append(link.parent_id)
        if len(depth) > MAX_NODES:
            raise _too_large("upstream")
        for chunk in _chunks(new):
            for lot in session.scalars(select(Lot).where(Lot.id.in_(chunk))):
                lots[lot.id] = lot
        frontier = new

    # Share of each lot in the root, children before parents: a parent is always created
    # by an earlier entry than its children, so descending creation index is topological.
    weight: dict[str, Fraction] = {root.id: Fraction(1)}
    link_share: dict[tuple[str, str], Fraction] = {}
    for lot in sorted(lots.values(), key=lambda x: x.created_index, reverse=True):
        own = links.get(lot.id, [])
        total = sum(link.mass for link in own)
        for link in own:
            share = Fraction(link.mass, total)
            link_share[(link.child_id, link.parent_id)] = share
            weight[link.parent_id] = weight.get(link.parent_id, Fraction(0)) + (
                weight[lot.id] * share
            )

    ore: list[dict[str, Any]] = []
    sites: dict[str, Fraction] = {}
    miners: dict[str, Fraction] = {}
    for lot in lots.values():
        if lot.id in links:
            continue  # made of other lots; only lots without parents are origins
        w = weight[lot.id]
        ore.append({"lot": lot.id, "site": lot.site_id, "miner": lot.miner_id, "share": w})
        if lot.site_id is not None:
            sites[lot.site_id] = sites.get(lot.site_id, Fraction(0)) + w
        if lot.miner_id is not None:
            miners[lot.miner_id] = miners.get(lot.miner_id, Fraction(0)) + w

    def ranked(items: dict[str, Fraction], key: str) -> list[dict[str, Any]]:
        order = sorted(items.items(), key=lambda kv: (-kv[1], kv[0]))
        return [{key: k, "share": share_json(v)} for k, v in order]

    ore.sort(key=lambda o: (-o["share"], o["lot"]))
    return {
        "lot": root.id,
        "depth": max(depth.values()),
        "nodes": [
            {
                "lot": lot.id,
                "kind": lot.kind,
                "form": lot.form,
                "unit": lot.unit,
                "mass": lot.mass,
                "status": lot.status,
                "site": lot.site_id,
                "miner": lot.miner_id,
                "created_index": lot.created_index,
                "depth": depth[lot.id],
                "share": share_json(weight[lot.id]),
            }
            for lot in sorted(lots.values(), key=lambda x: (depth[x.id], x.created_index))
        ],
        "links": [
            {
                "child": link.child_id,
                "parent": link.parent_id,
                "mass": link.mass,
                "unit": lots[link.parent_id].unit,
                "event_index": link.event_index,
                "share": share_json(link_share[(link.child_id, link.parent_id)]),
            }
            for child in sorted(links, key=lambda c: (depth[c], c))
            for link in sorted(links[child], key=lambda x: x.parent_id)
        ],
        "origins": {
            "ore_lots": [{**o, "share": share_json(o["share"])} for o in ore],
            "sites": ranked(sites, "site"),
            "miners": ranked(miners, "miner"),
        },
    }


def downstream(
    session: Session,
    *,
    lot_id: str | None = None,
    site_id: str | None = None,
    miner_id: str | None = None,
) -> list[dict[str, Any]]:
    """Every lot that came from a lot (not counting itself), a site or a miner (counting
    their ore lots), nearest first, with its status and who holds it now."""
    given = [x for x in (lot_id, site_id, miner_id) if x is not None]
    if len(given) != 1:
        raise RuleViolation(
            "one-origin", "give exactly one of lot_id, site_id or miner_id", field="query"
        )
    start: list[Lot]
    if lot_id is not None:
        start = [lookup(session, Lot, lot_id, "lot", "lot")]
    elif site_id is not None:
        lookup(session, Site, site_id, "site", "site")
        start = list(
            session.scalars(select(Lot).where(Lot.site_id == site_id).limit(MAX_NODES + 1))
        )
    else:
        lookup(session, Actor, miner_id, "actor", "miner")
        start = list(
            session.scalars(select(Lot).where(Lot.miner_id == miner_id).limit(MAX_NODES + 1))
        )
    return _walk_down(session, start, include_start=lot_id is None)


# --- lists: GET /lots, GET /offers, GET /actors (keyset pages, README "Lists") -------------
#
# Lots are listed newest first by their creation index (then id, for the lots one event
# creates together); offers by the index that offered them; actors by id. A page reads the
# rows after the previous page's last key, through an index that starts with the filter
# (see the 0009 migration), so it costs the same on the first page and the last.
#
# A non-officer lists only records it is a party to: the union of one branch per way of
# being a party (each an ordered, limited index scan), never an OR the database would
# have to sort whole. A filter naming another actor narrows that union; it never widens it.

LotKey = tuple[int, str]


def lot_page(
    session: Session,
    reader: str | None,
    *,
    custodian: str | None = None,
    owner: str | None = None,
    status: str | None = None,
    kind: str | None = None,
    after: LotKey | None = None,
    limit: int = 50,
) -> tuple[list[dict[str, Any]], LotKey | None]:
    """A page of lots, newest first by creation index, and the key of its last lot if
    more follow. `reader`: the non-officer whose lots these must be (None: an officer)."""
    filters: list[ColumnElement[bool]] = []
    for column, value in (
        (Lot.custodian_id, custodian),
        (Lot.owner_id, owner),
        (Lot.status, status),
        (Lot.kind, kind),
    ):
        if value is not None:
            filters.append(column == value)
    if after is not None:
        filters.append(tuple_(Lot.created_index, Lot.id) < tuple_(*after))
    order = (Lot.created_index.desc(), Lot.id.desc())

    def branch(*where: ColumnElement[bool]) -> Select[int, str]:
        return select(Lot.created_index, Lot.id).where(*where, *filters).order_by(*order)

    if reader is None or reader in (custodian, owner):
        branches = [branch()]
    else:
        via_offer = select(Offer.lot_id)
        branches = [
            branch(Lot.custodian_id == reader),
            branch(Lot.owner_id == reader),
            branch(Lot.miner_id == reader),
            branch(Lot.id.in_(via_offer.where(Offer.from_id == reader))),
            branch(Lot.id.in_(via_offer.where(Offer.to_id == reader))),
        ]
    keys = _keys_page(session, branches, limit + 1)
    more = len(keys) > limit
    keys = keys[:limit]
    ids = [k for _, k in keys]
    lots = {lot.id: lot for lot in session.scalars(select(Lot).where(Lot.id.in_(ids)))}
    latest = dict(
        session.execute(
            select(LotEvent.lot_id, func.max(LotEvent.index))
            .where(LotEvent.lot_id.in_(ids))
            .group_by(LotEvent.lot_id)
        ).all()
    )
    items = [
        {
            "lot": lot.id,
            "kind": lot.kind,
            "form": lot.form,
            "status": lot.status,
            "custodian": lot.custodian_id,
            "owner": lot.owner_id,
            "unit": lot.unit,
            "mass": lot.mass,
            "remaining": lot.remaining,
            "created_index": lot.created_index,
            "updated_index": latest.get(lot.id, lot.created_index),
            "occurred_at": lot.created_at,
        }
        for lot in (lots[i] for i in ids)
    ]
    return items, (keys[-1] if more else None)


def _keys_page(
    session: Session, branches: Sequence[Select[int, str]], limit: int
) -> list[tuple[int, str]]:
    """The first `limit` distinct (index, id) keys, newest first, of the union of
    `branches` (each already filtered and ordered newest first)."""
    if len(branches) == 1:
        rows: Sequence[Any] = session.execute(branches[0].limit(limit)).all()
    else:
        parts = [select(*b.limit(limit).subquery().c) for b in branches]
        both = union(*parts).subquery()
        key, ident = both.c
        stmt = select(key, ident).order_by(key.desc(), ident.desc()).limit(limit)
        rows = session.execute(stmt).all()
    return [(int(i), str(k)) for i, k in rows]


def offer_page(
    session: Session,
    reader: str | None,
    *,
    to: str | None = None,
    from_: str | None = None,
    status: str | None = None,
    after: LotKey | None = None,
    limit: int = 50,
) -> tuple[list[Offer], LotKey | None]:
    """A page of offers, newest first by the index that offered them, and the key of the
    last if more follow. `reader`: the non-officer who must be a party (None: an officer)."""
    filters: list[ColumnElement[bool]] = []
    for column, value in ((Offer.to_id, to), (Offer.from_id, from_), (Offer.status, status)):
        if value is not None:
            filters.append(column == value)
    if after is not None:
        filters.append(tuple_(Offer.offered_index, Offer.id) < tuple_(*after))

    def branch(*where: ColumnElement[bool]) -> Select[int, str]:
        stmt = select(Offer.offered_index, Offer.id).where(*where, *filters)
        return stmt.order_by(Offer.offered_index.desc(), Offer.id.desc())

    if reader is None or reader in (to, from_):
        branches = [branch()]
    else:
        branches = [branch(Offer.to_id == reader), branch(Offer.from_id == reader)]
    keys = _keys_page(session, branches, limit + 1)
    more = len(keys) > limit
    keys = keys[:limit]
    ids = [k for _, k in keys]
    offers = {o.id: o for o in session.scalars(select(Offer).where(Offer.id.in_(ids)))}
    return [offers[i] for i in ids], (keys[-1] if more else None)


def trade_partners(session: Session, actor_id: str) -> Select[str]:
    """The ids of the actors `actor_id` trades with (see `trades_with`), itself included:
    the other parties of the lots it is a party to, and of its offers."""
    columns = (Lot.custodian_id, Lot.owner_id, Lot.miner_id)
    parts: list[Select[str]] = [
        select(cast(ColumnElement[str], other)).where(mine == actor_id, other.is_not(None))
        for mine in columns
        for other in columns
        if other is not mine
    ]
    parts.append(select(Offer.to_id).where(Offer.from_id == actor_id))
    parts.append(select(Offer.from_id).where(Offer.to_id == actor_id))
    parts.append(select(literal(actor_id)))
    return select(union(*parts).subquery().c[0])


def actor_page(
    session: Session,
    reader: str | None,
    *,
    role: str | None = None,
    after: str | None = None,
    limit: int = 50,
) -> tuple[list[Actor], str | None]:
    """A page of actors by id, and the id of the last if more follow. `reader`: the
    non-officer who lists only itself and the actors it trades with (None: an officer)."""
    stmt = select(Actor).order_by(Actor.id).limit(limit + 1)
    if role is not None:
        stmt = stmt.where(Actor.role == role)
    if after is not None:
        stmt = stmt.where(Actor.id > after)
    if reader is not None:
        stmt = stmt.where(Actor.id.in_(trade_partners(session, reader)))
    found = list(session.scalars(stmt))
    more = len(found) > limit
    found = found[:limit]
    return found, (found[-1].id if more else None)


# --- a lot's history, told: when each thing happened and what, in one line ----------------


def lot_history_told(session: Session, lot_id: str) -> list[dict[str, Any]]:
    """Every ledger entry that concerns the lot, by index, with the event's own
    `occurred_at` and a one-line plain English summary (read from the entry itself)."""
    lookup(session, Lot, lot_id, "lot", "lot")
    rows = list(
        session.scalars(select(LotEvent).where(LotEvent.lot_id == lot_id).order_by(LotEvent.index))
    )
    entries = _entries_at(session, [row.index for row in rows])
    told: list[dict[str, Any]] = []
    for row in rows:
        entry = entries.get(row.index)
        body: dict[str, Any] = {} if entry is None else dict(entry.event.body)
        actor = "" if entry is None else entry.event.actor
        occurred = body.get("occurred_at")
        told.append(
            {
                "index": row.index,
                "type": row.type,
                "occurred_at": occurred if isinstance(occurred, str) else None,
                "summary": summary(row.type, actor, body, lot_id),
            }
        )
    return told


def _entries_at(session: Session, indices: Sequence[int]) -> dict[int, Entry]:
    table = storage.log_entries
    found: dict[int, Entry] = {}
    wanted = sorted(set(indices))
    for start in range(0, len(wanted), _CHUNK):
        chunk = wanted[start : start + _CHUNK]
        stmt = select(table.c.idx, table.c.entry).where(table.c.idx.in_(chunk))
        for idx, data in session.execute(stmt):
            found[int(idx)] = Entry.from_bytes(bytes(data))
    return found


def _n(value: Any) -> str:
    return f"{value:,}" if isinstance(value, int) else str(value)


def summary(type_: str, actor: str, body: Mapping[str, Any], lot_id: str) -> str:
    """One plain English line saying what an entry did to the lot `lot_id` (grams and
    milligrams written whole, with thousands separators)."""
    b = body
    match type_:
        case "ore.delivered":
            return (
                f"ore delivered: {_n(b.get('mass_g'))} g from {b.get('miner')} "
                f"at site {b.get('site')} to {actor}"
            )
        case "processing.recorded":
            inputs = b.get("inputs", [])
            for item in inputs:
                if item.get("lot") == lot_id:
                    used = _n(item.get("mass_g"))
                    return f"processed by {actor} in run {b.get('run')}: {used} g used"
            made: Mapping[str, Any] = next(
                (o for o in b.get("outputs", []) if o.get("lot") == lot_id), {}
            )
            return (
                f"made by {actor} in run {b.get('run')}: {_n(made.get('mass_mg'))} mg of "
                f"{made.get('form')} from {len(inputs)} ore lot(s)"
                + (", mercury-free" if b.get("mercury_free") else "")
            )
        case "assay.recorded":
            return f"assayed by {actor}: fineness {b.get('fineness_ppt')}/1000"
        case "lot.split":
            parts = b.get("into", [])
            if b.get("lot") == lot_id:
                loss = b.get("loss_mg")
                lost = f", {_n(loss)} mg lost" if loss else ""
                return f"split by {actor} into {len(parts)} parts{lost}"
            part: Mapping[str, Any] = next((p for p in parts if p.get("lot") == lot_id), {})
            return f"split from {b.get('lot')}: {_n(part.get('mass_mg'))} mg"
        case "lots.merged":
            if b.get("into") == lot_id:
                return f"merged by {actor} from {len(b.get('lots', []))} lots"
            return f"merged into {b.get('into')} by {actor}"
        case "transfer.offered":
            return f"offered by {actor} to {b.get('to')} (offer {b.get('offer')})"
        case "transfer.accepted" | "transfer.rejected" | "transfer.cancelled":
            verb = type_.split(".", 1)[1]
            return f"offer {b.get('offer')} {verb} by {actor}"
        case "lot.exported":
            where = b.get("destination") or {}
            return f"exported by {actor} to {where.get('party')} ({where.get('country')})"
        case "lot.refined":
            return f"sent by {actor} to the refinery {b.get('refinery')}"
        case "case.opened":
            kind = str(b.get("kind", "case")).replace("_", " ")
            return f"{kind} {b.get('case')} opened by {actor}"
        case "case.responded" | "case.resolved" | "case.escalated":
            verb = type_.split(".", 1)[1]
            return f"case {b.get('case')} {verb} by {actor}"
        case "certificate.issued":
            what = "ore receipt" if b.get("kind") == "ore_receipt" else "certificate"
            return f"{what} {b.get('certificate')} issued"
        case "certificate.requested" | "certificate.revoked":
            verb = type_.split(".", 1)[1]
            return f"certificate {verb} by {actor}"
        case "correction.recorded":
            return f"correction recorded by {actor}"
    return f"{type_} recorded by {actor}"


# --- an actor's lots onward ------------------------------------------------------------------


def actor_downstream(session: Session, actor: Actor) -> list[dict[str, Any]]:
    """Everything that came from an actor: for a miner or partnership, from the ore it
    mined (`downstream(miner_id=...)`); for a processing centre, from the ore it received
    (its ore lots and every lot made of them, wherever they are now); for anyone else,
    nothing (buyers and laboratories originate no lots)."""
    if actor.role in SITE_OWNERS:
        return downstream(session, miner_id=actor.id)
    if actor.role != PROCESSING_CENTRE:
        return []
    stmt = select(Lot).where(Lot.custodian_id == actor.id, Lot.kind == "ore")
    start = list(session.scalars(stmt.limit(MAX_NODES + 1)))
    return _walk_down(session, start, include_start=True)


# --- a miner's deliveries ----------------------------------------------------------------


def delivery_page(
    session: Session,
    miner_id: str,
    *,
    centre: str | None = None,
    after: LotKey | None = None,
    limit: int = 50,
) -> tuple[list[dict[str, Any]], LotKey | None]:
    """A page of the ore a miner or partnership delivered (to `centre` only, if given),
    newest first by the index of the delivery, as the delivery stated it (its mined-on day
    is read from the entry), and the key of the last if more follow."""
    stmt = select(Lot).where(Lot.miner_id == miner_id, Lot.kind == "ore")
    if centre is not None:
        stmt = stmt.where(Lot.custodian_id == centre)
    if after is not None:
        stmt = stmt.where(tuple_(Lot.created_index, Lot.id) < tuple_(*after))
    stmt = stmt.order_by(Lot.created_index.desc(), Lot.id.desc()).limit(limit + 1)
    lots = list(session.scalars(stmt))
    more = len(lots) > limit
    lots = lots[:limit]
    entries = _entries_at(session, [lot.created_index for lot in lots])
    items = []
    for lot in lots:
        entry = entries.get(lot.created_index)
        mined_on = None if entry is None else entry.event.body.get("mined_on")
        items.append(
            {
                "lot": lot.id,
                "site": lot.site_id or "",
                "centre": lot.custodian_id,
                "mass_g": lot.mass,
                "remaining_g": lot.remaining,
                "status": lot.status,
                "mined_on": mined_on if isinstance(mined_on, str) else None,
                "occurred_at": lot.created_at,
                "index": lot.created_index,
            }
        )
    last = (lots[-1].created_index, lots[-1].id) if more else None
    return items, last


def delivered_to(session: Session, miner_id: str, centre: str) -> bool:
    """Whether `centre` received any ore of `miner_id`."""
    stmt = select(Lot.id).where(
        Lot.miner_id == miner_id, Lot.custodian_id == centre, Lot.kind == "ore"
    )
    return session.scalars(stmt.limit(1)).first() is not None


def _walk_down(session: Session, start: list[Lot], *, include_start: bool) -> list[dict[str, Any]]:
    """Every lot made from the `start` lots, breadth first through `lot_links` (one query
    per table per level), nearest first; the start lots themselves at depth 0 when
    `include_start`. Refused beyond MAX_NODES lots, as provenance is."""
    if len(start) > MAX_NODES:
        raise _too_large("downstream")
    depth = {lot.id: 0 for lot in start}
    found: list[tuple[int, Lot]] = [(0, lot) for lot in start] if include_start else []
    frontier = [lot.id for lot in start]
    level = 0
    while frontier:
        level += 1
        children: list[str] = []
        for chunk in _chunks(frontier):
            stmt = select(LotLink.child_id).where(LotLink.parent_id.in_(chunk)).distinct()
            for child in session.scalars(stmt):
                if child not in depth:
                    depth[child] = level
                    children.append(child)
        if len(depth) > MAX_NODES:
            raise _too_large("downstream")
        for chunk in _chunks(children):
            found.extend(
                (level, lot) for lot in session.scalars(select(Lot).where(Lot.id.in_(chunk)))
            )
        frontier = children
    found.sort(key=lambda x: (x[0], x[1].created_index, x[1].id))
    return [
        {
            "lot": lot.id,
            "kind": lot.kind,
            "form": lot.form,
            "status": lot.status,
            "custodian": lot.custodian_id,
            "owner": lot.owner_id,
            "remaining": lot.remaining,
            "unit": lot.unit,
            "depth": d,
        }
        for d, lot in found
    ]
