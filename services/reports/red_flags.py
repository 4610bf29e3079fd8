"""Red flags in the style of the OECD gold supplement and its Annex II, each with the
ledger indices that prove it.

The rules (`RULES` holds the same list for the report itself):

suspended_supplier   high (revoked) / medium (suspended)
    an ore lot delivered in the period by a miner or partnership that is now suspended or
    revoked, or a gold lot produced in the period by a centre that is; evidence: the
    latest `actor.status_changed` entry of that actor and the lot's creating entry.
site_dispute         medium (open) / low (resolved)
    an ore lot delivered in the period from a site with a dispute case that is still open,
    or that was open when the lot was delivered; evidence: the dispute's `case.opened` and
    the delivery.
site_suspended       high
    an ore lot delivered in the period from a site that is now suspended; evidence: the
    site's latest `site.status_changed` and the delivery.
yield_out_of_bounds  high (recomputed) / medium (recorded only, under other bounds)
    a run of the period whose recovery (g/t) is outside ALTAN_YIELD_MIN/MAX_G_PER_T as
    configured now, or that the system flagged when it was recorded (`case.opened` by
    system:altan, category yield_out_of_bounds); one flag per run; evidence: the run and
    the system's flag.
yield_outlier        low
    a run within the bounds whose recovery lies outside its centre's far-out fences for the
    period (Q1 - 3·IQR, Q3 + 3·IQR; at least 4 runs); evidence: the run.
long_hold            medium (still held) / low (lifted)
    a hold (any target: lot, actor, site) in force for more than N days (query `hold_days`,
    default ALTAN_REPORT_HOLD_DAYS = 30) at the end of the period (or now, when the period
    has no end or ends later) or when it was lifted, if it was in force during the
    period; evidence: `case.opened` (and `case.resolved`). Days are counted between the
    events' occurred_at.
custody_gap          high
    a lot created in the period whose chain misses a step: a gold lot with no recorded
    inputs, a link made by another entry than the lot's creation, a run input that was not
    in the centre's custody, a transfer offered by someone who was not then the custodian,
    a custodian that no accepted transfer explains, a creation or transfer missing from
    the lot's history, an ore lot without site or miner; evidence: the entries involved.
mercury_use          high (contradicts a declaration) / medium
    a run of the period recorded with mercury_free=false (mercury has been banned in
    artisanal mining since 2008); high when an earlier run of the same centre declared
    itself mercury-free; evidence: the run and that earlier run.
capacity_inconsistent  medium
    a site whose gold in a calendar year (UTC+8) of the period exceeds its registered
    capacity_g_per_year; a run's gold is shared among its input lots' sites by the grams
    each put in; evidence: the site's registration and the runs.
mass_balance_mismatch  high
    a centre whose stock on hand at the end of the period differs from receipts minus
    consumption (see `mass_balance`); evidence: the runs dated before the ore they took
    was delivered, and those deliveries.
recorded_case        high (serious abuses, armed groups, security forces) / medium
    a red flag an officer recorded (`case.opened`, kind red_flag) in the period, or one the
    system recorded that no rule above accounts for; evidence: the case's entries.

What the record cannot show is listed under `not_computable` in every report (see
`NOT_COMPUTABLE`).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from fractions import Fraction
from typing import Any, Final

from sqlalchemy import select
from sqlalchemy.orm import Session

from services.actors.models import Actor, Site, SiteEvent
from services.cases.models import Case
from services.identity import SYSTEM_ACTOR
from services.lots.models import Lot, LotEvent, LotLink, Offer, ProcessingRun
from services.lots.queries import BLOCKING_STATUSES
from services.reports import evidence, queries
from services.reports.mass_balance import stock_check
from services.reports.periods import ULAANBAATAR, Period, Unreadable, readable_instant
from services.reports.queries import Delivery, Run
from services.reports.stats import Distribution, number
from services.settings import Settings

TABLES = ("flags", "not_computable")
SEVERITIES: Final = ("high", "medium", "low")
INACTIVE = ("suspended", "revoked")
GRAVE_CATEGORIES = frozenset({"serious_abuses", "armed_groups", "security_forces"})
_CHUNK: Final = 500  # ids per IN (...) query

OECD: Final[dict[str, str]] = {
    "suspended_supplier": "supplier red flag: the supplier's registration or licence is "
    "suspended or revoked (legitimacy of the ASM supplier)",
    "site_dispute": "red flag location: the mine site is under a land-use or ownership "
    "dispute (Annex II: serious abuses, conflict over land)",
    "site_suspended": "red flag location: the mine site's permit is suspended",
    "yield_out_of_bounds": "red flag circumstance: output inconsistent with the ore "
    "processed (Annex II: fraudulent misrepresentation of origin, laundering of gold)",
    "yield_outlier": "red flag circumstance: recovery far from the centre's usual range",
    "long_hold": "unresolved due-diligence hold: risk not mitigated within the expected time",
    "custody_gap": "chain of custody incomplete (Annex II: misrepresentation of origin)",
    "mercury_use": "mercury used in processing (banned in Mongolian ASM since 2008; "
    "Minamata Convention), against the centre's mercury-free declaration",
    "capacity_inconsistent": "red flag circumstance: volumes inconsistent with the site's "
    "known capacity (OECD gold supplement)",
    "mass_balance_mismatch": "red flag circumstance: the centre's stock does not balance "
    "(receipts - consumption differs from the stock on hand)",
    "recorded_case": "red flag recorded by an officer (Annex II category as recorded)",
}
RULES: Final = [{"category": name, "oecd": text} for name, text in OECD.items()]
NOT_COMPUTABLE: Final = [
    {
        "rule": "attempted_sale_by_non_custodian",
        "reason": "a request that a rule refuses (e.g. not-custodian) records nothing: refusals "
        "are not in the log, so attempted sales by non-custodians cannot be reported; this "
        "needs a log of refused requests",
    },
    {
        "rule": "mercury_free_declared_at_registration",
        "reason": "actor.registered has no mercury-free field; a centre's declaration is "
        "taken from its earlier runs (mercury_free=true) only",
    },
    {
        "rule": "status_history",
        "reason": "suppliers are judged by their status now: a supplier suspended and "
        "later reinstated leaves no suspended_supplier flag on the lots it delivered",
    },
    {
        "rule": "annex_ii_risks",
        "reason": "serious abuses, armed groups, security forces, bribery, money laundering "
        "and unpaid taxes or royalties are not recorded as data; they appear only when an "
        "officer records a red flag case (recorded_case)",
    },
]


@dataclass
class Flag:
    category: str
    severity: str
    description: str
    evidence: list[int]
    day: date | None = None
    lot: str | None = None
    actor: str | None = None
    site: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def to_json(self, tree_size: int) -> dict[str, Any]:
        target = self.lot or self.actor or self.site or ""
        first = self.evidence[0] if self.evidence else ""
        return {
            "id": f"{self.category}:{target}:{first}",
            "category": self.category,
            "severity": self.severity,
            "lot": self.lot,
            "actor": self.actor,
            "site": self.site,
            "day": None if self.day is None else self.day.isoformat(),
            "description": self.description,
            "evidence": self.evidence,
            "proofs": [evidence.proof_url(i, tree_size) for i in self.evidence],
            "oecd": OECD[self.category],
            **self.extra,
        }


def red_flags(
    s: Session, period: Period, settings: Settings, now: datetime, hold_days: int | None = None
) -> dict[str, Any]:
    """The red flags of the period (see the module docstring)."""
    conn = s.connection()
    cp = evidence.checkpoint(conn)
    days = hold_days if hold_days is not None else settings.report_hold_days
    as_of = as_of_instant(period, now)
    unreadable: list[Unreadable] = []
    ds = queries.deliveries(s, unreadable=unreadable)
    rs = queries.runs(s, unreadable=unreadable)
    ds_in = [d for d in ds if period.contains(d.day)]
    rs_in = [r for r in rs if r.day is not None and period.contains(r.day)]
    cases = list(s.scalars(select(Case).order_by(Case.opened_index)))
    flags: list[Flag] = []
    flags += _suspended(s, ds_in, rs_in)
    flags += _sites(s, ds_in, cases)
    yields, accounted = _yields(rs_in, cases, settings)
    flags += yields
    flags += _holds(s, cases, period, as_of, days, unreadable)
    flags += _custody(s, ds_in, rs_in, rs, period, unreadable)
    flags += _mercury(rs, rs_in)
    flags += _capacity(s, ds, rs, period)
    flags += _mass_balance(ds, rs, period)
    flags += _recorded(s, cases, accounted, period, unreadable)
    rank = {name: i for i, name in enumerate(SEVERITIES)}
    flags.sort(key=lambda f: (rank[f.severity], f.category, f.evidence[:1], f.lot or ""))
    rows = [f.to_json(cp["tree_size"]) for f in flags]
    counts: dict[str, int] = defaultdict(int)
    for f in flags:
        counts[f.category] += 1
    return {
        "report": "red-flags",
        "period": period.to_json(),
        "checkpoint": cp,
        "as_of": as_of.isoformat(),
        "hold_days": days,
        "yield_bounds_g_per_t": {
            "min": settings.yield_min_g_per_t,
            "max": settings.yield_max_g_per_t,
        },
        "rules": RULES,
        "counts": dict(sorted(counts.items())),
        "flags": rows,
        "not_computable": NOT_COMPUTABLE
        + [u.to_json() for u in sorted(unreadable, key=lambda u: u.index)],
    }


def as_of_instant(period: Period, now: datetime) -> datetime:
    """The moment the report speaks of, in UTC+8: the end of the period, or now when the
    period has no end or ends in the future (a hold cannot have lasted until a day that
    has not come: a 23-day hold in a period ending next month is 23 days old, not 51)."""
    current = now.astimezone(ULAANBAATAR)
    end = period.end_instant()
    return current if end is None or end > current else end


# --- suppliers ----------------------------------------------------------------------------


def _suspended(s: Session, ds_in: list[Delivery], rs_in: list[Run]) -> list[Flag]:
    inactive = {a.id: a for a in s.scalars(select(Actor).where(Actor.status.in_(INACTIVE)))}
    if not inactive:
        return []
    start = min(a.registered_index for a in inactive.values())
    changes = evidence.latest_by(
        (
            e
            for e in evidence.scan(s.connection(), "actor.status_changed", start)
            if e.event.body.get("actor") in inactive
        ),
        "actor",
    )
    flags = []

    def flag(
        actor_id: str, lot: str, index: int, day: date | None, what: str, site: str | None = None
    ) -> Flag:
        actor = inactive[actor_id]
        change = changes.get(actor_id)
        return Flag(
            "suspended_supplier",
            "high" if actor.status == "revoked" else "medium",
            f"{what} {lot} comes from {actor_id}, now {actor.status}"
            f" ({actor.status_reason or 'no reason given'})",
            evidence.sorted_indices([None if change is None else change.index, index]),
            day=day,
            lot=lot,
            actor=actor_id,
            site=site,
            extra={"status": actor.status},
        )

    for d in ds_in:
        if d.miner in inactive:
            flags.append(flag(d.miner, d.lot, d.index, d.day, "ore lot", d.site))
    for r in rs_in:
        if r.centre in inactive:
            for out in r.outputs:
                flags.append(flag(r.centre, out.lot, r.index, r.day, "gold lot"))
    return flags


# --- sites --------------------------------------------------------------------------------


def _sites(s: Session, ds_in: list[Delivery], cases: list[Case]) -> list[Flag]:
    disputes: dict[str, list[Case]] = defaultdict(list)
    for case in cases:
        if case.kind == "dispute" and case.target_kind == "site":
            disputes[case.target_id].append(case)
    suspended = {
        site.id: site for site in s.scalars(select(Site).where(Site.status == "suspended"))
    }
    changed: dict[str, int] = {}
    if suspended:
        stmt = (
            select(SiteEvent.site_id, SiteEvent.index)
            .where(SiteEvent.type == "site.status_changed")
            .where(SiteEvent.site_id.in_(sorted(suspended)))
            .order_by(SiteEvent.index)
        )
        changed = {site_id: index for site_id, index in s.execute(stmt)}  # the latest wins
    flags = []
    for d in ds_in:
        if d.site is None:
            continue
        for case in disputes.get(d.site, []):
            resolved = case.status == "resolved"
            if resolved and not case.opened_index < d.index < case.last_index:
                continue
            flags.append(
                Flag(
                    "site_dispute",
                    "low" if resolved else "medium",
                    f"ore lot {d.lot} comes from site {d.site}, under dispute {case.id} "
                    f"({case.category}, {case.status}): {case.description}",
                    evidence.sorted_indices([case.opened_index, d.index]),
                    day=d.day,
                    lot=d.lot,
                    actor=d.miner,
                    site=d.site,
                    extra={"case": case.id},
                )
            )
        if d.site in suspended:
            site = suspended[d.site]
            flags.append(
                Flag(
                    "site_suspended",
                    "high",
                    f"ore lot {d.lot} comes from site {d.site}, now suspended "
                    f"({site.status_reason or 'no reason given'})",
                    evidence.sorted_indices([changed.get(d.site), d.index]),
                    day=d.day,
                    lot=d.lot,
                    actor=d.miner,
                    site=d.site,
                )
            )
    return flags


# --- yields -------------------------------------------------------------------------------


def _yields(rs_in: list[Run], cases: list[Case], settings: Settings) -> tuple[list[Flag], set[str]]:
    """Yield flags per run, and the ids of the system cases they account for."""
    low, high = queries.bounds(settings)
    system = {
        c.target_id: c
        for c in cases
        if c.raised_by == SYSTEM_ACTOR
        and c.category == "yield_out_of_bounds"
        and c.target_kind == "lot"
    }
    per_centre: dict[str, list[Fraction]] = defaultdict(list)
    for r in rs_in:
        if r.recovery is not None:
            per_centre[r.centre].append(r.recovery)
    dists = {c: Distribution.of(v) for c, v in per_centre.items()}
    flags, accounted = [], set()
    for r in rs_in:
        rec = r.recovery
        if rec is None:
            continue
        recorded = next((system[o.lot] for o in r.outputs if o.lot in system), None)
        bounded = not low <= rec <= high
        dist = dists.get(r.centre)
        tukey = dist is not None and dist.outlier(rec)
        if recorded is not None:
            accounted.add(recorded.id)
        if not (bounded or tukey or recorded is not None):
            continue
        text = (
            f"run {r.run} at {r.centre}: {number(rec)} g/t ({r.gold_mg} mg of gold from "
            f"{r.ore_g} g of ore)"
        )
        if bounded or recorded is not None:
            category = "yield_out_of_bounds"
            severity = "high" if bounded else "medium"
            text += f", bounds {settings.yield_min_g_per_t}-{settings.yield_max_g_per_t} g/t"
            if recorded is not None:
                text += f"; flagged by the system when recorded (case {recorded.id})"
        else:
            category, severity = "yield_outlier", "low"
        if tukey and dist is not None and dist.fences is not None:
            lo, hi = dist.fences
            text += f"; beyond the centre's fences {number(lo)}-{number(hi)} g/t"
        flags.append(
            Flag(
                category,
                severity,
                text,
                evidence.sorted_indices([r.index, recorded.opened_index if recorded else None]),
                day=r.day,
                lot=recorded.target_id if recorded else r.outputs[0].lot,
                actor=r.centre,
                extra={
                    "run": r.run,
                    "recovery_g_per_t": number(rec),
                    "case": recorded.id if recorded else None,
                },
            )
        )
    return flags, accounted


# --- holds --------------------------------------------------------------------------------


def _holds(
    s: Session,
    cases: list[Case],
    period: Period,
    as_of: datetime,
    days: int,
    unreadable: list[Unreadable],
) -> list[Flag]:
    holds = [c for c in cases if c.kind == "hold"]
    if not holds:
        return []
    entries = evidence.entries_at(
        s.connection(), [c.opened_index for c in holds] + [c.last_index for c in holds]
    )
    limit = timedelta(days=days)
    flags = []
    for case in holds:
        opened = entries.get(case.opened_index)
        if opened is None:
            continue
        start = _moment(opened.event.body, case.opened_index, unreadable)
        if start is None or start >= as_of:
            continue
        until, lifted = as_of, False
        closing = entries.get(case.last_index)
        if case.status not in BLOCKING_STATUSES and closing is not None:
            end = _moment(closing.event.body, case.last_index, unreadable)
            if end is None:
                continue  # when it was lifted is unknown: listed under not_computable
            if end < as_of:
                until, lifted = end, True
        if until - start <= limit:
            continue
        if period.start is not None and until.date() < period.start:
            continue
        held = (until - start).days
        target = {case.target_kind: case.target_id}
        flags.append(
            Flag(
                "long_hold",
                "low" if lifted else "medium",
                f"hold {case.id} on {case.target_kind} {case.target_id} ({case.category}) "
                + (
                    f"lasted {held} days before it was lifted"
                    if lifted
                    else f"in force for {held} days"
                )
                + f", more than {days}",
                evidence.sorted_indices([case.opened_index, case.last_index if lifted else None]),
                day=start.date(),
                lot=target.get("lot"),
                actor=target.get("actor"),
                site=target.get("site"),
                extra={"case": case.id, "held_days": held, "lifted": lifted},
            )
        )
    return flags


# --- custody ------------------------------------------------------------------------------


def _custody(
    s: Session,
    ds_in: list[Delivery],
    rs_in: list[Run],
    rs: list[Run],
    period: Period,
    unreadable: list[Unreadable],
) -> list[Flag]:
    runs_at = {r.index: r for r in rs}
    centre_of = {
        idx: cid for idx, cid in s.execute(select(ProcessingRun.index, ProcessingRun.centre_id))
    }
    offers: dict[str, list[Offer]] = defaultdict(list)
    for offer in s.scalars(
        select(Offer).where(Offer.status == "accepted").order_by(Offer.closed_index)
    ):
        offers[offer.lot_id].append(offer)
    gold = []
    created: dict[str, date] = {}
    for lot in s.scalars(select(Lot).where(Lot.kind == "gold").order_by(Lot.created_index)):
        at = _moment({"occurred_at": lot.created_at}, lot.created_index, unreadable)
        if at is not None and period.contains(at.date()):
            gold.append(lot)
            created[lot.id] = at.date()
    ids = [lot.id for lot in gold] + [d.lot for d in ds_in]
    links: dict[str, list[LotLink]] = defaultdict(list)
    history: dict[str, set[int]] = defaultdict(set)
    for start in range(0, len(ids), 500):
        chunk = ids[start : start + 500]
        for link in s.scalars(select(LotLink).where(LotLink.child_id.in_(chunk))):
            links[link.child_id].append(link)
        for lot_id, index in s.execute(
            select(LotEvent.lot_id, LotEvent.index).where(LotEvent.lot_id.in_(chunk))
        ):
            history[lot_id].add(index)
    wanted = [lot.id for lot in gold]
    for lot in gold:
        run = runs_at.get(lot.created_index)
        if run is not None:
            wanted += run.inputs
    known, parents_of = _lineage(s, wanted, centre_of)
    initial: dict[str, str | None] = {}

    def custodian_at(lot_id: str, index: int) -> str | None:
        holder = first_holder(lot_id)
        for offer in offers.get(lot_id, []):
            if offer.closed_index is not None and offer.closed_index < index:
                holder = offer.to_id
        return holder

    def first_holder(lot_id: str) -> str | None:
        if lot_id not in initial:
            lot = known.get(lot_id)
            if lot is None:
                initial[lot_id] = None
            elif lot.kind == "ore":
                initial[lot_id] = lot.custodian
            elif lot.created_index in centre_of:
                initial[lot_id] = centre_of[lot.created_index]
            else:
                parents = parents_of.get(lot_id, [])
                holders = {custodian_at(p, lot.created_index) for p in parents}
                initial[lot_id] = holders.pop() if len(holders) == 1 else None
        return initial[lot_id]

    flags = []
    for d in ds_in:
        problems, idx = [], [d.index]
        if d.site is None or d.miner is None:
            problems.append("no site or miner recorded")
        if d.index not in history[d.lot]:
            problems.append(f"its delivery {d.index} is missing from its history")
        for offer in offers.get(d.lot, []):
            problems.append(f"an ore lot was transferred (offer {offer.id})")
            idx.append(offer.closed_index or offer.offered_index)
        if problems:
            flags.append(_gap(d.lot, d.day, problems, idx, d.centre))
    for lot in gold:
        problems, idx = [], [lot.created_index]
        own = links.get(lot.id, [])
        if not own:
            problems.append("no inputs recorded")
        for link in own:
            if link.event_index != lot.created_index:
                problems.append(f"input {link.parent_id} linked by entry {link.event_index}")
                idx.append(link.event_index)
        run = runs_at.get(lot.created_index)
        if run is not None:
            for parent in sorted(run.inputs):
                holder = custodian_at(parent, run.index)
                if holder != run.centre:
                    problems.append(f"input {parent} was with {holder}, not {run.centre}")
        if lot.created_index not in history[lot.id]:
            problems.append(f"its creation {lot.created_index} is missing from its history")
        holder = first_holder(lot.id)
        if holder is None:
            problems.append("no single custodian created it")
        for offer in offers.get(lot.id, []):
            if offer.from_id != holder:
                problems.append(
                    f"offer {offer.id} was made by {offer.from_id} while {holder} held it"
                )
                idx.append(offer.offered_index)
            if offer.closed_index is not None and offer.closed_index not in history[lot.id]:
                problems.append(f"the transfer {offer.closed_index} is missing from its history")
                idx.append(offer.closed_index)
            holder = offer.to_id
        if holder != lot.custodian_id:
            problems.append(
                f"it is with {lot.custodian_id} but its transfers leave it with {holder}"
            )
        if problems:
            flags.append(_gap(lot.id, created[lot.id], problems, idx, lot.custodian_id))
    return flags


@dataclass(frozen=True)
class _Known:
    """What a custody check needs of a lot: its kind, custodian and creating entry."""

    kind: str
    custodian: str
    created_index: int


def _lineage(
    s: Session, lot_ids: list[str], centre_of: dict[int, str]
) -> tuple[dict[str, _Known], dict[str, list[str]]]:
    """The lots `lot_ids` and their ancestors as far as a custody check follows them (a gold
    lot not created by a run, e.g. by a split or a merge, to its parents), and the parents
    of each such lot: a query per table and generation, `_CHUNK` ids at a time, never one
    per lot."""
    known: dict[str, _Known] = {}
    parents_of: dict[str, list[str]] = defaultdict(list)
    seen: set[str] = set()
    todo = sorted(set(lot_ids))
    while todo:
        seen.update(todo)
        inherit = []
        for start in range(0, len(todo), _CHUNK):
            chunk = todo[start : start + _CHUNK]
            stmt = select(Lot.id, Lot.kind, Lot.custodian_id, Lot.created_index).where(
                Lot.id.in_(chunk)
            )
            for lot_id, kind, custodian, created_index in s.execute(stmt):
                known[lot_id] = _Known(kind, custodian, created_index)
                if kind != "ore" and created_index not in centre_of:
                    inherit.append(lot_id)
        found: set[str] = set()
        for start in range(0, len(inherit), _CHUNK):
            chunk = inherit[start : start + _CHUNK]
            stmt2 = select(LotLink.child_id, LotLink.parent_id).where(LotLink.child_id.in_(chunk))
            for child, parent in s.execute(stmt2):
                parents_of[child].append(parent)
                found.add(parent)
        todo = sorted(found - seen)
    return known, parents_of


def _gap(lot: str, day: date, problems: list[str], idx: list[int], actor: str) -> Flag:
    return Flag(
        "custody_gap",
        "high",
        f"lot {lot}: " + "; ".join(problems),
        evidence.sorted_indices(list(idx)),
        day=day,
        lot=lot,
        actor=actor,
    )


# --- mercury ------------------------------------------------------------------------------


def _mercury(rs: list[Run], rs_in: list[Run]) -> list[Flag]:
    declared: dict[str, list[int]] = defaultdict(list)  # centre -> mercury-free run indices
    for r in rs:
        if r.mercury_free:
            declared[r.centre].append(r.index)
    flags = []
    for r in rs_in:
        if r.mercury_free is not False:
            continue
        earlier = [i for i in declared.get(r.centre, []) if i < r.index]
        before = earlier[-1] if earlier else None
        text = f"run {r.run} at {r.centre} used mercury (mercury_free=false)"
        if before is not None:
            text += f", though its earlier run at entry {before} was declared mercury-free"
        flags.append(
            Flag(
                "mercury_use",
                "high" if before is not None else "medium",
                text,
                evidence.sorted_indices([r.index, before]),
                day=r.day,
                lot=r.outputs[0].lot if r.outputs else None,
                actor=r.centre,
                extra={"run": r.run, "declared_mercury_free_at": before},
            )
        )
    return flags


# --- capacity -----------------------------------------------------------------------------


def _capacity(s: Session, ds: list[Delivery], rs: list[Run], period: Period) -> list[Flag]:
    sites = {
        site.id: site
        for site in s.scalars(select(Site).where(Site.capacity_g_per_year.is_not(None)))
    }
    if not sites:
        return []
    site_of = {d.lot: d.site for d in ds}
    gold: dict[tuple[str, int], Fraction] = defaultdict(Fraction)
    runs_of: dict[tuple[str, int], list[int]] = defaultdict(list)
    for r in rs:
        if r.day is None or not r.ore_g:
            continue
        for lot, grams in r.inputs.items():
            origin = site_of.get(lot)
            if origin is not None and origin in sites:
                key = (origin, r.day.year)
                gold[key] += Fraction(r.gold_mg * grams, r.ore_g)
                runs_of[key].append(r.index)
    flags = []
    for (site_id, year), mg in sorted(gold.items()):
        first, last = date(year, 1, 1), date(year, 12, 31)
        if not (period.by_end(first) and not period.before(last)):
            continue  # the year does not overlap the period
        registered = sites[site_id]
        capacity = registered.capacity_g_per_year or 0
        if mg <= capacity * 1000:
            continue
        flags.append(
            Flag(
                "capacity_inconsistent",
                "medium",
                f"site {site_id} gave {number(mg / 1000)} g of gold in {year}, above its "
                f"registered capacity of {capacity} g a year",
                evidence.sorted_indices([registered.registered_index, *runs_of[(site_id, year)]]),
                day=first,
                actor=registered.owner_id,
                site=site_id,
                extra={"year": year, "gold_g": number(mg / 1000), "capacity_g": capacity},
            )
        )
    return flags


# --- mass balance -------------------------------------------------------------------------


def _mass_balance(ds: list[Delivery], rs: list[Run], period: Period) -> list[Flag]:
    by_d: dict[str, list[Delivery]] = defaultdict(list)
    by_r: dict[str, list[Run]] = defaultdict(list)
    for d in ds:
        by_d[d.centre].append(d)
    for r in rs:
        by_r[r.centre].append(r)
    flags = []
    for centre in sorted(set(by_d) | set(by_r)):
        stock = stock_check(by_d[centre], by_r[centre], period)
        if stock.difference == 0:
            continue
        flags.append(
            Flag(
                "mass_balance_mismatch",
                "high",
                f"{centre}: {stock.on_hand} g of ore on hand at the end of the period, but "
                f"receipts minus consumption give {stock.book} g (difference "
                f"{stock.difference} g)",
                list(stock.evidence),
                day=period.end,
                actor=centre,
                extra={
                    "stock_on_hand_g": stock.on_hand,
                    "stock_book_g": stock.book,
                    "stock_difference_g": stock.difference,
                },
            )
        )
    return flags


# --- cases recorded as red flags -----------------------------------------------------------


def _recorded(
    s: Session,
    cases: list[Case],
    accounted: set[str],
    period: Period,
    unreadable: list[Unreadable],
) -> list[Flag]:
    chosen = [c for c in cases if c.kind == "red_flag" and c.id not in accounted]
    if not chosen:
        return []
    entries = evidence.entries_at(s.connection(), [c.opened_index for c in chosen])
    flags = []
    for case in chosen:
        if case.raised_by == SYSTEM_ACTOR and case.category == "yield_out_of_bounds":
            continue  # a run's flag, reported with its run when the run is in the period
        entry = entries.get(case.opened_index)
        at = _moment(entry.event.body, case.opened_index, unreadable) if entry else None
        day = None if at is None else at.date()
        if day is None or not period.contains(day):
            continue
        target = {case.target_kind: case.target_id}
        flags.append(
            Flag(
                "recorded_case",
                "high" if case.category in GRAVE_CATEGORIES else "medium",
                f"red flag {case.id} ({case.category}, {case.status}) raised by "
                f"{case.raised_by}: {case.description}",
                evidence.sorted_indices([case.opened_index, case.last_index]),
                day=day,
                lot=target.get("lot"),
                actor=target.get("actor"),
                site=target.get("site"),
                extra={"case": case.id, "case_category": case.category},
            )
        )
    return flags


def _moment(body: Any, index: int, unreadable: list[Unreadable]) -> datetime | None:
    """An entry's `occurred_at` in UTC+8, or None (and the entry listed as unreadable)
    when an old entry holds something that names no moment."""
    value = body.get("occurred_at") if isinstance(body, dict) else None
    at = readable_instant(value)
    if at is None and all(u.index != index for u in unreadable):
        unreadable.append(Unreadable(index, "body.occurred_at", value))
    return at
