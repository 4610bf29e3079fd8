"""Holds, red flags, disputes and corrections, through the real event pipeline.

Every refusal is checked to name its rule and to leave the log as it was.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

import services.domains  # noqa: F401 - every domain (tables, rules)
from ledger.entry import format_time
from ledger.sql import storage
from ledger.sql.log import Log
from services.actors.models import Actor
from services.actors.rules import actor_key_id
from services.cases.models import Case, Correction
from services.cases.rules import SYSTEM_CASE_PREFIX, derive_red_flag
from services.db import Base
from services.domains import EventService, apply
from services.errors import Conflict, DomainError, Forbidden, NotFound, RuleViolation
from services.identity import SYSTEM_ACTOR, Principal
from services.lots.models import Lot, LotEvent
from services.pipeline import Context
from services.pipeline.projection import Applied
from services.pipeline.service import Submission
from services.settings import Settings
from support.db import Clock
from support.domain import (
    ADMIN,
    AUDITOR,
    BANK,
    CENTRE,
    MINER,
    PARTNERSHIP,
    REGULATOR,
    WHEN,
)

AT = WHEN
BUYER = BANK
SITE = "SITE-TUUL-1"


@dataclass
class World:
    svc: EventService
    log: Log
    engine: Engine

    def submit(self, who: Principal, type_: str, **body: Any) -> int:
        return self.svc.submit(who, Submission(type_, {"occurred_at": AT, **body})).index

    def refused(
        self, who: Principal, type_: str, error: type[DomainError], rule: str, **body: Any
    ) -> DomainError:
        """Submit, expect `error` naming `rule`, and check the log did not move."""
        before = self.log.size()
        with pytest.raises(error) as caught:
            self.submit(who, type_, **body)
        assert caught.value.rule == rule, caught.value.detail
        assert self.log.size() == before
        return caught.value

    def case(self, case_id: str) -> Case:
        with Session(self.engine) as s:
            row = s.get(Case, case_id)
            assert row is not None
            s.expunge(row)
            return row

    def rows(self, model: type[Any]) -> list[Any]:
        with Session(self.engine) as s:
            return list(s.scalars(select(model)).all())

    def open(self, who: Principal, case: str, kind: str, target: tuple[str, str]) -> int:
        return self.submit(
            who,
            "case.opened",
            case=case,
            kind=kind,
            target={"kind": target[0], "id": target[1]},
            category="other",
            description="looked into on site",
        )


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


def register(w: World, who: Principal, **extra: Any) -> None:
    w.submit(ADMIN, "actor.registered", actor=who.actor_id, role=who.role, **extra)


@pytest.fixture
def world(log: Log, clock: Clock) -> World:
    Base.metadata.create_all(log.engine)
    with Session(log.engine) as s, s.begin():
        s.add(
            Actor(
                id=ADMIN.actor_id,
                role="administrator",
                status="active",
                registered_index=0,
                registered_by=SYSTEM_ACTOR,
            )
        )
    w = World(EventService(log, Settings(require_signatures=False), clock), log, log.engine)
    register(w, AUDITOR)
    register(w, REGULATOR)
    register(w, PARTNERSHIP, members=12, region={"aimag": "Töv", "soum": "Zaamar"})
    register(w, MINER)
    register(w, CENTRE)
    register(w, BUYER, buyer_kind="central_bank")
    w.submit(
        REGULATOR,
        "site.registered",
        site=SITE,
        owner=PARTNERSHIP.actor_id,
        region={"aimag": "Töv", "soum": "Zaamar"},
        lat="48.123456",
        lon="104.654321",
    )
    return w


def seed_lot(w: World, lot_id: str, custodian: str) -> None:
    """A lot row as the lots projector would leave it (the lots rules are not needed here)."""
    with Session(w.engine) as s, s.begin():
        s.add(
            Lot(
                id=lot_id,
                kind="gold",
                form="dore",
                unit="mg",
                mass=1000,
                remaining=1000,
                custodian_id=custodian,
                owner_id=custodian,
                status="active",
                created_index=0,
                created_at=AT,
            )
        )


# --- the lifecycle -------------------------------------------------------------------------


def test_hold_runs_its_lifecycle(world: World) -> None:
    w = world
    opened = w.open(AUDITOR, "HOLD-1", "hold", ("actor", PARTNERSHIP.actor_id))
    c = w.case("HOLD-1")
    assert (c.status, c.kind, c.raised_by) == ("raised", "hold", AUDITOR.actor_id)
    assert c.opened_index == c.last_index == opened
    assert c.last_note is None

    i = w.submit(PARTNERSHIP, "case.responded", case="HOLD-1", response="licence renewed")
    c = w.case("HOLD-1")
    assert (c.status, c.last_index, c.last_note) == ("responded", i, "licence renewed")
    assert c.opened_index == opened

    i = w.submit(REGULATOR, "case.escalated", case="HOLD-1", to="MRPAM", reason="needs review")
    c = w.case("HOLD-1")
    assert (c.status, c.last_index, c.last_note) == ("escalated", i, "to MRPAM: needs review")

    i = w.submit(PARTNERSHIP, "case.responded", case="HOLD-1", response="papers sent")
    assert w.case("HOLD-1").status == "responded"

    i = w.submit(AUDITOR, "case.resolved", case="HOLD-1", resolution="papers in order")
    c = w.case("HOLD-1")
    assert (c.status, c.last_index, c.last_note) == ("resolved", i, "papers in order")

    # Resolved is final, for everybody.
    w.refused(
        PARTNERSHIP, "case.responded", RuleViolation, "case-closed", case="HOLD-1", response="more"
    )
    w.refused(
        REGULATOR, "case.resolved", RuleViolation, "case-closed", case="HOLD-1", resolution="again"
    )
    w.refused(
        REGULATOR,
        "case.escalated",
        RuleViolation,
        "case-closed",
        case="HOLD-1",
        to="court",
        reason="late",
    )


def test_escalated_case_can_be_resolved_and_raised_case_resolved_at_once(world: World) -> None:
    w = world
    w.open(REGULATOR, "FLAG-1", "red_flag", ("site", SITE))
    w.submit(ADMIN, "case.resolved", case="FLAG-1", resolution="raised in error")
    assert w.case("FLAG-1").status == "resolved"

    w.open(ADMIN, "HOLD-2", "hold", ("actor", CENTRE.actor_id))
    w.submit(AUDITOR, "case.escalated", case="HOLD-2", to="aimag governor", reason="x")
    w.submit(REGULATOR, "case.resolved", case="HOLD-2", resolution="lifted")
    assert w.case("HOLD-2").status == "resolved"


def test_dispute_over_a_site_heard_from_its_owner(world: World) -> None:
    w = world
    w.open(REGULATOR, "DISPUTE-1", "dispute", ("site", SITE))
    assert w.case("DISPUTE-1").target_kind == "site"
    w.submit(PARTNERSHIP, "case.responded", case="DISPUTE-1", response="our permit predates")
    assert w.case("DISPUTE-1").status == "responded"
    w.refused(
        MINER,
        "case.responded",
        Forbidden,
        "not-a-party",
        case="DISPUTE-1",
        response="I am not the owner",
    )


# --- refusals ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("who", "type_", "body"),
    [
        (
            CENTRE,
            "case.opened",
            {
                "case": "X",
                "kind": "hold",
                "target": {"kind": "site", "id": SITE},
                "category": "other",
                "description": "d",
            },
        ),
        (
            BUYER,
            "case.opened",
            {
                "case": "X",
                "kind": "red_flag",
                "target": {"kind": "site", "id": SITE},
                "category": "other",
                "description": "d",
            },
        ),
        (PARTNERSHIP, "case.resolved", {"case": "OPEN", "resolution": "mine"}),
        (CENTRE, "case.escalated", {"case": "OPEN", "to": "court", "reason": "r"}),
        (MINER, "case.escalated", {"case": "OPEN", "to": "court", "reason": "r"}),
    ],
)
def test_wrong_role_is_refused(
    world: World, who: Principal, type_: str, body: dict[str, Any]
) -> None:
    world.open(AUDITOR, "OPEN", "hold", ("actor", PARTNERSHIP.actor_id))
    world.refused(who, type_, Forbidden, "role-not-allowed", **body)
    assert world.case("OPEN").status == "raised"


def test_only_a_party_responds(world: World) -> None:
    w = world
    w.open(AUDITOR, "HOLD-P", "hold", ("actor", PARTNERSHIP.actor_id))
    for outsider in (BUYER, CENTRE, MINER):
        w.refused(
            outsider, "case.responded", Forbidden, "not-a-party", case="HOLD-P", response="not mine"
        )
    # Any case officer may speak in any case.
    w.submit(REGULATOR, "case.responded", case="HOLD-P", response="noted")
    assert w.case("HOLD-P").status == "responded"


@pytest.mark.parametrize(
    ("kind", "target_id", "rule"),
    [
        ("lot", "LOT-NONE", "unknown-lot"),
        ("actor", "miner:nobody", "unknown-actor"),
        ("site", "SITE-NONE", "unknown-site"),
    ],
)
def test_unknown_target_is_refused(world: World, kind: str, target_id: str, rule: str) -> None:
    err = world.refused(
        AUDITOR,
        "case.opened",
        NotFound,
        rule,
        case="C-1",
        kind="hold",
        target={"kind": kind, "id": target_id},
        category="other",
        description="d",
    )
    assert err.field == "body.target.id"
    assert world.rows(Case) == []


@pytest.mark.parametrize("kind", ["lot", "actor"])
def test_dispute_only_over_a_site(world: World, kind: str) -> None:
    seed_lot(world, "LOT-D", CENTRE.actor_id)
    target_id = "LOT-D" if kind == "lot" else PARTNERSHIP.actor_id
    world.refused(
        REGULATOR,
        "case.opened",
        RuleViolation,
        "dispute-target",
        case="D-1",
        kind="dispute",
        target={"kind": kind, "id": target_id},
        category="land_use",
        description="herders",
    )


def test_case_ids_are_unique_and_system_ids_reserved(world: World) -> None:
    w = world
    w.open(AUDITOR, "C-1", "red_flag", ("site", SITE))
    w.refused(
        REGULATOR,
        "case.opened",
        Conflict,
        "case-exists",
        case="C-1",
        kind="hold",
        target={"kind": "site", "id": SITE},
        category="other",
        description="d",
    )
    w.refused(
        REGULATOR,
        "case.opened",
        RuleViolation,
        "reserved-case-id",
        case=f"{SYSTEM_CASE_PREFIX}99",
        kind="hold",
        target={"kind": "site", "id": SITE},
        category="other",
        description="d",
    )


def test_unknown_case_is_refused(world: World) -> None:
    for who, type_, extra in [
        (PARTNERSHIP, "case.responded", {"response": "r"}),
        (AUDITOR, "case.resolved", {"resolution": "r"}),
        (AUDITOR, "case.escalated", {"to": "t", "reason": "r"}),
    ]:
        err = world.refused(who, type_, NotFound, "unknown-case", case="NOPE", **extra)
        assert err.field == "body.case"


# --- suspended and revoked actors ----------------------------------------------------------


def test_suspended_actor_answers_a_hold_but_records_nothing_else(world: World) -> None:
    w = world
    w.submit(
        ADMIN,
        "actor.status_changed",
        actor=PARTNERSHIP.actor_id,
        status="suspended",
        reason="licence expired",
    )
    w.open(REGULATOR, "HOLD-S", "hold", ("actor", PARTNERSHIP.actor_id))
    w.submit(PARTNERSHIP, "case.responded", case="HOLD-S", response="renewal filed")
    assert w.case("HOLD-S").status == "responded"

    first = w.log.size() - 1  # the partnership's own response
    w.refused(
        PARTNERSHIP,
        "correction.recorded",
        RuleViolation,
        "actor-not-active",
        corrects=first,
        reason="typo",
    )
    w.refused(
        PARTNERSHIP,
        "case.escalated",
        Forbidden,
        "role-not-allowed",
        case="HOLD-S",
        to="court",
        reason="unfair",
    )
    raw = Ed25519PrivateKey.generate().public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    key = {"key_id": actor_key_id(PARTNERSHIP.actor_id, raw), "public_key": _b64(raw)}
    w.refused(
        PARTNERSHIP,
        "actor.key_added",
        RuleViolation,
        "actor-not-active",
        actor=PARTNERSHIP.actor_id,
        key=key,
    )
    # A suspended actor's answer still needs it to be a party.
    w.open(AUDITOR, "HOLD-OTHER", "hold", ("actor", CENTRE.actor_id))
    w.refused(
        PARTNERSHIP,
        "case.responded",
        Forbidden,
        "not-a-party",
        case="HOLD-OTHER",
        response="not mine",
    )


def test_revoked_actor_cannot_respond(world: World) -> None:
    w = world
    w.open(REGULATOR, "HOLD-R", "hold", ("actor", MINER.actor_id))
    w.submit(ADMIN, "actor.status_changed", actor=MINER.actor_id, status="revoked", reason="fraud")
    w.refused(
        MINER, "case.responded", RuleViolation, "actor-not-active", case="HOLD-R", response="appeal"
    )


# --- cases on lots, and red flags the system raises ----------------------------------------


def test_case_on_a_lot_joins_its_history_and_its_custodian_answers(world: World) -> None:
    w = world
    seed_lot(w, "LOT-7", CENTRE.actor_id)
    opened = w.open(AUDITOR, "HOLD-L", "hold", ("lot", "LOT-7"))
    w.refused(BUYER, "case.responded", Forbidden, "not-a-party", case="HOLD-L", response="x")
    responded = w.submit(CENTRE, "case.responded", case="HOLD-L", response="assay attached")
    resolved = w.submit(AUDITOR, "case.resolved", case="HOLD-L", resolution="ok")
    history = [(e.lot_id, e.index, e.type) for e in w.rows(LotEvent)]
    assert sorted(history) == [
        ("LOT-7", opened, "case.opened"),
        ("LOT-7", responded, "case.responded"),
        ("LOT-7", resolved, "case.resolved"),
    ]


def test_system_red_flag_is_derived_and_projected(world: World) -> None:
    w = world
    seed_lot(w, "LOT-Y", CENTRE.actor_id)
    with w.engine.connect() as conn:  # rolled back on close: nothing here is recorded
        size = storage.read_size(conn)
        s = Session(bind=conn, autoflush=False)
        ctx = Context(s, CENTRE, w.svc.settings, w.svc.clock(), format_time(w.svc.clock()), size)
        first = derive_red_flag(
            ctx,
            target_kind="lot",
            target_id="LOT-Y",
            category="yield_out_of_bounds",
            description="212 g/t",
            occurred_at=AT,
        )
        second = derive_red_flag(
            ctx,
            target_kind="actor",
            target_id=CENTRE.actor_id,
            category="capacity_inconsistent",
            description="too much",
            occurred_at=AT,
        )
        # Derived entries follow their cause: indices size+1, size+2.
        assert (first, second) == (
            f"{SYSTEM_CASE_PREFIX}{size + 1}",
            f"{SYSTEM_CASE_PREFIX}{size + 2}",
        )
        assert [ev.actor for ev in ctx.derived] == [SYSTEM_ACTOR, SYSTEM_ACTOR]
        assert ctx.derived[0].body["kind"] == "red_flag"
        for k, ev in enumerate(ctx.derived, start=1):
            apply(s, Applied(size + k, ctx.time, ev.type, ev.actor, dict(ev.body)))
        s.flush()
        flag = s.get(Case, first)
        assert flag is not None
        assert (flag.raised_by, flag.status, flag.opened_index) == (
            SYSTEM_ACTOR,
            "raised",
            size + 1,
        )
        assert s.get(LotEvent, ("LOT-Y", size + 1)) is not None


# --- corrections ---------------------------------------------------------------------------


def _centre_key_entry(w: World) -> int:
    raw = Ed25519PrivateKey.generate().public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    key = {
        "key_id": actor_key_id(CENTRE.actor_id, raw),
        "public_key": base64.b64encode(raw).decode(),
    }
    return w.submit(CENTRE, "actor.key_added", actor=CENTRE.actor_id, key=key)


def test_correction_of_own_entry_and_by_officers(world: World) -> None:
    w = world
    own = _centre_key_entry(w)
    site_entry = own - 2  # the site registration and its append's state.root precede it
    i = w.submit(CENTRE, "correction.recorded", corrects=own, reason="wrong key")
    j = w.submit(
        AUDITOR, "correction.recorded", corrects=site_entry, reason="bad lat", replaced_by=[own]
    )
    rows = sorted((c.index, c.corrects, c.by) for c in w.rows(Correction))
    assert rows == [(i, own, CENTRE.actor_id), (j, site_entry, AUDITOR.actor_id)]


def test_correction_refusals(world: World) -> None:
    w = world
    own = _centre_key_entry(w)
    regulators = own - 2  # the site registration, by the regulator (then its state.root)
    w.refused(
        CENTRE,
        "correction.recorded",
        Forbidden,
        "not-own-entry",
        corrects=regulators,
        reason="not mine",
    )
    w.refused(
        BUYER, "correction.recorded", Forbidden, "not-own-entry", corrects=own, reason="not mine"
    )
    size = w.log.size()
    err = w.refused(
        CENTRE, "correction.recorded", NotFound, "unknown-entry", corrects=size, reason="future"
    )
    assert err.field == "body.corrects"
    c = w.submit(CENTRE, "correction.recorded", corrects=own, reason="wrong key")
    w.refused(
        AUDITOR,
        "correction.recorded",
        RuleViolation,
        "correction-of-correction",
        corrects=c,
        reason="again",
    )
    err = w.refused(
        CENTRE,
        "correction.recorded",
        RuleViolation,
        "replacement-not-later",
        corrects=own,
        reason="r",
        replaced_by=[own],
    )
    assert err.field == "body.replaced_by.0"
    w.refused(
        CENTRE,
        "correction.recorded",
        NotFound,
        "unknown-entry",
        corrects=own,
        reason="r",
        replaced_by=[w.log.size() + 5],
    )
    w.refused(
        AUDITOR,
        "correction.recorded",
        RuleViolation,
        "duplicate-replacement",
        corrects=regulators,
        reason="r",
        replaced_by=[own, own],
    )
    assert len(w.rows(Correction)) == 1


def test_correction_cannot_reach_into_its_own_batch(world: World) -> None:
    w = world
    size = w.log.size()
    site = {
        "occurred_at": AT,
        "site": "SITE-2",
        "owner": PARTNERSHIP.actor_id,
        "region": {"aimag": "Töv", "soum": "Zaamar"},
        "lat": "48.1",
        "lon": "104.1",
    }
    fix = {"occurred_at": AT, "corrects": size, "reason": "wrong site"}
    results = w.svc.submit_many(
        [
            (REGULATOR, Submission("site.registered", site)),
            (REGULATOR, Submission("correction.recorded", fix)),
        ],
        atomic=False,
    )
    assert results[0].recorded is not None and results[0].recorded.index == size
    assert results[1].error is not None and results[1].error.rule == "entry-not-yet-recorded"
    assert w.log.size() == size + 2  # the site, then the append's state.root
    # The same correction in a later request is fine, and may name a replacement.
    w.submit(REGULATOR, "correction.recorded", corrects=size, reason="wrong site")
    assert w.log.size() == size + 4


# --- holds block trade (the lots rules ask services.lots.queries.active_holds) -------------


def _dore(w: World, lot: str) -> None:
    """A gold lot in the centre's custody: ore delivered, then processed (10 g/t)."""
    ore = f"ORE-{lot}"
    w.submit(
        CENTRE,
        "ore.delivered",
        lot=ore,
        miner=PARTNERSHIP.actor_id,
        site=SITE,
        mass_g=50_000,
        mined_on="2026-09-10",
    )
    w.submit(
        CENTRE,
        "processing.recorded",
        run=f"RUN-{lot}",
        inputs=[{"lot": ore, "mass_g": 50_000}],
        outputs=[{"lot": lot, "form": "dore", "mass_mg": 500}],
        method="gravity",
        mercury_free=True,
        started_on="2026-09-12",
        finished_on="2026-09-13",
    )


