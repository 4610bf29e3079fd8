"""Append throughput of the log, on SQLite and PostgreSQL, beside tlog-scales and pymerkle.

Phases 1-3 share one fresh log per backend (SQLite: a file in a temp dir, WAL); each
group-commit run gets a fresh log of its own:

1. single appends: one event per `Log.append` (one transaction, one checkpoint each);
2. batched appends: `Log.append` of `--batch` events at a time;
3. single appends again, now on top of the batched entries (shows what log size costs);
4. group commit: `--threads` threads (16, then 64) each calling `GroupCommitter.append`
   (one event) in a loop, so concurrent single appends share transactions;
5. when bench/proofs.py has built var/bench/log-1000000, batched and single appends on a
   copy of it (one untimed append first), to show what a large log costs an append.

tlog-scales and pymerkle get the same number of leaves, in the same phases, and the very
same leaf bytes (our canonical entries, read back from our SQLite log), so all roots must
agree; the script checks they do. Run: .venv/bin/python bench/append.py --help
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import common
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from ledger.batcher import GroupCommitter
from ledger.entry import Event

WHAT_WE_DO = """\
per entry, ours: canonical JSON (RFC 8785, rfc8785 package) of the entry with its index,
  prev hash (chain) and time; SHA-256 leaf hash; an Ed25519 receipt signature; SQL insert
  of the entry row and of every perfect Merkle node it completes (~2 rows). Per append
  transaction: lock the log head, read the frontier and the last leaf, sign and store a
  C2SP checkpoint, move the head. SQLite: WAL, synchronous=NORMAL (a commit is not fsynced;
  the WAL is at checkpoint); PostgreSQL: default synchronous_commit (fsync per commit).
per entry, tlog-scales 0.0.3 (TilesWriter.add_leaf + commit, as its README/source show):
  2-byte length prefix into an entry tile, SHA-256 leaf hash into a level-0 tile; per
  commit: every touched tile file rewritten (partial tiles copied) with fsync + dir fsync,
  full tiles hashed up a level, the root from the tiles, one Ed25519 checkpoint signature.
  No per-entry signature, no chain, no SQL. Leaves arrive as ready bytes.
per entry, pymerkle 7.0.0 SqliteTree (append_entries per batch, append_entry per single):
  SHA-256 leaf hash, one INSERT of (entry, hash); no interior nodes (proofs re-hash
  leaves), no signature, no checkpoint. Run as shipped (rollback journal,
  synchronous=FULL) and with our pragmas (WAL, synchronous=NORMAL). Leaves: ready bytes.
per entry, pymerkle InmemoryTree: SHA-256 leaf hash, a Python node object and a re-hash
  of the right spine (O(log n) hashes); nothing persisted.
