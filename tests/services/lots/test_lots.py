"""Lots through the real event pipeline: delivery, processing, assay, split and merge,
transfers, export and refining, provenance queries.

Every refusal is checked to name its rule (and field) and to change nothing: the log keeps
its size and every projection table (and the off-log price table) keeps its rows. Most
cases run on SQLite only; the end-to-end scenario and the race run on PostgreSQL too.
"""

from __future__ import annotations

import tempfile
import threading
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

import services.domains  # noqa: F401 - every domain (tables, rules)
from ledger.commitment import commit
from ledger.entry import Entry
from ledger.keystore import KeyStore
from ledger.sql import storage
from ledger.sql.log import Log
from schemas.events import CaseOpened
from services.actors.bootstrap import bootstrap_administrator
from services.cases.models import Case
from services.db import Base
from services.domains import EventService, rebuild
from services.errors import Conflict, DomainError, Forbidden, NotFound, RuleViolation
from services.identity import SYSTEM_ACTOR, Principal
from services.lots import queries
from services.lots.models import Lot, LotLink, Offer, OfferPrice
from services.lots.projectors import merged_fineness
from services.lots.queries import (
    active_holds,
    downstream,
    lot_history,
    lot_view,
    share_json,
    upstream,
)
from services.lots.rules import yield_g_per_t
from services.pipeline.service import Submission
from services.settings import Settings
from support.db import ORIGIN, T0, Clock
from support.domain import (
    ADMIN,
    AUDITOR,
    BANK,
    CENTRE,
    CENTRE2,
    LAB,
    MINER,
    PARTNERSHIP,
    REGULATOR,
    TRADER,
    WHEN,
)
from support.lots import snapshot

SQLITE = pytest.mark.parametrize("database", ["sqlite"], indirect=True)

AT = WHEN
SITE_P = "SITE-TUUL-1"  # owned by the partnership
SITE_M = "SITE-BAT-1"  # owned by the miner
REGION = {"aimag": "Töv", "soum": "Zaamar"}


# --- the world ----------------------------------------------------------------------------


@dataclass
class World:
    svc: EventService
    log: Log
    engine: Engine

    def submit(self, who: Principal, type_: str, private: Any = None, **body: Any) -> Any:
        return self.svc.submit(who, Submission(type_, {"occurred_at": AT, **body}, private))

    def refused(
        self,
        who: Principal,
        type_: str,
        error: type[DomainError],
        rule: str,
        field: str | None = None,
        private: Any = None,
        **body: Any,
    ) -> DomainError:
        """Submit, expect `error` naming `rule` (and `field`), and check nothing changed."""
        size, before = self.log.size(), snapshot(self.engine)
        with pytest.raises(error) as caught:
            self.submit(who, type_, private, **body)
        assert caught.value.rule == rule, caught.value.detail
        if field is not None:
            assert caught.value.field == field, caught.value.detail
        assert self.log.size() == size
        assert snapshot(self.engine) == before
        return caught.value

    def lot(self, lot_id: str) -> Lot:
        with Session(self.engine) as s:
            row = s.get(Lot, lot_id)
            assert row is not None, lot_id
            s.expunge(row)
            return row

    def rows(self, model: type[Any]) -> list[Any]:
        with Session(self.engine) as s:
            rows = list(s.scalars(select(model)).all())
            s.expunge_all()
            return rows

    def query(self, fn: Any, *args: Any, **kwargs: Any) -> Any:
        with Session(self.engine) as s:
            return fn(s, *args, **kwargs)

    # shorthands for the usual steps

    def deliver(
        self, lot: str, mass_g: int, miner: Principal = PARTNERSHIP, site: str = SITE_P, **kw: Any
    ) -> int:
        who = kw.pop("by", CENTRE)
        body = {"lot": lot, "miner": miner.actor_id, "site": site, "mass_g": mass_g}
        return int(self.submit(who, "ore.delivered", mined_on="2026-09-10", **body, **kw).index)

    def process(
        self,
        run: str,
        inputs: list[tuple[str, int]],
        outputs: list[tuple[str, int]],
        by: Principal = CENTRE,
        **kw: Any,
    ) -> Any:
        body = run_body(run, inputs, outputs, **kw)
        return self.submit(by, "processing.recorded", **body)

    def gold(self, lot: str, mass_mg: int, by: Principal = CENTRE) -> None:
        """A gold lot produced at a plausible yield (10 g/t) from fresh ore."""
        self.deliver(f"ORE-{lot}", mass_mg * 100, by=by)
        self.process(f"RUN-{lot}", [(f"ORE-{lot}", mass_mg * 100)], [(lot, mass_mg)], by=by)

    def open_hold(self, case: str, kind: str, target_id: str) -> None:
        self.submit(
            AUDITOR,
            "case.opened",
            case=case,
            kind="hold",
            target={"kind": kind, "id": target_id},
            category="other",
            description="under review",
        )

    def offer(self, offer: str, lot: str, to: Principal, by: Principal = CENTRE) -> int:
        return int(self.submit(by, "transfer.offered", offer=offer, lot=lot, to=to.actor_id).index)


def run_body(
    run: str, inputs: list[tuple[str, int]], outputs: list[tuple[str, int]], **kw: Any
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "run": run,
        "inputs": [{"lot": lot, "mass_g": g} for lot, g in inputs],
        "outputs": [{"lot": lot, "form": "dore", "mass_mg": mg} for lot, mg in outputs],
        "method": "gravity",
        "mercury_free": True,
        "started_on": "2026-09-12",
        "finished_on": "2026-09-13",
    }
    body.update(kw)
    return body


def register(w: World, who: Principal, **extra: Any) -> None:
    if who.role == "buyer" and "buyer_kind" not in extra:
        extra["buyer_kind"] = "trader"
    w.submit(ADMIN, "actor.registered", actor=who.actor_id, role=who.role, **extra)


def site(w: World, site_id: str, owner: Principal) -> None:
    w.submit(
        REGULATOR,
        "site.registered",
        site=site_id,
        owner=owner.actor_id,
        region=REGION,
        lat="48.123456",
        lon="104.654321",
    )


def make_world(log: Log, clock: Clock, **cfg: Any) -> World:
    Base.metadata.create_all(log.engine)
    svc = EventService(log, Settings(require_signatures=False, **cfg), clock)
    assert bootstrap_administrator(svc) is not None  # admin:root, recorded in the log
    w = World(svc, log, log.engine)
    register(w, AUDITOR)
    register(w, REGULATOR)
    register(w, PARTNERSHIP, members=8, region=REGION)
    register(w, MINER)
    register(w, CENTRE)
    register(w, CENTRE2)
    register(w, BANK, buyer_kind="central_bank")
    register(w, TRADER)
    register(w, LAB)
    site(w, SITE_P, PARTNERSHIP)
    site(w, SITE_M, MINER)
    return w


@pytest.fixture
def world(log: Log, clock: Clock) -> World:
    return make_world(log, clock)


def assert_rebuild_matches(w: World) -> None:
    live = snapshot(w.engine)
    with storage.write_transaction(w.engine) as conn:
        assert rebuild(conn) == w.log.size()
    assert snapshot(w.engine) == live


# --- ore delivery -------------------------------------------------------------------------


