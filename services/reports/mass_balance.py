"""Mass balance per processing centre and period.

For each centre, over the period's days (UTC+8, see `periods`):

- ore received (g): the masses of its ore deliveries;
- ore processed (g): the grams its runs consumed;
- gold produced (mg): the masses of its runs' outputs; fine gold (mg) = mass x fineness /
  1000 over the outputs that have an assay (the latest one), the rest reported as
  unassayed mass;
- recovery per run in g of gold per tonne of ore, its distribution (min, quartiles, max,
  see `stats`) and the outliers: outside the configured yield bounds
  (ALTAN_YIELD_MIN/MAX_G_PER_T) or beyond Tukey's far-out fences;
- stock at the end of the period, twice, from independent sources:
  book stock = every receipt minus every consumption dated on or before the last day;
  stock on hand = what the ore lots received by then still held at the end: each lot's
  `remaining` (maintained by the projection) plus what runs dated after the end took
  from it. The difference must be 0; it is not when a run is dated before the delivery of
  ore it consumed (the run's index is given as evidence) or when the projection's lots
  disagree with its links. Without `to`, the end is now;
- gold lost in splits (mg): what the centre's `lot.split` entries of the period state as
  `loss_mg` (a lot = its parts + the loss, exact), and the table `losses`: every split of
  the period that lost mass, by any holder (or by the centre asked for), with its reason,
  read from the log entries themselves. Splits logged before `loss_mg` existed lost
  nothing and are not listed.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date
from fractions import Fraction
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from services.actors.models import Actor
from services.errors import NotFound
from services.lots.models import Lot, LotEvent
from services.lots.rules import split_loss
from services.reports import evidence, queries
from services.reports.periods import Period, Unreadable, readable_instant
from services.reports.queries import Delivery, Run
from services.reports.stats import Distribution, number
from services.roles import PROCESSING_CENTRE
from services.settings import Settings

TABLES = ("centres", "runs", "stock", "losses")


def centres(s: Session, centre: str | None) -> list[str]:
    """The centres a report covers: the one asked for, or every registered centre."""
    if centre is not None:
        actor = s.get(Actor, centre)
        if actor is None or actor.role != PROCESSING_CENTRE:
            raise NotFound("unknown-centre", f"no processing centre {centre!r}", field="centre")
        return [centre]
    stmt = select(Actor.id).where(Actor.role == PROCESSING_CENTRE).order_by(Actor.id)
    return list(s.scalars(stmt))


def mass_balance(
    s: Session, period: Period, settings: Settings, centre: str | None = None
) -> dict[str, Any]:
    """The mass balance report (see the module docstring)."""
    covered = centres(s, centre)
    conn = s.connection()
    cp = evidence.checkpoint(conn)
    low, high = queries.bounds(settings)
    unreadable: list[Unreadable] = []
    all_deliveries = queries.deliveries(s, centre, unreadable)
    all_runs = queries.runs(s, centre, unreadable)
    in_period = [r for r in all_runs if r.day is not None and period.contains(r.day)]
    methods = {
        i: str(e.event.body.get("method"))
        for i, e in evidence.entries_at(conn, [r.index for r in in_period]).items()
    }
    by_centre_d: dict[str, list[Delivery]] = defaultdict(list)
    for d in all_deliveries:
        by_centre_d[d.centre].append(d)
    by_centre_r: dict[str, list[Run]] = defaultdict(list)
    for r in all_runs:
        by_centre_r[r.centre].append(r)
    losses = split_losses(s, period, centre)
    lost: dict[str, int] = defaultdict(int)
    for loss in losses:
        lost[loss.actor] += loss.loss_mg

    centre_rows: list[dict[str, Any]] = []
    run_rows: list[dict[str, Any]] = []
    stock_rows: list[dict[str, Any]] = []
    for cid in covered:
        ds, rs = by_centre_d.get(cid, []), by_centre_r.get(cid, [])
        row, runs_of, series = _centre(cid, ds, rs, period, (low, high), methods, cp["tree_size"])
        row["gold_lost_in_splits_mg"] = lost.get(cid, 0)
        centre_rows.append(row)
        run_rows.extend(runs_of)
        stock_rows.extend(series)
    return {
        "report": "mass-balance",
        "period": period.to_json(),
        "checkpoint": cp,
        "units": {"ore": "g", "gold": "mg", "recovery": "g/t"},
        "yield_bounds_g_per_t": {
            "min": settings.yield_min_g_per_t,
            "max": settings.yield_max_g_per_t,
        },
        "centres": centre_rows,
        "runs": run_rows,
        "stock": stock_rows,
        "losses": [loss.to_json(cp["tree_size"]) for loss in losses],
        "not_computable": [u.to_json() for u in sorted(unreadable, key=lambda u: u.index)],
    }


def _centre(
    cid: str,
    ds: list[Delivery],
    rs: list[Run],
    period: Period,
    limits: tuple[Fraction, Fraction],
    methods: dict[int, str],
    tree_size: int,
) -> tuple[dict[str, Any], list[dict[str, Any]], list[dict[str, Any]]]:
    low, high = limits
    received = sum(d.mass_g for d in ds if period.contains(d.day))
    runs_in = [r for r in rs if r.day is not None and period.contains(r.day)]
    processed = sum(r.ore_g for r in runs_in)
    gold = sum(r.gold_mg for r in runs_in)
    outputs = [o for r in runs_in for o in r.outputs]
    fine = sum((o.fine_mg for o in outputs if o.fine_mg is not None), Fraction(0))
    assayed = sum(o.mass_mg for o in outputs if o.fineness_ppt is not None)
    recoveries = [r.recovery for r in runs_in if r.recovery is not None]
    dist = Distribution.of(recoveries)

    stock = stock_check(ds, rs, period)
    run_rows = []
    for r in runs_in:
        rec = r.recovery
        bounded = rec is not None and not low <= rec <= high
        tukey = rec is not None and dist is not None and dist.outlier(rec)
        run_rows.append(
            {
                "centre": cid,
                "run": r.run,
                "index": r.index,
                "occurred_at": r.occurred_at,
                "day": None if r.day is None else r.day.isoformat(),
                "method": methods.get(r.index),
                "mercury_free": r.mercury_free,
                "inputs": " ".join(sorted(r.inputs)),
                "outputs": " ".join(o.lot for o in r.outputs),
                "ore_g": r.ore_g,
                "gold_mg": r.gold_mg,
                "fine_gold_mg": _floor(
                    sum((o.fine_mg for o in r.outputs if o.fine_mg is not None), Fraction(0))
                ),
                "unassayed_mg": sum(o.mass_mg for o in r.outputs if o.fineness_ppt is None),
                "recovery_g_per_t": None if rec is None else number(rec),
                "out_of_bounds": bounded,
                "statistical_outlier": tukey,
                "proof": evidence.proof_url(r.index, tree_size),
            }
        )
    row: dict[str, Any] = {
        "centre": cid,
        "runs": len(runs_in),
        "deliveries": sum(1 for d in ds if period.contains(d.day)),
        "ore_received_g": received,
        "ore_processed_g": processed,
        "gold_produced_mg": gold,
        "fine_gold_mg": _floor(fine),
        "assayed_gold_mg": assayed,
        "unassayed_gold_mg": gold - assayed,
    }
    stats = dist.to_json() if dist is not None else {}
    for key in ("min", "q1", "median", "q3", "max", "lower_fence", "upper_fence"):
        row[f"recovery_{key}_g_per_t"] = stats.get(key)
    row.update(
        {
            "outliers_out_of_bounds": sum(1 for x in run_rows if x["out_of_bounds"]),
            "outliers_statistical": sum(1 for x in run_rows if x["statistical_outlier"]),
            "stock_opening_g": stock.opening,
            "stock_book_g": stock.book,
            "stock_on_hand_g": stock.on_hand,
            "stock_difference_g": stock.difference,
            "balanced": stock.difference == 0,
            "mismatch_evidence": list(stock.evidence),
        }
    )
    return row, run_rows, _series(cid, ds, rs, period, stock.opening, tree_size)


@dataclass(frozen=True)
class Stock:
    """Ore stock of one centre: at the period's start (book), at its end by the book
    (receipts - consumption) and on hand (the lots), and the entries that explain a
    difference (runs dated on or before the end that took ore delivered after it, and
    those deliveries)."""

    opening: int
    book: int
    on_hand: int
    evidence: tuple[int, ...]

    @property
    def difference(self) -> int:
        return self.on_hand - self.book


def stock_check(ds: list[Delivery], rs: list[Run], period: Period) -> Stock:
    """A centre's stock both ways (see the module docstring)."""
    opening = sum(d.mass_g for d in ds if period.before(d.day)) - sum(
        r.ore_g for r in rs if r.day is not None and period.before(r.day)
    )
    book = sum(d.mass_g for d in ds if period.by_end(d.day)) - sum(
        r.ore_g for r in rs if r.day is not None and period.by_end(r.day)
    )
    held = {d.lot: d.remaining_g for d in ds if period.by_end(d.day)}
    delivered = {d.lot: d for d in ds}
    explain: set[int] = set()
    for r in rs:
        if r.day is None:
            continue
        for lot, grams in r.inputs.items():
            if not period.by_end(r.day):
                if lot in held:
                    held[lot] += grams  # taken after the end: still on hand at the end
                continue
            d = delivered.get(lot)
            if d is None or not period.by_end(d.day):
                explain.add(r.index)
                if d is not None:
                    explain.add(d.index)
    return Stock(opening, book, sum(held.values()), tuple(sorted(explain)))


