"""A believable Mongolian season, recorded through the real domain.

The administrator registers a regulator, an auditor, the central bank's assay laboratory,
three processing centres (Bornuur and Zaamar in Töv, Mandal in Selenge) and buyers (the
Bank of Mongolia, a commercial bank, licensed traders); the regulator registers
partnerships of 3-10 micro-miners and their sites in the gold soums of DOMAIN.md; centres
receive ore (1-3 t a delivery), process it into doré by gravity (1-30 g/t, now and then
an implausibly rich run that the yield rule flags), the laboratory assays, centres offer
the doré to buyers at a price kept off the log, buyers accept or reject; the auditor puts
a hold on a supplier now and then and lifts it; herders and a licence holder dispute a
site. Every write goes through the same pipeline as the API, so every rule applies.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from ledger.commitment import commit, new_salt
from services import roles
from services.identity import Principal
from services.pipeline.service import EventService, Submission

REGIONS = [
    ("Töv", "Bornuur", "48.51", "106.27"),
    ("Töv", "Zaamar", "48.23", "104.78"),
    ("Selenge", "Mandal", "48.45", "106.78"),
    ("Selenge", "Tünkhel", "48.80", "106.55"),
    ("Bayankhongor", "Bayan-Öndör", "46.49", "100.32"),
    ("Övörkhangai", "Uyanga", "46.47", "102.29"),
    ("Dundgovi", "Khuld", "45.11", "105.55"),
]
CENTRES = [
    ("centre:bornuur", "Töv", "Bornuur"),
    ("centre:zaamar", "Töv", "Zaamar"),
    ("centre:mandal", "Selenge", "Mandal"),
]
BUYERS = [
    ("buyer:bank-of-mongolia", "central_bank"),
    ("buyer:khan-bank", "bank"),
    ("buyer:trader-0007", "trader"),
    ("buyer:trader-0113", "trader"),
]
ADMIN = Principal("admin:root", roles.ADMINISTRATOR)
REGULATOR = Principal("regulator:mrpam", roles.REGULATOR)
AUDITOR = Principal("auditor:asm-federation", roles.AUDITOR)
LAB = Principal("lab:bom-darkhan", roles.LABORATORY)
BATCH = 200


@dataclass
class Season:
    """What the demo knows of the state it builds, to make only sensible requests."""

    rnd: random.Random
    day: int = 0
    partnerships: list[tuple[str, str]] = field(default_factory=list)  # (actor, site)
    ore: dict[str, list[tuple[str, int, str]]] = field(default_factory=dict)  # centre -> lots
    held: dict[str, str] = field(default_factory=dict)  # case -> partnership on hold
    gold: list[tuple[str, str]] = field(default_factory=list)  # (lot, custodian)
    offers: list[tuple[str, str, str]] = field(default_factory=list)  # (offer, lot, buyer)
    counter: int = 0

    def when(self) -> str:
        self.day = min(self.day + self.rnd.choice((0, 0, 1)), 80)
        month, dom = (8 + self.day // 28, 1 + self.day % 28)
        return f"2026-{month:02d}-{dom:02d}T{self.rnd.randint(8, 18):02d}:00:00+08:00"

    def next_id(self, prefix: str) -> str:
        self.counter += 1
        return f"{prefix}-2026-{self.counter:06d}"


def _sub(type_: str, body: dict[str, Any], private: dict[str, Any] | None = None) -> Submission:
    return Submission(type=type_, body=body, private=private)


def _setup(s: Season) -> Iterator[tuple[Principal, Submission]]:
    t = s.when()
    for actor, role in [
        (REGULATOR.actor_id, roles.REGULATOR),
        (AUDITOR.actor_id, roles.AUDITOR),
        (LAB.actor_id, roles.LABORATORY),
    ]:
        yield ADMIN, _sub("actor.registered", {"occurred_at": t, "actor": actor, "role": role})
    for actor, aimag, soum in CENTRES:
        yield (
            ADMIN,
            _sub(
                "actor.registered",
                {
                    "occurred_at": t,
                    "actor": actor,
                    "role": roles.PROCESSING_CENTRE,
                    "licence": {
                        "number": f"PC-{soum[:3].upper()}-2008",
                        "valid_from": "2008-06-01",
                    },
                    "region": {"aimag": aimag, "soum": soum},
                },
            ),
        )
        s.ore[actor] = []
    for actor, kind in BUYERS:
        yield (
            ADMIN,
            _sub(
                "actor.registered",
                {"occurred_at": t, "actor": actor, "role": roles.BUYER, "buyer_kind": kind},
            ),
        )


def _partnership(s: Season) -> Iterator[tuple[Principal, Submission]]:
    n = len(s.partnerships) + 1
    aimag, soum, lat, lon = s.rnd.choice(REGIONS)
    actor, site = f"partnership:p{n:04d}", f"SITE-{n:04d}"
    personal = {
        "name": f"Partnership no. {n} of {soum}",
        "contact_phone": f"+976 99{s.rnd.randint(100000, 999999)}",
    }
    salt = new_salt()
    t = s.when()
    yield (
        REGULATOR,
        _sub(
            "actor.registered",
            {
                "occurred_at": t,
                "actor": actor,
                "role": roles.PARTNERSHIP,
                "members": s.rnd.randint(3, 10),
                "region": {"aimag": aimag, "soum": soum},
                "licence": {
                    "number": f"ASM-{soum[:3].upper()}-{n:04d}",
                    "valid_from": "2022-05-01",
                },
                "personal_commitment": commit(salt, personal),
            },
            {"personal": personal, "salt": salt.hex()},
        ),
    )
    yield (
        REGULATOR,
        _sub(
            "site.registered",
            {
                "occurred_at": t,
                "site": site,
                "owner": actor,
                "region": {"aimag": aimag, "soum": soum},
                "lat": f"{float(lat) + s.rnd.uniform(-0.2, 0.2):.5f}",
                "lon": f"{float(lon) + s.rnd.uniform(-0.2, 0.2):.5f}",
                "capacity_g_per_year": s.rnd.randint(2, 40) * 1000,
            },
        ),
    )
    s.partnerships.append((actor, site))


def _delivery(s: Season) -> Iterator[tuple[Principal, Submission]]:
    free = [p for p in s.partnerships if p[0] not in s.held.values()]
    actor, site = s.rnd.choice(free or s.partnerships)
    centre = s.rnd.choice(CENTRES)[0]
    lot, grams = s.next_id("ORE"), s.rnd.randint(1000, 3000) * 1000
    t = s.when()
    s.ore[centre].append((lot, grams, actor))
    yield (
        Principal(centre, roles.PROCESSING_CENTRE),
        _sub(
            "ore.delivered",
            {
                "occurred_at": t,
                "lot": lot,
                "miner": actor,
                "site": site,
                "mass_g": grams,
                "mined_on": t[:10],
                "moisture_permille": s.rnd.randint(20, 80),
            },
        ),
    )


def _processing(s: Season, centre: str) -> Iterator[tuple[Principal, Submission]]:
    held = set(s.held.values())
    usable = [lot for lot in s.ore[centre] if lot[2] not in held]
    inputs = usable[:3]
    s.ore[centre] = [lot for lot in s.ore[centre] if lot not in inputs]
    ore_g = sum(g for _, g, _ in inputs)
    grade = s.rnd.uniform(160, 220) if s.rnd.random() < 0.03 else s.rnd.uniform(1, 30)
    gold_mg = max(1, int(ore_g * grade / 1000))
    lot, t = s.next_id("AU"), s.when()
    yield (
        Principal(centre, roles.PROCESSING_CENTRE),
        _sub(
            "processing.recorded",
            {
                "occurred_at": t,
                "run": s.next_id("RUN"),
                "inputs": [{"lot": lot_id, "mass_g": g} for lot_id, g, _ in inputs],
                "outputs": [{"lot": lot, "form": "dore", "mass_mg": gold_mg}],
                "tailings_g": ore_g - (gold_mg + 999) // 1000,
                "method": "gravity",
                "mercury_free": True,
                "started_on": t[:10],
                "finished_on": t[:10],
            },
        ),
    )
    yield (
        LAB,
        _sub(
            "assay.recorded",
            {"occurred_at": t, "lot": lot, "fineness_ppt": s.rnd.randint(700, 920)},
        ),
    )
    # every gold lot is certified before it is offered; a sale then reissues it to the buyer
    yield (
        Principal(centre, roles.PROCESSING_CENTRE),
        _sub("certificate.requested", {"occurred_at": t, "lot": lot}),
    )
    s.gold.append((lot, centre))


def _offer(s: Season) -> Iterator[tuple[Principal, Submission]]:
    lot, centre = s.gold.pop(0)
    buyer = s.rnd.choice(BUYERS)[0]
    price = {
        "amount": f"{s.rnd.randint(180_000, 240_000)}.00",
        "currency": "MNT",
        "note": "per gram of fine gold",
    }
    salt, offer = new_salt(), s.next_id("OFFER")
    yield (
        Principal(centre, roles.PROCESSING_CENTRE),
        _sub(
            "transfer.offered",
            {
                "occurred_at": s.when(),
                "offer": offer,
                "lot": lot,
                "to": buyer,
                "price_commitment": commit(salt, price),
            },
            {"price": price, "salt": salt.hex()},
        ),
    )
    s.offers.append((offer, lot, buyer))


def _answer(s: Season) -> Iterator[tuple[Principal, Submission]]:
    offer, _lot, buyer = s.offers.pop(0)
    if s.rnd.random() < 0.85:
        yield (
            Principal(buyer, roles.BUYER),
            _sub("transfer.accepted", {"occurred_at": s.when(), "offer": offer}),
        )
    else:
        yield (
            Principal(buyer, roles.BUYER),
            _sub(
                "transfer.rejected",
                {"occurred_at": s.when(), "offer": offer, "reason": "fineness below contract"},
            ),
        )


def _case(s: Season) -> Iterator[tuple[Principal, Submission]]:
    if s.held and s.rnd.random() < 0.6:
        case = next(iter(s.held))
        del s.held[case]
        yield (
            AUDITOR,
            _sub(
                "case.resolved",
                {"occurred_at": s.when(), "case": case, "resolution": "documents checked on site"},
            ),
        )
        return
    actor, _site = s.rnd.choice(s.partnerships)
    case = s.next_id("HOLD")
    yield (
        AUDITOR,
        _sub(
            "case.opened",
            {
                "occurred_at": s.when(),
                "case": case,
                "kind": "hold",
                "target": {"kind": "actor", "id": actor},
                "category": "capacity_inconsistent",
                "description": "deliveries above the site's known capacity this month",
            },
        ),
    )
    s.held[case] = actor


def _dispute(s: Season) -> Iterator[tuple[Principal, Submission]]:
    _, site = s.partnerships[0]
    yield (
        REGULATOR,
        _sub(
            "case.opened",
            {
                "occurred_at": s.when(),
                "case": "DISPUTE-2026-0001",
                "kind": "dispute",
                "target": {"kind": "site", "id": site},
                "category": "land_use",
                "description": "herders report the site's pits cut a winter pasture; a large-scale "
                "licence holder claims the area",
                "parties": ["herders of the bag", "LSM licence holder", "soum governor"],
            },
        ),
    )


def season(seed: int) -> Iterator[tuple[Principal, Submission]]:
    """An endless, deterministic stream of sensible requests."""
    s = Season(random.Random(seed))  # noqa: S311 - demo data, not secrets
    yield from _setup(s)
    for _ in range(3):
        yield from _partnership(s)
    yield from _dispute(s)
    while True:
        roll = s.rnd.random()
        held = set(s.held.values())
        ready = [c for c, lots in s.ore.items() if len([x for x in lots if x[2] not in held]) >= 3]
        if roll < 0.05 or len(s.partnerships) < 3:
            yield from _partnership(s)
        elif roll < 0.55 or not ready:
            yield from _delivery(s)
        elif roll < 0.75:
            yield from _processing(s, s.rnd.choice(ready))
        elif roll < 0.87 and s.gold:
            yield from _offer(s)
        elif roll < 0.97 and s.offers:
            yield from _answer(s)
        else:
            yield from _case(s)


def fill_demo(events: EventService, n: int, *, seed: int) -> tuple[int, int]:
    """Record about `n` events (at least n); return (recorded, refused). Refusals are
    requests the rules turned down (a held supplier's delivery, say): the demo shows the
    rules at work rather than dodging them."""
    recorded = refused = 0
    stream = season(seed)
    while recorded < n:
        batch = [next(stream) for _ in range(min(BATCH, n - recorded))]
        for result in events.submit_many(batch, atomic=False):
            if result.error is None:
                recorded += 1
            else:
                refused += 1
    return recorded, refused