@SQLITE
def test_delivery_creates_an_ore_lot_in_the_centres_custody(world: World) -> None:
    w = world
    index = w.deliver("ORE-1", 1_200_000, moisture_permille=80, notes="two bags")
    lot = w.lot("ORE-1")
    assert (lot.kind, lot.form, lot.unit, lot.mass, lot.remaining) == (
        "ore",
        "ore",
        "g",
        1_200_000,
        1_200_000,
    )
    assert (lot.custodian_id, lot.owner_id, lot.miner_id, lot.site_id) == (
        CENTRE.actor_id,
        PARTNERSHIP.actor_id,
        PARTNERSHIP.actor_id,
        SITE_P,
    )
    assert (lot.status, lot.created_index, lot.created_at) == ("active", index, AT)
    assert w.query(lot_history, "ORE-1") == [
        {"index": index, "type": "ore.delivered"},
        {"index": index + 1, "type": "certificate.issued"},  # the miner's receipt
    ]
    # a miner delivering from its own site works as well
    w.deliver("ORE-2", 5_000, miner=MINER, site=SITE_M)
    assert w.lot("ORE-2").owner_id == MINER.actor_id


@SQLITE
def test_delivery_refusals(world: World) -> None:
    w = world
    w.deliver("ORE-1", 1000)
    ok = {"lot": "ORE-9", "miner": PARTNERSHIP.actor_id, "site": SITE_P, "mass_g": 1000}
    ok["mined_on"] = "2026-09-10"

    def refused(error: type[DomainError], rule: str, field: str | None, **change: Any) -> None:
        by = change.pop("by", CENTRE)
        w.refused(by, "ore.delivered", error, rule, field, **{**ok, **change})

    refused(Conflict, "lot-exists", "body.lot", lot="ORE-1")
    refused(Forbidden, "role-not-allowed", "type", by=BANK)
    refused(NotFound, "unknown-actor", "body.miner", miner="miner:nobody")
    refused(RuleViolation, "not-a-miner", "body.miner", miner=CENTRE2.actor_id)
    refused(NotFound, "unknown-site", "body.site", site="SITE-NONE")
    refused(RuleViolation, "site-not-owned", "body.site", site=SITE_M)
    refused(RuleViolation, "mined-after-delivery", "body.mined_on", mined_on="2026-09-15")
    # not a real date: refused by the schema (schemas.types.EventDay), issue 11 finding 2
    refused(RuleViolation, "invalid-date", "body.mined_on", mined_on="2026-02-30")
    refused(RuleViolation, "invalid-greater-than", "body.mass_g", mass_g=0)
    # mined the same local day as delivered is fine (UTC+8: 02:12Z is the 14th in Töv)
    w.submit(CENTRE, "ore.delivered", **{**ok, "mined_on": "2026-09-14"})

    w.submit(REGULATOR, "site.status_changed", site=SITE_P, status="suspended", reason="permit")
    refused(RuleViolation, "site-not-active", "body.site", lot="ORE-10")
    w.submit(REGULATOR, "site.status_changed", site=SITE_P, status="active", reason="renewed")
    w.submit(
        REGULATOR,
        "actor.status_changed",
        actor=PARTNERSHIP.actor_id,
        status="suspended",
        reason="unpaid royalties",
    )
    refused(RuleViolation, "miner-not-active", "body.miner", lot="ORE-10")


# --- processing ---------------------------------------------------------------------------


@SQLITE
def test_processing_consumes_ore_into_gold(world: World) -> None:
    w = world
    w.deliver("ORE-1", 600_000)
    w.deliver("ORE-2", 400_000, miner=MINER, site=SITE_M)
    rec = w.process(
        "RUN-1",
        [("ORE-1", 600_000), ("ORE-2", 300_000)],
        [("DORE-1", 6_000), ("DORE-2", 3_000)],
        tailings_g=850_000,
    )
    assert rec.derived == ()  # 10 g/t: no red flag
    one, two = w.lot("ORE-1"), w.lot("ORE-2")
    assert (one.remaining, one.status, one.closed_by) == (0, "closed", "consumed")
    assert (two.remaining, two.status, two.closed_by) == (100_000, "active", None)
    dore = w.lot("DORE-1")
    assert (dore.kind, dore.form, dore.unit, dore.mass, dore.remaining) == (
        "gold",
        "dore",
        "mg",
        6_000,
        6_000,
    )
    assert (dore.custodian_id, dore.owner_id, dore.mercury_free) == (
        CENTRE.actor_id,
        CENTRE.actor_id,
        True,
    )
    assert dore.fineness_ppt is None and dore.created_index == rec.index
    links = sorted((x.child_id, x.parent_id, x.mass, x.event_index) for x in w.rows(LotLink))
    assert links == [
        ("DORE-1", "ORE-1", 600_000, rec.index),
        ("DORE-1", "ORE-2", 300_000, rec.index),
        ("DORE-2", "ORE-1", 600_000, rec.index),
        ("DORE-2", "ORE-2", 300_000, rec.index),
    ]
    for lot_id in ("ORE-1", "ORE-2", "DORE-1", "DORE-2"):
        assert {"index": rec.index, "type": "processing.recorded"} in w.query(lot_history, lot_id)
    # the rest of ORE-2 can be processed later, and then it is closed
    w.process(
        "RUN-2",
        [("ORE-2", 100_000)],
        [("DORE-3", 1_000)],
        method="amalgamation",
        mercury_free=False,
    )
    assert (w.lot("ORE-2").status, w.lot("DORE-3").mercury_free) == ("closed", False)


@SQLITE
def test_processing_refusals(world: World) -> None:
    w = world
    w.deliver("ORE-1", 100_000)
    w.deliver("ORE-2", 100_000)
    w.deliver("ORE-X", 100_000, by=CENTRE2)
    w.gold("DORE-0", 1_000)  # consumes ORE-DORE-0 fully

    def refused(
        error: type[DomainError],
        rule: str,
        field: str | None,
        inputs: list[tuple[str, int]] | None = None,
        outputs: list[tuple[str, int]] | None = None,
        by: Principal = CENTRE,
        **kw: Any,
    ) -> None:
        body = run_body(
            "RUN-9", inputs or [("ORE-1", 100_000)], outputs or [("DORE-9", 1_000)], **kw
        )
        w.refused(by, "processing.recorded", error, rule, field, **body)

    refused(Forbidden, "role-not-allowed", "type", by=BANK)
    w.refused(
        CENTRE,
        "processing.recorded",
        Conflict,
        "run-exists",
        "body.run",
        **run_body("RUN-DORE-0", [("ORE-1", 1_000)], [("DORE-8", 10)]),
    )
    refused(NotFound, "unknown-lot", "body.inputs.1.lot", [("ORE-1", 1), ("ORE-NONE", 1)])
    refused(Forbidden, "not-custodian", "body.inputs.0.lot", [("ORE-X", 1_000)])
    refused(Forbidden, "not-custodian", "body.inputs.0.lot", by=CENTRE2)
    refused(RuleViolation, "not-an-ore-lot", "body.inputs.0.lot", [("DORE-0", 1)])
    refused(RuleViolation, "lot-not-active", "body.inputs.0.lot", [("ORE-DORE-0", 1)])
    refused(RuleViolation, "duplicate-input", "body.inputs.1.lot", [("ORE-1", 1), ("ORE-1", 1)])
    refused(
        RuleViolation,
        "mass-exceeds-remaining",
        "body.inputs.1.mass_g",
        [("ORE-1", 100_000), ("ORE-2", 100_001)],
    )
    refused(Conflict, "lot-exists", "body.outputs.0.lot", outputs=[("ORE-2", 1_000)])
    refused(Conflict, "lot-exists", "body.outputs.1.lot", outputs=[("D-1", 1), ("DORE-0", 1)])
    refused(Conflict, "duplicate-output", "body.outputs.1.lot", outputs=[("D-1", 1), ("D-1", 1)])
    refused(
        RuleViolation,
        "dates-out-of-order",
        "body.finished_on",
        started_on="2026-09-13",
        finished_on="2026-09-12",
    )
    refused(RuleViolation, "invalid-date", "body.started_on", started_on="2026-13-01")
    refused(
        RuleViolation,
        "mercury-free-amalgamation",
        "body.mercury_free",
        method="amalgamation",
        mercury_free=True,
    )
    # 100 kg of ore cannot give more than 100 kg of anything
    refused(RuleViolation, "gold-exceeds-ore", "body.outputs", outputs=[("D-1", 100_000_001)])
    refused(RuleViolation, "outputs-exceed-ore", "body.tailings_g", tailings_g=100_000)
    refused(RuleViolation, "invalid-extra-forbidden", "body.colour", colour="yellow")
    # the whole of ORE-1 still works, with tailings that balance exactly
    w.process("RUN-9", [("ORE-1", 100_000)], [("DORE-9", 1_000_000)], tailings_g=99_000)
    assert w.lot("ORE-1").status == "closed"


