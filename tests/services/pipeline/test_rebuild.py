"""Current state is a projection of the log (issue 3, item 12).

A long, seeded, random sequence of operations goes through the real pipeline: many are
refused (wrong role, wrong party, unknown ids, too much mass, held lots...), and each
refusal must change nothing. Then `rebuild` empties the projection tables and replays the
log into them, and every projection table must come back row for row, while the off-log
tables (personal data, tokens, idempotency records, prices) are left alone.
"""

from __future__ import annotations

import base64
import random
from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import Engine, Table, select
from sqlalchemy.orm import Session

import services.domains  # noqa: F401 - every domain (tables, rules)
from ledger.commitment import commit
from ledger.sql import storage
from ledger.sql.log import Log
from ledger.sql.statemap import state_head, state_nodes, state_tips, state_values
from services.actors.bootstrap import FIRST_ADMIN, bootstrap_administrator
from services.actors.models import Actor, Site
from services.actors.rules import actor_key_id
from services.cases.models import Case
from services.db import Base
from services.domains import EventService, rebuild
from services.errors import DomainError
from services.identity import Principal
from services.lots.models import Lot, Offer
from services.pipeline.projection import projection_tables
from services.pipeline.service import Submission
from services.settings import Settings
from support.db import Clock

AT = "2026-09-14T10:12:00+08:00"
OFF_LOG = ("personal_records", "api_tokens", "idempotency_records", "offer_prices")
PREFIX = {
    "miner": "miner",
    "partnership": "partnership",
    "processing_centre": "centre",
    "buyer": "buyer",
    "laboratory": "lab",
    "auditor": "auditor",
    "regulator": "regulator",
}
OFFICERS = ("administrator", "regulator", "auditor")
Snapshot = dict[str, list[tuple[Any, ...]]]


def snapshot(engine: Engine, tables: list[Table]) -> Snapshot:
    """Every row of the tables, sorted by primary key."""
    with storage.read_transaction(engine) as conn:
        return {
            t.name: [tuple(r) for r in conn.execute(select(t).order_by(*t.primary_key.columns))]
            for t in tables
        }


def off_log_tables() -> list[Table]:
    return [Base.metadata.tables[name] for name in OFF_LOG]


