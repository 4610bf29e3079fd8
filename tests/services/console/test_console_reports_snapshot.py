"""The regulator's report page reads a precomputed snapshot (services/reports/snapshots.py),
never computing inline: "being prepared" before the first one, a snapshot equal to a
direct call of the report functions at its tree size (SQLite and PostgreSQL, whose upsert
differs), "as of entry N (checkpoint size M)" on the page, a newer snapshot once the log
grew and a refresh ran, the lifespan's background refresher, and the page's time measured.
"""

from __future__ import annotations

import json
import statistics
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.orm import Session

from ledger.sql import storage
from services.console import glossary
from services.reports import snapshots
from services.reports.mass_balance import mass_balance
from services.reports.red_flags import red_flags
from support.certificates import CENTRE, World
from support.console import Console, running_console
from support.console_officers import REG_CLERK, add_officer_staff
from support.db import Database, database_url

PAGE = "/app/officer/reports"


def _season(c: Console) -> None:
    """Deliveries, runs (their yields out of bounds: red flags) and ore left in stock."""
    world = World(c.api)
    for n in range(3):
        world.gold(f"GOLD-S{n}", 2_000 + n)
    world.deliver("ORE-LEFT", 12_000)
    world.deliver("ORE-RICH", 1_000)  # 1 g of gold from 1 kg of ore: 1000 g/t, a red flag
    body = {
        "run": "RUN-RICH",
        "inputs": [{"lot": "ORE-RICH", "mass_g": 1_000}],
        "outputs": [{"lot": "GOLD-RICH", "form": "dore", "mass_mg": 1_000}],
        "method": "gravity",
        "mercury_free": True,
        "started_on": "2026-09-12",
        "finished_on": "2026-09-13",
    }
    c.api.ok(CENTRE, "processing.recorded", body)


@pytest.fixture
def console(tmp_path: Path) -> Iterator[Console]:
    with running_console(tmp_path, report_refresh_s=0) as c:  # refreshed by hand below
        add_officer_staff(c.api)
        assert c.sign_in(REG_CLERK).status_code == 303
        yield c


def _app(c: Console) -> Any:
    return c.client.app


def _refresh(c: Console, every_s: float = 0) -> list[str]:
    app = _app(c)
    return snapshots.refresh(
        app.state.runtime.engine,
        app.state.read_log.engine,
        app.state.settings,
        app.state.events.clock(),
        every_s=every_s,
    )


def _as_of(lang: str, shown: snapshots.Shown) -> str:
    when = shown.computed_at.astimezone(snapshots.ULAANBAATAR).strftime("%Y-%m-%d %H:%M")
    return glossary.text(
        lang,  # type: ignore[arg-type]
        "officer.reports.as_of",
        entries=shown.tree_size,
        size=shown.checkpoint_size,
        time=when,
    )


def _shown(c: Console, period: str = "all") -> snapshots.Shown | None:
    with storage.read_transaction(_app(c).state.runtime.engine) as conn:
        return snapshots.shown(Session(bind=conn), period)


def test_before_the_first_snapshot_the_page_says_it_is_being_prepared(console: Console) -> None:
    for lang in ("mn", "en"):
        page = console.client.get(f"{PAGE}?lang={lang}")
        assert page.status_code == 200, page.text
        assert getattr(glossary.TERMS["officer.reports.preparing"], lang) in page.text
        assert getattr(glossary.TERMS["officer.reports.preparing_hint"], lang) in page.text
        assert f'href="{PAGE}?period=all"' in page.text
        assert CENTRE not in page.text


@pytest.mark.parametrize("period", snapshots.CHOICES)
def test_a_snapshot_equals_a_direct_call_at_its_tree_size(
    database: Database, tmp_path: Path, period: str
) -> None:
    url, _ = database_url(database)
    with running_console(tmp_path, database_url=url, report_refresh_s=0) as c:
        _season(c)
        done = _refresh(c)
        assert len(done) == len(snapshots.CHOICES)
        assert _refresh(c) == []  # nothing grew: nothing computed again
        app = _app(c)
        key = snapshots.key(snapshots.period_of(period, app.state.events.clock()))
        shown = _shown(c, key)
        assert shown is not None and shown.tree_size == c.api.size()
        with storage.read_transaction(app.state.runtime.engine) as conn:
            s = Session(bind=conn)
            stored = snapshots.reports_of(s, key)
            count = snapshots.count(s)
        assert stored is not None and count == len(snapshots.CHOICES)
        # the same functions, on the same tree size, speaking of the same moment
        at = snapshots.period_of(period, app.state.events.clock())
        with storage.snapshot_transaction(app.state.read_log.engine) as conn:
            assert storage.read_size(conn) == shown.tree_size
            s = Session(bind=conn)
            direct = (
                mass_balance(s, at, app.state.settings),
                red_flags(s, at, app.state.settings, shown.computed_at),
            )
        assert list(stored) == json.loads(json.dumps(direct))
        assert shown.checkpoint_size == direct[0]["checkpoint"]["tree_size"]
        if period == "all":
            assert [r["centre"] for r in shown.centres] == [
                r["centre"] for r in direct[0]["centres"]
            ]
            assert shown.flag_total == len(direct[1]["flags"]) > 0
        # the upsert: the same period and size again keeps the first row, adds none
        again = snapshots.compute(
            app.state.read_log.engine, app.state.settings, at, app.state.events.clock()
        )
        assert again.tree_size == shown.tree_size
        snapshots.store(app.state.runtime.engine, again, set(snapshots.offered(again.computed_at)))
        assert _shown(c, key) == shown