@SQLITE
@pytest.mark.parametrize(
    ("kind", "target"),
    [
        ("lot", "ORE-1"),
        ("site", SITE_P),
        ("actor", PARTNERSHIP.actor_id),  # the miner who owns the ore
        ("actor", CENTRE.actor_id),  # the centre that holds it
    ],
)
def test_held_ore_cannot_be_processed(world: World, kind: str, target: str) -> None:
    w = world
    w.deliver("ORE-1", 100_000)
    w.open_hold("HOLD-1", kind, target)
    assert [c.id for c in w.query(active_holds, kind, target)] == ["HOLD-1"]
    err = w.refused(
        CENTRE,
        "processing.recorded",
        RuleViolation,
        "held",
        "body.inputs.0.lot",
        **run_body("RUN-1", [("ORE-1", 1_000)], [("DORE-1", 10)]),
    )
    assert "HOLD-1" in err.detail
    w.submit(AUDITOR, "case.resolved", case="HOLD-1", resolution="cleared")
    assert w.query(active_holds, kind, target) == []
    w.process("RUN-1", [("ORE-1", 1_000)], [("DORE-1", 10)])


@SQLITE
def test_red_flags_and_escalated_holds(world: World) -> None:
    """A red flag only warns; a responded or escalated hold still blocks."""
    w = world
    w.deliver("ORE-1", 100_000)
    w.submit(
        AUDITOR,
        "case.opened",
        case="FLAG-1",
        kind="red_flag",
        target={"kind": "lot", "id": "ORE-1"},
        category="capacity_inconsistent",
        description="more than the site can give",
    )
    w.open_hold("HOLD-1", "lot", "ORE-1")
    w.submit(AUDITOR, "case.escalated", case="HOLD-1", to="MRPAM", reason="needs review")
    assert w.query(lot_view, "ORE-1")["holds"] == ["HOLD-1"]
    body = run_body("RUN-1", [("ORE-1", 1_000)], [("DORE-1", 10)])
    w.refused(CENTRE, "processing.recorded", RuleViolation, "held", **body)
    w.submit(AUDITOR, "case.resolved", case="HOLD-1", resolution="cleared")
    w.process("RUN-1", [("ORE-1", 1_000)], [("DORE-1", 10)])


@SQLITE
@pytest.mark.parametrize(
    ("ore_g", "gold_mg", "flagged"),
    [
        (1_000_000, 150_000, False),  # exactly 150 g/t: the bound itself is plausible
        (1_000_000, 150_001, True),  # just above
        (1_200_000, 123_000, False),  # the Bornuur run: 1.2 t gave 123 g (102.5 g/t)
        (10_000_000, 1_000, False),  # exactly 0.1 g/t, the lower bound
        (10_000_000, 999, True),  # just below
    ],
)
def test_yield_out_of_bounds_raises_a_red_flag(
    world: World, ore_g: int, gold_mg: int, flagged: bool
) -> None:
    w = world
    w.deliver("ORE-1", ore_g)
    rec = w.process("RUN-7", [("ORE-1", ore_g)], [("DORE-1", gold_mg - 1), ("DORE-2", 1)])
    if not flagged:
        assert rec.derived == ()
        return
    assert [d["type"] for d in rec.derived] == ["case.opened"]
    index = rec.derived[0]["index"]
    assert index == rec.index + 1
    entry = Entry.from_bytes(w.log.entries(index, index + 1, 1)[0].entry)
    assert entry.event.actor == SYSTEM_ACTOR
    flag = CaseOpened.model_validate(dict(entry.event.body))
    assert (flag.kind, flag.category, flag.target.kind, flag.target.id) == (
        "red_flag",
        "yield_out_of_bounds",
        "lot",
        "DORE-1",
    )
    assert flag.occurred_at == AT
    got = yield_g_per_t(gold_mg, ore_g)
    assert share_json(got)["decimal"] in flag.description
    case = w.rows(Case)[0]
    assert (case.id, case.kind, case.target_id) == (flag.case, "red_flag", "DORE-1")
    # a red flag does not block: the gold can still be offered
    w.offer("OFFER-1", "DORE-1", BANK)
    assert_rebuild_matches(w)


def test_yield_arithmetic_is_exact() -> None:
    assert yield_g_per_t(123_000, 1_200_000) == Fraction(1025, 10)  # 102.5 g/t
    assert yield_g_per_t(1, 1_000_000_000) == Fraction(1, 1_000_000)
    assert share_json(Fraction(1, 3)) == {"fraction": "1/3", "decimal": "0.333333"}
    assert share_json(Fraction(2, 3)) == {"fraction": "2/3", "decimal": "0.666667"}
    assert share_json(Fraction(1)) == {"fraction": "1/1", "decimal": "1.000000"}
    assert merged_fineness([(1, 999), (2, 900)]) == 933  # 2799 / 3 = 933
    assert merged_fineness([(1, 999), (1, 900)]) == 949  # 949.5 rounds down
    assert merged_fineness([(1, 999), (1, None)]) is None


# --- assay --------------------------------------------------------------------------------


@SQLITE
def test_assay(world: World) -> None:
    w = world
    w.gold("DORE-1", 10_000)
    index = w.submit(LAB, "assay.recorded", lot="DORE-1", fineness_ppt=870, sample="S-1").index
    assert w.lot("DORE-1").fineness_ppt == 870
    assert w.query(lot_history, "DORE-1")[-1] == {"index": index, "type": "assay.recorded"}
    w.submit(LAB, "assay.recorded", lot="DORE-1", fineness_ppt=872, method="xrf")
    assert w.lot("DORE-1").fineness_ppt == 872

    def refused(error: type[DomainError], rule: str, field: str | None, **change: Any) -> None:
        by = change.pop("by", LAB)
        body = {"lot": "DORE-1", "fineness_ppt": 900, **change}
        w.refused(by, "assay.recorded", error, rule, field, **body)

    refused(Forbidden, "role-not-allowed", "type", by=CENTRE)
    refused(NotFound, "unknown-lot", "body.lot", lot="DORE-NONE")
    w.deliver("ORE-1", 1_000)
    refused(RuleViolation, "not-a-gold-lot", "body.lot", lot="ORE-1")
    refused(RuleViolation, "invalid-less-than-equal", "body.fineness_ppt", fineness_ppt=1001)
    w.offer("OFFER-1", "DORE-1", BANK)
    w.submit(BANK, "transfer.accepted", offer="OFFER-1")
    w.submit(BANK, "lot.exported", lot="DORE-1", destination={"country": "CH", "party": "R"})
    refused(RuleViolation, "lot-not-active", "body.lot", by=LAB)


