"""Backup export and import: time and peak memory for logs of N entries.

For each size (default 20,000 and 100,000 entries: flat memory means the same peak for
both), a SQLite log built once by `Log.append` batches of 10,000 (kept under var/bench/,
like bench/audit.py's) is

1. exported with `ledger.sql.backup.export_log` to a gzip file;
2. imported with `ledger.sql.backup.import_log` into a fresh SQLite database (and, with
   --pg-url, a fresh PostgreSQL schema): load, recompute the nodes, full audit with all
   cores, in one transaction. The projection rebuild that `altan import` adds is not
   measured: the bench events are not the domain's (see bench/common.py make_events).

Each step runs in a fresh child interpreter so that its peak RSS (getrusage) is its own;
the Python-heap peak comes from tracemalloc in a separate run of the same step (tracemalloc
slows the step down, so its time is not the one reported).

Run: .venv/bin/python bench/backup.py --help
"""

from __future__ import annotations

import argparse
import json
import resource
import secrets
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

import common


def _rss_now_kib() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def child(step: str, url: str, path: str, trace: bool, connect: str) -> None:
    """One export or import, figures printed as JSON (called as `backup.py --child`)."""
    from ledger.sql import backup, storage
    from ledger.sql.storage import make_engine

    args = {"options": connect} if connect else {}
    engine = make_engine(url, connect_args=args)
    before = _rss_now_kib()
    if trace:
        tracemalloc.start()
    started = time.perf_counter()
    if step == "export":
        with open(path, "wb") as out:
            summary = backup.export_log(engine, out, exported_at=common.T0)
    else:
        storage.create_schema(engine)
        with storage.write_transaction(engine) as conn, open(path, "rb") as stream:
            summary = backup.import_log(conn, stream)
    took = time.perf_counter() - started
    peak_heap = tracemalloc.get_traced_memory()[1] if trace else 0
    engine.dispose()
    print(
        json.dumps(
            {
                "entries": summary.size,
                "checkpoints": summary.checkpoints,
                "seconds": took,
                "rss_before_kib": before,
                "rss_peak_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
                "rss_worker_peak_kib": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss,
                "heap_peak_kib": peak_heap // 1024,
            }
        )
    )


def run_child(step: str, url: str, path: Path, trace: bool, connect: str = "") -> dict[str, float]:
    cmd = [sys.executable, __file__, "--child", step, "--url", url, "--file", str(path)]
    if trace:
        cmd.append("--trace")
    if connect:
        cmd.append(f"--connect={connect}")
    out = subprocess.run(cmd, check=True, capture_output=True, text=True)
    result: dict[str, float] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def _fresh_pg_schema(url: str) -> tuple[str, str]:
    from sqlalchemy import create_engine, text

    schema = "bench_" + secrets.token_hex(5)
    admin = create_engine(url)
    with admin.begin() as conn:
        conn.execute(text(f"CREATE SCHEMA {schema}"))
    admin.dispose()
    return schema, f"-csearch_path={schema}"


def _drop_pg_schema(url: str, schema: str) -> None:
    from sqlalchemy import create_engine, text

    admin = create_engine(url)
    with admin.begin() as conn:
        conn.execute(text(f"DROP SCHEMA IF EXISTS {schema} CASCADE"))
    admin.dispose()


def line(label: str, r: dict[str, float], heap: dict[str, float]) -> str:
    mib = 1024.0
    rate = r["entries"] / r["seconds"]
    worker = r["rss_worker_peak_kib"] / mib
    return (
        f"  {label:<18} {r['entries']:>9,.0f} entries + {r['checkpoints']:>6,.0f} checkpoints "
        f"in {r['seconds']:6.2f} s = {rate:>8,.0f} entries/s; RSS {r['rss_before_kib'] / mib:6.1f}"
        f" -> peak {r['rss_peak_kib'] / mib:6.1f} MiB"
        + (f" (audit workers peak {worker:5.1f})" if worker else "")
        + f"; Python heap peak {heap['heap_peak_kib'] / mib:5.1f} MiB"
    )


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--sizes", default="20000,100000", help="log sizes, comma separated")
    ap.add_argument("--batch", type=int, default=10_000, help="events per append while building")
    ap.add_argument(
        "--cache", type=Path, default=common.ROOT / "var" / "bench", help="where logs are kept"
    )
    ap.add_argument("--pg-url", default="", help="also import into PostgreSQL at this URL")
    ap.add_argument("--child", metavar="STEP", help=argparse.SUPPRESS)
    ap.add_argument("--url", help=argparse.SUPPRESS)
    ap.add_argument("--file", help=argparse.SUPPRESS)
    ap.add_argument("--connect", default="", help=argparse.SUPPRESS)
    ap.add_argument("--trace", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child(args.child, args.url, args.file, args.trace, args.connect)
        return

    print("bench/backup.py: altan export / import (ledger.sql.backup)")
    common.print_machine(args.pg_url or None)
    args.cache.mkdir(parents=True, exist_ok=True)
    for size in [int(s) for s in args.sizes.split(",")]:
        bl, took = common.cached_sqlite_log(size, args.batch, args.cache)
        bl.close()
        how = f"built in {took:.1f} s" if took else f"reused ({common.build_note(bl)})"
        print(f"log of {size:,} entries (SQLite, {how}):")
        with tempfile.TemporaryDirectory(prefix="altan-bench-backup-") as tmp:
            file = Path(tmp) / "backup.jsonl.gz"
            r = run_child("export", bl.url, file, trace=False)
            h = run_child("export", bl.url, file, trace=True)
            print(line("export", r, h) + f"; file {file.stat().st_size / 2**20:.1f} MiB")
            for n, trace in ((1, False), (2, True)):
                target = f"sqlite:///{tmp}/restored-{n}.db"
                result = run_child("import", target, file, trace=trace)
                if not trace:
                    r = result
            print(line("import (SQLite)", r, result))
            if args.pg_url:
                runs = []
                for trace in (False, True):
                    schema, connect = _fresh_pg_schema(args.pg_url)
                    try:
                        runs.append(run_child("import", args.pg_url, file, trace, connect))
                    finally:
                        _drop_pg_schema(args.pg_url, schema)
                print(line("import (PostgreSQL)", runs[0], runs[1]))
        print()


if __name__ == "__main__":
    main()