class Simulation:
    """Random operations, mostly plausible, often wrong, chosen from the current state."""

    def __init__(self, svc: EventService, engine: Engine, rng: random.Random) -> None:
        self.svc = svc
        self.engine = engine
        self.rng = rng
        self.serial = 0
        self.sent: list[tuple[Principal, Submission]] = []
        self.recorded = 0
        self.refused = 0
        self.rules: dict[str, int] = {}

    # -- reading the state ---------------------------------------------------------------

    def _all(self, model: type[Any], *where: Any) -> list[Any]:
        with Session(self.engine) as s:
            rows = list(s.scalars(select(model).where(*where)))
            s.expunge_all()
            return rows

    def actors(self, *roles: str) -> list[Actor]:
        where = [Actor.role.in_(roles)] if roles else []
        return self._all(Actor, *where)

    def principal(self, *roles: str) -> Principal:
        """Mostly an actor of one of these roles; sometimes anybody at all."""
        pool = self.actors(*roles) if roles and self.rng.random() < 0.85 else []
        pool = pool or self.actors()
        actor = self.rng.choice(pool)
        return Principal(actor.id, actor.role)

    def as_principal(self, actor_id: str) -> Principal:
        """That actor, or now and then someone else (who should be refused)."""
        if self.rng.random() < 0.15:
            return self.principal()
        with Session(self.engine) as s:
            actor = s.get(Actor, actor_id)
            if actor is None:
                return self.principal()
            return Principal(actor.id, actor.role)

    def new_id(self, prefix: str) -> str:
        self.serial += 1
        return f"{prefix}-{self.serial}"

    def pick(self, items: list[Any], fallback: Any) -> Any:
        return self.rng.choice(items) if items else fallback

    def mass(self, remaining: int) -> int:
        """Usually what is there or less, now and then more (refused)."""
        if self.rng.random() < 0.1:
            return remaining + self.rng.randint(1, 1000)
        return self.rng.randint(1, max(1, remaining))

    # -- operations: each returns one submission --------------------------------------------

    def register_actor(self) -> tuple[Principal, Submission]:
        role = self.rng.choice(list(PREFIX))
        existing = self.actors()
        if self.rng.random() < 0.08:
            actor_id = self.rng.choice(existing).id  # taken: refused
        else:
            actor_id = f"{PREFIX[role]}:{self.new_id('a').lower()}"
        body: dict[str, Any] = {"actor": actor_id, "role": role}
        if role == "buyer":
            body["buyer_kind"] = self.rng.choice(["central_bank", "trader", "refiner"])
        if role == "partnership":
            body["members"] = self.rng.randint(2, 40)
        private = None
        if self.rng.random() < 0.3:
            salt = self.rng.randbytes(32)
            personal = {"name": f"Person {self.serial}", "phone": f"+976{self.serial:08d}"}
            body["personal_commitment"] = commit(salt, personal)
            private = {"personal": personal, "salt": salt.hex()}
        who = self.principal("administrator", "regulator")
        return who, Submission("actor.registered", {"occurred_at": AT, **body}, private)

    def register_site(self) -> tuple[Principal, Submission]:
        owners = self.actors("miner", "partnership") if self.rng.random() < 0.9 else []
        owner = self.pick(owners, self.rng.choice(self.actors()))
        body = {
            "site": self.new_id("SITE"),
            "owner": owner.id,
            "region": {"aimag": "Töv", "soum": self.rng.choice(["Zaamar", "Bornuur"])},
            "lat": f"48.{self.rng.randint(0, 999999):06d}",
            "lon": f"104.{self.rng.randint(0, 999999):06d}",
        }
        return self.principal("administrator", "regulator"), Submission(
            "site.registered", {"occurred_at": AT, **body}
        )

    def change_actor_status(self) -> tuple[Principal, Submission]:
        suspended = self._all(Actor, Actor.status == "suspended")
        if suspended and self.rng.random() < 0.6:  # lift suspensions, so trade goes on
            actor, status = self.rng.choice(suspended), "active"
        else:
            actor = self.rng.choice(self.actors())
            status = self.rng.choices(["active", "suspended", "revoked"], [2, 6, 1])[0]
        body = {"actor": actor.id, "status": status, "reason": "inspection"}
        return self.principal("administrator", "regulator"), Submission(
            "actor.status_changed", {"occurred_at": AT, **body}
        )

    def change_site_status(self) -> tuple[Principal, Submission]:
        site = self.pick(self._all(Site), None)
        body = {
            "site": site.id if site else "SITE-NONE",
            "status": self.rng.choices(["active", "suspended", "closed"], [5, 3, 1])[0],
            "reason": "permit review",
        }
        return self.principal("administrator", "regulator"), Submission(
            "site.status_changed", {"occurred_at": AT, **body}
        )

    def add_key(self) -> tuple[Principal, Submission]:
        who = self.principal()
        raw = self.rng.randbytes(32)  # not a real curve point is fine for a public key row
        key = {
            "key_id": actor_key_id(who.actor_id, raw),
            "public_key": base64.b64encode(raw).decode(),
        }
        return who, Submission(
            "actor.key_added", {"occurred_at": AT, "actor": who.actor_id, "key": key}
        )

    def deliver_ore(self) -> tuple[Principal, Submission]:
        who = self.principal("processing_centre")
        miners = self.actors("miner", "partnership")
        miner = self.pick(miners, self.rng.choice(self.actors()))
        sites = self._all(Site, Site.owner_id == miner.id) or self._all(Site)
        site = self.pick(sites, None)
        body = {
            "lot": self.new_id("ORE"),
            "miner": miner.id,
            "site": site.id if site else "SITE-NONE",
            "mass_g": self.rng.randint(1_000, 200_000),
            "mined_on": "2026-09-10",
        }
        return who, Submission("ore.delivered", {"occurred_at": AT, **body})

    def process(self) -> tuple[Principal, Submission]:
        ores = self._all(Lot, Lot.kind == "ore", Lot.status == "active", Lot.remaining > 0)
        if not ores:
            return self.deliver_ore()
        first = self.rng.choice(ores)
        same = [o for o in ores if o.custodian_id == first.custodian_id and o.id != first.id]
        chosen = [first, *self.rng.sample(same, min(len(same), self.rng.randint(0, 2)))]
        inputs = [{"lot": o.id, "mass_g": self.mass(o.remaining)} for o in chosen]
        ore_g = sum(i["mass_g"] for i in inputs)
        grade = self.rng.choice([2, 10, 40, 120, 400])  # g/t; 400 is out of bounds: a red flag
        gold_mg = max(2, ore_g * grade // 1000)
        outputs = [{"lot": self.new_id("DORE"), "form": "dore", "mass_mg": gold_mg}]
        if self.rng.random() < 0.3:
            outputs.append(
                {"lot": self.new_id("CONC"), "form": "concentrate", "mass_mg": gold_mg // 2 + 1}
            )
        body = {
            "run": self.new_id("RUN"),
            "inputs": inputs,
            "outputs": outputs,
            "method": self.rng.choice(["gravity", "flotation", "cyanidation"]),
            "mercury_free": self.rng.random() < 0.9,
            "started_on": "2026-09-12",
            "finished_on": "2026-09-13",
        }
        return self.as_principal(first.custodian_id), Submission(
            "processing.recorded", {"occurred_at": AT, **body}
        )

    def gold(self) -> list[Lot]:
        return self._all(Lot, Lot.kind == "gold", Lot.status == "active", Lot.remaining > 0)

    def assay(self) -> tuple[Principal, Submission]:
        lot = self.pick(self.gold(), None)
        body = {"lot": lot.id if lot else "DORE-NONE", "fineness_ppt": self.rng.randint(600, 999)}
        return self.principal("laboratory"), Submission(
            "assay.recorded", {"occurred_at": AT, **body}
        )

    def split(self) -> tuple[Principal, Submission]:
        lots = [g for g in self.gold() if g.remaining >= 2]
        if not lots:
            return self.process()
        lot = self.rng.choice(lots)
        a = self.rng.randint(1, lot.remaining - 1)
        b = lot.remaining - a + (1 if self.rng.random() < 0.1 else 0)  # sometimes too much
        body = {
            "lot": lot.id,
            "into": [
                {"lot": self.new_id("PART"), "mass_mg": a},
                {"lot": self.new_id("PART"), "mass_mg": b},
            ],
        }
        return self.as_principal(lot.custodian_id), Submission(
            "lot.split", {"occurred_at": AT, **body}
        )

    def merge(self) -> tuple[Principal, Submission]:
        gold = self.gold()
        by_custodian: dict[str, list[Lot]] = {}
        for g in gold:
            by_custodian.setdefault(g.custodian_id, []).append(g)
        groups = [v for v in by_custodian.values() if len(v) >= 2]
        if not groups:
            return self.split()
        group = self.rng.choice(groups)
        lots = self.rng.sample(group, 2)
        body = {"lots": [g.id for g in lots], "into": self.new_id("MERGED")}
        return self.as_principal(lots[0].custodian_id), Submission(
            "lots.merged", {"occurred_at": AT, **body}
        )

    def offer(self) -> tuple[Principal, Submission]:
        lots = self.gold() if self.rng.random() < 0.9 else []
        lots = lots or self._all(Lot, Lot.status == "active", Lot.remaining > 0)
        if not lots:
            return self.deliver_ore()
        lot = self.rng.choice(lots)
        buyer = self.pick(self.actors("buyer"), self.rng.choice(self.actors()))
        body: dict[str, Any] = {"offer": self.new_id("OFFER"), "lot": lot.id, "to": buyer.id}
        private = None
        if self.rng.random() < 0.5:  # the price goes off the log, bound by a commitment
            salt = self.rng.randbytes(32)
            price = {"amount": f"{self.rng.randint(1, 9_000_000)}.00", "currency": "MNT"}
            body["price_commitment"] = commit(salt, price)
            private = {"price": price, "salt": salt.hex()}
        return self.as_principal(lot.custodian_id), Submission(
            "transfer.offered", {"occurred_at": AT, **body}, private
        )

    def answer_offer(self) -> tuple[Principal, Submission]:
        offers = self._all(Offer, Offer.status == "open") or self._all(Offer)
        if not offers:
            return self.offer()
        offer = self.rng.choice(offers)
        type_ = self.rng.choices(
            ["transfer.accepted", "transfer.rejected", "transfer.cancelled"], [5, 2, 2]
        )[0]
        party = offer.from_id if type_ == "transfer.cancelled" else offer.to_id
        return self.as_principal(party), Submission(type_, {"occurred_at": AT, "offer": offer.id})

    def close_lot(self) -> tuple[Principal, Submission]:
        buyers = {a.id for a in self.actors("buyer")}
        lot = self.pick([g for g in self.gold() if g.custodian_id in buyers], None)
        if lot is None:
            return self.process()
        if self.rng.random() < 0.5:
            type_, extra = "lot.exported", {"destination": {"country": "CH", "party": "Valcambi"}}
        else:
            type_, extra = "lot.refined", {"refinery": "Mongolbank refinery"}
        return self.as_principal(lot.custodian_id), Submission(
            type_, {"occurred_at": AT, "lot": lot.id, **extra}
        )

    def open_case(self) -> tuple[Principal, Submission]:
        kind = self.rng.choices(["hold", "red_flag", "dispute"], [3, 4, 2])[0]
        targets: list[tuple[str, str]] = [("actor", a.id) for a in self.actors()]
        targets += [("site", s.id) for s in self._all(Site)]
        targets += [("lot", lot.id) for lot in self._all(Lot, Lot.status == "active")]
        if kind == "dispute" and self.rng.random() < 0.8:
            targets = [t for t in targets if t[0] == "site"] or targets
        target = self.rng.choice(targets)
        if self.rng.random() < 0.05:
            target = (target[0], "missing-9")  # unknown: refused
        body = {
            "case": self.new_id("CASE"),
            "kind": kind,
            "target": {"kind": target[0], "id": target[1]},
            "category": self.rng.choice(["other", "land_use", "suspended_supplier"]),
            "description": "raised during the random walk",
        }
        return self.principal(*OFFICERS), Submission("case.opened", {"occurred_at": AT, **body})

    def move_case(self) -> tuple[Principal, Submission]:
        cases = self._all(Case, Case.status != "resolved") or self._all(Case)
        if not cases:
            return self.open_case()
        case = self.rng.choice(cases)
        type_ = self.rng.choices(["case.responded", "case.resolved", "case.escalated"], [3, 5, 1])[
            0
        ]
        body: dict[str, Any] = {"occurred_at": AT, "case": case.id}
        if type_ == "case.responded":
            body["response"] = "our answer"
            who = (
                self.as_principal(case.target_id)
                if case.target_kind == "actor"
                else self.principal()
            )
        elif type_ == "case.resolved":
            body["resolution"] = "settled"
            who = self.principal(*OFFICERS)
        else:
            body |= {"to": "aimag governor", "reason": "beyond us"}
            who = self.principal(*OFFICERS)
        return who, Submission(type_, body)

    def correct(self) -> tuple[Principal, Submission]:
        size = self.svc.log.size()
        corrects = self.rng.randrange(size + 2)  # sometimes beyond the end: refused
        replaced = [self.rng.randrange(size + 1)] if self.rng.random() < 0.3 else []
        body = {"corrects": corrects, "reason": "typing error", "replaced_by": replaced}
        return self.principal(), Submission("correction.recorded", {"occurred_at": AT, **body})

    def nonsense(self) -> tuple[Principal, Submission]:
        """Bodies that never validate, and a type that does not exist."""
        return self.principal(), self.rng.choice(
            [
                Submission("ore.delivered", {"occurred_at": AT, "lot": "X", "mass_g": -5}),
                Submission("case.opened", {"occurred_at": "yesterday"}),
                Submission("lot.teleported", {"occurred_at": AT}),
                Submission("actor.registered", {"occurred_at": AT, "actor": "Bad Id"}),
            ]
        )

    # -- running ------------------------------------------------------------------------------

    def operations(self) -> list[tuple[Callable[[], tuple[Principal, Submission]], int]]:
        return [
            (self.register_actor, 8),
            (self.register_site, 4),
            (self.change_actor_status, 3),
            (self.change_site_status, 2),
            (self.add_key, 1),
            (self.deliver_ore, 10),
            (self.process, 8),
            (self.assay, 3),
            (self.split, 4),
            (self.merge, 3),
            (self.offer, 6),
            (self.answer_offer, 6),
            (self.close_lot, 1),
            (self.open_case, 5),
            (self.move_case, 6),
            (self.correct, 2),
            (self.nonsense, 1),
        ]

    def one(self) -> tuple[Principal, Submission]:
        if self.sent and self.rng.random() < 0.04:
            return self.rng.choice(self.sent)  # a retry, exactly as first sent
        ops = self.operations()
        op = self.rng.choices([f for f, _ in ops], [w for _, w in ops])[0]
        who, sub = op()
        if self.rng.random() < 0.15:
            sub = Submission(sub.type, sub.body, sub.private, idempotency_key=self.new_id("key"))
        self.sent.append((who, sub))
        return who, sub

    def step(self, tables: list[Table]) -> None:
        if self.rng.random() < 0.1:
            items = [self.one() for _ in range(self.rng.randint(2, 5))]
            results = self.svc.submit_many(items, atomic=self.rng.random() < 0.5)
            for r in results:
                self._count(r.error)
            return
        item = self.one()
        size, before = self.svc.log.size(), snapshot(self.engine, tables)
        (result,) = self.svc.submit_many([item], atomic=True)
        self._count(result.error)
        if result.error is not None or (result.recorded and result.recorded.replayed):
            assert self.svc.log.size() == size, item
            assert snapshot(self.engine, tables) == before, (item, result.error)

    def _count(self, error: DomainError | None) -> None:
        if error is None:
            self.recorded += 1
        else:
            assert isinstance(error, DomainError)
            self.refused += 1
            self.rules[error.rule] = self.rules.get(error.rule, 0) + 1


def _seed(svc: EventService) -> None:
    """The first administrator (recorded by the system), case officers, and a few actors."""
    assert bootstrap_administrator(svc) is not None
    admin = Principal(FIRST_ADMIN, "administrator")
    actors = [
        ("auditor:mrpam", "auditor", {}),
        ("regulator:tov", "regulator", {}),
        ("partnership:tuul", "partnership", {"members": 12}),
        ("miner:bat", "miner", {}),
        ("centre:bornuur", "processing_centre", {}),
        ("centre:zaamar", "processing_centre", {}),
        ("buyer:mongolbank", "buyer", {"buyer_kind": "central_bank"}),
        ("buyer:gobi", "buyer", {"buyer_kind": "trader"}),
        ("lab:ulaanbaatar", "laboratory", {}),
    ]
    for actor_id, role, extra in actors:
        body = {"occurred_at": AT, "actor": actor_id, "role": role, **extra}
        svc.submit(admin, Submission("actor.registered", body))
    for n, owner in enumerate(["partnership:tuul", "miner:bat"]):
        body = {
            "occurred_at": AT,
            "site": f"SITE-SEED-{n}",
            "owner": owner,
            "region": {"aimag": "Töv", "soum": "Zaamar"},
            "lat": "48.100000",
            "lon": "104.100000",
        }
        svc.submit(admin, Submission("site.registered", body))


@pytest.mark.parametrize("seed", [20260914])
def test_rebuilt_state_equals_live_state(log: Log, clock: Clock, seed: int) -> None:
    engine = log.engine
    Base.metadata.create_all(engine)
    svc = EventService(log, Settings(require_signatures=False), clock)
    _seed(svc)
    tables = projection_tables()
    names = {t.name for t in tables}
    assert {"actors", "sites", "lots", "cases", "corrections", "lot_events"} <= names
    assert names.isdisjoint(OFF_LOG)

    sim = Simulation(svc, engine, random.Random(seed))
    for _ in range(300):
        sim.step(tables)
    live = snapshot(engine, tables)
    kept = snapshot(engine, off_log_tables())
    map_tables = [state_values, state_nodes, state_tips, state_head]
    live_map = snapshot(engine, map_tables)
    assert len(live_map["state_values"]) > 10 and live_map["state_head"]
    assert sim.recorded > 100 and sim.refused > 20, (sim.recorded, sim.refused, sim.rules)
    assert len(live["actors"]) > 20 and live["cases"], {k: len(v) for k, v in live.items()}
    for name in ("personal_records", "api_tokens", "idempotency_records", "offer_prices"):
        assert kept[name], f"the walk left {name} empty: the off-log check would prove nothing"

    with storage.write_transaction(engine) as conn:
        replayed = rebuild(conn)
    assert replayed == log.size()

    rebuilt = snapshot(engine, tables)
    for name in live:
        assert rebuilt[name] == live[name], name
    assert snapshot(engine, off_log_tables()) == kept
    # the lot-state map too, node for node, its root the one the last state.root holds
    assert snapshot(engine, map_tables) == live_map


def test_rebuild_is_repeatable_and_transactional(log: Log, clock: Clock) -> None:
    """Rebuild twice in a row gives the same state; a rolled-back rebuild leaves it as is."""
    engine = log.engine
    Base.metadata.create_all(engine)
    svc = EventService(log, Settings(require_signatures=False), clock)
    _seed(svc)
    tables = projection_tables()
    live = snapshot(engine, tables)
    for _ in range(2):
        with storage.write_transaction(engine) as conn:
            rebuild(conn)
        assert snapshot(engine, tables) == live

    class Abort(Exception):
        pass

    with pytest.raises(Abort), storage.write_transaction(engine) as conn:
        rebuild(conn)
        raise Abort
    assert snapshot(engine, tables) == live
