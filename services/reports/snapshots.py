"""The console's regulator report, precomputed: `mass_balance` and `red_flags` for the
periods the page offers, computed in the background and stored in `report_snapshots`.

Both reports read the whole history by nature (5.4 s at 85k entries, about a minute at a
million), so `/app/officer/reports` never computes them: it shows the newest snapshot of
the period asked for, "as of entry N (checkpoint size M), computed at T", or says the
report is being prepared when there is none yet.

1. The periods (`offered`): every day (`all`), this month and last month, in days of
   UTC+8 (`periods`), as of the moment asked; a period is stored under its `key`.
2. A snapshot is computed (`compute`) in one snapshot transaction on the read database:
   the log's size N, then both reports with the same `now` (`computed_at`), so it equals
   a direct call of the same functions at tree size N and that moment (a test holds it).
3. `refresh` computes a period again when it has no snapshot, or when the log has grown
   past its newest one and that one is at least `ALTAN_REPORT_REFRESH_S` old; the check
   reads the stored rows, so several workers (each runs its own `Refresher`) mostly see
   one another's work, and when two compute the same size at once the first row stays:
   an upsert `INSERT .. ON CONFLICT (period, tree_size) DO NOTHING` (PostgreSQL and
   SQLite alike). Older snapshots of the period, and periods no longer offered, are then
   deleted.
4. `Refresher` runs `refresh` on a daemon thread of each worker, started and stopped by
   the app's lifespan, waking every `poll_s` (at most `MAX_POLL_S`); an error is logged
   and the next round tries again.

The snapshot's red flags speak of `computed_at` (a hold's age): with no new entry a hold
grows older and the snapshot is not computed again until the log grows.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any, Final

from sqlalchemy import Engine, delete, func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from ledger.entry import format_time
from ledger.errors import LedgerError
from ledger.sql import storage
from services.clock import utc_now
from services.reports.mass_balance import mass_balance
from services.reports.models import ReportSnapshot
from services.reports.periods import ULAANBAATAR, Period
from services.reports.red_flags import red_flags
from services.settings import Settings

log = logging.getLogger(__name__)

CHOICES: Final = ("all", "this_month", "last_month")
"""The periods the page offers, in its order."""
SHOWN_FLAGS: Final = 100
"""Red flags kept for the page (their total is kept too)."""
MAX_POLL_S: Final = 10.0
"""The longest a refresher sleeps between two checks."""
STOP_WAIT_S: Final = 5.0
"""How long the app's shutdown waits for a computation under way (then leaves it: the
thread is a daemon and only reads, its one write is a single insert)."""


def _month(day: date) -> tuple[date, date]:
    first = day.replace(day=1)
    last = (first + timedelta(days=32)).replace(day=1) - timedelta(days=1)
    return first, last


def period_of(choice: str, now: datetime) -> Period:
    """The period a choice names at `now` (days in UTC+8); "all" for an unknown one."""
    today = now.astimezone(ULAANBAATAR).date()
    if choice == "this_month":
        return Period(*_month(today))
    if choice == "last_month":
        return Period(*_month(today.replace(day=1) - timedelta(days=1)))
    return Period()


def key(period: Period) -> str:
    """The period's key in `report_snapshots`: "all", or "<from>..<to>"."""
    if period.start is None and period.end is None:
        return "all"
    start = "" if period.start is None else period.start.isoformat()
    end = "" if period.end is None else period.end.isoformat()
    return f"{start}..{end}"


def offered(now: datetime) -> dict[str, Period]:
    """Every period the page offers at `now`, by key."""
    periods = (period_of(choice, now) for choice in CHOICES)
    return {key(p): p for p in periods}


@dataclass(frozen=True)
class Computed:
    """Both reports of one period at one tree size."""

    period: str
    tree_size: int
    computed_at: datetime
    mass_balance: dict[str, Any]
    red_flags: dict[str, Any]

    @property
    def checkpoint_size(self) -> int:
        return int(self.mass_balance["checkpoint"]["tree_size"])

    def shown(self) -> dict[str, Any]:
        """What the console page shows of it."""
        flags = self.red_flags["flags"]
        return {
            "centres": self.mass_balance["centres"],
            "counts": sorted(self.red_flags["counts"].items(), key=lambda kv: (-kv[1], kv[0])),
            "flags": flags[:SHOWN_FLAGS],
            "flag_total": len(flags),
        }


@dataclass(frozen=True)
class Shown:
    """The newest snapshot of a period, as the page reads it."""

    period: str
    tree_size: int
    checkpoint_size: int
    computed_at: datetime
    centres: list[dict[str, Any]]
    counts: list[tuple[str, int]]
    flags: list[dict[str, Any]]
    flag_total: int


def compute(read_engine: Engine, settings: Settings, period: Period, now: datetime) -> Computed:
    """Both reports of `period` in one snapshot of the database, speaking of `now`."""
    with storage.snapshot_transaction(read_engine) as conn:
        size = storage.read_size(conn)
        s = Session(bind=conn, autoflush=False)
        mb = mass_balance(s, period, settings)
        rf = red_flags(s, period, settings, now)
    return Computed(key(period), size, now, mb, rf)


