"""What the reports read from the projection: deliveries and processing runs, with their
days, as plain values (one query per table, no attribute loads in loops).

A delivery is an ore lot: the projection keeps its mass, site, miner, the receiving centre
(an ore lot's custodian never changes: only gold lots are traded) and its `occurred_at`. A
run is a `ProcessingRun` row; its inputs are the run's `LotLink` rows (one per output and
input, each carrying the input's grams for the whole run, so they are taken once per input),
its outputs the gold lots created by the run's entry.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from fractions import Fraction

from sqlalchemy import select
from sqlalchemy.orm import Session

from services.lots.models import Lot, LotLink, ProcessingRun
from services.lots.rules import yield_g_per_t
from services.reports.periods import Unreadable, readable_instant
from services.settings import Settings


@dataclass(frozen=True)
class Delivery:
    lot: str
    centre: str
    miner: str | None
    site: str | None
    mass_g: int
    remaining_g: int
    index: int
    occurred_at: str
    at: datetime
    day: date


@dataclass(frozen=True)
class Output:
    lot: str
    form: str
    mass_mg: int
    fineness_ppt: int | None

    @property
    def fine_mg(self) -> Fraction | None:
        if self.fineness_ppt is None:
            return None
        return Fraction(self.mass_mg * self.fineness_ppt, 1000)


@dataclass
class Run:
    run: str
    centre: str
    index: int
    occurred_at: str = ""
    at: datetime | None = None
    day: date | None = None
    mercury_free: bool | None = None
    inputs: dict[str, int] = field(default_factory=dict)  # ore lot -> grams consumed
    outputs: list[Output] = field(default_factory=list)

    @property
    def ore_g(self) -> int:
        return sum(self.inputs.values())

    @property
    def gold_mg(self) -> int:
        return sum(o.mass_mg for o in self.outputs)

    @property
    def recovery(self) -> Fraction | None:
        """Grams of gold per tonne of ore, exact."""
        return yield_g_per_t(self.gold_mg, self.ore_g) if self.ore_g else None


def bounds(settings: Settings) -> tuple[Fraction, Fraction]:
    """The configured plausible yield bounds in g/t, exact as written (0.1 is 1/10)."""
    return Fraction(repr(settings.yield_min_g_per_t)), Fraction(repr(settings.yield_max_g_per_t))


def deliveries(
    s: Session, centre: str | None = None, unreadable: list[Unreadable] | None = None
) -> list[Delivery]:
    """Every ore lot (of one centre, when given), in log order; one whose `occurred_at`
    names no moment is left out and added to `unreadable`."""
    stmt = select(
        Lot.id,
        Lot.custodian_id,
        Lot.miner_id,
        Lot.site_id,
        Lot.mass,
        Lot.remaining,
        Lot.created_index,
        Lot.created_at,
    ).where(Lot.kind == "ore")
    if centre is not None:
        stmt = stmt.where(Lot.custodian_id == centre)
    out = []
    for lot, cust, miner, site, mass, rem, idx, when in s.execute(stmt.order_by(Lot.created_index)):
        at = readable_instant(when)
        if at is None:
            _unreadable(unreadable, idx, when)
            continue
        out.append(Delivery(lot, cust, miner, site, mass, rem, idx, when, at, at.date()))
    return out


def _unreadable(into: list[Unreadable] | None, index: int, value: object) -> None:
    if into is not None and all(u.index != index for u in into):
        into.append(Unreadable(index, "body.occurred_at", value))


def runs(
    s: Session, centre: str | None = None, unreadable: list[Unreadable] | None = None
) -> list[Run]:
    """Every processing run (of one centre, when given), in log order, with its inputs and
    outputs; a run's time is its outputs' `occurred_at` (the run's own). A run whose
    `occurred_at` names no moment is left out and added to `unreadable`."""
    stmt = select(ProcessingRun.id, ProcessingRun.centre_id, ProcessingRun.index)
    if centre is not None:
        stmt = stmt.where(ProcessingRun.centre_id == centre)
    by_index: dict[int, Run] = {idx: Run(run_id, cid, idx) for run_id, cid, idx in s.execute(stmt)}
    outs = select(
        Lot.created_index,
        Lot.id,
        Lot.form,
        Lot.mass,
        Lot.fineness_ppt,
        Lot.mercury_free,
        Lot.created_at,
    ).join(ProcessingRun, ProcessingRun.index == Lot.created_index)
    ins = (
        select(LotLink.event_index, LotLink.parent_id, LotLink.mass)
        .join(ProcessingRun, ProcessingRun.index == LotLink.event_index)
        .distinct()
    )
    if centre is not None:
        outs = outs.where(ProcessingRun.centre_id == centre)
        ins = ins.where(ProcessingRun.centre_id == centre)
    for idx, lot, form, mass, fineness, mercury_free, when in s.execute(outs.order_by(Lot.id)):
        run = by_index[idx]
        run.outputs.append(Output(lot, form, mass, fineness))
        if not run.occurred_at:
            at = readable_instant(when)
            if at is None:
                _unreadable(unreadable, idx, when)
            else:
                run.occurred_at, run.at, run.day = when, at, at.date()
                run.mercury_free = mercury_free
    for idx, parent, grams in s.execute(ins):
        by_index[idx].inputs[parent] = grams
    return [by_index[i] for i in sorted(by_index) if by_index[i].day is not None]
