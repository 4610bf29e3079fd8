"""Realistic demo data: a season of artisanal gold moving through a few processing centres.

Until the supply-chain domain exists, demo events go straight into the log with the shape
the domain will give them. Masses are decimal strings (kg for ore, g for gold) so that no
float rounding ever enters a hashed entry. Figures follow ../shared/DOMAIN.md: partnerships
of 3-10 miners, ore at 1-30 g/t, doré around 700-900 parts per thousand fine.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Any

from ledger.entry import Event
from ledger.log import Log

REGIONS = [
    ("Töv", "Bornuur"),
    ("Töv", "Zaamar"),
    ("Selenge", "Mandal"),
    ("Selenge", "Tünkhel"),
    ("Bayankhongor", "Bayan-Öndör"),
    ("Övörkhangai", "Uyanga"),
    ("Dundgovi", "Khuld"),
]
BATCH = 1000


def _events(n: int, rnd: random.Random) -> Iterator[Event]:
    regulator = "regulator:mrpam"
    centres = [f"centre:{soum.lower()}" for _, soum in REGIONS[:3]]
    buyers = ["buyer:bank-of-mongolia", "buyer:khan-bank", "buyer:trader-0007"]
    count = 0

    def emit(type_: str, actor: str, body: dict[str, Any]) -> Event:
        return Event(type=type_, actor=actor, body=body)

    for c, (aimag, soum) in zip(centres, REGIONS, strict=False):
        yield emit(
            "actor.registered",
            regulator,
            {
                "actor": c,
                "role": "processing_centre",
                "licence": f"PC-{soum[:3].upper()}-2008",
                "region": {"aimag": aimag, "soum": soum},
            },
        )
        count += 1
    lot_no = 0
    gold_no = 0
    partnerships: list[tuple[str, str, tuple[str, str]]] = []
    stock: dict[str, list[tuple[str, int]]] = {c: [] for c in centres}  # ore lots, grams of ore
    while count < n:
        roll = rnd.random()
        if not partnerships or roll < 0.08:
            region = rnd.choice(REGIONS)
            pid = f"partnership:{len(partnerships) + 1:04d}"
            site = f"site:{len(partnerships) + 1:04d}"
            partnerships.append((pid, site, region))
            yield emit(
                "actor.registered",
                regulator,
                {
                    "actor": pid,
                    "role": "partnership",
                    "members": rnd.randint(3, 10),
                    "licence": f"ASM-{region[1][:3].upper()}-{rnd.randint(100, 999)}",
                    "region": {"aimag": region[0], "soum": region[1]},
                },
            )
            count += 1
            if count < n:
                yield emit(
                    "site.registered",
                    regulator,
                    {
                        "site": site,
                        "owner": pid,
                        "region": {"aimag": region[0], "soum": region[1]},
                        "lat": f"{47 + rnd.random() * 2:.5f}",
                        "lon": f"{105 + rnd.random() * 2:.5f}",
                    },
                )
                count += 1
        elif roll < 0.7:
            pid, site, _ = rnd.choice(partnerships)
            centre = rnd.choice(centres)
            lot_no += 1
            lot = f"ORE-2026-{lot_no:06d}"
            kg = rnd.randint(200, 3000)
            stock[centre].append((lot, kg))
            yield emit(
                "ore.delivered",
                centre,
                {
                    "lot": lot,
                    "miner": pid,
                    "site": site,
                    "mass_kg": f"{kg}.0",
                    "mined_on": f"2026-08-{rnd.randint(1, 28):02d}",
                    "received_at": f"2026-09-{rnd.randint(1, 28):02d}T"
                    f"{rnd.randint(8, 17):02d}:00:00+08:00",
                },
            )
            count += 1
        else:
            centre = rnd.choice(centres)
            if len(stock[centre]) < 2:
                continue
            inputs, stock[centre] = stock[centre][:3], stock[centre][3:]
            ore_kg = sum(kg for _, kg in inputs)
            grade = rnd.uniform(1.0, 30.0)  # g/t
            gold_g = max(1, round(ore_kg * grade / 1000))
            gold_no += 1
            gold = f"AU-2026-{gold_no:05d}"
            yield emit(
                "processing.recorded",
                centre,
                {
                    "inputs": [{"lot": lot, "mass_kg": f"{kg}.0"} for lot, kg in inputs],
                    "outputs": [{"lot": gold, "form": "dore", "mass_g": f"{gold_g}.0"}],
                    "method": rnd.choice(["gravity", "gravity", "flotation"]),
                    "mercury_free": True,
                },
            )
            count += 1
            if count < n:
                yield emit(
                    "assay.recorded",
                    "lab:bom-darkhan",
                    {
                        "lot": gold,
                        "fineness_ppt": rnd.randint(700, 920),
                    },
                )
                count += 1
            if count < n:
                yield emit("transfer.offered", centre, {"lot": gold, "to": rnd.choice(buyers)})
                count += 1


def fill_demo(log: Log, n: int, *, seed: int, clock: Callable[[], datetime]) -> int:
    """Append `n` demo events in batches; return the log's size afterwards."""
    rnd = random.Random(seed)  # noqa: S311 - demo data, not secrets
    batch: list[Event] = []
    size = log.size()
    for ev in _events(n, rnd):
        batch.append(ev)
        if len(batch) == BATCH:
            size = log.append(batch, clock()).size
            batch = []
    if batch:
        size = log.append(batch, clock()).size
    return size
