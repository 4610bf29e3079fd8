"""Console latency at scale: every console page and the read API lists, over real HTTP, on
a PostgreSQL log of about a million entries (issue 13: every page p95 < 150 ms).

1. the season: a database of its own (`--db`, default `altan_bench_console`, created on
   `--pg-url`; never the tests' databases) filled through the real event pipeline
   (`EventService.submit_many`, batches of 200, every rule applies) with the demo's
   season (services/demo.py) widened to `--centres` processing centres and `--buyers`
   buyers: thousands of partnerships and their sites, ore deliveries, processing runs,
   assays, certificates, offers, acceptances, holds, spread over the season's 81 days,
   until the log holds `--entries` entries. bench/scale.py's fast path (`Log.append` of
   synthetic bodies) is no use here: the pages read the domain's tables, which only real
   events fill. A finished fill is kept (its data dir with the log key under
   var/bench/console/, a `complete` marker naming the size) and reused by later runs;
   an unfinished or different-sized one is dropped and filled again;
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
Run: .venv/bin/python bench/console.py [--entries 1000000] [--requests 50]
"""

from __future__ import annotations

import argparse
import os
import random
import re
import shutil
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
from sqlalchemy import create_engine, func, select, text
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


# --- 1. the season ---------------------------------------------------------------------------


class BenchSeason(demo.Season):
    """The demo's season, its days spread evenly over the fill (the demo's own clock runs
    to its last day within a few hundred requests)."""

    expected: int = 1
    issued: int = 0

    def when(self) -> str:
        self.issued += 1
        self.day = min(DAYS - 1, self.issued * DAYS // max(1, self.expected))
        month, dom = (8 + self.day // 28, 1 + self.day % 28)
        return f"2026-{month:02d}-{dom:02d}T{self.rnd.randint(8, 18):02d}:00:00+08:00"


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
    seed: int, expected: int, centres: int, buyers: int
) -> Iterator[tuple[Principal, Submission]]:
    """demo.season with more centres and buyers and the days spread over `expected`
    requests."""
    s = BenchSeason(random.Random(seed))
    s.expected = expected
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
            yield from demo._delivery(s)
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


def fill(args: argparse.Namespace, url: str) -> None:
    """A fresh database of about `args.entries` entries (or keep the finished one)."""
    home = CACHE / args.db
    marker = home / "complete"
    if marker.exists() and marker.read_text().split()[0] == f"{args.db}:{args.entries}":
        print(f"season: reusing {args.db} ({marker.read_text().strip()})")
        return
    admin = create_engine(db_url(args.pg_url, "postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{args.db}" WITH (FORCE)'))
        conn.execute(text(f'CREATE DATABASE "{args.db}"'))
    admin.dispose()
    marker.unlink(missing_ok=True)
    shutil.rmtree(home / "data", ignore_errors=True)
    home.mkdir(parents=True, exist_ok=True)
    widen_demo(args.centres, args.buyers)
    rt = open_runtime(settings_for(url, home))
    try:
        token = bootstrap_administrator(rt.events)
        (home / "admin-token").write_text(f"{token}\n")
        stream = season(3, int(args.entries / ENTRIES_PER_REQUEST), args.centres, args.buyers)
        recorded = refused = 0
        t0 = last = time.perf_counter()
        step = max(10_000, args.entries // 20)
        mark = step
        size = rt.log.size()
        while size < args.entries:
            batch = [next(stream) for _ in range(demo.BATCH)]
            for result in rt.events.submit_many(batch, atomic=False):
                if result.error is None:
                    recorded += 1
                else:
                    refused += 1
            size = rt.log.size()
            if size >= mark:
                now = time.perf_counter()
                print(
                    f"  filled {size:>9,} entries in {now - t0:7.1f} s "
                    f"({step / max(now - last, 1e-9):,.0f} entries/s lately; "
                    f"{recorded:,} requests recorded, {refused:,} refused)",
                    flush=True,
                )
                mark, last = size + step, now
        took = time.perf_counter() - t0
    finally:
        rt.close()
    eng = create_engine(url, isolation_level="AUTOCOMMIT")
    with eng.connect() as conn:
        conn.execute(text("VACUUM ANALYZE"))
    eng.dispose()
    marker.write_text(
        f"{args.db}:{args.entries} {size} entries, {recorded} requests ({refused} refused) "
        f"in {took:.0f} s, {args.centres} centres, {args.buyers} buyers\n"
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
                    status, ms = timed(c, href, args.requests, args.warmup, args.page_seconds)
                    rows.append(Row(href, f"{r.role} {r.actor}", status, ms))
                    print_row(rows[-1], args.target_ms)
            with httpx.Client(
                base_url=base, timeout=60, headers={"Authorization": f"Bearer {r.token}"}
            ) as c:
                for path in api_paths(r):
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