def _series(
    cid: str, ds: list[Delivery], rs: list[Run], period: Period, opening: int, tree_size: int
) -> list[dict[str, Any]]:
    """Book stock after each receipt and each run of the period, in time order."""
    moves: list[tuple[Any, int, str, str, str, int]] = []
    for d in ds:
        if period.contains(d.day):
            moves.append((d.at, d.index, d.occurred_at, "ore.delivered", d.lot, d.mass_g))
    for r in rs:
        if r.day is not None and period.contains(r.day):
            moves.append((r.at, r.index, r.occurred_at, "processing.recorded", r.run, -r.ore_g))
    moves.sort(key=lambda m: (m[0], m[1]))
    stock = opening
    rows = []
    for at, index, occurred_at, kind, ref, change in moves:
        stock += change
        rows.append(
            {
                "centre": cid,
                "index": index,
                "occurred_at": occurred_at,
                "day": at.date().isoformat(),
                "event": kind,
                "ref": ref,
                "change_g": change,
                "stock_g": stock,
                "proof": evidence.proof_url(index, tree_size),
            }
        )
    return rows


@dataclass(frozen=True)
class SplitLoss:
    """A split that lost mass: who split which lot, when, into what, and how much was lost
    and why (as its `lot.split` entry states)."""

    index: int
    actor: str
    lot: str
    occurred_at: str
    day: date
    parts: tuple[str, ...]
    parts_mg: int
    loss_mg: int
    reason: str | None

    def to_json(self, tree_size: int) -> dict[str, Any]:
        return {
            "actor": self.actor,
            "lot": self.lot,
            "index": self.index,
            "occurred_at": self.occurred_at,
            "day": self.day.isoformat(),
            "parts": " ".join(self.parts),
            "lot_mg": self.parts_mg + self.loss_mg,
            "parts_mg": self.parts_mg,
            "loss_mg": self.loss_mg,
            "loss_reason": self.reason,
            "proof": evidence.proof_url(self.index, tree_size),
        }