# --- split and merge ----------------------------------------------------------------------


@SQLITE
def test_split_conserves_mass_exactly(world: World) -> None:
    w = world
    w.gold("DORE-1", 10_000)
    w.submit(LAB, "assay.recorded", lot="DORE-1", fineness_ppt=870)
    rec = w.submit(
        CENTRE,
        "lot.split",
        lot="DORE-1",
        into=[{"lot": "D-1a", "mass_mg": 3_333}, {"lot": "D-1b", "mass_mg": 6_667}],
    )
    parent = w.lot("DORE-1")
    assert (parent.status, parent.closed_by, parent.remaining, parent.mass) == (
        "closed",
        "split",
        0,
        10_000,
    )
    for lot_id, mg in (("D-1a", 3_333), ("D-1b", 6_667)):
        child = w.lot(lot_id)
        assert (child.mass, child.remaining, child.fineness_ppt, child.form) == (
            mg,
            mg,
            870,
            "dore",
        )
        assert (child.custodian_id, child.owner_id, child.mercury_free) == (
            CENTRE.actor_id,
            CENTRE.actor_id,
            True,
        )
        assert w.query(lot_history, lot_id) == [{"index": rec.index, "type": "lot.split"}]
    links = sorted(
        (x.child_id, x.parent_id, x.mass) for x in w.rows(LotLink) if x.child_id[0:2] == "D-"
    )
    assert links == [("D-1a", "DORE-1", 3_333), ("D-1b", "DORE-1", 6_667)]


@SQLITE
def test_split_refusals(world: World) -> None:
    w = world
    w.gold("DORE-1", 10_000)
    w.gold("DORE-2", 10_000, by=CENTRE2)
    w.deliver("ORE-1", 10_000)
    halves = [{"lot": "D-a", "mass_mg": 5_000}, {"lot": "D-b", "mass_mg": 5_000}]

    def refused(error: type[DomainError], rule: str, field: str | None, **change: Any) -> None:
        by = change.pop("by", CENTRE)
        w.refused(
            by, "lot.split", error, rule, field, **{"lot": "DORE-1", "into": halves, **change}
        )

    refused(Forbidden, "role-not-allowed", "type", by=LAB)
    refused(NotFound, "unknown-lot", "body.lot", lot="DORE-NONE")
    refused(Forbidden, "not-custodian", "body.lot", lot="DORE-2")
    refused(RuleViolation, "not-a-gold-lot", "body.lot", lot="ORE-1")
    refused(RuleViolation, "lot-not-active", "body.lot", lot="ORE-DORE-1")
    for parts in ([4_999, 5_000], [5_000, 5_001]):
        into = [{"lot": f"D-{i}", "mass_mg": mg} for i, mg in enumerate(parts)]
        refused(RuleViolation, "mass-not-conserved", "body.into", into=into)
    taken = [{"lot": "DORE-2", "mass_mg": 5_000}, {"lot": "D-b", "mass_mg": 5_000}]
    refused(Conflict, "lot-exists", "body.into.0.lot", into=taken)
    twice = [{"lot": "D-a", "mass_mg": 5_000}, {"lot": "D-a", "mass_mg": 5_000}]
    refused(Conflict, "duplicate-output", "body.into.1.lot", into=twice)
    refused(RuleViolation, "invalid-too-short", "body.into", into=halves[:1])
    w.offer("OFFER-1", "DORE-1", BANK)
    refused(RuleViolation, "offer-open", "body.lot")
    w.submit(CENTRE, "transfer.cancelled", offer="OFFER-1")
    w.open_hold("HOLD-1", "lot", "DORE-1")
    refused(RuleViolation, "held", "body.lot")


@SQLITE
def test_merge(world: World) -> None:
    w = world
    w.gold("DORE-1", 1_000)
    w.gold("DORE-2", 2_000)
    w.gold("DORE-3", 500)
    w.submit(LAB, "assay.recorded", lot="DORE-1", fineness_ppt=999)
    w.submit(LAB, "assay.recorded", lot="DORE-2", fineness_ppt=900)
    rec = w.submit(CENTRE, "lots.merged", lots=["DORE-1", "DORE-2"], into="BAR-1")
    bar = w.lot("BAR-1")
    assert (bar.mass, bar.remaining, bar.fineness_ppt, bar.form, bar.custodian_id) == (
        3_000,
        3_000,
        933,
        "dore",
        CENTRE.actor_id,
    )
    for lot_id in ("DORE-1", "DORE-2"):
        p = w.lot(lot_id)
        assert (p.status, p.closed_by, p.remaining) == ("closed", "merged", 0)
        assert w.query(lot_history, lot_id)[-1] == {"index": rec.index, "type": "lots.merged"}
    # one part without an assay: fineness unknown
    w.submit(CENTRE, "lots.merged", lots=["BAR-1", "DORE-3"], into="BAR-2")
    assert (w.lot("BAR-2").mass, w.lot("BAR-2").fineness_ppt) == (3_500, None)
    assert_rebuild_matches(w)


@SQLITE
def test_merge_refusals(world: World) -> None:
    w = world
    w.gold("DORE-1", 1_000)
    w.gold("DORE-2", 2_000)
    w.gold("DORE-X", 2_000, by=CENTRE2)
    w.deliver("ORE-1", 1_000)
    w.deliver("ORE-C", 100_000)
    w.submit(
        CENTRE,
        "processing.recorded",
        **{
            **run_body("RUN-C", [("ORE-C", 100_000)], []),
            "outputs": [{"lot": "CONC-1", "form": "concentrate", "mass_mg": 1_000}],
        },
    )

    def refused(error: type[DomainError], rule: str, field: str | None, **change: Any) -> None:
        by = change.pop("by", CENTRE)
        body = {"lots": ["DORE-1", "DORE-2"], "into": "BAR-1", **change}
        w.refused(by, "lots.merged", error, rule, field, **body)

    refused(Forbidden, "role-not-allowed", "type", by=LAB)
    refused(RuleViolation, "duplicate-lot", "body.lots.1", lots=["DORE-1", "DORE-1"])
    refused(NotFound, "unknown-lot", "body.lots.1", lots=["DORE-1", "DORE-NONE"])
    refused(Forbidden, "not-custodian", "body.lots.1", lots=["DORE-1", "DORE-X"])
    refused(RuleViolation, "not-a-gold-lot", "body.lots.0", lots=["ORE-1", "DORE-1"])
    refused(RuleViolation, "lot-not-active", "body.lots.1", lots=["DORE-1", "ORE-DORE-2"])
    refused(RuleViolation, "forms-differ", "body.lots", lots=["DORE-1", "CONC-1"])
    refused(Conflict, "lot-exists", "body.into", into="DORE-X")
    refused(Conflict, "lot-exists", "body.into", into="DORE-1")
    w.offer("OFFER-1", "DORE-2", BANK)
    refused(RuleViolation, "offer-open", "body.lots.1")
    w.submit(BANK, "transfer.rejected", offer="OFFER-1", reason="too small")
    w.open_hold("HOLD-1", "lot", "DORE-2")
    refused(RuleViolation, "held", "body.lots.1")


# --- transfers ----------------------------------------------------------------------------


