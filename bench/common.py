"""Shared helpers for the bench scripts: the machine, logs to measure, events, statistics.

Not a benchmark itself. The scripts in this folder import it as ``common`` (Python puts
the script's folder first on ``sys.path``).
"""

from __future__ import annotations

import os
import platform
import random
import secrets
import shutil
import sqlite3
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, func, make_url, select, text

from ledger.entry import Event
from ledger.keystore import KeyStore
from ledger.sql import storage
from ledger.sql.log import Log
from ledger.sql.storage import create_schema, make_engine

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_PG = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
ORIGIN = "bench.altan.example/log"
T0 = datetime(2026, 9, 1, 8, 0, tzinfo=UTC)


# --- the machine -------------------------------------------------------------------------


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def cores() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def postgres_reachable(url: str) -> str | None:
    """The server's version string, or None when nobody answers at `url`."""
    try:
        eng = create_engine(url, connect_args={"connect_timeout": 3})
        with eng.connect() as conn:
            version = str(conn.execute(text("SHOW server_version")).scalar_one())
            sync = conn.execute(text("SHOW synchronous_commit")).scalar_one()
            fsync = conn.execute(text("SHOW fsync")).scalar_one()
        eng.dispose()
    except Exception:
        return None
    return f"{version} (synchronous_commit={sync}, fsync={fsync})"


def print_machine(pg_url: str | None) -> None:
    """Print what the figures were measured on (and make stdout line-buffered, so progress
    on stderr and figures on stdout interleave in order)."""
    import cryptography
    import sqlalchemy

    sys.stdout.reconfigure(line_buffering=True)  # type: ignore[union-attr]
    print(f"machine: {cpu_model()}, {cores()} cores, Python {platform.python_version()}")
    print(
        f"         SQLite {sqlite3.sqlite_version}, SQLAlchemy {sqlalchemy.__version__}, "
        f"cryptography {cryptography.__version__}"
    )
    pg = postgres_reachable(pg_url) if pg_url else None
    print(f"         PostgreSQL server: {pg or 'not reachable / not asked for'}")
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    print(f"         load average now: {load} (other work on the machine skews the figures)")
    print()


class LoadSampler:
    """The 1-minute load average, sampled every `every` seconds in a daemon thread while a
    run lasts (other helpers share the machine: the figures mean little under heavy load)."""

    def __init__(self, every: float = 5.0) -> None:
        self.samples: list[float] = [os.getloadavg()[0]]
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(every,), daemon=True)
        self._thread.start()

    def _run(self, every: float) -> None:
        while not self._stop.wait(every):
            self.samples.append(os.getloadavg()[0])

    def line(self) -> str:
        s = self.samples
        return (
            f"load average (1 min) during the run: min {min(s):.2f}, mean "
            f"{statistics.fmean(s):.2f}, max {max(s):.2f} ({len(s)} samples; {cores()} cores)"
        )

    def stop(self) -> str:
        self._stop.set()
        self.samples.append(os.getloadavg()[0])
        return self.line()


# --- PostgreSQL databases of a bench's own --------------------------------------------------


def _admin_engine(url: str) -> Engine:
    return create_engine(url, isolation_level="AUTOCOMMIT", connect_args={"connect_timeout": 5})


def create_pg_database(url: str, name: str, template: str | None = None) -> str:
    """Create the database `name` (dropped first if a run left it behind) on the server of
    `url`, as a copy of the database `template` if given, and return the URL naming it."""
    admin = _admin_engine(url)
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        copy = f' TEMPLATE "{template}"' if template else ""
        conn.execute(text(f'CREATE DATABASE "{name}"{copy}'))
    admin.dispose()
    return make_url(url).set(database=name).render_as_string(hide_password=False)


def drop_pg_database(url: str, name: str) -> None:
    admin = _admin_engine(url)
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


# --- logs to measure -----------------------------------------------------------------------