def split_losses(s: Session, period: Period, actor: str | None = None) -> list[SplitLoss]:
    """The splits of the period (by `actor`, when given) that lost mass, in log order.

    The figures come from the entries themselves (the projection keeps no loss): the split
    lot's history names the entry; its custodian, which a closed lot keeps, the splitter."""
    stmt = (
        select(LotEvent.index)
        .join(Lot, Lot.id == LotEvent.lot_id)
        .where(LotEvent.type == "lot.split")
        .distinct()
    )
    if actor is not None:
        stmt = stmt.where(Lot.custodian_id == actor)
    out: list[SplitLoss] = []
    for index, entry in sorted(evidence.entries_at(s.connection(), s.scalars(stmt)).items()):
        body, who = entry.event.body, entry.event.actor
        loss = split_loss(body)
        if loss <= 0 or (actor is not None and who != actor):
            continue  # nothing lost: every split logged before loss_mg, most splits since
        at = readable_instant(body.get("occurred_at"))
        if at is None or not period.contains(at.date()):
            continue  # a split with a loss was checked strictly at the edge: always readable
        into = [p for p in body.get("into", []) if isinstance(p, dict)]
        reason = body.get("loss_reason")
        out.append(
            SplitLoss(
                index=index,
                actor=who,
                lot=str(body.get("lot")),
                occurred_at=str(body["occurred_at"]),
                day=at.date(),
                parts=tuple(str(p.get("lot")) for p in into),
                parts_mg=sum(m for p in into if type(m := p.get("mass_mg")) is int),
                loss_mg=loss,
                reason=reason if isinstance(reason, str) else None,
            )
        )
    return out


def _floor(value: Fraction) -> int:
    return int(value.numerator // value.denominator)