@SQLITE
def test_transfer_moves_custody_and_ownership_on_acceptance(world: World) -> None:
    w = world
    w.gold("DORE-1", 5_000)
    offered = w.offer("OFFER-1", "DORE-1", BANK)
    lot = w.lot("DORE-1")
    assert (lot.custodian_id, lot.owner_id) == (CENTRE.actor_id, CENTRE.actor_id)
    assert w.query(lot_view, "DORE-1")["open_offer"] == {
        "offer": "OFFER-1",
        "from": CENTRE.actor_id,
        "to": BANK.actor_id,
    }
    accepted = w.submit(BANK, "transfer.accepted", offer="OFFER-1").index
    lot = w.lot("DORE-1")
    assert (lot.custodian_id, lot.owner_id, lot.status) == (BANK.actor_id, BANK.actor_id, "active")
    (offer,) = w.rows(Offer)
    assert (offer.status, offer.offered_index, offer.closed_index) == (
        "accepted",
        offered,
        accepted,
    )
    history = w.query(lot_history, "DORE-1")
    assert history[-2:] == [
        {"index": offered, "type": "transfer.offered"},
        {"index": accepted, "type": "transfer.accepted"},
    ]
    # not sold twice: the centre no longer holds it; the bank sells it on
    w.refused(
        CENTRE,
        "transfer.offered",
        Forbidden,
        "not-custodian",
        "body.lot",
        offer="OFFER-2",
        lot="DORE-1",
        to=TRADER.actor_id,
    )
    w.offer("OFFER-2", "DORE-1", TRADER, by=BANK)
    w.submit(TRADER, "transfer.accepted", offer="OFFER-2")
    assert w.lot("DORE-1").custodian_id == TRADER.actor_id


@SQLITE
def test_rejected_and_cancelled_offers_leave_the_lot_where_it_was(world: World) -> None:
    w = world
    w.gold("DORE-1", 5_000)
    w.offer("OFFER-1", "DORE-1", BANK)
    w.submit(BANK, "transfer.rejected", offer="OFFER-1", reason="fineness too low")
    w.offer("OFFER-2", "DORE-1", TRADER)
    w.submit(CENTRE, "transfer.cancelled", offer="OFFER-2", reason="sold elsewhere")
    offers = {o.id: o.status for o in w.rows(Offer)}
    assert offers == {"OFFER-1": "rejected", "OFFER-2": "cancelled"}
    assert w.lot("DORE-1").custodian_id == CENTRE.actor_id
    assert w.query(lot_view, "DORE-1")["open_offer"] is None
    # a processing centre may buy gold too
    w.offer("OFFER-3", "DORE-1", CENTRE2)
    w.submit(CENTRE2, "transfer.accepted", offer="OFFER-3")
    assert w.lot("DORE-1").custodian_id == CENTRE2.actor_id
    types = [h["type"] for h in w.query(lot_history, "DORE-1")]
    assert types == [
        "processing.recorded",
        "transfer.offered",
        "transfer.rejected",
        "transfer.offered",
        "transfer.cancelled",
        "transfer.offered",
        "transfer.accepted",
    ]


@SQLITE
def test_offer_refusals(world: World) -> None:
    w = world
    w.gold("DORE-1", 5_000)
    w.gold("DORE-X", 5_000, by=CENTRE2)
    w.deliver("ORE-1", 1_000)
    register(w, Principal("buyer:gone", "buyer"))
    w.submit(ADMIN, "actor.status_changed", actor="buyer:gone", status="revoked", reason="fraud")

    def refused(error: type[DomainError], rule: str, field: str | None, **change: Any) -> None:
        by = change.pop("by", CENTRE)
        body = {"offer": "OFFER-9", "lot": "DORE-1", "to": BANK.actor_id, **change}
        w.refused(by, "transfer.offered", error, rule, field, **body)

    refused(Forbidden, "role-not-allowed", "type", by=LAB)
    refused(NotFound, "unknown-lot", "body.lot", lot="DORE-NONE")
    refused(Forbidden, "not-custodian", "body.lot", lot="DORE-X")
    refused(Forbidden, "not-custodian", "body.lot", by=BANK)
    refused(RuleViolation, "not-a-gold-lot", "body.lot", lot="ORE-1")
    refused(RuleViolation, "lot-not-active", "body.lot", lot="ORE-DORE-1")
    refused(RuleViolation, "offer-to-self", "body.to", to=CENTRE.actor_id)
    refused(NotFound, "unknown-actor", "body.to", to="buyer:nobody")
    refused(RuleViolation, "not-a-buyer", "body.to", to=PARTNERSHIP.actor_id)
    refused(RuleViolation, "not-a-buyer", "body.to", to=LAB.actor_id)
    refused(RuleViolation, "counterparty-not-active", "body.to", to="buyer:gone")
    w.open_hold("HOLD-B", "actor", TRADER.actor_id)
    refused(RuleViolation, "held", "body.to", to=TRADER.actor_id)
    w.offer("OFFER-1", "DORE-1", BANK)
    refused(Conflict, "offer-exists", "body.offer", offer="OFFER-1", lot="DORE-X", by=CENTRE2)
    refused(RuleViolation, "offer-open", "body.lot", to=CENTRE2.actor_id)
    w.submit(CENTRE, "transfer.cancelled", offer="OFFER-1")
    w.open_hold("HOLD-1", "actor", CENTRE.actor_id)
    refused(RuleViolation, "held", "body.lot")


@SQLITE
def test_accept_reject_cancel_refusals(world: World) -> None:
    w = world
    w.gold("DORE-1", 5_000)
    w.offer("OFFER-1", "DORE-1", BANK)

    def refused(
        type_: str, by: Principal, error: type[DomainError], rule: str, offer: str = "OFFER-1"
    ) -> None:
        w.refused(
            by,
            type_,
            error,
            rule,
            "type" if rule == "role-not-allowed" else "body.offer",
            offer=offer,
        )

    for type_ in ("transfer.accepted", "transfer.rejected"):
        refused(type_, TRADER, Forbidden, "not-offer-recipient")
        refused(type_, CENTRE, Forbidden, "not-offer-recipient")
        refused(type_, LAB, Forbidden, "role-not-allowed")
        refused(type_, BANK, NotFound, "unknown-offer", offer="OFFER-NONE")
    refused("transfer.cancelled", BANK, Forbidden, "not-offerer")
    refused("transfer.cancelled", CENTRE2, Forbidden, "not-offerer")
    refused("transfer.cancelled", CENTRE, NotFound, "unknown-offer", offer="OFFER-NONE")

    # a hold on the lot, or on the buyer, stops the acceptance
    w.open_hold("HOLD-1", "lot", "DORE-1")
    refused("transfer.accepted", BANK, RuleViolation, "held")
    w.submit(AUDITOR, "case.resolved", case="HOLD-1", resolution="cleared")
    w.open_hold("HOLD-2", "actor", BANK.actor_id)
    refused("transfer.accepted", BANK, RuleViolation, "held")
    w.submit(AUDITOR, "case.resolved", case="HOLD-2", resolution="cleared")
    # the offerer suspended in the meantime cannot sell
    w.submit(
        ADMIN, "actor.status_changed", actor=CENTRE.actor_id, status="suspended", reason="audit"
    )
    refused("transfer.accepted", BANK, RuleViolation, "counterparty-not-active")
    w.submit(
        ADMIN, "actor.status_changed", actor=CENTRE.actor_id, status="active", reason="audit done"
    )

    w.submit(BANK, "transfer.accepted", offer="OFFER-1")
    for type_, by in (
        ("transfer.accepted", BANK),
        ("transfer.rejected", BANK),
        ("transfer.cancelled", CENTRE),
    ):
        refused(type_, by, RuleViolation, "offer-not-open")
    # a stranger learns neither the offer's state nor its parties: who may act comes first
    for type_, by, rule in (
        ("transfer.accepted", TRADER, "not-offer-recipient"),
        ("transfer.rejected", TRADER, "not-offer-recipient"),
        ("transfer.cancelled", CENTRE2, "not-offerer"),
    ):
        error = w.refused(by, type_, Forbidden, rule, "body.offer", offer="OFFER-1")
        for secret in ("accepted", BANK.actor_id, CENTRE.actor_id):
            assert secret not in error.detail, (type_, error.detail)