"""


@dataclass
class Phase:
    name: str
    n: int
    seconds: float
    batches: int = 0

    @property
    def rate(self) -> float:
        return self.n / self.seconds


def clock() -> datetime:
    return datetime.now(UTC)


# --- ours --------------------------------------------------------------------------------


def run_ours(
    bl: common.BenchLog,
    singles: Sequence[Event],
    batched: Sequence[Event],
    after: Sequence[Event],
    batch: int,
) -> list[Phase]:
    phases = []
    start = time.perf_counter()
    for ev in singles:
        bl.log.append([ev], clock())
    phases.append(Phase("single appends (1 event / transaction)", len(singles), _since(start)))

    start = time.perf_counter()
    for chunk in common.batches(batched, batch):
        bl.log.append(chunk, clock())
    phases.append(
        Phase(f"batched appends ({batch} events / transaction)", len(batched), _since(start))
    )

    size = bl.log.size()
    start = time.perf_counter()
    for ev in after:
        bl.log.append([ev], clock())
    phases.append(Phase(f"single appends again, from size {size:,}", len(after), _since(start)))
    return phases


def run_group_commit(
    bl: common.BenchLog, events: Sequence[Event], threads: int
) -> tuple[Phase, list[float]]:
    """`threads` threads each append their share one event at a time through one committer."""
    committer = GroupCommitter(bl.log, clock)
    shares = [events[i::threads] for i in range(threads)]
    latencies: list[list[float]] = [[] for _ in range(threads)]
    barrier = threading.Barrier(threads + 1)

    def worker(k: int) -> None:
        barrier.wait()
        out = latencies[k]
        for ev in shares[k]:
            t = time.perf_counter()
            committer.append(ev, timeout=120)
            out.append(time.perf_counter() - t)

    pool = [threading.Thread(target=worker, args=(k,)) for k in range(threads)]
    for t in pool:
        t.start()
    before = bl.checkpoints()
    barrier.wait()
    start = time.perf_counter()
    for t in pool:
        t.join()
    took = _since(start)
    committer.close()
    transactions = bl.checkpoints() - before
    name = f"group commit, {threads} threads x 1 event"
    return Phase(name, len(events), took, transactions), [x for xs in latencies for x in xs]


# --- theirs ------------------------------------------------------------------------------


def run_tlog_scales(
    work: Path, singles: list[bytes], batched: list[bytes], after: list[bytes], batch: int
) -> tuple[list[Phase], bytes]:
    from tlog_scales.signing import PlainEd25519Signer
    from tlog_scales.tlog import Checkpoint
    from tlog_scales.writer import TilesWriter

    writer = TilesWriter.create(work / "tiles", common.ORIGIN)
    signers = [PlainEd25519Signer(common.ORIGIN, Ed25519PrivateKey.generate())]

    def commit_each(leaves: list[bytes]) -> float:
        start = time.perf_counter()
        for leaf in leaves:
            writer.add_leaf(leaf)
            writer.commit(signers)
        return _since(start)

    phases = [Phase("single appends", len(singles), commit_each(singles))]
    start = time.perf_counter()
    for chunk in common.batches(batched, batch):
        for leaf in chunk:
            writer.add_leaf(leaf)
        writer.commit(signers)
    phases.append(Phase("batched appends", len(batched), _since(start)))
    phases.append(Phase("single appends again", len(after), commit_each(after)))
    root = Checkpoint.from_text((work / "tiles" / "checkpoint").read_text()).root_hash
    return phases, root


def run_pymerkle_sqlite(
    path: Path,
    singles: list[bytes],
    batched: list[bytes],
    after: list[bytes],
    batch: int,
    wal: bool,
) -> tuple[list[Phase], bytes]:
    from pymerkle import SqliteTree

    tree = SqliteTree(str(path))
    if wal:
        tree.con.execute("PRAGMA journal_mode=WAL")
        tree.con.execute("PRAGMA synchronous=NORMAL")
    phases = [Phase("single appends", len(singles), _each(tree.append_entry, singles))]
    start = time.perf_counter()
    for chunk in common.batches(batched, batch):
        tree.append_entries(chunk)
    phases.append(Phase("batched appends", len(batched), _since(start)))
    phases.append(Phase("single appends again", len(after), _each(tree.append_entry, after)))
    root = tree.get_root()
    tree.close()
    return phases, root


def run_pymerkle_memory(
    singles: list[bytes], batched: list[bytes], after: list[bytes], batch: int
) -> tuple[list[Phase], bytes]:
    from pymerkle import InmemoryTree

    tree = InmemoryTree()
    phases = [Phase("single appends", len(singles), _each(tree.append_entry, singles))]
    start = time.perf_counter()
    for chunk in common.batches(batched, batch):
        tree.append_entries(chunk)
    phases.append(Phase("batched appends", len(batched), _since(start)))
    phases.append(Phase("single appends again", len(after), _each(tree.append_entry, after)))
    return phases, tree.get_root()


def _each(fn: Callable[[bytes], object], leaves: list[bytes]) -> float:
    start = time.perf_counter()
    for leaf in leaves:
        fn(leaf)
    return _since(start)


def _since(start: float) -> float:
    return time.perf_counter() - start


# --- report ------------------------------------------------------------------------------


def run_big(args: argparse.Namespace, events: Sequence[Event]) -> None:
    """Batched and single appends on a copy of a large cached log: does size cost?"""
    started = time.perf_counter()
    bl = common.copy_cached_log(args.big, common.ROOT / "var" / "bench")
    if bl is None:
        print(f"big log: var/bench/log-{args.big} absent (bench/proofs.py builds it); skipped\n")
        return
    try:
        copied = _since(started)
        size = bl.log.size()
        bl.log.append(events[-1:], clock())  # untimed: opens the file, warms SQLite's cache
        n = args.big_batches * args.batch
        batched, singles = events[:n], events[n:-1]
        start = time.perf_counter()
        for chunk in common.batches(batched, args.batch):
            bl.log.append(chunk, clock())
        phases = [
            Phase(
                f"batched appends ({args.batch} events / transaction)", len(batched), _since(start)
            )
        ]
        start = time.perf_counter()
        for ev in singles:
            bl.log.append([ev], clock())
        phases.append(Phase("single appends (1 event / transaction)", len(singles), _since(start)))
    finally:
        bl.close()
    print_phases(
        f"ours, sqlite, on a copy of a {size:,}-entry log (copied in {copied:.1f} s):", phases
    )
    print()


def print_phases(title: str, phases: list[Phase]) -> None:
    print(title)
    for p in phases:
        extra = ""
        if p.batches:
            extra = f"({p.batches} transactions, mean {p.n / p.batches:.1f} events each)"
        print("  " + common.rate_line(p.name, p.n, p.seconds, extra))


def backend_run(kind: str, args: argparse.Namespace) -> common.BenchLog:
    if kind == "sqlite":
        return common.sqlite_log()
    return common.postgres_log(args.pg_url)


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--singles", type=int, default=2000, help="single appends (default 2000)")
    ap.add_argument(
        "--batched", type=int, default=50_000, help="events appended in batches on SQLite"
    )
    ap.add_argument(
        "--batched-pg", type=int, default=20_000, help="events appended in batches on PostgreSQL"
    )
    ap.add_argument("--batch", type=int, default=1000, help="events per batch (default 1000)")
    ap.add_argument("--after", type=int, default=500, help="single appends after the batches")
    ap.add_argument("--group", type=int, default=20_000, help="events through the group committer")
    ap.add_argument(
        "--threads",
        type=lambda v: [int(x) for x in v.split(",")],
        default=[16, 64],
        help="threads feeding the group committer, comma separated runs (default 16,64)",
    )
    ap.add_argument("--pg-url", default=common.DEFAULT_PG, help="PostgreSQL URL ('' to skip)")
    ap.add_argument(
        "--big",
        type=int,
        default=1_000_000,
        help="also append to a copy of the cached log of this size that bench/proofs.py "
        "builds under var/bench (skipped when absent; 0 to skip)",
    )
    ap.add_argument("--big-batches", type=int, default=20, help="batches appended to the big log")
    ap.add_argument("--big-singles", type=int, default=100, help="single appends to the big log")
    ap.add_argument("--no-others", action="store_true", help="skip tlog-scales and pymerkle")
    ap.add_argument("--target", type=float, default=10_000, help="batched SQLite target, events/s")
    args = ap.parse_args()

    print("bench/append.py: append throughput")
    common.print_machine(args.pg_url or None)
    print(WHAT_WE_DO)
    pg_ok = bool(args.pg_url) and common.postgres_reachable(args.pg_url) is not None

    total = args.singles + max(args.batched, args.batched_pg) + args.after
    events = common.make_events(total + args.group, seed=7)
    group_events = events[total:]
    results: dict[str, list[Phase]] = {}
    sqlite_root = b""
    leaves: list[bytes] = []

    for kind in ["sqlite", "postgresql"] if pg_ok else ["sqlite"]:
        n_batched = args.batched if kind == "sqlite" else args.batched_pg
        singles = events[: args.singles]
        batched = events[args.singles : args.singles + n_batched]
        after = events[args.singles + n_batched : args.singles + n_batched + args.after]
        bl = backend_run(kind, args)
        try:
            phases = run_ours(bl, singles, batched, after, args.batch)
            if kind == "sqlite":
                size = bl.log.size()
                sqlite_root = bl.log.checkpoint().root_hash
                leaves = list(bl.entry_bytes(0, size))
        finally:
            bl.close()
        lats = []
        for threads in args.threads:
            bl = backend_run(kind, args)
            try:
                group, lat = run_group_commit(bl, group_events, threads)
            finally:
                bl.close()
            phases.append(group)
            lats.append((threads, lat))
        results[kind] = phases
        print_phases(f"ours, {kind}:", phases)
        for threads, lat in lats:
            print("  " + common.latency_line(f"group commit, {threads} threads: one append()", lat))
        if kind == "sqlite":
            for p in (phases[1], phases[3]):
                verdict = "MET" if p.rate >= args.target else "MISSED"
                print(
                    f"  target >= {args.target:,.0f} events/s, {p.name}: {p.rate:,.0f} -> {verdict}"
                )
        print()
    if not pg_ok:
        print(f"PostgreSQL skipped: {args.pg_url or 'no URL'} not reachable\n")
    if args.big:
        run_big(
            args, common.make_events(args.big_batches * args.batch + args.big_singles + 1, seed=11)
        )

    if args.no_others:
        return
    ours = results["sqlite"]
    s, b = args.singles, args.batched
    parts = (leaves[:s], leaves[s : s + b], leaves[s + b :])
    work = Path(tempfile.mkdtemp(prefix="altan-bench-others-"))
    try:
        others = {
            "tlog-scales (tiles on local disk)": run_tlog_scales(work, *parts, args.batch),
            "pymerkle SqliteTree, as shipped": run_pymerkle_sqlite(
                work / "pm-default.db", *parts, args.batch, wal=False
            ),
            "pymerkle SqliteTree, WAL + synchronous=NORMAL": run_pymerkle_sqlite(
                work / "pm-wal.db", *parts, args.batch, wal=True
            ),
            "pymerkle InmemoryTree": run_pymerkle_memory(*parts, args.batch),
        }
    finally:
        shutil.rmtree(work, ignore_errors=True)

    print(f"the others, same {len(leaves):,} leaves (our SQLite entries), same phases:")
    for name, (phases, root) in others.items():
        same = "same root as ours" if root == sqlite_root else "ROOT DIFFERS FROM OURS"
        print_phases(f"{name}: {same}", phases)
    print()
    print("ratios, our SQLite rate / their rate (> 1: we are faster):")
    header = f"  {'':<48}" + "".join(f"{p.name.split(' (')[0].split(',')[0]:>24}" for p in ours[:3])
    print(header)
    for name, (phases, _) in others.items():
        cells = "".join(f"{ours[i].rate / phases[i].rate:>24.3g}" for i in range(3))
        print(f"  {name:<48}{cells}")


if __name__ == "__main__":
    main()
