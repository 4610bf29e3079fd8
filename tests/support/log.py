"""Sample events for tests that fill a log directly (no HTTP)."""

from __future__ import annotations

from ledger.entry import Event


def event(i: int) -> Event:
    return Event(
        type="ore.delivered",
        actor="centre:zaamar",
        body={
            "lot": f"ORE-2026-{i:06d}",
            "mass_kg": "1200.5",
            "region": {"aimag": "Töv", "soum": "Заамар"},
        },
    )