def store(engine: Engine, computed: Computed, keep: set[str]) -> None:
    """Keep the snapshot (the first of its period and size wins), then delete the older
    ones of its period and those of periods not in `keep`."""
    row = {
        "period": computed.period,
        "tree_size": computed.tree_size,
        "checkpoint_size": computed.checkpoint_size,
        "computed_at": format_time(computed.computed_at),
        "mass_balance": json.dumps(computed.mass_balance, separators=(",", ":")),
        "red_flags": json.dumps(computed.red_flags, separators=(",", ":")),
        "shown": json.dumps(computed.shown(), separators=(",", ":")),
    }
    table = ReportSnapshot.__table__
    with storage.write_transaction(engine) as conn:
        dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
        stmt = dialect.insert(table).values(row)
        conn.execute(stmt.on_conflict_do_nothing(index_elements=["period", "tree_size"]))
        conn.execute(
            delete(ReportSnapshot).where(
                ReportSnapshot.period == computed.period,
                ReportSnapshot.tree_size < computed.tree_size,
            )
        )
        kept = keep | {computed.period}
        conn.execute(delete(ReportSnapshot).where(ReportSnapshot.period.not_in(kept)))


@dataclass(frozen=True)
class Stored:
    """A snapshot's size and time, without its reports."""

    tree_size: int
    computed_at: datetime


def newest(s: Session, period: str) -> Stored | None:
    """The newest snapshot of `period`'s size and time."""
    row = s.execute(
        select(ReportSnapshot.tree_size, ReportSnapshot.computed_at)
        .where(ReportSnapshot.period == period)
        .order_by(ReportSnapshot.tree_size.desc())
        .limit(1)
    ).first()
    return None if row is None else Stored(int(row[0]), datetime.fromisoformat(row[1]))


def shown(s: Session, period: str) -> Shown | None:
    """The newest snapshot of `period` as the page shows it (None: none yet)."""
    row = s.execute(
        select(
            ReportSnapshot.tree_size,
            ReportSnapshot.checkpoint_size,
            ReportSnapshot.computed_at,
            ReportSnapshot.shown,
        )
        .where(ReportSnapshot.period == period)
        .order_by(ReportSnapshot.tree_size.desc())
        .limit(1)
    ).first()
    if row is None:
        return None
    data = json.loads(row[3])
    return Shown(
        period,
        int(row[0]),
        int(row[1]),
        datetime.fromisoformat(row[2]),
        data["centres"],
        [(str(c), int(n)) for c, n in data["counts"]],
        data["flags"],
        int(data["flag_total"]),
    )


def reports_of(s: Session, period: str) -> tuple[dict[str, Any], dict[str, Any]] | None:
    """The newest snapshot of `period`: both reports whole."""
    row = s.execute(
        select(ReportSnapshot.mass_balance, ReportSnapshot.red_flags)
        .where(ReportSnapshot.period == period)
        .order_by(ReportSnapshot.tree_size.desc())
        .limit(1)
    ).first()
    return None if row is None else (json.loads(row[0]), json.loads(row[1]))


def count(s: Session) -> int:
    """Snapshots stored (every period and size)."""
    return int(s.scalar(select(func.count()).select_from(ReportSnapshot)) or 0)


def refresh(
    engine: Engine,
    read_engine: Engine,
    settings: Settings,
    now: datetime,
    *,
    every_s: float | None = None,
    stopping: Callable[[], bool] = lambda: False,
) -> list[str]:
    """Compute again each offered period that has no snapshot, or whose newest one is
    older than the log and at least `every_s` (default ALTAN_REPORT_REFRESH_S) old; the
    keys of the periods computed."""
    every = settings.report_refresh_s if every_s is None else every_s
    periods = offered(now)
    with storage.read_transaction(read_engine) as conn:
        size = storage.read_size(conn)
    with storage.read_transaction(engine) as conn:
        s = Session(bind=conn, autoflush=False)
        last = {k: newest(s, k) for k in periods}
    done = []
    for k, period in periods.items():
        if stopping():
            break
        before = last[k]
        if before is not None and (
            before.tree_size >= size or (now - before.computed_at).total_seconds() < every
        ):
            continue
        store(engine, compute(read_engine, settings, period, now), set(periods))
        done.append(k)
    return done


class Refresher:
    """`refresh` on a daemon thread, every `poll_s`, until `stop` (module docstring, 4)."""

    def __init__(
        self,
        engine: Engine,
        read_engine: Engine,
        settings: Settings,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self._engine = engine
        self._read_engine = read_engine
        self._settings = settings
        self._clock = clock
        self.poll_s = min(float(settings.report_refresh_s), MAX_POLL_S)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Start the thread (not when ALTAN_REPORT_REFRESH_S is 0)."""
        if self._settings.report_refresh_s == 0 or self._thread is not None:
            return
        self._thread = threading.Thread(
            target=self._run, name="altan-report-snapshots", daemon=True
        )
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self.poll_s):
            self.once()

    def once(self, every_s: float | None = None) -> list[str]:
        """One round (`refresh`; `every_s=0`: whenever the log grew, as a test wants); an
        error is logged, never raised (the next round tries again)."""
        try:
            return refresh(
                self._engine,
                self._read_engine,
                self._settings,
                self._clock(),
                every_s=every_s,
                stopping=self._stop.is_set,
            )
        except (SQLAlchemyError, LedgerError) as exc:
            # the type only: a database error's text may name the statement
            log.warning("report snapshots: the database failed (%s)", type(exc).__name__)
        except Exception:
            log.exception("report snapshots: the report failed")
        return []

    def stop(self) -> None:
        """Ask the thread to end and wait a little for it (`STOP_WAIT_S`)."""
        self._stop.set()
        thread, self._thread = self._thread, None
        if thread is not None:
            thread.join(STOP_WAIT_S)
