"""The state map (issue 14): the pure map at scale, and its cost in the real append pipeline.

Two subcommands (each prints the machine first; `--quick` for a short run):

pure (the default): `ledger.statemap.StateMap` in memory, one core. Builds a map of N lots
  (default 1,000,000; keys SHA-256 of "lot-<i>", values random 32 bytes), then times
  - updates: `set` of a new value for a random existing lot (90%) or a new lot (10%), in
    batches; each batch ends with `take_changes()` (what a store would write), whose rows
    per update are reported;
  - proofs: `prove` for random members and non-members, p50 / p99 latency, and their size;
  - verification: `verify` of those proofs against the root.

append: batched appends through the real pipeline (`EventService.submit_many`, atomic=False,
  as the group committer and POST /events/batch call it) of `--sizes` ore.delivered items per
  batch (each a new lot, by a processing centre), on SQLite (a file in a temp dir, WAL) and on
  PostgreSQL (databases altan_bench_map_on / _off of their own, created and dropped here),
  with the state map on (closer = services.certificates.status.close, as the service runs)
  and off (closer=None: no state.root entry; the append publishes its checkpoint alone).
  Both services run side by side and take turns batch by batch (on, off, off, on, ...), so
  that load from other work on the machine falls on both alike. Figures: events/s each, the
  ratio on / off (target >= 0.8), the closer's own time per batch (the map update: find the
  touched lots, read their states, load their paths, write the changed nodes) and per event,
  and the whole closing step (closer + the state.root entry + the checkpoint) on vs off.
  At the end, `status_proof()` (state, map proof, state.root inclusion, checkpoint) on the
  map-on log it grew, for delivered and absent lots. By default both sides start empty (the
  map grows to the lots delivered: tens of thousands); `--from-proofs-db 1000000` starts both
  from copies of the database bench/status_proofs.py keeps (a map of 1,000,000 lots, a log of
  100,000 entries), to show what a large map costs an append.

Run: .venv/bin/python bench/statemap.py [pure] [--keys 1000000] [--updates 100000] [--quick]
     .venv/bin/python bench/statemap.py append [--sizes 1,100,1000] [--batches 300,100,30]
         [--backends sqlite,postgresql] [--pg-url URL] [--from-proofs-db LOTS] [--quick]
"""

from __future__ import annotations

import argparse
import random
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import common
from sqlalchemy.orm import Session

from ledger.entry import Event
from ledger.sql import statemap as store
from ledger.sql import storage
from ledger.sql.log import Log
from ledger.statemap import MapProof, StateMap, lot_key, verify
from services.certificates import status
from services.domains import REGISTRY
from services.identity import Principal
from services.pipeline import service as pipeline
from services.pipeline.service import Submission
from services.runtime import Runtime, open_runtime
from services.settings import Settings

