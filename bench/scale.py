"""A national decade on PostgreSQL: database size per event, proof latency, full audit and
rebuild time at millions of entries.

1. build `--entries` entries (default 5,000,000) on a fresh PostgreSQL schema with
   `Log.append` batches of 10,000 (the bench's synthetic ore deliveries, bench/common.py),
   printing the rate every million;
2. the size of the log tables (`pg_total_relation_size`: heap, indexes, TOAST) per entry;
3. inclusion and consistency proof latency (p50/p99 of 500 random queries each, half at the
   full size), each one read transaction as the API does it;
4. a full audit straight from the database (`ledger.audit.audit`, DatabaseSource, one
   process per core for the signatures): entries/s and peak RSS;
5. `altan rebuild` cannot replay synthetic entries (they are not domain events), so the
   rebuild is timed on a demo season of `--demo` real events on the same PostgreSQL and the
   per-event figure is given (see the closing note for what that extrapolates to).

Run: .venv/bin/python bench/scale.py [--entries 5000000] [--demo 20000]
"""

from __future__ import annotations

import argparse
import os
import random
import resource
import secrets
import tempfile
import time
from pathlib import Path

import common
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from ledger.audit import audit
from ledger.sql import storage
from ledger.sql.source import DatabaseSource
from services.actors.bootstrap import bootstrap_administrator
from services.demo import fill_demo
from services.domains import rebuild
from services.runtime import open_runtime
from services.settings import Settings

BATCH = 10_000


def build(bl: common.BenchLog, n: int) -> None:
    t0 = time.perf_counter()
    last = t0
    done = 0
    while done < n:
        k = min(BATCH, n - done)
        bl.log.append(common.make_events(k, seed=done), common.T0)
        done += k
        if done % 1_000_000 == 0 or done == n:
            now = time.perf_counter()
            print(
                f"  built {done:>10,} entries in {now - t0:7.1f} s "
                f"(last million at {1_000_000 / max(now - last, 1e-9):,.0f} /s)",
                flush=True,
            )
            last = now


def sizes(bl: common.BenchLog, n: int) -> None:
    tables = ["log_entries", "log_nodes", "log_checkpoints", "log_head", "log_keys"]
    with bl.engine.connect() as conn:
        total = 0
        for t in tables:
            b = conn.execute(text(f"SELECT pg_total_relation_size('{t}')")).scalar_one()
            total += int(b)
            print(f"  {t:<16} {int(b) / 2**20:10,.1f} MiB")
    print(f"  total            {total / 2**20:10,.1f} MiB = {total / n:,.0f} bytes per entry")


def proofs(bl: common.BenchLog, n: int) -> None:
    rnd = random.Random(7)
    inc: list[float] = []
    con: list[float] = []
    for i in range(500):
        size = n if i % 2 == 0 else rnd.randint(2, n)
        t0 = time.perf_counter()
        bl.log.inclusion_proof(rnd.randrange(size), size)
        inc.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        bl.log.consistency_proof(rnd.randint(1, size), size)
        con.append(time.perf_counter() - t0)
    print("  " + common.latency_line("inclusion proof", inc))
    print("  " + common.latency_line("consistency proof", con))


def full_audit(bl: common.BenchLog, n: int) -> None:
    t0 = time.perf_counter()
    report = audit(DatabaseSource(bl.new_engine()))
    took = time.perf_counter() - t0
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    kids = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    print(
        f"  full audit: {'OK' if report.ok else 'FAILED'} {n:,} entries in {took:.1f} s = "
        f"{n / took:,.0f} entries/s; peak RSS {rss:.0f} MiB (largest worker {kids:.0f} MiB)"
    )


def rebuild_rate(url: str, demo: int) -> None:
    schema = "bench_" + secrets.token_hex(5)
    admin = create_engine(url)
    with admin.begin() as conn:
        conn.execute(text(f"CREATE SCHEMA {schema}"))
    db_url = (
        make_url(url)
        .update_query_dict({"options": f"-csearch_path={schema}"})
        .render_as_string(hide_password=False)
    )
    try:
        with tempfile.TemporaryDirectory() as tmp:
            rt = open_runtime(Settings(data_dir=Path(tmp) / "data", database_url=db_url))
            try:
                bootstrap_administrator(rt.events)
                t0 = time.perf_counter()
                recorded, _ = fill_demo(rt.events, demo, seed=3)
                fill = time.perf_counter() - t0
                size = rt.log.size()
                t0 = time.perf_counter()
                with storage.write_transaction(rt.engine) as conn:
                    replayed = rebuild(conn)
                took = time.perf_counter() - t0
            finally:
                rt.close()
    finally:
        with admin.begin() as conn:
            conn.execute(text(f"DROP SCHEMA {schema} CASCADE"))
        admin.dispose()
    print(
        f"  demo season: {recorded:,} requests recorded as {size:,} entries in {fill:.1f} s "
        f"({recorded / fill:,.0f} /s through the rules); rebuild replayed {replayed:,} entries "
        f"in {took:.1f} s = {replayed / took:,.0f} /s"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--entries", type=int, default=5_000_000)
    ap.add_argument("--demo", type=int, default=20_000)
    ap.add_argument(
        "--pg-url", default=os.environ.get("ALTAN_TEST_POSTGRES_URL", common.DEFAULT_PG)
    )
    ap.add_argument("--skip-audit", action="store_true")
    args = ap.parse_args()
    print(f"bench/scale.py: {args.entries:,} entries on PostgreSQL")
    common.print_machine(args.pg_url)
    bl = common.postgres_log(args.pg_url)
    try:
        print("build:")
        build(bl, args.entries)
        print("size:")
        sizes(bl, args.entries)
        print("proofs:")
        proofs(bl, args.entries)
        if not args.skip_audit:
            print("audit:")
            full_audit(bl, args.entries)
    finally:
        bl.close()
    print("rebuild (real domain events):")
    rebuild_rate(args.pg_url, args.demo)


if __name__ == "__main__":
    main()