@SQLITE
def test_price_is_kept_off_the_log(world: World) -> None:
    w = world
    w.gold("DORE-1", 5_000)
    price = {"amount": "18500000.00", "currency": "MNT", "note": "cash on delivery"}
    salt = "ab" * 32
    commitment = commit(bytes.fromhex(salt), price)
    body = {"offer": "OFFER-1", "lot": "DORE-1", "to": BANK.actor_id}

    def refused(rule: str, field: str, private: Any, **change: Any) -> None:
        w.refused(
            CENTRE,
            "transfer.offered",
            RuleViolation,
            rule,
            field,
            private,
            **{**body, "price_commitment": commitment, **change},
        )

    refused("price-missing", "private", None)
    refused("price-missing", "private", {"price": price})
    refused("commitment-mismatch", "private", {"price": {**price, "amount": "1.00"}, "salt": salt})
    refused("commitment-mismatch", "private", {"price": price, "salt": "zz"})
    refused("bad-price", "private.price", {"price": {**price, "amount": "1e9"}, "salt": salt})
    refused("bad-price", "private.price", {"price": {**price, "currency": "mnt"}, "salt": salt})
    w.refused(
        CENTRE,
        "transfer.offered",
        RuleViolation,
        "unexpected-private-data",
        "private",
        {"price": price, "salt": salt},
        **body,
    )

    index = w.submit(
        CENTRE,
        "transfer.offered",
        {"price": price, "salt": salt},
        **body,
        price_commitment=commitment,
    ).index
    (row,) = w.rows(OfferPrice)
    assert (row.offer_id, row.amount, row.currency, row.note) == (
        "OFFER-1",
        "18500000.00",
        "MNT",
        "cash on delivery",
    )
    entry = w.log.entries(index, index + 1, 1)[0].entry
    assert b"18500000" not in entry and commitment.encode() in entry
    assert w.rows(Offer)[0].price_commitment == commitment


# --- export and refining ------------------------------------------------------------------


@SQLITE
@pytest.mark.parametrize("terminal", ["lot.exported", "lot.refined"])
def test_export_and_refining_are_terminal(world: World, terminal: str) -> None:
    w = world
    w.gold("DORE-1", 5_000)
    w.gold("DORE-2", 5_000)
    where = {"destination": {"country": "CH", "party": "Valcambi", "permit": "EX-1"}}
    if terminal == "lot.refined":
        where = {"refinery": "Mongolbank refinery"}
    w.offer("OFFER-1", "DORE-1", BANK)
    w.submit(BANK, "transfer.accepted", offer="OFFER-1")

    def refused(by: Principal, error: type[DomainError], rule: str, lot: str = "DORE-1") -> None:
        field = "type" if rule == "role-not-allowed" else "body.lot"
        w.refused(by, terminal, error, rule, field, lot=lot, **where)

    refused(CENTRE, Forbidden, "role-not-allowed", lot="DORE-2")
    refused(TRADER, Forbidden, "not-custodian")
    refused(BANK, NotFound, "unknown-lot", lot="DORE-NONE")
    w.offer("OFFER-2", "DORE-1", TRADER, by=BANK)
    refused(BANK, RuleViolation, "offer-open")
    w.submit(BANK, "transfer.cancelled", offer="OFFER-2")
    w.open_hold("HOLD-1", "lot", "DORE-1")
    refused(BANK, RuleViolation, "held")
    w.submit(AUDITOR, "case.resolved", case="HOLD-1", resolution="cleared")

    index = w.submit(BANK, terminal, lot="DORE-1", **where).index
    lot = w.lot("DORE-1")
    assert (lot.status, lot.remaining, lot.custodian_id) == (
        terminal.split(".")[1],
        5_000,
        BANK.actor_id,
    )
    assert w.query(lot_history, "DORE-1")[-1] == {"index": index, "type": terminal}
    # terminal: nothing more happens to it
    refused(BANK, RuleViolation, "lot-not-active")
    w.refused(
        BANK,
        "transfer.offered",
        RuleViolation,
        "lot-not-active",
        "body.lot",
        offer="OFFER-3",
        lot="DORE-1",
        to=TRADER.actor_id,
    )
    w.refused(
        BANK,
        "lot.split",
        RuleViolation,
        "lot-not-active",
        "body.lot",
        lot="DORE-1",
        into=[{"lot": "x-1", "mass_mg": 1}, {"lot": "x-2", "mass_mg": 4_999}],
    )


# --- batches ------------------------------------------------------------------------------


@SQLITE
def test_a_batch_sees_its_own_earlier_items(world: World) -> None:
    """Two runs in one batch cannot both consume the same ore: the second sees the first."""
    w = world
    w.deliver("ORE-1", 100_000)
    runs = [
        (
            CENTRE,
            Submission(
                "processing.recorded",
                {
                    "occurred_at": AT,
                    **run_body(f"RUN-{i}", [("ORE-1", 60_000)], [(f"DORE-{i}", 600)]),
                },
            ),
        )
        for i in (1, 2)
    ]
    first, second = w.svc.submit_many(runs, atomic=False)
    assert first.recorded is not None
    assert second.error is not None and second.error.rule == "mass-exceeds-remaining"
    assert w.lot("ORE-1").remaining == 40_000
    size, before = w.log.size(), snapshot(w.engine)
    results = w.svc.submit_many(
        [
            (
                CENTRE,
                Submission(
                    "processing.recorded",
                    {
                        "occurred_at": AT,
                        **run_body("RUN-3", [("ORE-1", 40_000)], [("DORE-3", 400)]),
                    },
                ),
            ),
            runs[1],
        ],
        atomic=True,
    )
    assert [r.error.rule if r.error else None for r in results] == [
        "batch-aborted",
        "lot-not-active",
    ]
    assert (w.log.size(), snapshot(w.engine)) == (size, before)


# --- provenance ---------------------------------------------------------------------------


def provenance_world(w: World) -> None:
    """Two runs from two sites (and two miners), then a merge and a split:

    ORE-A 300 kg (partnership, SITE_P) + ORE-B 100 kg (miner, SITE_M) -> RUN-1 -> D-1, D-2
    ORE-C 200 kg (partnership, SITE_P) -> RUN-2 -> D-3
    D-2 + D-3 -> BAR;  BAR -> BAR-a, BAR-b
    """
    w.deliver("ORE-A", 300_000)
    w.deliver("ORE-B", 100_000, miner=MINER, site=SITE_M)
    w.deliver("ORE-C", 300_000)
    w.process("RUN-1", [("ORE-A", 300_000), ("ORE-B", 100_000)], [("D-1", 1_000), ("D-2", 3_000)])
    w.process("RUN-2", [("ORE-C", 200_000)], [("D-3", 1_000)])
    w.submit(CENTRE, "lots.merged", lots=["D-2", "D-3"], into="BAR")
    w.submit(
        CENTRE,
        "lot.split",
        lot="BAR",
        into=[{"lot": "BAR-a", "mass_mg": 1_000}, {"lot": "BAR-b", "mass_mg": 3_000}],
    )


