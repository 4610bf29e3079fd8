"""Lot states two ways, for tests/ledger/test_lotstate.py: projected from the log's entries by
the pure `ledger.lotstate.LotStates`, and read from the service's projection tables; plus
`Chaos`, a seeded driver that records every kind of event touching a lot through the real
pipeline (splits, merges, exports, refining, certificates requested and revoked, holds on
lots opened, answered, escalated and lifted, corrections), refusals and all."""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from ledger.entry import Entry
from ledger.lotstate import LotStates
from ledger.sql import storage
from ledger.statemap import LotState
from services import roles
from services.actors.models import Actor, Site
from services.cases.models import Case
from services.certificates.models import CertificateRecord
from services.certificates.queries import current_certificate
from services.identity import Principal
from services.lots.models import Lot, LotEvent, Offer
from services.lots.queries import BLOCKING_STATUSES
from services.pipeline.service import EventService, Submission

WHEN = "2026-10-30T10:00:00+08:00"


# --- the two sides ---------------------------------------------------------------------------


def log_entries(engine: Engine) -> list[Entry]:
    """Every entry of the log, in index order."""
    with engine.connect() as conn:
        size = storage.read_size(conn)
        rows = storage.read_entries(conn, 0, size)
    assert [r.index for r in rows] == list(range(size))
    return [Entry.from_bytes(r.entry) for r in rows]


def projected(entries: list[Entry]) -> LotStates:
    states = LotStates()
    for entry in entries:
        states.apply(entry)
    return states


def service_states(engine: Engine) -> dict[str, LotState]:
    """Every lot's state as the service's tables say: `lots` (status, custodian, owner,
    remaining), `certificates` (the service's own `current_certificate`), `lot_events`
    (the latest index) and `cases` (holds of kind "hold" on the lot, still blocking)."""
    with Session(engine) as s:
        latest: dict[str, int] = {
            str(lot_id): int(index)
            for lot_id, index in s.execute(
                select(LotEvent.lot_id, func.max(LotEvent.index)).group_by(LotEvent.lot_id)
            ).all()
        }
        holds: dict[str, list[str]] = {}
        for case in s.scalars(
            select(Case).where(
                Case.kind == "hold",
                Case.target_kind == "lot",
                Case.status.in_(BLOCKING_STATUSES),
            )
        ):
            holds.setdefault(case.target_id, []).append(case.id)
        revoked: dict[str, list[str]] = {}
        for cert_id, lot_id in s.execute(
            select(CertificateRecord.id, CertificateRecord.lot_id).where(
                CertificateRecord.revoked_index.is_not(None)
            )
        ):
            revoked.setdefault(lot_id, []).append(cert_id)
        out: dict[str, LotState] = {}
        for lot in s.scalars(select(Lot)):
            cert = current_certificate(s, lot.id)
            out[lot.id] = LotState(
                status=lot.status,
                custodian=lot.custodian_id,
                owner=lot.owner_id,
                certificate=None if cert is None else cert.id,
                mass_left=lot.remaining,
                latest_index=int(latest[lot.id]),
                holds=tuple(sorted(holds.get(lot.id, []))),
                revoked=tuple(sorted(revoked.get(lot.id, []))),
            )
        orphans = set(latest) - set(out)
        assert not orphans, f"history rows of lots that do not exist: {sorted(orphans)[:5]}"
    return out


def service_certificates(engine: Engine) -> dict[str, str]:
    """Certificate id -> lot id, as the `certificates` table says."""
    with Session(engine) as s:
        rows = s.execute(select(CertificateRecord.id, CertificateRecord.lot_id)).all()
        return {str(cert): str(lot) for cert, lot in rows}


def differences(
    projection: LotStates, tables: dict[str, LotState]
) -> list[tuple[str, str, Any, Any]]:
    """(lot, field, projected, tables) for every field that differs, lots missing included."""
    found: list[tuple[str, str, Any, Any]] = []
    for lot_id in sorted(set(projection.lot_ids()) | set(tables)):
        mine, theirs = projection.state(lot_id), tables.get(lot_id)
        if mine is None or theirs is None:
            found.append((lot_id, "exists", mine is not None, theirs is not None))
            continue
        a, b = mine.to_json(), theirs.to_json()
        found.extend((lot_id, k, a[k], b[k]) for k in a if a[k] != b[k])
    return found


# --- the chaos driver -------------------------------------------------------------------------


