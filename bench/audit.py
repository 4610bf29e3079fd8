"""Full-audit throughput and memory, against the machine's raw Ed25519 verify rate.

1. Raw rate: cryptography's Ed25519PublicKey.verify over messages exactly like our receipts
   (b"altan/entry/v1\\n" + a 32-byte leaf hash, 47 bytes), in 1 process and in one process
   per core (multiprocessing), each looping over the same pre-made signatures for a while.
2. Audit: `ledger.audit.audit(DatabaseSource(engine))` of SQLite logs (default 50,000 and
   200,000 entries, built once with batches of 10,000 and kept under var/bench/), with
   workers = all cores and workers = 1. Each audit runs in a fresh child interpreter so
   that its peak RSS (resource.getrusage) is the audit's own: flat memory means the same
   peak for both sizes. The ratio audit rate / raw all-core verify rate has a target of 0.7.

Run: .venv/bin/python bench/audit.py --help
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import common
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

RECEIPT_CONTEXT = b"altan/entry/v1\n"

# --- raw verify rate ---------------------------------------------------------------------

_pairs: list[tuple[bytes, bytes]] = []
_public = b""


def _init(public: bytes, pairs: list[tuple[bytes, bytes]]) -> None:
    global _public
    _public = public
    _pairs[:] = pairs


def _verify_for(seconds: float) -> int:
    """Verify the pre-made signatures in a loop for `seconds`; return how many."""
    key = Ed25519PublicKey.from_public_bytes(_public)
    done = 0
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        for sig, msg in _pairs:
            key.verify(sig, msg)
        done += len(_pairs)
    return done


def raw_verify_rates(seconds: float, procs: int) -> tuple[float, float]:
    """(verifies/s in this one process, verifies/s summed over `procs` processes)."""
    key = Ed25519PrivateKey.generate()
    pairs = []
    for _ in range(1000):
        msg = RECEIPT_CONTEXT + os.urandom(32)
        pairs.append((key.sign(msg), msg))
    public = key.public_key().public_bytes_raw()
    _init(public, pairs)
    _verify_for(0.2)  # warm up
    one = _verify_for(seconds) / seconds
    with multiprocessing.Pool(procs, initializer=_init, initargs=(public, pairs)) as pool:
        pool.map(_verify_for, [0.2] * procs)  # warm up: every worker started
        counts = pool.map(_verify_for, [seconds] * procs)
    return one, sum(counts) / seconds


# --- one audit in a child interpreter ------------------------------------------------------


def _current_rss_kib() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def child(url: str, workers: int) -> None:
    """Run one audit and print its figures as JSON (called as `audit.py --child`)."""
    from ledger.audit import audit
    from ledger.sql.source import DatabaseSource
    from ledger.sql.storage import make_engine

    engine = make_engine(url)
    before = _current_rss_kib()
    started = time.perf_counter()
    report = audit(DatabaseSource(engine), workers=workers)
    took = time.perf_counter() - started
    engine.dispose()
    print(
        json.dumps(
            {
                "ok": report.ok,
                "failure": None if report.failure is None else report.failure.message,
                "entries": report.entries_verified,
                "checkpoints": report.checkpoints_verified,
                "seconds": took,
                "rss_before_kib": before,
                "rss_peak_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
                "rss_worker_peak_kib": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss,
            }
        )
    )


def run_child(url: str, workers: int) -> dict[str, object]:
    out = subprocess.run(
        [sys.executable, __file__, "--child", url, "--workers", str(workers)],
        check=True,
        capture_output=True,
        text=True,
    )
    result: dict[str, object] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--sizes", default="50000,200000", help="log sizes, comma separated")
    ap.add_argument("--batch", type=int, default=10_000, help="events per append while building")
    ap.add_argument(
        "--cache",
        type=Path,
        default=common.ROOT / "var" / "bench",
        help="where built logs are kept",
    )
    ap.add_argument(
        "--verify-seconds", type=float, default=3.0, help="length of each raw verify run"
    )
    ap.add_argument("--pg-url", default=common.DEFAULT_PG, help="PostgreSQL to name (version only)")
    ap.add_argument("--target", type=float, default=0.7, help="target audit / raw all-core ratio")
    ap.add_argument("--child", metavar="URL", help=argparse.SUPPRESS)
    ap.add_argument("--workers", type=int, default=0, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child(args.child, args.workers)
        return

    n_cores = common.cores()
    print("bench/audit.py: full audit")
    common.print_machine(args.pg_url or None)
    one, every = raw_verify_rates(args.verify_seconds, n_cores)
    print("raw Ed25519 verify (cryptography, 47-byte receipt messages):")
    print(f"  1 process:                {one:>9,.0f} verifies/s")
    print(f"  {n_cores} processes (all cores): {every:>9,.0f} verifies/s ({every / one:.2f}x)")
    print()

    args.cache.mkdir(parents=True, exist_ok=True)
    sizes = [int(s) for s in args.sizes.split(",")]
    rows = []
    for size in sizes:
        bl, took = common.cached_sqlite_log(size, args.batch, args.cache)
        bl.close()
        how = f"built in {took:.1f} s" if took else f"reused from cache ({common.build_note(bl)})"
        print(f"log of {size:,} entries (SQLite, {how}):")
        for workers in (n_cores, 1):
            r = run_child(bl.url, workers)
            rate = float(str(r["entries"])) / float(str(r["seconds"]))
            status = "ok" if r["ok"] else f"FAILED: {r['failure']}"
            rows.append((size, workers, rate, r))
            vs = f"{rate / every:.2f} of raw all-core, {rate / one:.2f} of raw 1-process"
            print(
                f"  audit, workers={workers}: {r['entries']:,} entries + {r['checkpoints']:,} "
                f"checkpoints in {r['seconds']:6.2f} s = {rate:>7,.0f} entries/s ({vs}); {status}"
            )
        print()

    print("RSS (MiB), audit process: just before audit() / peak (getrusage); largest worker: peak")
    for size, workers, _, r in rows:
        before, peak, worker = (
            int(str(r[k])) / 1024 for k in ("rss_before_kib", "rss_peak_kib", "rss_worker_peak_kib")
        )
        w = f"{worker:7.1f}" if workers > 1 else "      -"
        print(f"  {size:>9,} entries, workers={workers}: {before:7.1f} / {peak:7.1f}; {w}")
    print()
    one2, every2 = raw_verify_rates(args.verify_seconds, n_cores)
    print(
        f"raw Ed25519 verify measured again after the audits: 1 process {one2:,.0f}/s, "
        f"{n_cores} processes {every2:,.0f}/s"
    )
    every = (every + every2) / 2
    best = max(rate for size, workers, rate, _ in rows if workers == n_cores and size == max(sizes))
    verdict = "MET" if best / every >= args.target else "MISSED"
    print(
        f"target: audit rate / raw all-core verify rate >= {args.target}: "
        f"{best:,.0f} / {every:,.0f} (mean of both raw runs) = {best / every:.2f} -> {verdict}"
    )


if __name__ == "__main__":
    main()