@SQLITE
def test_upstream_shares_are_exact(world: World) -> None:
    w = world
    provenance_world(w)
    up = w.query(upstream, "BAR-a")
    # BAR is 3/4 D-2 (3/4 ORE-A, 1/4 ORE-B) and 1/4 D-3 (all ORE-C)
    ore = {o["lot"]: o["share"]["fraction"] for o in up["origins"]["ore_lots"]}
    assert ore == {"ORE-A": "9/16", "ORE-B": "3/16", "ORE-C": "1/4"}
    assert up["origins"]["ore_lots"][0] == {
        "lot": "ORE-A",
        "site": SITE_P,
        "miner": PARTNERSHIP.actor_id,
        "share": {"fraction": "9/16", "decimal": "0.562500"},
    }
    assert up["origins"]["sites"] == [
        {"site": SITE_P, "share": {"fraction": "13/16", "decimal": "0.812500"}},
        {"site": SITE_M, "share": {"fraction": "3/16", "decimal": "0.187500"}},
    ]
    assert [m["miner"] for m in up["origins"]["miners"]] == [
        PARTNERSHIP.actor_id,
        MINER.actor_id,
    ]
    assert up["depth"] == 3  # BAR-a <- BAR <- D-2 <- ORE-A
    assert {n["lot"] for n in up["nodes"]} == {
        "BAR-a",
        "BAR",
        "D-2",
        "D-3",
        "ORE-A",
        "ORE-B",
        "ORE-C",
    }
    link = {(x["child"], x["parent"]): x for x in up["links"]}
    assert link[("BAR", "D-2")]["share"]["fraction"] == "3/4"
    assert link[("D-2", "ORE-A")]["mass"] == 300_000 and link[("D-2", "ORE-A")]["unit"] == "g"
    assert link[("BAR-a", "BAR")]["share"]["fraction"] == "1/1"
    total = sum(Fraction(o["share"]["fraction"]) for o in up["origins"]["ore_lots"])
    assert total == 1
    # an ore lot is its own origin
    ore_up = w.query(upstream, "ORE-B")
    assert ore_up["origins"]["miners"] == [
        {"miner": MINER.actor_id, "share": {"fraction": "1/1", "decimal": "1.000000"}}
    ]
    with pytest.raises(NotFound):
        w.query(upstream, "NOPE")


@SQLITE
def test_downstream(world: World) -> None:
    w = world
    provenance_world(w)
    lots = [d["lot"] for d in w.query(downstream, lot_id="ORE-B")]
    assert lots == ["D-1", "D-2", "BAR", "BAR-a", "BAR-b"]
    by_site = w.query(downstream, site_id=SITE_M)
    assert [d["lot"] for d in by_site] == ["ORE-B", "D-1", "D-2", "BAR", "BAR-a", "BAR-b"]
    assert by_site[0]["status"] == "closed" and by_site[-1]["custodian"] == CENTRE.actor_id
    by_miner = [d["lot"] for d in w.query(downstream, miner_id=PARTNERSHIP.actor_id)]
    assert set(by_miner) == {"ORE-A", "ORE-C", "D-1", "D-2", "D-3", "BAR", "BAR-a", "BAR-b"}
    assert w.query(downstream, lot_id="BAR-b") == []
    with pytest.raises(RuleViolation) as caught:
        w.query(downstream, lot_id="BAR", site_id=SITE_M)
    assert caught.value.rule == "one-origin"
    with pytest.raises(NotFound):
        w.query(downstream, site_id="SITE-NONE")