def test_the_page_shows_the_snapshot_as_of_its_size(console: Console) -> None:
    _season(console)
    _refresh(console)
    shown = _shown(console)
    assert shown is not None
    for lang in ("mn", "en"):
        page = console.client.get(f"{PAGE}?lang={lang}")
        assert page.status_code == 200, page.text
        assert _as_of(lang, shown) in page.text
        assert CENTRE in page.text
        assert getattr(glossary.TERMS["officer.flag.yield_out_of_bounds"], lang) in page.text
    month = console.client.get(f"{PAGE}?lang=en&period=last_month")
    assert month.status_code == 200
    assert '<option value="last_month" selected>' in month.text
    odd = console.client.get(f"{PAGE}?lang=en&period=nonsense")  # every day, then
    assert odd.status_code == 200 and _as_of("en", shown) in odd.text


def test_a_new_entry_and_a_refresh_give_a_newer_snapshot(console: Console) -> None:
    _season(console)
    _refresh(console)
    first = _shown(console)
    assert first is not None
    World(console.api).deliver("ORE-LATE", 5_000)
    assert _refresh(console, every_s=300) == []  # grown, but the last one is too recent
    page = console.client.get(f"{PAGE}?lang=en")
    assert _as_of("en", first) in page.text  # the page never computes
    assert len(_refresh(console)) == len(snapshots.CHOICES)
    second = _shown(console)
    assert second is not None and second.tree_size > first.tree_size
    assert second.tree_size == console.api.size()
    page = console.client.get(f"{PAGE}?lang=en")
    assert _as_of("en", second) in page.text and _as_of("en", first) not in page.text
    with storage.read_transaction(_app(console).state.runtime.engine) as conn:
        assert snapshots.count(Session(bind=conn)) == len(snapshots.CHOICES)  # older pruned


def test_the_lifespan_refresher_prepares_the_report(tmp_path: Path) -> None:
    with running_console(tmp_path, report_refresh_s=1) as c:
        add_officer_staff(c.api)
        _season(c)
        assert c.sign_in(REG_CLERK).status_code == 303
        size = c.api.size()
        deadline = time.monotonic() + 20
        while (shown := _shown(c)) is None or shown.tree_size < size:
            assert time.monotonic() < deadline, "no snapshot from the background refresher"
            time.sleep(0.2)
        page = c.client.get(f"{PAGE}?lang=en")
        assert page.status_code == 200 and _as_of("en", shown) in page.text


def test_the_page_time_is_measured(console: Console, capsys: pytest.CaptureFixture[str]) -> None:
    """Measured, not asserted: the page reads one small row (the test world)."""
    _season(console)
    _refresh(console)
    times = []
    for _ in range(40):
        start = time.perf_counter()
        page = console.client.get(f"{PAGE}?lang=en")
        times.append((time.perf_counter() - start) * 1000)
        assert page.status_code == 200
    times.sort()
    p95 = times[int(len(times) * 0.95) - 1]
    with capsys.disabled():
        print(f"\n/app/officer/reports: median {statistics.median(times):.1f} ms, p95 {p95:.1f} ms")


def test_the_offered_periods_are_whole_months_in_ulaanbaatar_time() -> None:
    at = datetime.fromisoformat("2026-03-31T17:30:00+00:00")  # 01:30 on 1 April in UB
    assert snapshots.key(snapshots.period_of("this_month", at)) == "2026-04-01..2026-04-30"
    assert snapshots.key(snapshots.period_of("last_month", at)) == "2026-03-01..2026-03-31"
    assert snapshots.key(snapshots.period_of("all", at)) == "all"
    assert list(snapshots.offered(at)) == [
        "all",
        "2026-04-01..2026-04-30",
        "2026-03-01..2026-03-31",
    ]
