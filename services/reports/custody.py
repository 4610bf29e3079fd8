"""Chain of custody of a lot: a tree back to the ore lots, their sites and their miners.

Built on the exact provenance graph (`services.lots.queries.upstream`); every lot in it
carries its steps: each ledger entry about the lot (from the projection's lot history) with
the event type, the actor, the time it occurred and the time it was recorded (read from the
log entry itself), and a link to its inclusion proof in the latest signed checkpoint. A lot
that is reached twice (a split lot merged back) is written out once; later mentions carry
`"repeat": true` and no subtree.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from services.actors.models import Actor, Site
from services.cases.models import Case
from services.lots import queries
from services.lots.models import Lot, LotEvent
from services.reports import evidence

TABLES = ("steps", "origins")
# Entries after which the actor holds the lot: it created it or accepted it.
TAKES_CUSTODY = frozenset(
    {"ore.delivered", "processing.recorded", "lot.split", "lots.merged", "transfer.accepted"}
)
_CHUNK = 500


def _rows(s: Session, model: Any, column: Any, ids: Sequence[str]) -> list[Any]:
    out: list[Any] = []
    for start in range(0, len(ids), _CHUNK):
        out.extend(s.scalars(select(model).where(column.in_(ids[start : start + _CHUNK]))))
    return out


def custody(s: Session, lot_id: str) -> dict[str, Any]:
    """The custody report of one lot (see the module docstring)."""
    conn = s.connection()
    cp = evidence.checkpoint(conn)
    size = cp["tree_size"]
    graph = queries.upstream(s, lot_id)  # NotFound for an unknown lot
    ids = [n["lot"] for n in graph["nodes"]]
    lots = {lot.id: lot for lot in _rows(s, Lot, Lot.id, ids)}
    history: dict[str, list[LotEvent]] = {}
    for ev in sorted(_rows(s, LotEvent, LotEvent.lot_id, ids), key=lambda e: e.index):
        history.setdefault(ev.lot_id, []).append(ev)
    site_ids = sorted({lot.site_id for lot in lots.values() if lot.site_id})
    miner_ids = sorted({lot.miner_id for lot in lots.values() if lot.miner_id})
    sites = {site.id: site for site in _rows(s, Site, Site.id, site_ids)}
    actors = {a.id: a for a in _rows(s, Actor, Actor.id, miner_ids)}
    site_cases: dict[str, list[Case]] = {}
    for case in _rows(s, Case, Case.target_id, site_ids):
        if case.target_kind == "site":
            site_cases.setdefault(case.target_id, []).append(case)
    entries = evidence.entries_at(conn, {ev.index for evs in history.values() for ev in evs})

    def step(ev: LotEvent) -> dict[str, Any]:
        entry = entries.get(ev.index)
        actor = entry.event.actor if entry else None
        return {
            "lot": ev.lot_id,
            "index": ev.index,
            "type": ev.type,
            "actor": actor,
            "holder": actor if ev.type in TAKES_CUSTODY else None,
            "occurred_at": entry.event.body.get("occurred_at") if entry else None,
            "recorded_at": entry.time if entry else None,
            "proof": evidence.proof_url(ev.index, size),
        }

    steps = {lot: [step(ev) for ev in evs] for lot, evs in history.items()}
    nodes = {n["lot"]: n for n in graph["nodes"]}
    parents: dict[str, list[dict[str, Any]]] = {}
    for link in graph["links"]:
        parents.setdefault(link["child"], []).append(link)

    def site_json(site_id: str | None) -> dict[str, Any] | None:
        site = sites.get(site_id) if site_id else None
        if site is None:
            return None
        return {
            "site": site.id,
            "owner": site.owner_id,
            "region": {"aimag": site.aimag, "soum": site.soum},
            "permit": site.permit_number,
            "status": site.status,
            "status_reason": site.status_reason,
            "registered_index": site.registered_index,
            "proof": evidence.proof_url(site.registered_index, size),
            "cases": [
                {
                    "case": c.id,
                    "kind": c.kind,
                    "category": c.category,
                    "status": c.status,
                    "opened_index": c.opened_index,
                    "proof": evidence.proof_url(c.opened_index, size),
                }
                for c in sorted(site_cases.get(site.id, []), key=lambda c: c.opened_index)
            ],
        }

    def miner_json(actor_id: str | None) -> dict[str, Any] | None:
        actor = actors.get(actor_id) if actor_id else None
        if actor is None:
            return None
        return {
            "actor": actor.id,
            "role": actor.role,
            "licence": actor.licence_number,
            "region": {"aimag": actor.aimag, "soum": actor.soum} if actor.aimag else None,
            "status": actor.status,
            "status_reason": actor.status_reason,
            "registered_index": actor.registered_index,
            "proof": evidence.proof_url(actor.registered_index, size),
        }

    seen: set[str] = set()

    def tree(lot_id: str, link: dict[str, Any] | None) -> dict[str, Any]:
        node, lot = nodes[lot_id], lots[lot_id]
        out: dict[str, Any] = {
            "lot": lot_id,
            "kind": lot.kind,
            "form": lot.form,
            "mass": lot.mass,
            "unit": lot.unit,
            "fineness_ppt": lot.fineness_ppt,
            "status": lot.status,
            "custodian": lot.custodian_id,
            "created_index": lot.created_index,
            "share_of_lot": node["share"],
        }
        if link is not None:
            out["link"] = {k: link[k] for k in ("mass", "unit", "event_index", "share")}
        if lot_id in seen:
            out["repeat"] = True
            return out
        seen.add(lot_id)
        out["steps"] = steps.get(lot_id, [])
        if lot.kind == "ore":
            out["site"] = site_json(lot.site_id)
            out["miner"] = miner_json(lot.miner_id)
        out["inputs"] = [
            tree(p["parent"], p) for p in sorted(parents.get(lot_id, []), key=lambda p: p["parent"])
        ]
        return out

    root = tree(lot_id, None)
    step_rows = [
        {"depth": nodes[lot]["depth"], **st}
        for lot in sorted(steps, key=lambda x: (nodes[x]["depth"], lots[x].created_index))
        for st in steps[lot]
    ]
    origin_rows = [
        {
            "ore_lot": o["lot"],
            "site": o["site"],
            "miner": o["miner"],
            "share": o["share"]["fraction"],
            "share_decimal": o["share"]["decimal"],
            "site_status": sites[o["site"]].status if o["site"] in sites else None,
            "miner_status": actors[o["miner"]].status if o["miner"] in actors else None,
        }
        for o in graph["origins"]["ore_lots"]
    ]
    return {
        "report": "custody",
        "lot": lot_id,
        "checkpoint": cp,
        "proof_template": "/log/proof/inclusion?index=I&tree_size=N",
        "tree": root,
        "origins": graph["origins"],
        "steps": step_rows,
        "origin_rows": origin_rows,
    }
