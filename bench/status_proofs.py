"""Status proofs at scale (issue 14): 1,000,000 lots in the state map, on SQLite and PostgreSQL.

Fills the map's tables (ledger/sql/statemap.replace) with `--lots` synthetic LotStates (no
events: a mix of active, consumed and transferred lots, some with a certificate, a revoked
one or an open hold) in a service database (services.runtime.open_runtime: migrated, log
initialised) whose log first gets `--log-entries` synthetic entries (Log.append, batches of
1,000; not projected), then the `state.root` entry committing the map (so the map has 1M
lots and the log `--log-entries` + 2 entries). Then, warm (after `--warmup` untimed calls):

1. map: `MapStore(conn).state(lot)` + `.prove(lot, lots)` on one open read transaction, for
   random present and absent lots: p50 / p99 (target p99 < 5 ms) of wall time, and of
   this thread's CPU time per call (SQLite runs in it, so on a loaded machine its CPU p99
   is the call's own cost; PostgreSQL's server time is not counted);
2. full: `status_proof(conn, lot)` (state, map proof, the state.root entry, its RFC 9162
   inclusion, the checkpoint note with cosignatures), each in a read transaction of its
   own, as GET /lots/{id}/status-proof runs it (no HTTP);
3. sizes: the map proof as JSON (compact) and binary (MapProof.to_bytes), the whole status
   proof as JSON;
4. verify in Python: `ledger.statemap.verify` of the map proof, and, when ledger/status.py
   is there, the whole check (`StatusProof.from_json` + `open_status`: checkpoint
   signature, inclusion, state.root entry, map proof).

The SQLite database is kept (filling it takes minutes) in var/bench/statemap-<lots>-<entries>/
(altan.db and keys/; a `complete` file says how it was built) and reused by later runs
(`--rebuild` to fill it anew). PostgreSQL: a database altan_bench_map_proofs of its own,
dropped at the end (`--keep-pg` keeps it, with its keys in var/bench/statemap-<lots>-pg/,
and a later run with `--keep-pg` reuses it). Note: these databases' projection tables do not
match their map (the states are synthetic): `altan audit` fails on them, by design.

Run: .venv/bin/python bench/status_proofs.py [--lots 1000000] [--log-entries 100000]
         [--samples 2000] [--backends sqlite,postgresql] [--pg-url URL] [--quick]
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any

import common
from sqlalchemy import text

from ledger.entry import Event
from ledger.note import NoteVerifier
from ledger.sql import statemap as store
from ledger.sql import storage
from ledger.statemap import STATE_ROOT_TYPE, LotState, StateRoot, lot_key, verify
from services.certificates.status import status_proof
from services.identity import SYSTEM_ACTOR
from services.runtime import Runtime, open_runtime
from services.settings import Settings

PG_DATABASE = "altan_bench_map_proofs"
STATUSES = ("active",) * 7 + ("consumed", "transferred", "exported")


def synthetic_states(n: int, size: int, seed: int = 5) -> dict[str, LotState]:
    """`n` lot states, ids AU-B-0000000..., deterministic for a seed."""
    rnd = random.Random(seed)
    out: dict[str, LotState] = {}
    for i in range(n):
        centre = f"centre:{rnd.randrange(200):03d}"
        status = rnd.choice(STATUSES)
        cert = f"C-{i:07d}-{rnd.getrandbits(32):08x}" if rnd.random() < 0.4 else None
        revoked = (f"C-{i:07d}-old",) if rnd.random() < 0.02 else ()
        holds = (f"CASE-{i:07d}",) if rnd.random() < 0.01 else ()
        out[f"AU-B-{i:07d}"] = LotState(
            status=status,
            custodian=centre if status == "active" else f"buyer:{rnd.randrange(50):02d}",
            owner=f"partnership:{rnd.randrange(5000):04d}",
            certificate=cert,
            mass_left=rnd.randrange(0, 5_000_000),
            latest_index=rnd.randrange(max(1, size)),
            holds=holds,
            revoked=revoked,
        )
    return out


def fill(rt: Runtime, lots: int, entries: int) -> str:
    """Append `entries` synthetic entries, then write the map of `lots` states and commit
    it with a state.root entry. Returns how long each step took."""
    t0 = time.perf_counter()
    done = rt.log.size()
    step = max(1000, entries // 10)
    while done < entries:
        k = min(1000, entries - done)
        rt.log.append(common.make_events(k, seed=done), datetime.now(UTC))
        done += k
        if done % step < k:
            print(f"  log: {done:,} entries", file=sys.stderr)
    t1 = time.perf_counter()
    with storage.write_transaction(rt.engine) as conn:
        size = rt.log.lock(conn)
        states = synthetic_states(lots, size)
        t2 = time.perf_counter()
        print(f"  {lots:,} states made in {t2 - t1:.1f} s; writing the map", file=sys.stderr)
        head = store.replace(conn, states, size)
        del states
        t3 = time.perf_counter()
        body = StateRoot(head.root, size, head.lots).body()
        rt.log.append_in(conn, [Event(STATE_ROOT_TYPE, SYSTEM_ACTOR, body)], datetime.now(UTC))
    t4 = time.perf_counter()
    if rt.engine.dialect.name == "postgresql":
        with rt.engine.connect() as conn:
            conn.execute(text("COMMIT"))
            conn.execute(text("ANALYZE"))
    t5 = time.perf_counter()
    return (
        f"log of {size + 1:,} entries in {t1 - t0:.1f} s; {lots:,} states made in "
        f"{t2 - t1:.1f} s; map written (replace) in {t3 - t2:.1f} s; commit {t4 - t3:.1f} s"
        + (f"; ANALYZE {t5 - t4:.1f} s" if t5 - t4 > 0.01 else "")
    )


def check_filled(rt: Runtime, lots: int) -> bool:
    with storage.read_transaction(rt.engine) as conn:
        head = store.read_head(conn)
        return head.lots == lots and head.root_index == storage.read_size(conn) - 1


@dataclass
class Timed:
    """Wall time per call, and this thread's CPU time per call: on a machine others load,
    the wall p99 is mostly waiting for a core; the CPU p99 is what the call itself costs
    (all of it for SQLite, which runs in this thread; PostgreSQL's server is not in it)."""

    wall: list[float]
    cpu: list[float]

    def line(self, label: str) -> str:
        cpu = [c * 1000 for c in self.cpu]
        return (
            f"{common.latency_line(label, self.wall)}  cpu p50={common.pct(cpu, 0.5):.3f} "
            f"p99={common.pct(cpu, 0.99):.3f} ms"
        )


def timed(calls: Sequence[Callable[[], object]]) -> Timed:
    wall: list[float] = []
    cpu: list[float] = []
    for call in calls:
        c, t = time.thread_time(), time.perf_counter()
        call()
        wall.append(time.perf_counter() - t)
        cpu.append(time.thread_time() - c)
    return Timed(wall, cpu)


def size_line(label: str, sizes: Sequence[int]) -> str:
    return (
        f"{label:<44} mean {statistics.fmean(sizes):7,.0f} B  p50 {common.pct(sizes, 0.5):6,.0f}"
        f"  max {max(sizes):6,} B"
    )


def measure(rt: Runtime, lots: int, args: argparse.Namespace) -> None:
    rnd = random.Random(11)
    present = [f"AU-B-{rnd.randrange(lots):07d}" for _ in range(args.samples)]
    absent = [f"AU-X-{rnd.getrandbits(40):012x}" for _ in range(args.samples)]
    engine = rt.engine
    with storage.read_transaction(engine) as conn:
        head = store.read_head(conn)
        size = storage.read_size(conn)
    print(f"  map of {head.lots:,} lots, log of {size:,} entries; warm, {args.samples} each:")
    for label, ids in (("present", present), ("absent", absent)):
        with storage.read_transaction(engine) as conn:
            ms = store.MapStore(conn)

            def one(lot: str, ms: store.MapStore = ms) -> None:
                ms.state(lot)
                ms.prove(lot, head.lots)

            for lot in ids[: args.warmup]:
                one(lot)
            t = timed([partial(one, lot) for lot in ids])
        ok = "MET" if common.pct(t.wall, 0.99) * 1000 < 5 else "MISSED"
        ok_cpu = "MET" if common.pct(t.cpu, 0.99) * 1000 < 5 else "MISSED"
        print("    " + t.line(f"state + prove, {label} lots"))
        print(f"      target p99 < 5 ms: wall {ok}, cpu {ok_cpu}")

    def full(lot: str) -> Any:
        with storage.read_transaction(engine) as conn:
            return status_proof(conn, lot)

    for label, ids in (("present", present), ("absent", absent)):
        for lot in ids[: args.warmup]:
            full(lot)
        t = timed([partial(full, lot) for lot in ids])
        print("    " + t.line(f"status_proof(), {label} lots"))

    # Sizes and verification, from the proofs as served.
    served = {lot: full(lot) for lot in present + absent}
    verifiers = [
        NoteVerifier(k.name, bytes.fromhex(k.key_id), k.public_key) for k in rt.keystore.keys()
    ]
    for label, ids in (("present", present), ("absent", absent)):
        map_json: list[int] = []
        map_bin: list[int] = []
        whole: list[int] = []
        checks: list[tuple[bytes, bytes, bytes | None, Any]] = []
        for lot in ids:
            proof = served[lot]
            mp = _map_proof(proof.map_proof)
            map_json.append(len(json.dumps(proof.map_proof, separators=(",", ":"))))
            map_bin.append(len(mp.to_bytes()))
            whole.append(len(proof.model_dump_json()))
            value = None if proof.state is None else LotState.from_json(proof.state).hash()
            checks.append((head.root, lot_key(lot), value, mp))
        print("    " + size_line(f"map proof JSON, {label}", map_json))
        print("    " + size_line(f"map proof binary, {label}", map_bin))
        print("    " + size_line(f"status proof JSON (all of it), {label}", whole))
        t = timed([partial(verify, *c) for c in checks])
        print("    " + t.line(f"verify map proof (Python), {label}"))
        whole_check = _whole_check(verifiers)
        if whole_check is not None:
            texts = [(lot, served[lot].model_dump_json()) for lot in ids]
            t = timed([partial(whole_check, *lt) for lt in texts])
            print("    " + t.line(f"verify status proof (Python), {label}"))


def _map_proof(value: Any) -> Any:
    from ledger.statemap import MapProof

    return MapProof.from_json(value)


def _whole_check(verifiers: list[NoteVerifier]) -> Callable[[str, str], object] | None:
    """The whole pure check of ledger/status.py (another helper's, issue 14), if present."""
    try:
        from ledger.status import StatusProof, open_status
    except ImportError:
        return None

    def check(lot: str, text_: str) -> object:
        return open_status(StatusProof.from_json(json.loads(text_)), verifiers, lot)

    return check


def run_sqlite(args: argparse.Namespace) -> None:
    directory = common.ROOT / "var" / "bench" / f"statemap-{args.lots}-{args.log_entries}"
    if args.quick:
        directory = Path(tempfile.mkdtemp(prefix="altan-bench-proofs-"))
    if args.rebuild:
        shutil.rmtree(directory, ignore_errors=True)
    marker = directory / "complete"
    rt = open_runtime(Settings(data_dir=directory))
    try:
        if marker.exists() and check_filled(rt, args.lots):
            note = "reused " + str(directory) + ", built earlier: " + marker.read_text().strip()
        else:
            if rt.log.size() > 0:
                raise SystemExit(f"{directory}: a fill that did not finish; delete it")
            t = time.perf_counter()
            note = fill(rt, args.lots, args.log_entries)
            note += f"; total {time.perf_counter() - t:.1f} s"
            marker.write_text(note + "\n")
            note = f"filled {directory}: {note}"
        print(f"sqlite ({note}):")
        measure(rt, args.lots, args)
    finally:
        rt.close()
        if args.quick:
            shutil.rmtree(directory, ignore_errors=True)
    print()


def run_postgres(args: argparse.Namespace) -> None:
    keep = args.keep_pg and not args.quick
    keys_dir = common.ROOT / "var" / "bench" / f"statemap-{args.lots}-pg"
    exists = False
    if keep and (keys_dir / "complete").exists():
        from sqlalchemy import create_engine

        probe = create_engine(args.pg_url, isolation_level="AUTOCOMMIT")
        with probe.connect() as conn:
            exists = bool(
                conn.execute(
                    text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": PG_DATABASE}
                ).first()
            )
        probe.dispose()
    if exists:
        from sqlalchemy import make_url

        url = make_url(args.pg_url).set(database=PG_DATABASE).render_as_string(False)
    else:
        url = common.create_pg_database(args.pg_url, PG_DATABASE)
        shutil.rmtree(keys_dir, ignore_errors=True)
    data_dir = keys_dir if keep else Path(tempfile.mkdtemp(prefix="altan-bench-proofs-"))
    rt = open_runtime(Settings(data_dir=data_dir, database_url=url))
    try:
        if exists and check_filled(rt, args.lots):
            note = "reused, built earlier: " + (keys_dir / "complete").read_text().strip()
        else:
            t = time.perf_counter()
            note = fill(rt, args.lots, args.log_entries)
            note += f"; total {time.perf_counter() - t:.1f} s"
            if keep:
                (keys_dir / "complete").write_text(note + "\n")
        print(f"postgresql, database {PG_DATABASE} ({note}):")
        measure(rt, args.lots, args)
    finally:
        rt.close()
        if not keep:
            common.drop_pg_database(args.pg_url, PG_DATABASE)
            shutil.rmtree(data_dir, ignore_errors=True)
        else:
            print(f"  kept: database {PG_DATABASE}, keys in {keys_dir}")
    print()


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--lots", type=int, default=1_000_000, help="lots in the map")
    ap.add_argument("--log-entries", type=int, default=100_000, help="entries before the root")
    ap.add_argument("--samples", type=int, default=2000, help="present (and absent) lots timed")
    ap.add_argument("--warmup", type=int, default=100, help="untimed calls first")
    ap.add_argument(
        "--backends",
        type=lambda v: v.split(","),
        default=["sqlite", "postgresql"],
        help="sqlite,postgresql",
    )
    ap.add_argument("--pg-url", default=common.DEFAULT_PG, help="a server to create a database on")
    ap.add_argument("--rebuild", action="store_true", help="fill the kept SQLite database anew")
    ap.add_argument("--keep-pg", action="store_true", help="keep (and reuse) the PG database")
    ap.add_argument(
        "--quick", action="store_true", help="20,000 lots, 2,000 entries, 300 samples, temp dirs"
    )
    args = ap.parse_args()
    if args.quick:
        args.lots, args.log_entries, args.samples, args.warmup = 20_000, 2_000, 300, 30
    print(f"bench/status_proofs.py: status proofs at {args.lots:,} lots")
    common.print_machine(args.pg_url if "postgresql" in args.backends else None)
    load = common.LoadSampler()
    if "sqlite" in args.backends:
        run_sqlite(args)
    if "postgresql" in args.backends:
        if common.postgres_reachable(args.pg_url) is None:
            print(f"postgresql: {args.pg_url} not reachable; skipped\n")
        else:
            run_postgres(args)
    print(load.stop())


if __name__ == "__main__":
    main()