@SQLITE
def test_provenance_is_bounded(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    w = world
    provenance_world(w)
    monkeypatch.setattr(queries, "MAX_NODES", 3)
    for fn, kw in ((upstream, {"lot_id": "BAR-a"}), (downstream, {"miner_id": MINER.actor_id})):
        with pytest.raises(RuleViolation) as caught:
            w.query(fn, **kw)
        assert caught.value.rule == "provenance-too-large"


@SQLITE
def test_lot_view(world: World) -> None:
    w = world
    w.deliver("ORE-1", 1_000)
    w.open_hold("HOLD-1", "site", SITE_P)
    view = w.query(lot_view, "ORE-1")
    assert view["lot"] == "ORE-1" and view["holds"] == ["HOLD-1"]
    assert (view["custodian"], view["owner"], view["remaining"]) == (
        CENTRE.actor_id,
        PARTNERSHIP.actor_id,
        1_000,
    )
    with pytest.raises(NotFound):
        w.query(lot_view, "NOPE")
    with pytest.raises(NotFound):
        w.query(lot_history, "NOPE")


# --- end to end, on both databases --------------------------------------------------------


def test_scenario_and_rebuild(world: World) -> None:
    """A season at one centre on SQLite and PostgreSQL; the rebuilt state equals the live."""
    w = world
    provenance_world(w)
    w.submit(LAB, "assay.recorded", lot="BAR-a", fineness_ppt=880)
    w.offer("OFFER-1", "BAR-a", BANK)
    w.submit(BANK, "transfer.accepted", offer="OFFER-1")
    w.offer("OFFER-2", "BAR-b", TRADER)
    w.submit(TRADER, "transfer.rejected", offer="OFFER-2")
    w.submit(BANK, "lot.refined", lot="BAR-a", refinery="Mongolbank")
    w.deliver("ORE-R", 1_000)
    w.process("RUN-R", [("ORE-R", 1_000)], [("D-R", 1_000)])  # 1000 g/t: red flag
    w.open_hold("HOLD-1", "lot", "D-1")
    assert w.lot("BAR-a").status == "refined"
    assert_rebuild_matches(w)


def test_two_runs_racing_for_one_ore_lot(world: World) -> None:
    """Two centres' clients submit at once; the append lock lets exactly one consume it."""
    w = world
    w.deliver("ORE-1", 100_000)
    barrier = threading.Barrier(2)
    outcomes: list[str] = []

    def run(i: int) -> None:
        body = {
            "occurred_at": AT,
            **run_body(f"RUN-{i}", [("ORE-1", 100_000)], [(f"D-{i}", 1_000)]),
        }
        barrier.wait()
        try:
            w.svc.submit(CENTRE, Submission("processing.recorded", body))
            outcomes.append("ok")
        except DomainError as exc:
            outcomes.append(exc.rule)

    threads = [threading.Thread(target=run, args=(i,)) for i in (1, 2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes) == ["lot-not-active", "ok"]
    assert w.lot("ORE-1").remaining == 0
    assert len([lot for lot in w.rows(Lot) if lot.id.startswith("D-")]) == 1


def test_accepting_twice_and_cancelling_at_once_lets_exactly_one_win(world: World) -> None:
    """The buyer's two devices accept while the centre cancels: one outcome, one custodian."""
    w = world
    w.gold("D-1", 1_000)
    w.offer("OFFER-1", "D-1", BANK)
    barrier = threading.Barrier(3)
    outcomes: dict[str, str] = {}

    def act(name: str, who: Principal, type_: str) -> None:
        barrier.wait()
        try:
            w.svc.submit(who, Submission(type_, {"occurred_at": AT, "offer": "OFFER-1"}))
            outcomes[name] = "ok"
        except DomainError as exc:
            outcomes[name] = exc.rule

    threads = [
        threading.Thread(target=act, args=("accept-1", BANK, "transfer.accepted")),
        threading.Thread(target=act, args=("accept-2", BANK, "transfer.accepted")),
        threading.Thread(target=act, args=("cancel", CENTRE, "transfer.cancelled")),
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes.values()) == ["offer-not-open", "offer-not-open", "ok"], outcomes
    lot = w.lot("D-1")
    if outcomes["cancel"] == "ok":
        assert lot.custodian_id == CENTRE.actor_id
    else:
        assert lot.custodian_id == lot.owner_id == BANK.actor_id


# --- property: random sequences keep mass balance and rebuild equality --------------------


def check_invariants(engine: Engine) -> None:
    with Session(engine) as s:
        lots = {lot.id: lot for lot in s.scalars(select(Lot))}
        links = list(s.scalars(select(LotLink)))
        offers = list(s.scalars(select(Offer).where(Offer.status == "open")))
    out_of: dict[str, list[LotLink]] = {}
    for link in links:
        out_of.setdefault(link.parent_id, []).append(link)
    delivered = consumed = produced = held_gold = 0
    for lot in lots.values():
        assert 0 <= lot.remaining <= lot.mass, lot.id
        gone = out_of.get(lot.id, [])
        if lot.kind == "ore":
            delivered += lot.mass
            per_run = {link.event_index: link.mass for link in gone}  # same on every output
            assert lot.mass - lot.remaining == sum(per_run.values()), lot.id
            consumed += sum(per_run.values())
            assert (lot.status == "closed") == (lot.remaining == 0), lot.id
            continue
        assert lot.custodian_id == lot.owner_id, lot.id
        if lot.status == "closed":
            assert lot.closed_by in ("split", "merged") and lot.remaining == 0, lot.id
            assert sum(link.mass for link in gone) == lot.mass, lot.id  # split/merge: exact
        else:
            assert lot.remaining == lot.mass and not gone, lot.id
            held_gold += lot.remaining
        parents = [link for link in links if link.child_id == lot.id]
        if parents and lots[parents[0].parent_id].kind == "ore":
            produced += lot.mass
        elif parents:
            assert sum(link.mass for link in parents) == lot.mass, lot.id  # merge, or 1 split
    assert consumed <= delivered
    assert held_gold == produced  # gold is neither made nor lost after processing
    assert len({o.lot_id for o in offers}) == len(offers)  # one open offer per lot


def _fresh_world(root: Path) -> World:
    url = f"sqlite:///{root / 'log.db'}"
    engine = storage.make_engine(url)
    storage.create_schema(engine)
    keystore = KeyStore(root / "data", ORIGIN)
    keystore.load_or_create(T0)
    lg = Log(engine, ORIGIN, keystore.active)
    lg.initialise(keystore.keys(), T0)
    return make_world(lg, Clock(), yield_max_g_per_t=50.0)


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(data=st.data())
def test_random_operations_keep_mass_balance(data: st.DataObject) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        w = _fresh_world(Path(tmp))
        try:
            _random_walk(w, data)
            assert_rebuild_matches(w)
        finally:
            w.engine.dispose()


HOLDERS = [CENTRE, CENTRE2, BANK, TRADER]


def _holder(actor_id: str) -> Principal:
    return next(h for h in HOLDERS if h.actor_id == actor_id)


def _random_walk(w: World, data: st.DataObject) -> None:
    """Each step picks an operation that the current state makes possible (deliveries when
    nothing else is), with masses and parties that are sometimes wrong on purpose."""
    for n in range(data.draw(st.integers(10, 30), label="steps")):
        with Session(w.engine) as s:
            lots = list(s.scalars(select(Lot).order_by(Lot.id)))
            offers = list(s.scalars(select(Offer).where(Offer.status == "open").order_by(Offer.id)))
            s.expunge_all()
        ore = [lot for lot in lots if lot.kind == "ore" and lot.status == "active"]
        gold = [lot for lot in lots if lot.kind == "gold" and lot.status == "active"]
        possible = ["deliver"]
        if ore:
            possible += ["process", "process"]
        if gold:
            possible += ["split", "offer", "terminal", "assay"]
        if len(gold) >= 2:
            possible.append("merge")
        if offers:
            possible += ["accept", "accept", "accept", "reject", "cancel"]
        op = data.draw(st.sampled_from(possible), label="op")
        who, type_, body = _random_step(op, n, ore, gold, offers, data)
        size, before = w.log.size(), snapshot(w.engine)
        try:
            w.svc.submit(who, Submission(type_, {"occurred_at": AT, **body}))
        except DomainError:
            assert w.log.size() == size
            assert snapshot(w.engine) == before
        check_invariants(w.engine)


def _random_step(
    op: str, n: int, ore: list[Lot], gold: list[Lot], offers: list[Offer], data: st.DataObject
) -> tuple[Principal, str, dict[str, Any]]:
    if op == "deliver":
        body = {
            "lot": f"ORE-{n}",
            "miner": PARTNERSHIP.actor_id,
            "site": SITE_P,
            "mass_g": data.draw(st.integers(1, 2_000_000)),
            "mined_on": "2026-09-01",
        }
        if data.draw(st.booleans(), label="the miner's own site"):
            body.update(miner=MINER.actor_id, site=data.draw(st.sampled_from([SITE_M, SITE_P])))
        return data.draw(st.sampled_from([CENTRE, CENTRE2])), "ore.delivered", body
    if op == "process":
        centre = _holder(data.draw(st.sampled_from(ore)).custodian_id)
        mine = [lot for lot in ore if lot.custodian_id == centre.actor_id]
        if data.draw(st.booleans(), label="someone else's ore"):
            mine = ore
        picked = data.draw(
            st.lists(st.sampled_from(mine), min_size=1, max_size=3, unique_by=lambda x: x.id)
        )
        inputs = [(lot.id, data.draw(st.integers(1, lot.remaining + 1))) for lot in picked]
        ore_g = sum(g for _, g in inputs)
        count = data.draw(st.integers(1, 3))
        top = max(1, ore_g // (count * 10))  # up to 100 g/t on average: some runs get flagged
        outputs = [(f"G-{n}-{k}", data.draw(st.integers(1, top))) for k in range(count)]
        return centre, "processing.recorded", run_body(f"RUN-{n}", inputs, outputs)
    if op == "merge":
        picked = data.draw(
            st.lists(st.sampled_from(gold), min_size=2, max_size=3, unique_by=lambda x: x.id)
        )
        body = {"lots": [x.id for x in picked], "into": f"M-{n}"}
        return _holder(picked[0].custodian_id), "lots.merged", body
    if op in ("accept", "reject", "cancel"):
        offer = data.draw(st.sampled_from(offers))
        party = offer.from_id if op == "cancel" else offer.to_id
        if data.draw(st.booleans(), label="wrong party"):
            party = data.draw(st.sampled_from([h.actor_id for h in HOLDERS]))
        type_ = {"accept": "accepted", "reject": "rejected", "cancel": "cancelled"}[op]
        return _holder(party), f"transfer.{type_}", {"offer": offer.id}
    if op == "terminal":  # buyers refine; a centre trying it is refused
        gold = [x for x in gold if x.custodian_id in (BANK.actor_id, TRADER.actor_id)] or gold
    lot = data.draw(st.sampled_from(gold))
    holder = _holder(lot.custodian_id)
    if op == "split":
        cut = data.draw(st.integers(1, max(1, lot.remaining - 1)))
        rest = max(1, lot.remaining - cut + data.draw(st.sampled_from([0, 0, 0, 1, -1])))
        into = [{"lot": f"S-{n}-a", "mass_mg": cut}, {"lot": f"S-{n}-b", "mass_mg": rest}]
        return holder, "lot.split", {"lot": lot.id, "into": into}
    if op == "offer":
        to = data.draw(st.sampled_from(HOLDERS)).actor_id
        return holder, "transfer.offered", {"offer": f"O-{n}", "lot": lot.id, "to": to}
    if op == "assay":
        return (
            LAB,
            "assay.recorded",
            {"lot": lot.id, "fineness_ppt": data.draw(st.integers(1, 1000))},
        )
    return holder, "lot.refined", {"lot": lot.id, "refinery": "Mongolbank refinery"}