@dataclass
class Chaos:
    """Random, mostly sensible requests over whatever the tables hold, through the real
    pipeline (`EventService.submit_many`); refusals are counted, not avoided."""

    events: EventService
    engine: Engine
    rnd: random.Random
    counter: int = 0
    recorded: Counter[str] = field(default_factory=Counter)
    refused: Counter[str] = field(default_factory=Counter)

    def _id(self, prefix: str) -> str:
        self.counter += 1
        return f"{prefix}-X{self.rnd.randrange(10**6):06d}-{self.counter}"

    def _submit(self, actor: str, role: str, type_: str, body: dict[str, Any], **kw: Any) -> None:
        sub = Submission(type=type_, body={"occurred_at": WHEN, **body}, **kw)
        (result,) = self.events.submit_many([(Principal(actor, role), sub)], atomic=True)
        (self.recorded if result.error is None else self.refused)[type_] += 1

    def _role(self, s: Session, actor: str) -> str:
        row = s.get(Actor, actor)
        return row.role if row is not None else roles.BUYER

    def _actors(self, s: Session, *role: str) -> list[str]:
        return list(s.scalars(select(Actor.id).where(Actor.role.in_(role)).order_by(Actor.id)))

    def _lots(self, s: Session, kind: str, status: str | None = "active") -> list[Lot]:
        stmt = select(Lot).where(Lot.kind == kind).order_by(Lot.created_index, Lot.id)
        if status is not None:
            stmt = stmt.where(Lot.status == status)
        return list(s.scalars(stmt))

    def step(self) -> None:
        """One random operation."""
        ops = [
            (self.deliver, 3),
            (self.process, 3),
            (self.assay, 2),
            (self.split, 3),
            (self.merge, 2),
            (self.offer, 4),
            (self.answer, 4),
            (self.terminal, 2),
            (self.request_certificate, 3),
            (self.revoke, 1),
            (self.open_case, 3),
            (self.move_case, 4),
            (self.correct, 1),
        ]
        op = self.rnd.choices([o for o, _ in ops], weights=[w for _, w in ops])[0]
        with Session(self.engine) as s:
            op(s)

    def run(self, steps: int) -> None:
        for _ in range(steps):
            self.step()

    def deliver(self, s: Session) -> None:
        sites = list(s.scalars(select(Site).order_by(Site.id)))
        centres = self._actors(s, roles.PROCESSING_CENTRE)
        if not sites or not centres:
            return
        site = self.rnd.choice(sites)
        body = {
            "lot": self._id("ORE"),
            "miner": site.owner_id,
            "site": site.id,
            "mass_g": self.rnd.randint(1, 3000) * 1000,
            "mined_on": "2026-10-29",
        }
        self._submit(self.rnd.choice(centres), roles.PROCESSING_CENTRE, "ore.delivered", body)

    def process(self, s: Session) -> None:
        ore = self._lots(s, "ore")
        if not ore:
            return
        centre = self.rnd.choice(ore).custodian_id
        mine = [lot for lot in ore if lot.custodian_id == centre]
        inputs = self.rnd.sample(mine, min(len(mine), self.rnd.randint(1, 3)))
        used = [
            (
                lot.id,
                lot.remaining if self.rnd.random() < 0.5 else self.rnd.randint(1, lot.remaining),
            )
            for lot in inputs
        ]
        ore_g = sum(g for _, g in used)
        outputs = [
            {
                "lot": self._id("AU"),
                "form": self.rnd.choice(["dore", "dore", "concentrate"]),
                "mass_mg": max(1, ore_g * self.rnd.randint(2, 25) // 1000 // 2),
            }
            for _ in range(self.rnd.choice([1, 1, 2]))
        ]
        body = {
            "run": self._id("RUN"),
            "inputs": [{"lot": lot_id, "mass_g": g} for lot_id, g in used],
            "outputs": outputs,
            "method": "gravity",
            "mercury_free": True,
            "started_on": "2026-10-29",
            "finished_on": "2026-10-30",
        }
        self._submit(centre, roles.PROCESSING_CENTRE, "processing.recorded", body)

    def assay(self, s: Session) -> None:
        gold = self._lots(s, "gold")
        labs = self._actors(s, roles.LABORATORY)
        if gold and labs:
            body = {"lot": self.rnd.choice(gold).id, "fineness_ppt": self.rnd.randint(600, 999)}
            self._submit(labs[0], roles.LABORATORY, "assay.recorded", body)

    def split(self, s: Session) -> None:
        gold = [lot for lot in self._lots(s, "gold") if lot.remaining >= 3]
        if not gold:
            return
        lot = self.rnd.choice(gold)
        loss = self.rnd.choice([0, 0, 1])
        left = lot.remaining - loss
        cut = self.rnd.randint(1, left - 1)
        body: dict[str, Any] = {
            "lot": lot.id,
            "into": [
                {"lot": self._id("AU"), "mass_mg": cut},
                {"lot": self._id("AU"), "mass_mg": left - cut},
            ],
        }
        if loss:
            body |= {"loss_mg": loss, "loss_reason": "remelting"}
        self._submit(lot.custodian_id, self._role(s, lot.custodian_id), "lot.split", body)

    def merge(self, s: Session) -> None:
        gold = self._lots(s, "gold")
        if not gold:
            return
        holder = self.rnd.choice(gold).custodian_id
        mine = [lot for lot in gold if lot.custodian_id == holder]
        if len(mine) < 2:
            return
        picked = self.rnd.sample(mine, min(len(mine), self.rnd.randint(2, 3)))
        body = {"lots": [lot.id for lot in picked], "into": self._id("AU")}
        self._submit(holder, self._role(s, holder), "lots.merged", body)

    def offer(self, s: Session) -> None:
        gold = self._lots(s, "gold")
        to = self._actors(s, roles.BUYER, roles.PROCESSING_CENTRE)
        if not gold or not to:
            return
        lot = self.rnd.choice(gold)
        body = {"offer": self._id("OFFER"), "lot": lot.id, "to": self.rnd.choice(to)}
        self._submit(lot.custodian_id, self._role(s, lot.custodian_id), "transfer.offered", body)

    def answer(self, s: Session) -> None:
        offers = list(s.scalars(select(Offer).where(Offer.status == "open").order_by(Offer.id)))
        if not offers:
            return
        offer = self.rnd.choice(offers)
        kind = self.rnd.choice(["accepted", "accepted", "rejected", "cancelled"])
        who = offer.from_id if kind == "cancelled" else offer.to_id
        self._submit(who, self._role(s, who), f"transfer.{kind}", {"offer": offer.id})

    def terminal(self, s: Session) -> None:
        buyers = set(self._actors(s, roles.BUYER))
        gold = [lot for lot in self._lots(s, "gold") if lot.custodian_id in buyers]
        if not gold:
            return
        lot = self.rnd.choice(gold)
        destination = {"country": "CH", "party": "a refinery in Ticino"}
        if self.rnd.random() < 0.5:
            type_, body = "lot.exported", {"lot": lot.id, "destination": destination}
        else:
            type_, body = "lot.refined", {"lot": lot.id, "refinery": "Argor"}
        self._submit(lot.custodian_id, roles.BUYER, type_, body)

    def request_certificate(self, s: Session) -> None:
        gold = self._lots(s, "gold")
        if not gold:
            return
        lot = self.rnd.choice(gold)
        if self.rnd.random() < 0.3:
            who, role = self._actors(s, roles.REGULATOR)[0], roles.REGULATOR
        else:
            who, role = lot.custodian_id, self._role(s, lot.custodian_id)
        self._submit(who, role, "certificate.requested", {"lot": lot.id})

    def revoke(self, s: Session) -> None:
        certs = list(
            s.scalars(
                select(CertificateRecord.id)
                .where(CertificateRecord.revoked_index.is_(None))
                .order_by(CertificateRecord.id)
            )
        )
        if certs:
            body = {"certificate": self.rnd.choice(certs), "reason": "issued on a forged assay"}
            self._submit(
                self._actors(s, roles.REGULATOR)[0], roles.REGULATOR, "certificate.revoked", body
            )

    def open_case(self, s: Session) -> None:
        lots = list(s.scalars(select(Lot.id).order_by(Lot.id)))
        if not lots:
            return
        if self.rnd.random() < 0.8:
            target = {"kind": "lot", "id": self.rnd.choice(lots)}
        else:
            target = {
                "kind": "actor",
                "id": self.rnd.choice(self._actors(s, roles.PROCESSING_CENTRE)),
            }
        body = {
            "case": self._id("CASE"),
            "kind": self.rnd.choice(["hold", "hold", "red_flag"]),
            "target": target,
            "category": "other",
            "description": "documents do not match the delivery",
        }
        self._submit(self._actors(s, roles.AUDITOR)[0], roles.AUDITOR, "case.opened", body)

    def move_case(self, s: Session) -> None:
        cases = list(s.scalars(select(Case).order_by(Case.id)))
        if not cases:
            return
        case = self.rnd.choice(cases)
        auditor = self._actors(s, roles.AUDITOR)[0]
        roll = self.rnd.random()
        if roll < 0.35:
            lot = s.get(Lot, case.target_id) if case.target_kind == "lot" else None
            who = lot.custodian_id if lot is not None else auditor
            body = {"case": case.id, "response": "papers sent"}
            self._submit(who, self._role(s, who), "case.responded", body)
        elif roll < 0.55:
            body = {"case": case.id, "to": "the regulator", "reason": "no answer"}
            self._submit(auditor, roles.AUDITOR, "case.escalated", body)
        else:
            body = {"case": case.id, "resolution": "checked on site"}
            self._submit(auditor, roles.AUDITOR, "case.resolved", body)

    def correct(self, s: Session) -> None:
        with self.engine.connect() as conn:
            size = storage.read_size(conn)
        if size > 1:
            body = {"corrects": self.rnd.randrange(size - 1), "reason": "wrong figure"}
            self._submit(
                self._actors(s, roles.REGULATOR)[0], roles.REGULATOR, "correction.recorded", body
            )