def _offer(w: World, offer: str, lot: str) -> int:
    return w.submit(CENTRE, "transfer.offered", offer=offer, lot=lot, to=BUYER.actor_id)


@pytest.mark.parametrize(
    ("target", "answered"),
    [(("lot", "DORE-1"), False), (("lot", "DORE-1"), True), (("actor", CENTRE.actor_id), True)],
)
def test_hold_blocks_offering_until_resolved(
    world: World, target: tuple[str, str], answered: bool
) -> None:
    w = world
    _dore(w, "DORE-1")
    w.open(AUDITOR, "HOLD-1", "hold", target)
    if answered:  # an answer does not lift a hold; only its resolution does
        w.submit(CENTRE, "case.responded", case="HOLD-1", response="assay attached")
    w.refused(
        CENTRE,
        "transfer.offered",
        RuleViolation,
        "held",
        offer="OFF-1",
        lot="DORE-1",
        to=BUYER.actor_id,
    )
    w.submit(AUDITOR, "case.resolved", case="HOLD-1", resolution="cleared")
    _offer(w, "OFF-1", "DORE-1")


def test_red_flags_and_disputes_do_not_block_trade(world: World) -> None:
    w = world
    _dore(w, "DORE-2")
    w.open(AUDITOR, "FLAG-L", "red_flag", ("lot", "DORE-2"))
    w.open(REGULATOR, "DISPUTE-S", "dispute", ("site", SITE))
    _offer(w, "OFF-2", "DORE-2")