@dataclass
class BenchLog:
    """A fresh log on SQLite (file in a temp dir, WAL) or PostgreSQL (own schema)."""

    kind: str
    url: str
    engine: Engine
    log: Log
    keys: KeyStore
    tmpdir: Path
    connect_args: dict[str, str] = field(default_factory=dict)
    schema: str | None = None
    keep: bool = False  # a cached log: close() leaves its files in place

    def new_engine(self) -> Engine:
        return make_engine(self.url, connect_args=self.connect_args)

    def checkpoints(self) -> int:
        """Published checkpoints so far: one per append transaction."""
        with self.engine.connect() as conn:
            return int(
                conn.execute(select(func.count()).select_from(storage.log_checkpoints)).scalar_one()
            )

    def entry_bytes(self, start: int, end: int) -> Iterator[bytes]:
        """The stored canonical entries [start, end), in order (paged)."""
        for page in range(start, end, 10_000):
            with storage.read_transaction(self.engine) as conn:
                rows = storage.read_entries(conn, page, min(end, page + 10_000))
            for row in rows:
                yield row.entry

    def close(self) -> None:
        self.engine.dispose()
        if self.schema is not None:
            admin = create_engine(self.url)
            with admin.begin() as conn:
                conn.execute(text(f"DROP SCHEMA IF EXISTS {self.schema} CASCADE"))
            admin.dispose()
        if not self.keep:
            shutil.rmtree(self.tmpdir, ignore_errors=True)


def _open_log(engine: Engine, directory: Path) -> tuple[Log, KeyStore]:
    store = KeyStore(directory, ORIGIN)
    store.load_or_create(T0)
    create_schema(engine)
    log = Log(engine, ORIGIN, store.active)
    log.initialise(store.keys(), T0)
    return log, store


def sqlite_log(directory: Path | None = None) -> BenchLog:
    tmp = (
        Path(directory) if directory is not None else Path(tempfile.mkdtemp(prefix="altan-bench-"))
    )
    tmp.mkdir(parents=True, exist_ok=True)
    url = f"sqlite:///{tmp / 'log.db'}"
    engine = make_engine(url)
    log, store = _open_log(engine, tmp)
    return BenchLog("sqlite", url, engine, log, store, tmp)


def postgres_log(url: str) -> BenchLog:
    schema = "bench_" + secrets.token_hex(5)
    admin = create_engine(url)
    with admin.begin() as conn:
        conn.execute(text(f"CREATE SCHEMA {schema}"))
    admin.dispose()
    args = {"options": f"-csearch_path={schema}"}
    engine = make_engine(url, connect_args=args)
    tmp = Path(tempfile.mkdtemp(prefix="altan-bench-"))
    log, store = _open_log(engine, tmp)
    return BenchLog("postgresql", url, engine, log, store, tmp, args, schema)


def build_note(bl: BenchLog) -> str:
    """How a cached log was built, as its `complete` marker says."""
    marker = bl.tmpdir / "complete"
    return "built earlier: " + marker.read_text().strip() if marker.exists() else "no build note"


def open_sqlite_log(directory: Path, *, keep: bool) -> BenchLog:
    """An existing SQLite log in `directory` (log.db and keys/)."""
    url = f"sqlite:///{directory / 'log.db'}"
    engine = make_engine(url)
    store = KeyStore(directory, ORIGIN)
    store.load_or_create(T0)
    log = Log(engine, ORIGIN, store.active)
    return BenchLog("sqlite", url, engine, log, store, directory, keep=keep)


def copy_cached_log(size: int, cache_dir: Path) -> BenchLog | None:
    """A scratch copy of the cached log of `size` entries (to append to), or None."""
    final = cache_dir / f"log-{size}"
    if not (final / "complete").exists():
        return None
    tmp = Path(tempfile.mkdtemp(prefix="altan-bench-"))
    shutil.copytree(final / "keys", tmp / "keys")
    shutil.copyfile(final / "log.db", tmp / "log.db")
    return open_sqlite_log(tmp, keep=False)