# --- pure -----------------------------------------------------------------------------------


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def pure(args: argparse.Namespace) -> None:
    if args.quick:
        args.keys, args.updates, args.proofs = 100_000, 10_000, 2_000
    rnd = random.Random(args.seed)
    print("bench/statemap.py pure: the state map in memory, one core")
    common.print_machine(None)

    t = time.perf_counter()
    keys = [lot_key(f"lot-{i}") for i in range(args.keys)]
    entries = {key: rnd.randbytes(32) for key in keys}
    m = StateMap(entries)
    m.take_changes()
    built = time.perf_counter() - t
    print(f"build {args.keys:,} keys: {built:.1f} s ({args.keys / built:,.0f} keys/s)")
    print(f"  interior nodes {len(m.interior):,}, tips {len(m.tips):,}")

    # Updates, in batches, each followed by take_changes().
    fresh = args.keys
    ops: list[tuple[bytes, bytes]] = []
    for _ in range(args.updates):
        if rnd.random() < 0.1:
            key = lot_key(f"lot-{fresh}")
            fresh += 1
        else:
            key = keys[rnd.randrange(args.keys)]
        ops.append((key, rnd.randbytes(32)))
    rows = 0
    t = time.perf_counter()
    for start in range(0, len(ops), args.batch):
        for key, value in ops[start : start + args.batch]:
            m.set(key, value)
        changes = m.take_changes()
        rows += len(changes.values) + len(changes.interior) + len(changes.tips)
    took = time.perf_counter() - t
    print(
        f"updates: {args.updates / took:,.0f} /s ({took / args.updates * 1e6:.1f} us each, "
        f"batches of {args.batch}; {rows / args.updates:.1f} rows to write per update)"
    )

    # Proofs of members and non-members.
    members = [keys[rnd.randrange(args.keys)] for _ in range(args.proofs // 2)]
    absent = [rnd.randbytes(32) for _ in range(args.proofs - len(members))]
    root = m.root
    for label, sample in (("member", members), ("absent", absent)):
        latencies: list[float] = []
        proofs: list[tuple[bytes, MapProof]] = []
        for key in sample:
            t = time.perf_counter()
            proof = m.prove(key)
            latencies.append(time.perf_counter() - t)
            proofs.append((key, proof))
        t = time.perf_counter()
        for key, proof in proofs:
            verify(root, key, m.get(key), proof)
        verified = time.perf_counter() - t
        siblings = [len(p.siblings) for _, p in proofs]
        sizes = [len(p.to_bytes()) for _, p in proofs]
        others = sum(p.other is not None for _, p in proofs)
        print(
            f"{label} proofs: prove p50 {percentile(latencies, 0.5) * 1e6:.1f} us, "
            f"p99 {percentile(latencies, 0.99) * 1e6:.1f} us; "
            f"verify {len(proofs) / verified:,.0f} /s"
        )
        print(
            f"  non-empty siblings mean {statistics.mean(siblings):.1f} "
            f"(max {max(siblings)}), depth mean "
            f"{statistics.mean(p.depth for _, p in proofs):.1f}; bytes mean "
            f"{statistics.mean(sizes):.0f}, max {max(sizes)}"
            + (f"; {others} end at another key's leaf" if label == "absent" else "")
        )


# --- append: the map's cost in the pipeline ----------------------------------------------------

CENTRE = Principal(common.BENCH_CENTRE, "processing_centre")


class TimedEvents(pipeline.EventService):
    """The pipeline over every domain (as services.domains.EventService), with the state
    map on (the closer the service uses, timed) or off (no closer); `close` timed too."""

    def __init__(self, log: Log, settings: Settings, clock: Any, *, map_on: bool) -> None:
        super().__init__(
            log, settings, clock, REGISTRY, closer=self._timed_closer if map_on else None
        )
        self.closer_s: list[float] = []
        self.closer_cpu = 0.0  # this process's CPU seconds in the closer
        self.close_s: list[float] = []

    def _timed_closer(self, session: Session, start: int, end: int) -> Event:
        t, c = time.perf_counter(), time.process_time()
        out = status.close(session, start, end)
        self.closer_s.append(time.perf_counter() - t)
        self.closer_cpu += time.process_time() - c
        return out

    def close(self, session: Session, start: int, now: datetime) -> None:
        t = time.perf_counter()
        super().close(session, start, now)
        self.close_s.append(time.perf_counter() - t)


@dataclass
class Side:
    """One of the two services (map on, map off) of a backend."""

    name: str
    rt: Runtime
    events: TimedEvents
    next_lot: int = 0
    batch_s: list[float] = field(default_factory=list)
    cpu: float = 0.0  # this process's CPU seconds in the timed batches

    def items(self, n: int) -> list[tuple[Principal, Submission]]:
        out = [
            (CENTRE, Submission("ore.delivered", common.delivery_body(self.next_lot + i, "M")))
            for i in range(n)
        ]
        self.next_lot += n
        return out

    def submit(self, items: Sequence[tuple[Principal, Submission]]) -> float:
        t, c = time.perf_counter(), time.process_time()
        results = self.events.submit_many(items, atomic=False)
        took = time.perf_counter() - t
        self.cpu += time.process_time() - c
        failed = [r.error for r in results if r.error is not None]
        if failed:
            raise SystemExit(f"{self.name}: {len(failed)} items refused, first: {failed[0]}")
        return took

    def reset(self) -> None:
        self.batch_s.clear()
        self.cpu = 0.0
        self.events.closer_cpu = 0.0
        self.events.closer_s.clear()
        self.events.close_s.clear()

    def lots(self) -> int:
        with storage.read_transaction(self.rt.engine) as conn:
            return store.read_head(conn).lots


PROOFS_PG_DATABASE = "altan_bench_map_proofs"


def proofs_db(kind: str, lots: int) -> Path:
    """The folder bench/status_proofs.py keeps for a map of `lots` lots: the SQLite database
    and its keys, or (PostgreSQL, run with --keep-pg) the keys of its kept database."""
    base = common.ROOT / "var" / "bench"
    found = sorted(base.glob(f"statemap-{lots}-*")) if kind == "sqlite" else []
    found = [d for d in found if (d / "altan.db").exists() and (d / "complete").exists()]
    if kind != "sqlite":
        found = [d for d in [base / f"statemap-{lots}-pg"] if (d / "complete").exists()]
    if not found:
        raise SystemExit(
            f"--from-proofs-db {lots}: run bench/status_proofs.py --lots {lots}"
            + (" --keep-pg" if kind != "sqlite" else "")
            + " first"
        )
    return found[0]


def open_side(name: str, directory: Path, url: str | None, *, map_on: bool) -> Side:
    rt = open_runtime(Settings(data_dir=directory, database_url=url))
    events = TimedEvents(rt.log, rt.settings, rt.events.clock, map_on=map_on)
    common.register_bench_actors(events)
    return Side(name, rt, events)


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.2f} ms"


def run_backend(kind: str, url: str | None, args: argparse.Namespace) -> None:
    tmp = Path(tempfile.mkdtemp(prefix="altan-bench-map-"))
    names = ("altan_bench_map_on", "altan_bench_map_off")
    sides: list[Side] = []
    try:
        start = "an empty map and log"
        for name, db, on in (("map on", names[0], True), ("map off", names[1], False)):
            template = None
            if args.from_proofs_db:
                # Both sides start from copies of bench/status_proofs.py's kept database: the
                # map of 1,000,000 synthetic lots and its log (the map-off side's map tables
                # stay unused); its log keys go with it.
                src = proofs_db(kind, args.from_proofs_db)
                shutil.copytree(
                    src, tmp / db, ignore=shutil.ignore_patterns("altan.db*", "complete")
                )
                if url is None:
                    shutil.copyfile(src / "altan.db", tmp / db / "altan.db")
                else:
                    template = PROOFS_PG_DATABASE
                start = f"a copy of {src}" + (f" and of database {template}" if template else "")
            db_url = None if url is None else common.create_pg_database(url, db, template)
            sides.append(open_side(name, tmp / db, db_url, map_on=on))
        on_side, off_side = sides
        print(f"{kind} (both sides start from {start}):")
        for size, count in zip(args.sizes, args.batches, strict=True):
            for side in sides:  # untimed: warms the caches and the connection pool
                side.submit(side.items(size))
                side.reset()
            lots_before = on_side.lots()
            for r in range(count):
                for side in (on_side, off_side) if r % 2 == 0 else (off_side, on_side):
                    items = side.items(size)
                    side.batch_s.append(side.submit(items))
            report(size, count, on_side, off_side, lots_before, args.target)
        proofs_on_log(on_side, args.samples)
    finally:
        for side in sides:
            side.rt.close()
        if url is not None:
            for db in names:
                common.drop_pg_database(url, db)
        shutil.rmtree(tmp, ignore_errors=True)
    print()


def report(size: int, count: int, on: Side, off: Side, lots_before: int, target: float) -> None:
    n = size * count
    rate_on, rate_off = n / sum(on.batch_s), n / sum(off.batch_s)
    ratio = rate_on / rate_off
    verdict = "MET" if ratio >= target else "MISSED"
    closer = on.events.closer_s
    print(f"  batches of {size} ore.delivered x {count} per side ({n:,} events each):")
    for side, rate in ((off, rate_off), (on, rate_on)):
        print(
            f"    {side.name:<8} {rate:>9,.0f} events/s   batch p50 "
            f"{ms(common.pct(side.batch_s, 0.5))}, p99 {ms(common.pct(side.batch_s, 0.99))}"
        )
    print(f"    ratio on / off = {ratio:.2f} (target >= {target}): {verdict}")
    # CPU time of this process: SQLite runs in it (so this is nearly all the work, and
    # steadier than wall time on a loaded machine); PostgreSQL's server is not counted.
    cpu_on, cpu_off = on.cpu / n * 1e6, off.cpu / n * 1e6
    print(
        f"    this process's CPU per event: map off {cpu_off:,.0f} us, map on {cpu_on:,.0f} us "
        f"(ratio off / on {cpu_off / cpu_on:.2f}); closer {on.events.closer_cpu / n * 1e6:,.0f} us"
    )
    print(
        f"    closer (map update) per batch: p50 {ms(common.pct(closer, 0.5))}, p99 "
        f"{ms(common.pct(closer, 0.99))}, mean {ms(statistics.fmean(closer))}; per event "
        f"{statistics.fmean(closer) / size * 1e6:,.0f} us; "
        f"{sum(closer) / sum(on.batch_s) * 100:.0f}% of the map-on batch time"
    )
    print(
        f"    closing step per batch (map on: closer + state.root entry + checkpoint) "
        f"{ms(statistics.fmean(on.events.close_s))}; (map off: checkpoint) "
        f"{ms(statistics.fmean(off.events.close_s))}"
    )
    print(f"    lots in the map: {lots_before:,} before, {on.lots():,} after")


def proofs_on_log(side: Side, samples: int) -> None:
    """`status_proof()` (each in its own read transaction, as the route) on the map-on log."""
    rnd = random.Random(3)
    with storage.read_transaction(side.rt.engine) as conn:
        size = storage.read_size(conn)
        lots = store.read_head(conn).lots
    present = [f"ORE-M-{rnd.randrange(side.next_lot):07d}" for _ in range(samples)]
    absent = [f"ORE-X-{rnd.randrange(10**7):07d}" for _ in range(samples)]
    print(f"  status_proof() on the map-on log ({size:,} entries, {lots:,} lots), warm:")
    for label, ids in (("delivered lots", present), ("absent lots", absent)):
        took: list[float] = []
        for lot in ids:
            t = time.perf_counter()
            with storage.read_transaction(side.rt.engine) as conn:
                proof = status.status_proof(conn, lot)
            took.append(time.perf_counter() - t)
            assert proof is not None and (proof.state is None) == (label == "absent lots")
        print("    " + common.latency_line(label, took))


def append(args: argparse.Namespace) -> None:
    if args.quick:
        args.sizes, args.batches, args.samples = [1, 100, 1000], [20, 6, 2], 100
    if len(args.sizes) != len(args.batches):
        raise SystemExit("--sizes and --batches: one count of batches per size")
    print("bench/statemap.py append: the state map's cost in batched pipeline appends")
    pg = args.pg_url if "postgresql" in args.backends else None
    common.print_machine(pg)
    load = common.LoadSampler()
    for kind in args.backends:
        if kind == "postgresql" and common.postgres_reachable(args.pg_url) is None:
            print(f"postgresql: {args.pg_url} not reachable; skipped\n")
            continue
        run_backend(kind, args.pg_url if kind == "postgresql" else None, args)
    print(load.stop())


def ints(text: str) -> list[int]:
    return [int(x) for x in text.split(",") if x]


def main() -> None:
    argv = sys.argv[1:]
    if not argv or argv[0] not in ("pure", "append", "-h", "--help"):
        argv = ["pure", *argv]
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("pure", help="the map in memory")
    p.add_argument("--keys", type=int, default=1_000_000)
    p.add_argument("--updates", type=int, default=100_000)
    p.add_argument("--batch", type=int, default=1_000)
    p.add_argument("--proofs", type=int, default=20_000)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--quick", action="store_true", help="100,000 keys, 10,000 updates")
    a = sub.add_parser("append", help="batched pipeline appends, map on vs off")
    a.add_argument("--sizes", type=ints, default=[1, 100, 1000], help="events per batch")
    a.add_argument(
        "--batches", type=ints, default=[300, 100, 30], help="batches per size, per side"
    )
    a.add_argument(
        "--backends",
        type=lambda v: v.split(","),
        default=["sqlite", "postgresql"],
        help="sqlite,postgresql",
    )
    a.add_argument("--pg-url", default=common.DEFAULT_PG, help="a server to create databases on")
    a.add_argument("--samples", type=int, default=500, help="status proofs timed at the end")
    a.add_argument("--target", type=float, default=0.8, help="ratio on / off to meet")
    a.add_argument(
        "--from-proofs-db",
        type=int,
        default=0,
        metavar="LOTS",
        help="start both sides from copies of the database bench/status_proofs.py kept with "
        "a map of LOTS lots (PostgreSQL: run it with --keep-pg)",
    )
    a.add_argument("--quick", action="store_true", help="a few batches of each size")
    args = parser.parse_args(argv)
    if args.command == "pure":
        pure(args)
    else:
        append(args)


if __name__ == "__main__":
    main()