def test_impossible_yield_raises_a_system_red_flag(world: World) -> None:
    w = world
    w.submit(
        CENTRE,
        "ore.delivered",
        lot="ORE-Y",
        miner=PARTNERSHIP.actor_id,
        site=SITE,
        mass_g=50_000,
        mined_on="2026-09-10",
    )
    run = w.svc.submit(
        CENTRE,
        Submission(
            "processing.recorded",
            {
                "occurred_at": AT,
                "run": "RUN-Y",
                "inputs": [{"lot": "ORE-Y", "mass_g": 50_000}],
                "outputs": [{"lot": "DORE-Y", "form": "dore", "mass_mg": 20_000}],  # 400 g/t
                "method": "gravity",
                "mercury_free": True,
                "started_on": "2026-09-12",
                "finished_on": "2026-09-13",
            },
        ),
    )
    assert [d["type"] for d in run.derived] == ["case.opened"]
    flag_index = run.derived[0]["index"]
    assert flag_index == run.index + 1
    flag = w.case(f"{SYSTEM_CASE_PREFIX}{flag_index}")
    assert (flag.kind, flag.raised_by, flag.target_id) == ("red_flag", SYSTEM_ACTOR, "DORE-Y")
    assert flag.category == "yield_out_of_bounds"
    assert ("DORE-Y", flag_index, "case.opened") in [
        (e.lot_id, e.index, e.type) for e in w.rows(LotEvent)
    ]
    # The centre answers the flag; an auditor closes it.
    w.submit(CENTRE, "case.responded", case=flag.id, response="scale was miscalibrated")
    w.submit(AUDITOR, "case.resolved", case=flag.id, resolution="re-weighed: 2,000 mg")
    assert w.case(flag.id).status == "resolved"
