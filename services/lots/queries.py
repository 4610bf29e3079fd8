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

from collections.abc import Iterable, Sequence
from fractions import Fraction
from typing import Any

from sqlalchemy import ColumnElement, and_, or_, select
from sqlalchemy.orm import Session

from services.actors.models import Actor, Site
from services.cases.models import Case
from services.errors import RuleViolation
from services.lots.models import Lot, LotEvent, LotLink, Offer
from services.pipeline import lookup

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
    if len(start) > MAX_NODES:
        raise _too_large("downstream")
    depth = {lot.id: 0 for lot in start}
    found: list[tuple[int, Lot]] = [] if lot_id is not None else [(0, lot) for lot in start]
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