def cached_sqlite_log(
    size: int, batch: int, cache_dir: Path, *, quiet: bool = False
) -> tuple[BenchLog, float | None]:
    """A SQLite log of exactly `size` entries kept under `cache_dir/log-<size>/`.

    Built on first use by `Log.append` batches of `batch` events (the build time is returned;
    None when the cached log was reused). A build that did not finish is never reused: it
    happens in a scratch folder renamed into place at the end.
    """
    final = cache_dir / f"log-{size}"
    if (final / "complete").exists():
        bl = open_sqlite_log(final, keep=True)
        if bl.log.size() != size:
            raise SystemExit(f"{final}: expected {size} entries, found {bl.log.size()}; delete it")
        return bl, None
    scratch = cache_dir / f"log-{size}.building-{os.getpid()}"
    shutil.rmtree(scratch, ignore_errors=True)
    bl = sqlite_log(scratch)
    started = time.perf_counter()
    done = 0
    step = max(1, size // 10)
    while done < size:
        k = min(batch, size - done)
        events = make_events(k, seed=done)
        bl.log.append(events, T0 + timedelta(seconds=done // batch))
        done += k
        if not quiet and (done % step < k or done == size):
            elapsed = time.perf_counter() - started
            print(f"  building: {done:>9,} / {size:,} entries, {elapsed:6.1f} s", file=sys.stderr)
    took = time.perf_counter() - started
    bl.engine.dispose()
    (scratch / "complete").write_text(
        f"{size} entries in {took:.1f} s, batches of {batch} ({size / took:,.0f} events/s)\n"
    )
    scratch.rename(final)
    reopened, _ = cached_sqlite_log(size, batch, cache_dir)
    return reopened, took


# --- events ------------------------------------------------------------------------------

_REGIONS = [
    ("Töv", "Bornuur"),
    ("Selenge", "Mandal"),
    ("Bayankhongor", "Bayan-Ovoo"),
    ("Khentii", "Batnorov"),
    ("Övörkhangai", "Uyanga"),
]
_CENTRES = ["centre:bornuur", "centre:mandal", "centre:bayan-ovoo", "centre:uyanga"]


def make_events(n: int, seed: int = 1) -> list[Event]:
    """`n` realistic supply-chain events (the demo's mix: deliveries, processing, assays,
    transfers, registrations), deterministic for a seed. Bodies are 150-400 bytes of JSON."""
    rnd = random.Random(seed)
    out: list[Event] = []
    lot = gold = 0
    while len(out) < n:
        roll = rnd.random()
        centre = rnd.choice(_CENTRES)
        p = rnd.randint(1, 400)
        if roll < 0.55:
            lot += 1
            out.append(
                Event(
                    type="ore.delivered",
                    actor=centre,
                    body={
                        "lot": f"ORE-2026-{lot:06d}",
                        "miner": f"partnership:{p:04d}",
                        "site": f"site:{p:04d}",
                        "mass_kg": f"{rnd.randint(200, 3000)}.0",
                        "mined_on": f"2026-08-{rnd.randint(1, 28):02d}",
                        "received_at": f"2026-09-{rnd.randint(1, 28):02d}T"
                        f"{rnd.randint(8, 17):02d}:00:00+08:00",
                    },
                )
            )
        elif roll < 0.75:
            gold += 1
            inputs = [
                {"lot": f"ORE-2026-{max(1, lot - k):06d}", "mass_kg": f"{rnd.randint(200, 3000)}.0"}
                for k in range(rnd.randint(1, 3))
            ]
            out.append(
                Event(
                    type="processing.recorded",
                    actor=centre,
                    body={
                        "inputs": inputs,
                        "outputs": [
                            {
                                "lot": f"AU-2026-{gold:05d}",
                                "form": "dore",
                                "mass_g": f"{rnd.randint(5, 900)}.0",
                            }
                        ],
                        "method": rnd.choice(["gravity", "gravity", "flotation"]),
                        "mercury_free": True,
                    },
                )
            )
        elif roll < 0.85:
            out.append(
                Event(
                    type="assay.recorded",
                    actor="lab:bom-darkhan",
                    body={
                        "lot": f"AU-2026-{max(1, gold):05d}",
                        "fineness_ppt": rnd.randint(700, 920),
                    },
                )
            )
        elif roll < 0.97:
            out.append(
                Event(
                    type="transfer.offered",
                    actor=centre,
                    body={
                        "lot": f"AU-2026-{max(1, gold):05d}",
                        "to": rnd.choice(
                            ["buyer:mongolbank", "buyer:trader-0042", "buyer:refinery"]
                        ),
                        "price_mnt": rnd.randint(100_000, 90_000_000),
                        "reference": f"{rnd.getrandbits(64):016x}",
                    },
                )
            )
        else:
            aimag, soum = rnd.choice(_REGIONS)
            out.append(
                Event(
                    type="actor.registered",
                    actor="regulator:mrpam",
                    body={
                        "actor": f"partnership:{p:04d}",
                        "role": "partnership",
                        "members": rnd.randint(3, 10),
                        "licence": f"ASM-{soum[:3].upper()}-{rnd.randint(100, 999)}",
                        "region": {"aimag": aimag, "soum": soum},
                    },
                )
            )
    return out


def batches(seq: Sequence[Any], size: int) -> Iterator[Sequence[Any]]:
    for start in range(0, len(seq), size):
        yield seq[start : start + size]


# --- figures -----------------------------------------------------------------------------


def pct(samples: Sequence[float], q: float) -> float:
    """The q-quantile (0..1) of samples, nearest-rank."""
    ordered = sorted(samples)
    if not ordered:
        return float("nan")
    k = max(0, min(len(ordered) - 1, round(q * len(ordered) + 0.5) - 1))
    return ordered[k]


def latency_line(label: str, seconds: Sequence[float]) -> str:
    ms = [s * 1000 for s in seconds]
    return (
        f"{label:<44} n={len(ms):>5}  p50={pct(ms, 0.5):8.3f} ms  p99={pct(ms, 0.99):8.3f} ms  "
        f"max={max(ms):8.3f} ms  mean={statistics.fmean(ms):8.3f} ms"
    )


def rate_line(label: str, n: int, seconds: float, extra: str = "") -> str:
    return f"{label:<52} {n:>8} in {seconds:7.2f} s = {n / seconds:>9,.0f} /s {extra}".rstrip()


# --- the service, in process ---------------------------------------------------------------

BENCH_CENTRE = "centre:bench"
BENCH_MINER = "partnership:bench"
BENCH_SITE = "SITE-BENCH"
WHEN = "2026-09-14T10:12:00+08:00"


def delivery_body(n: int, tag: str) -> dict[str, Any]:
    """An ore.delivered body (a new lot `ORE-<tag>-<n>`) by the bench centre, as a client
    sends it (the same body bench/http_append.py posts)."""
    return {
        "occurred_at": WHEN,
        "lot": f"ORE-{tag}-{n:07d}",
        "miner": BENCH_MINER,
        "site": BENCH_SITE,
        "mass_g": 1_200_000 + n % 1000,
        "mined_on": "2026-09-10",
        "notes": "bench delivery, Bornuur centre, gravity plant",
    }


def register_bench_actors(events: Any) -> None:
    """On a fresh service (its `EventService`): the first administrator, then a processing
    centre, a partnership and its site, so that the centre may record ore deliveries."""
    from services.actors.bootstrap import FIRST_ADMIN, bootstrap_administrator
    from services.identity import Principal
    from services.pipeline.service import Submission

    bootstrap_administrator(events)
    admin = Principal(FIRST_ADMIN, "administrator")
    region = {"aimag": "Töv", "soum": "Bornuur"}
    for type_, body in (
        (
            "actor.registered",
            {"actor": BENCH_CENTRE, "role": "processing_centre", "region": region},
        ),
        (
            "actor.registered",
            {"actor": BENCH_MINER, "role": "partnership", "members": 7, "region": region},
        ),
        (
            "site.registered",
            {
                "site": BENCH_SITE,
                "owner": BENCH_MINER,
                "region": region,
                "lat": "48.51234",
                "lon": "106.27123",
            },
        ),
    ):
        events.submit(admin, Submission(type_, {"occurred_at": WHEN, **body}))
