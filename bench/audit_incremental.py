"""Incremental audit over HTTP: 10,000 new entries on top of a 1,000,000-entry log.

1. The cached SQLite log of bench/proofs.py (var/bench/log-1000000, built on first use) is
   copied to a scratch folder and served by `altan serve` (one uvicorn worker, no access
   log; the copy is stamped at the log-only migration so the service adds its domain tables
   and keeps the log as it is).
2. Full audit over HTTP, with a trusted state (`altan audit URL`'s code path:
   `clients.follow.Auditor` with a `RemoteLog`): every entry, from nothing; the state is
   saved. (`--trust-db` skips it and writes the state from the database instead, unverified:
   quicker, for looking at step 3 alone.)
3. `--new` entries (default 10,000) are appended to the log (batches of 1,000, one
   checkpoint each), then the incremental audit: checkpoint, consistency proof, the new
   entries only. Then one more round with nothing new.

Each audit runs in a fresh child interpreter, so its peak RSS (getrusage) is its own; the
server runs beside it on the same cores. Figures: seconds, entries/s, bytes fetched
(response bodies), requests, peak RSS. Not a test: nothing is asserted but the verdicts.

Run: .venv/bin/python bench/audit_incremental.py --help
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import sqlite3
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import common
import httpx

BIN = Path(sys.executable).parent


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_up(url: str, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=2).status_code < 500:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"{url} did not come up in {timeout:.0f} s")


# --- one audit round in a child interpreter -------------------------------------------------


def child(url: str, state: str, workers: int) -> None:
    """Run one round of `altan audit URL --state STATE` and print its figures as JSON."""
    from clients.follow import Auditor
    from clients.remote import RemoteLog

    with RemoteLog(url, timeout=300) as source:
        auditor = Auditor(source, url, state=Path(state), workers=workers)
        r = auditor.run_round()
    o = r.outcome
    print(
        json.dumps(
            {
                "exit_code": r.exit_code,
                "error": r.error,
                "failure": None
                if o is None or o.report.failure is None
                else o.report.failure.message,
                "evidence": None if o is None or o.evidence is None else o.evidence.message,
                "old_size": o.old_size if o else None,
                "new_size": o.new_size if o else None,
                "entries_verified": o.report.entries_verified if o else 0,
                "seconds": r.seconds,
                "bytes": r.bytes_fetched,
                "requests": r.requests,
                "entries_fetched": r.entries_fetched,
                "rss_peak_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
                "rss_worker_peak_kib": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss,
            }
        )
    )


def run_child(url: str, state: Path, workers: int) -> dict[str, object]:
    out = subprocess.run(
        [
            sys.executable,
            __file__,
            "--child",
            url,
            "--state",
            str(state),
            "--workers",
            str(workers),
        ],
        check=True,
        capture_output=True,
        text=True,
    )
    result: dict[str, object] = json.loads(out.stdout.strip().splitlines()[-1])
    if result["exit_code"] != 0:
        raise SystemExit(f"audit did not verify: {result}")
    return result


def trust_database(bl: common.BenchLog, state: Path) -> None:
    """Write a trusted state straight from the database (no audit: `--trust-db`)."""
    from ledger.audit import AuditReport, StateReplay, TrustedKey
    from ledger.checkpoint import Checkpoint
    from ledger.entry import Entry
    from ledger.merkle import CompactRange
    from ledger.note import Note
    from ledger.sql import storage
    from ledger.trusted import StateFile, TrustedState

    with storage.read_transaction(bl.engine) as conn:
        cp = storage.latest_checkpoint(conn)
        assert cp is not None
        tree = CompactRange.load(storage.NodeTable(conn), cp.size)
        [last] = storage.read_entries(conn, cp.size - 1, cp.size)
        keys = [TrustedKey(k.name, k.key_id, k.public_key) for k in storage.read_keys(conn)]
    checkpoint = Checkpoint.from_text(Note.from_text(cp.note).text)
    replay = StateReplay()  # the lots' states too, or the next audit would replay them all
    for data in bl.entry_bytes(0, cp.size):
        replay.apply(Entry.from_bytes(data))
    replay.tree_root = checkpoint.root_hash
    report = AuditReport(
        checkpoint,
        cp.size,
        0,
        None,
        frontier=tuple(tree.hashes),
        last_leaf=last.leaf_hash,
        replay=replay,
    )
    st = TrustedState.from_report(report, cp.note, keys, verified_at="1970-01-01T00:00:00.000000Z")
    StateFile(state).save(st)


# --- the run ---------------------------------------------------------------------------------


def serve_copy(bl: common.BenchLog) -> tuple[subprocess.Popen[bytes], str]:
    """`altan serve` on the scratch copy; returns the process and its base URL."""
    db = bl.tmpdir / "log.db"
    with sqlite3.connect(db) as conn:  # the log tables exist: start the migrations after them
        conn.execute("CREATE TABLE alembic_version (version_num VARCHAR(32) PRIMARY KEY)")
        conn.execute("INSERT INTO alembic_version VALUES ('0001_log')")
    port = free_port()
    env = {
        **os.environ,
        "ALTAN_DATA_DIR": str(bl.tmpdir),
        "ALTAN_DATABASE_URL": f"sqlite:///{db}",
        "ALTAN_LOG_ORIGIN": common.ORIGIN,
        "ALTAN_ACCESS_LOG": "false",
        "ALTAN_ENTRIES_PAGE_MAX": "1000",
        "PYTHONPATH": str(common.ROOT),
    }
    log = (bl.tmpdir / "server.log").open("wb")
    proc = subprocess.Popen(
        [str(BIN / "altan"), "serve", "--port", str(port)], env=env, stdout=log, stderr=log
    )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_up(base + "/log/checkpoint")
    except RuntimeError:
        proc.terminate()
        proc.wait(10)
        raise
    return proc, base


def line(label: str, r: dict[str, object]) -> str:
    secs = float(str(r["seconds"]))
    n = int(str(r["entries_verified"]))
    rate = f"{n / secs:>9,.0f} entries/s" if n else "        - entries/s"
    mib = int(str(r["bytes"])) / 2**20
    return (
        f"  {label:<34} {r['old_size']:>9,} -> {r['new_size']:>9,}: {n:>9,} entries in "
        f"{secs:7.2f} s = {rate}; {int(str(r['bytes'])):>12,} bytes ({mib:7.1f} MiB) in "
        f"{r['requests']:>5,} requests; peak RSS {int(str(r['rss_peak_kib'])) / 1024:6.1f} MiB"
    )


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--size", type=int, default=1_000_000, help="entries in the log at first")
    ap.add_argument("--new", type=int, default=10_000, help="entries appended, then audited")
    ap.add_argument("--batch", type=int, default=10_000, help="events per append while building")
    ap.add_argument(
        "--cache", type=Path, default=common.ROOT / "var" / "bench", help="where logs are kept"
    )
    ap.add_argument("--workers", type=int, default=0, help="audit processes (0: all cores)")
    ap.add_argument(
        "--trust-db",
        action="store_true",
        help="skip the full audit over HTTP: write the first state from the database",
    )
    ap.add_argument("--child", metavar="URL", help=argparse.SUPPRESS)
    ap.add_argument("--state", help=argparse.SUPPRESS)
    args = ap.parse_args()
    workers = args.workers or common.cores()
    if args.child:
        child(args.child, args.state, workers)
        return

    print("bench/audit_incremental.py: incremental audit over HTTP (altan serve, SQLite)")
    common.print_machine(None)
    args.cache.mkdir(parents=True, exist_ok=True)
    cached, took = common.cached_sqlite_log(args.size, args.batch, args.cache)
    how = f"built in {took:.1f} s" if took else f"reused ({common.build_note(cached)})"
    cached.close()
    started = time.perf_counter()
    bl = common.copy_cached_log(args.size, args.cache)
    assert bl is not None
    mib = (bl.tmpdir / "log.db").stat().st_size / 2**20
    print(
        f"log: {args.size:,} entries ({how}), scratch copy {mib:,.0f} MiB in "
        f"{time.perf_counter() - started:.1f} s at {bl.tmpdir}"
    )
    proc, base = serve_copy(bl)
    state = bl.tmpdir / "trusted-state.json"
    print(f"server: altan serve at {base} (pid {proc.pid}); audit workers: {workers}")
    print()
    try:
        print("rounds (old size -> new size):")
        if args.trust_db:
            trust_database(bl, state)
            print("  first state written from the database (--trust-db), not audited")
        else:
            print(line("full audit over HTTP (no state)", run_child(base, state, workers)))
        t0 = time.perf_counter()
        size = bl.log.size()
        for start in range(0, args.new, 1000):
            k = min(1000, args.new - start)
            events = common.make_events(k, seed=size + start)
            bl.log.append(events, common.T0 + timedelta(days=1, seconds=start))
        appended = time.perf_counter() - t0
        print(f"  (appended {args.new:,} entries in {appended:.1f} s, one checkpoint per 1,000)")
        inc = run_child(base, state, workers)
        print(line(f"incremental, {args.new:,} new entries", inc))
        print(line("incremental, nothing new", run_child(base, state, workers)))
        print()
        fetched = int(str(inc["entries_fetched"]))
        print(
            f"incremental round: {fetched:,} entries fetched for {args.new:,} new "
            f"({int(str(inc['bytes'])) / max(fetched, 1):,.0f} bytes per entry fetched, "
            "checkpoint and proof included)"
        )
        saved = json.loads(state.read_text())
        print(
            f"trusted state file: {state.stat().st_size:,} bytes, size {saved['size']:,}, "
            f"{len(saved['compact_range'])} compact-range hashes"
        )
    finally:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
        bl.close()
        shutil.rmtree(bl.tmpdir, ignore_errors=True)


if __name__ == "__main__":
    main()
