"""Console latency at scale: every console page and the read API lists, over real HTTP, on
a PostgreSQL log of about a million entries (issue 13: every page p95 < 150 ms).

1. the season: a database of its own (`--db`, default `altan_bench_console`, created on
   `--pg-url`; never the tests' databases) filled through the real event pipeline
   (`EventService.submit_many`, the batch path of POST /events/batch and the group
   committer, `--batch` requests a transaction, default 500; every rule and projector
   applies) with the demo's
   season (services/demo.py) widened to `--centres` processing centres and `--buyers`
   buyers: thousands of partnerships and their sites, ore deliveries, processing runs,
   assays, certificates, offers, acceptances, holds, spread over the season's 81 days,
   until the log holds `--entries` entries. bench/scale.py's fast path (`Log.append` of
   synthetic bodies) is no use here: the pages read the domain's tables, which only real
   events fill. A finished fill is kept (its data dir with the log key under
   var/bench/console/, a `complete` marker naming the size) and reused by later runs;
   an unfinished or different-sized one is dropped and filled again, unless `--reuse`:
   then the database is used as it is and extended up to `--entries` (the season's
   generator replays the requests already recorded, counted in a `progress` file, and
   goes on from there). `--copy-from DB` starts a new database as a copy of DB (its log
   key too), `--fill-minutes` stops a fill in time (SIGINT/SIGTERM too, after the batch
   in flight; the size reached is kept). The fill rate is printed as it goes;
2. staff accounts (services/staff/queries.create_staff) for a centre clerk, a buyer, a
   miner, a regulator, an administrator (the busiest centre, buyer and partnership), and
   for any other role the console's navigation (`pages.NAV`) has pages for, plus a
   bearer token for each actor (the read API takes tokens, not sessions);
3. `altan serve` (one uvicorn worker) on that database; each staff member signs in
   (POST /app/session) and every page of its role's navigation, read from `pages.NAV` at
   run time (pages are being added), and `/app`, is fetched `--requests` times (after
   `--warmup` untimed ones); then the read API lists with the busiest actors: GET /lots,
   /offers, /actors/{id}/deliveries, /actors, /sites. p50/p95/p99 per page and whether
   p95 meets `--target-ms`.

The client (httpx, one connection, one request at a time) runs on the same cores as the
server and PostgreSQL, as a browser at the counter would not: figures are upper bounds.
Run: .venv/bin/python bench/console.py [--entries 1000000] [--requests 50] [--reuse]
     [--db NAME] [--copy-from DB] [--fill-minutes M] [--fill-only] [--pages REGEX]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import common
import httpx
from sqlalchemy import Engine, create_engine, func, select, text
from sqlalchemy.orm import Session

from ledger.entry import format_time
from ledger.sql import storage
from services import demo
from services.actors.bootstrap import bootstrap_administrator
from services.actors.models import Actor
from services.console.pages import HOME_NAV, NAV
from services.identity import Principal
from services.identity.auth import issue_token
from services.lots.models import Lot, Offer
from services.pipeline.service import Submission
from services.roles import (
    ADMINISTRATOR,
    BUYER,
    PARTNERSHIP,
    PROCESSING_CENTRE,
    REGULATOR,
)
from services.runtime import open_runtime
from services.settings import Settings
from services.staff.models import Staff
from services.staff.queries import create_staff

ROOT = common.ROOT
BIN = Path(sys.executable).parent
CACHE = ROOT / "var" / "bench" / "console"  # a folder per database: its log key, marker
DEFAULT_SERVER = "postgresql+psycopg://postgres@127.0.0.1:5432/"
PASSWORD = "bench-console-passphrase-2026"
ENTRIES_PER_REQUEST = 1.56  # the demo's mix: receipts and certificates add entries
DAYS = 81  # 1 August .. 25 October, the demo's season
LEGACY_BATCH = 200  # requests per transaction of fills made before `progress` files


# --- 1. the season ---------------------------------------------------------------------------


class BenchSeason(demo.Season):
    """The demo's season, its days spread evenly over the fill (the demo's own clock runs
    to its last day within a few hundred requests). A resumed fill (`resume`) replays the
    requests already recorded without their dates and spreads the rest from `start_day`."""

    expected: int = 1
    issued: int = 0
    skip: int = 0
    start_day: int = 0
    _free_key: frozenset[str] | None = None
    _free_seen: int = 0
    _free: list[tuple[str, str]]

    def when(self) -> str:
        self.issued += 1
        done = max(0, self.issued - self.skip)
        left = max(1, self.expected - self.skip)
        self.day = min(DAYS - 1, self.start_day + done * (DAYS - self.start_day) // left)
        month, dom = (8 + self.day // 28, 1 + self.day % 28)
        return f"2026-{month:02d}-{dom:02d}T{self.rnd.randint(8, 18):02d}:00:00+08:00"

    def free_partnerships(self) -> list[tuple[str, str]]:
        """The partnerships not on hold, in order: demo._delivery's own list, kept up to
        date instead of built anew for every delivery (O(partnerships) a request, a
        tenth of the fill at 100,000 entries and growing)."""
        key = frozenset(self.held.values())
        if self._free_key != key:
            self._free_key, self._free_seen, self._free = key, 0, []
        self._free.extend(p for p in self.partnerships[self._free_seen :] if p[0] not in key)
        self._free_seen = len(self.partnerships)
        return self._free


def _delivery(s: BenchSeason) -> Iterator[tuple[Principal, Submission]]:
    """demo._delivery, the same requests in the same order, shown only the free
    partnerships (it would filter the same list out of all of them)."""
    everyone = s.partnerships
    free = s.free_partnerships()
    s.partnerships = free if free else everyone
    try:
        yield from demo._delivery(s)
    finally:
        s.partnerships = everyone


def _setup(centres: int, buyers: int, t: str) -> Iterator[tuple[Principal, Submission]]:
    def reg(body: dict[str, Any]) -> tuple[Principal, Submission]:
        return demo.ADMIN, Submission("actor.registered", {"occurred_at": t, **body})

    for actor, role in [
        (demo.REGULATOR.actor_id, "regulator"),
        (demo.AUDITOR.actor_id, "auditor"),
        (demo.LAB.actor_id, "laboratory"),
    ]:
        yield reg({"actor": actor, "role": role})
    for actor, aimag, soum in demo.CENTRES[:centres]:
        n = demo.CENTRES.index((actor, aimag, soum))
        yield reg(
            {
                "actor": actor,
                "role": "processing_centre",
                "licence": {"number": f"PC-{n:03d}-2008", "valid_from": "2008-06-01"},
                "region": {"aimag": aimag, "soum": soum},
            }
        )
    for actor, kind in demo.BUYERS[:buyers]:
        yield reg({"actor": actor, "role": "buyer", "buyer_kind": kind})


def widen_demo(centres: int, buyers: int) -> None:
    """More centres and buyers than the demo's three and four (its helpers read these
    module lists at call time)."""
    demo.CENTRES = demo.CENTRES + [
        (f"centre:c{n:03d}", aimag, soum)
        for n, (aimag, soum, _, _) in (
            (n, demo.REGIONS[n % len(demo.REGIONS)]) for n in range(len(demo.CENTRES), centres)
        )
    ]
    kinds = ("trader", "trader", "bank")
    demo.BUYERS = demo.BUYERS + [
        (f"buyer:b{n:03d}", kinds[n % 3]) for n in range(len(demo.BUYERS), buyers)
    ]


def season(
    seed: int, expected: int, centres: int, buyers: int, skip: int = 0, start_day: int = 0
) -> Iterator[tuple[Principal, Submission]]:
    """demo.season with more centres and buyers and the days spread over `expected`
    requests (after the first `skip`, from `start_day`: see `BenchSeason`)."""
    s = BenchSeason(random.Random(seed))
    s.expected, s.skip, s.start_day = expected, skip, start_day
    yield from _setup(centres, buyers, s.when())
    for actor, _, _ in demo.CENTRES[:centres]:
        s.ore[actor] = []
    for _ in range(3):
        yield from demo._partnership(s)
    yield from demo._dispute(s)
    while True:
        roll = s.rnd.random()
        held = set(s.held.values())
        ready = [c for c, lots in s.ore.items() if len([x for x in lots if x[2] not in held]) >= 3]
        if roll < 0.05 or len(s.partnerships) < 3:
            yield from demo._partnership(s)
        elif roll < 0.55 or not ready:
            yield from _delivery(s)
        elif roll < 0.75:
            yield from demo._processing(s, s.rnd.choice(ready))
        elif roll < 0.87 and s.gold:
            yield from demo._offer(s)
        elif roll < 0.97 and s.offers:
            yield from demo._answer(s)
        else:
            yield from demo._case(s)


def db_url(server: str, db: str) -> str:
    return server.rstrip("/") + "/" + db


def settings_for(url: str, home: Path) -> Settings:
    return Settings(data_dir=home / "data", database_url=url)


def _admin(args: argparse.Namespace) -> Engine:
    return create_engine(db_url(args.pg_url, "postgres"), isolation_level="AUTOCOMMIT")


def _exists(args: argparse.Namespace, db: str) -> bool:
    eng = _admin(args)
    with eng.connect() as conn:
        found = conn.execute(text("SELECT 1 FROM pg_database WHERE datname = :d"), {"d": db})
        there = found.first() is not None
    eng.dispose()
    return there


def recorded_so_far(url: str, home: Path) -> tuple[int, int]:
    """(requests already submitted, season day of the last one) of a database being
    extended: from its `progress` file, or, for a fill made before there was one (batches
    of 200, `LEGACY_BATCH`), from its log: each batch is one transaction, whose entries
    share their `time`."""
    progress = home / "progress"
    eng = create_engine(url)
    with eng.connect() as conn:
        last_time = conn.execute(
            text(
                "SELECT convert_from(entry, 'UTF8')::json->>'time' FROM log_entries "
                "ORDER BY idx DESC LIMIT 1"
            )
        ).scalar_one()
        bodies = conn.execute(
            text(
                "SELECT convert_from(entry, 'UTF8')::json->'body'->>'occurred_at' "
                "FROM log_entries WHERE convert_from(entry, 'UTF8')::json->>'time' = :t"
            ),
            {"t": last_time},
        ).scalars()
        days = [
            (int(d[5:7]) - 8) * 28 + int(d[8:10]) - 1
            for d in bodies
            if d is not None and d.endswith("+08:00")
        ]
        if progress.exists():
            requests = int(json.loads(progress.read_text())["requests"])
        else:
            batches = conn.execute(
                text(
                    "SELECT count(DISTINCT convert_from(entry, 'UTF8')::json->>'time') "
                    "FROM log_entries WHERE idx > 0"
                )
            ).scalar_one()
            requests = LEGACY_BATCH * int(batches)
    eng.dispose()
    return requests, max(days, default=0)


def fill(args: argparse.Namespace, url: str) -> None:
    """A database of about `args.entries` entries: a fresh one (or a copy of `--copy-from`),
    the finished one kept, or with `--reuse` the existing one extended up to the size."""
    home = CACHE / args.db
    marker = home / "complete"
    there = _exists(args, args.db)
    if args.reuse and there:
        said = marker.read_text().strip() if marker.exists() else "no marker"
        print(f"season: reusing {args.db} as it is ({said})")
    elif marker.exists() and there and marker.read_text().split()[0] == f"{args.db}:{args.entries}":
        print(f"season: reusing {args.db} ({marker.read_text().strip()})")
        return
    else:
        eng = _admin(args)
        with eng.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{args.db}" WITH (FORCE)'))
            if args.copy_from:
                conn.execute(text(f'CREATE DATABASE "{args.db}" TEMPLATE "{args.copy_from}"'))
            else:
                conn.execute(text(f'CREATE DATABASE "{args.db}"'))
        eng.dispose()
        marker.unlink(missing_ok=True)
        (home / "progress").unlink(missing_ok=True)
        shutil.rmtree(home / "data", ignore_errors=True)
        home.mkdir(parents=True, exist_ok=True)
        if args.copy_from:  # its log key and admin token with it
            shutil.copytree(CACHE / args.copy_from / "data", home / "data")
            shutil.copy(CACHE / args.copy_from / "admin-token", home / "admin-token")
            for name in ("progress",):
                if (CACHE / args.copy_from / name).exists():
                    shutil.copy(CACHE / args.copy_from / name, home / name)
            print(f"season: {args.db} starts as a copy of {args.copy_from}")
    widen_demo(args.centres, args.buyers)
    rt = open_runtime(settings_for(url, home))
    stop: list[str] = []

    def on_signal(signum: int, _frame: Any) -> None:
        stop.append(signal.Signals(signum).name)  # finish the batch, then stop

    previous = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        size = start_size = rt.log.size()
        skip, start_day = 0, 0
        if size >= args.entries:
            return
        if size > 0:
            skip, start_day = recorded_so_far(url, home)
            print(
                f"season: extending {size:,} entries ({skip:,} requests recorded, season day "
                f"{start_day}) to {args.entries:,}",
                flush=True,
            )
        else:
            token = bootstrap_administrator(rt.events)
            (home / "admin-token").write_text(f"{token}\n")
        expected = skip + int(max(0, args.entries - size) / ENTRIES_PER_REQUEST)
        stream = season(3, expected, args.centres, args.buyers, skip, start_day)
        for _ in range(skip):
            next(stream)  # recorded before: only the season's own state moves on
        requests, recorded, refused = skip, 0, 0
        deadline = time.monotonic() + args.fill_minutes * 60 if args.fill_minutes else None
        t0 = last = time.perf_counter()
        step = max(10_000, args.entries // 50)
        mark, last_size = size + step, size
        while size < args.entries and not stop:
            if deadline is not None and time.monotonic() > deadline:
                stop.append(f"--fill-minutes {args.fill_minutes:g}")
                break
            batch = [next(stream) for _ in range(args.batch)]
            for result in rt.events.submit_many(batch, atomic=False):
                if result.error is None:
                    recorded += 1
                else:
                    refused += 1
                    if refused <= 5:
                        print(f"  refused: {result.error}", flush=True)
            requests += len(batch)
            size = rt.log.size()
            (home / "progress").write_text(
                json.dumps({"requests": requests, "entries": size}) + "\n"
            )
            if size >= mark:
                now = time.perf_counter()
                print(
                    f"  {time.strftime('%H:%M:%S')} filled {size:>9,} entries in "
                    f"{now - t0:7.1f} s ({(size - last_size) / max(now - last, 1e-9):,.0f} "
                    f"entries/s lately, {(size - start_size) / max(now - t0, 1e-9):,.0f} "
                    f"overall; {recorded:,} requests recorded, {refused:,} refused; "
                    f"load {os.getloadavg()[0]:.1f})",
                    flush=True,
                )
                mark, last, last_size = size + step, now, size
        took = time.perf_counter() - t0
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
        rt.close()
    if stop:
        print(f"season: stopped ({stop[0]}) at {size:,} entries", flush=True)
    if size == start_size:
        return
    print(
        f"season: {size - start_size:,} entries in {took:.0f} s "
        f"({(size - start_size) / max(took, 1e-9):,.0f} entries/s); VACUUM ANALYZE",
        flush=True,
    )
    eng = create_engine(url, isolation_level="AUTOCOMMIT")
    with eng.connect() as conn:
        conn.execute(text("VACUUM ANALYZE"))
    eng.dispose()
    tag = args.entries if size >= args.entries else size  # a stopped fill: its size
    marker.write_text(
        f"{args.db}:{tag} {size} entries, {requests} requests ({refused} refused this run) "
        f"last filled {size - start_size} in {took:.0f} s, {args.centres} centres, "
        f"{args.buyers} buyers\n"
    )
    print(f"season: filled {args.db}: {marker.read_text().strip()}")


# --- 2. who signs in --------------------------------------------------------------------------


@dataclass
class Reader:
    role: str
    actor: str
    username: str
    token: str = ""


def busiest(s: Session) -> dict[str, str]:
    """The actor of each role with the most records: the heaviest pages."""

    def top(col: Any, *where: Any) -> str:
        stmt = select(col).where(*where).group_by(col).order_by(func.count().desc()).limit(1)
        return str(s.scalars(stmt).one())

    first: dict[str, str] = {}
    for role in (*NAV, REGULATOR, ADMINISTRATOR):
        found = s.scalars(select(Actor.id).where(Actor.role == role).order_by(Actor.id)).first()
        if found is not None:
            first[role] = found
    return {
        **first,
        PROCESSING_CENTRE: top(Lot.custodian_id, Lot.kind == "ore"),
        BUYER: top(Offer.to_id),
        PARTNERSHIP: top(Lot.miner_id, Lot.miner_id.is_not(None)),
    }


def accounts(url: str, home: Path) -> list[Reader]:
    """A staff account and a bearer token for each role that is measured."""
    rt = open_runtime(settings_for(url, home))
    readers: list[Reader] = []
    try:
        now = datetime.now(UTC)
        with storage.write_transaction(rt.engine) as conn:
            s = Session(bind=conn, autoflush=False)
            root = Principal("admin:root", ADMINISTRATOR)
            for role, actor in busiest(s).items():
                name = "bench-" + role.replace("_", "-")
                if s.scalars(select(Staff.id).where(Staff.username == name)).first() is None:
                    create_staff(
                        s,
                        root,
                        actor_id=actor,
                        username=name,
                        display_name=f"Bench {role}",
                        password=PASSWORD,
                        is_admin=role == ADMINISTRATOR,
                        now=now,
                    )
                _, token = issue_token(s, actor, "bench/console.py", format_time(now))
                readers.append(Reader(role, actor, name, token))
            s.flush()
    finally:
        rt.close()
    return readers


# --- 3. over HTTP -----------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_up(url: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=1).status_code < 500:
                return
        except httpx.HTTPError:
            time.sleep(0.2)
    raise RuntimeError(f"{url} did not come up")


@dataclass
class Row:
    label: str
    who: str
    status: int
    ms: list[float]

    def p(self, q: float) -> float:
        return common.pct(self.ms, q)


def timed(
    c: httpx.Client, path: str, n: int, warmup: int, budget: float
) -> tuple[int, list[float]]:
    """The status (the first that is not 200, if any) and the timed GETs in ms. A page
    slower than the budget allows (seconds, warm-up included) gets fewer GETs, at least
    one timed."""
    start = time.monotonic()
    deadline = start + budget
    statuses = []
    for _ in range(warmup):
        statuses.append(c.get(path).status_code)
        if time.monotonic() > start + budget / 2:
            break
    out: list[float] = []
    for _ in range(n):
        t0 = time.perf_counter()
        r = c.get(path)
        out.append((time.perf_counter() - t0) * 1000)
        statuses.append(r.status_code)
        if time.monotonic() > deadline:
            break
    return next((x for x in statuses if x != 200), 200), out


def api_paths(r: Reader) -> list[str]:
    if r.role == PROCESSING_CENTRE:
        return [f"/lots?custodian={r.actor}", f"/offers?from={r.actor}", "/actors", "/sites"]
    if r.role == BUYER:
        return [f"/offers?to={r.actor}", f"/lots?owner={r.actor}"]
    if r.role == PARTNERSHIP:
        return [f"/actors/{r.actor}/deliveries", f"/sites?owner={r.actor}", "/lots"]
    if r.role in (REGULATOR, ADMINISTRATOR):
        return ["/lots", "/offers", "/actors?role=partnership", "/actors", "/sites"]
    return []


def measure(args: argparse.Namespace, url: str, readers: list[Reader]) -> list[Row]:
    port = free_port()
    env = {
        **os.environ,
        "ALTAN_RATE_LIMIT_PER_MINUTE": "1000000",
        "ALTAN_DATA_DIR": str(CACHE / args.db / "data"),
        "ALTAN_DATABASE_URL": url,
        "PYTHONPATH": str(ROOT),
        "ALTAN_ACCESS_LOG": "false",
    }
    log = open(CACHE / args.db / "server.log", "wb")  # noqa: SIM115 - closed below
    server = subprocess.Popen(
        [str(BIN / "altan"), "serve", "--port", str(port), "--workers", "1"],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    rows: list[Row] = []
    base = f"http://127.0.0.1:{port}"
    try:
        wait_up(base + "/healthz")
        for r in readers:
            with httpx.Client(base_url=base, timeout=60) as c:
                resp = c.post("/app/session", json={"username": r.username, "password": PASSWORD})
                if resp.status_code != 200:
                    print(f"  {r.role}: sign-in failed {resp.status_code} {resp.text[:200]}")
                    continue
                # `/app` sends a role with pages of its own to them (303): not timed then
                for href in dict.fromkeys(i.href for i in NAV.get(r.role, HOME_NAV)):
                    if args.pages and not re.search(args.pages, href):
                        continue
                    status, ms = timed(c, href, args.requests, args.warmup, args.page_seconds)
                    rows.append(Row(href, f"{r.role} {r.actor}", status, ms))
                    print_row(rows[-1], args.target_ms)
            with httpx.Client(
                base_url=base, timeout=60, headers={"Authorization": f"Bearer {r.token}"}
            ) as c:
                for path in api_paths(r):
                    if args.pages and not re.search(args.pages, path):
                        continue
                    status, ms = timed(c, path, args.requests, args.warmup, args.page_seconds)
                    rows.append(Row("GET " + path, f"{r.role} {r.actor}", status, ms))
                    print_row(rows[-1], args.target_ms)
    finally:
        server.terminate()
        server.wait(timeout=30)
        log.close()
    return rows


def print_row(row: Row, target: float) -> None:
    ok = "ok" if row.status == 200 and row.p(0.95) < target else "MISSED"
    if row.status != 200:
        ok = f"HTTP {row.status}"
    print(
        f"  {row.label:<44} {row.who:<36} n={len(row.ms):<3} p50 {row.p(0.5):7.1f}  "
        f"p95 {row.p(0.95):7.1f}  p99 {row.p(0.99):7.1f} ms  {ok}",
        flush=True,
    )


def counts(url: str) -> str:
    eng = create_engine(url)
    with eng.connect() as conn:
        parts = []
        for table in ("log_entries", "actors", "sites", "lots", "offers", "cases", "certificates"):
            try:
                n = conn.execute(text(f"SELECT count(*) FROM {table}")).scalar_one()
            except Exception:
                conn.rollback()
                continue
            parts.append(f"{table} {n:,}")
    eng.dispose()
    return ", ".join(parts)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--entries", type=int, default=1_000_000, help="log entries to fill")
    ap.add_argument("--requests", type=int, default=50, help="timed GETs per page")
    ap.add_argument("--warmup", type=int, default=3, help="untimed GETs per page first")
    ap.add_argument(
        "--page-seconds", type=float, default=30.0, help="time budget per page (fewer GETs)"
    )
    ap.add_argument("--centres", type=int, default=36)
    ap.add_argument("--buyers", type=int, default=12)
    ap.add_argument("--target-ms", type=float, default=150.0)
    ap.add_argument("--db", default="altan_bench_console")
    ap.add_argument(
        "--pg-url", default=DEFAULT_SERVER, help="the PostgreSQL server (no database name)"
    )
    ap.add_argument("--fill-only", action="store_true")
    ap.add_argument(
        "--batch", type=int, default=500, help="requests per submit_many transaction (500)"
    )
    ap.add_argument(
        "--reuse",
        action="store_true",
        help="use the existing database whatever its marker says, extended up to --entries",
    )
    ap.add_argument(
        "--copy-from", metavar="DB", help="a new database starts as a copy of DB (then extended)"
    )
    ap.add_argument(
        "--fill-minutes", type=float, default=0, help="stop filling after this long (0: never)"
    )
    ap.add_argument("--pages", metavar="PATTERN", help="only pages whose path matches (re)")
    args = ap.parse_args()
    if args.db in ("test", "postgres") or re.fullmatch(r"test_gw\d+", args.db):
        raise SystemExit(f"{args.db} is not a bench database")
    url = db_url(args.pg_url, args.db)
    print(f"bench/console.py: console pages at {args.entries:,} entries on PostgreSQL ({args.db})")
    common.print_machine(db_url(args.pg_url, "postgres"))
    fill(args, url)
    if args.fill_only:
        return
    print(f"database: {counts(url)}")
    readers = accounts(url, CACHE / args.db)
    print(
        f"pages: {args.requests} timed GETs each (after {args.warmup} untimed), one client, "
        f"one connection; target p95 < {args.target_ms:.0f} ms"
    )
    rows = measure(args, url, readers)
    missed = [r for r in rows if r.status != 200 or r.p(0.95) >= args.target_ms]
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    print(f"load average at the end: {load}")
    if missed:
        print(f"MISSED on {len(missed)} of {len(rows)}: " + ", ".join(r.label for r in missed))
    else:
        print(f"MET: all {len(rows)} pages p95 < {args.target_ms:.0f} ms")


if __name__ == "__main__":
    main()
