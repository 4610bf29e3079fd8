"""Full-audit throughput and memory, against the machine's raw Ed25519 verify rate.

1. Raw rate: cryptography's Ed25519PublicKey.verify over messages exactly like our receipts
   (b"altan/entry/v1\\n" + a 32-byte leaf hash, 47 bytes), in 1 process and in one process
   per core (multiprocessing), each looping over the same pre-made signatures for a while.
2. Audit: `ledger.audit.audit(DatabaseSource(engine))` of SQLite logs (default 50,000 and
   200,000 entries, built once with batches of 10,000 and kept under var/bench/), with
   workers = all cores and workers = 1. Each audit runs in a fresh child interpreter so
   that its peak RSS (resource.getrusage) is the audit's own: flat memory means the same
   peak for both sizes. The ratio audit rate / raw all-core verify rate has a target of 0.7.
3. With ``--lots``: logs of lots instead (deliveries with their ore receipt, processing,
   assays, offers and sales, certificates; kept under var/bench/lots-<size>-<batch>/), each
   append of ``--batch`` events closed by a ``state.root`` entry as the service writes it, so
   the audit recomputes every lot's state and the state map and checks every root (issue
   14). Each log is audited with the map (steps 2g and 7 of `ledger.audit`) and without
   (``check_state=False``); the ratio of the two rates has a target of 0.7.

Run: .venv/bin/python bench/audit.py --help
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import random
import resource
import shutil
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

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


def child(url: str, workers: int, check_state: bool = True) -> None:
    """Run one audit and print its figures as JSON (called as `audit.py --child`)."""
    from ledger.audit import audit
    from ledger.sql.source import DatabaseSource
    from ledger.sql.storage import make_engine

    engine = make_engine(url)
    before = _current_rss_kib()
    started = time.perf_counter()
    report = audit(DatabaseSource(engine), workers=workers, check_state=check_state)
    took = time.perf_counter() - started
    me, kids = (
        resource.getrusage(resource.RUSAGE_SELF),
        resource.getrusage(resource.RUSAGE_CHILDREN),
    )
    engine.dispose()
    print(
        json.dumps(
            {
                "ok": report.ok,
                "failure": None if report.failure is None else report.failure.message,
                "entries": report.entries_verified,
                "checkpoints": report.checkpoints_verified,
                "seconds": took,
                "cpu_main": me.ru_utime + me.ru_stime,
                "cpu_workers": kids.ru_utime + kids.ru_stime,
                "rss_before_kib": before,
                "rss_peak_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
                "rss_worker_peak_kib": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss,
            }
        )
    )


def run_child(url: str, workers: int, check_state: bool = True) -> dict[str, object]:
    state = [] if check_state else ["--no-map"]
    out = subprocess.run(
        [sys.executable, __file__, "--child", url, "--workers", str(workers), *state],
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
    ap.add_argument(
        "--lots",
        action="store_true",
        help="logs of lots closed by state roots, audited with the map and without",
    )
    ap.add_argument("--rounds", type=int, default=2, help="with --lots: audits of each kind")
    ap.add_argument("--child", metavar="URL", help=argparse.SUPPRESS)
    ap.add_argument("--workers", type=int, default=0, help=argparse.SUPPRESS)
    ap.add_argument("--no-map", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child(args.child, args.workers, check_state=not args.no_map)
        return
    if args.lots:
        lots_main(args)
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


# --- logs of lots, closed by state roots (--lots) --------------------------------------------


class LotWorld:
    """Events the service records about lots, in its mix (a delivery comes with its ore
    receipt, a processing run consumes ore and makes gold, gold is assayed, certified,
    offered and sold), with bodies of the service's shape: every one projects."""

    def __init__(self, seed: int) -> None:
        self.rnd = random.Random(seed)
        self.n = 0
        self.ore: dict[str, int] = {}  # ore lot -> grams left
        self.gold: list[str] = []
        self.offers: list[tuple[str, str]] = []  # (offer, to)

    def _id(self) -> int:
        self.n += 1
        return self.n

    def events(self) -> list[Any]:
        """The entries one request appends (before its state.root)."""
        from ledger.entry import Event

        rnd = self.rnd
        centre = rnd.choice(["centre:bornuur", "centre:mandal", "centre:uyanga"])
        roll = rnd.random()
        when = {"occurred_at": "2026-09-14T10:00:00+08:00"}
        if roll < 0.3 or not self.ore:
            lot, p = f"ORE-2026-{self._id():07d}", rnd.randint(1, 400)
            mass = rnd.randint(200_000, 3_000_000)
            self.ore[lot] = mass
            body = {
                "lot": lot,
                "miner": f"partnership:{p:04d}",
                "site": f"SITE-{p:04d}",
                "mass_g": mass,
                "mined_on": "2026-09-10",
                "moisture_permille": rnd.randint(10, 90),
                **when,
            }
            cert = f"{rnd.getrandbits(128):032x}"
            receipt = {"lot": lot, "certificate": cert, "kind": "ore_receipt"}
            return [
                Event("ore.delivered", centre, body),
                Event("certificate.issued", "system:altan", receipt),
            ]
        if roll < 0.5:
            lot = rnd.choice(list(self.ore))
            used = self.ore.pop(lot)
            gold = f"AU-2026-{self._id():07d}"
            self.gold.append(gold)
            body = {
                "run": f"RUN-{self.n}",
                "inputs": [{"lot": lot, "mass_g": used}],
                "outputs": [{"lot": gold, "form": "dore", "mass_mg": rnd.randint(5_000, 900_000)}],
                "method": rnd.choice(["gravity", "flotation"]),
                "mercury_free": True,
                "started_on": "2026-09-12",
                "finished_on": "2026-09-13",
                **when,
            }
            return [Event("processing.recorded", centre, body)]
        if not self.gold:
            return self.events()
        lot = rnd.choice(self.gold[-2000:])
        if roll < 0.62:
            body = {"lot": lot, "fineness_ppt": rnd.randint(700, 990), "method": "fire", **when}
            return [Event("assay.recorded", "lab:darkhan", body)]
        if roll < 0.72:
            cert = f"{rnd.getrandbits(128):032x}"
            return [
                Event("certificate.requested", centre, {"lot": lot, **when}),
                Event(
                    "certificate.issued",
                    "system:altan",
                    {"lot": lot, "certificate": cert, "kind": "gold"},
                ),
            ]
        if roll < 0.86 or not self.offers:
            offer, to = f"OFFER-{self._id():07d}", rnd.choice(["buyer:mongolbank", "buyer:trade"])
            self.offers.append((offer, to))
            body = {"offer": offer, "lot": lot, "to": to, "price_mnt": rnd.randint(10**5, 10**8)}
            return [Event("transfer.offered", centre, {**body, **when})]
        offer, to = self.offers.pop(rnd.randrange(len(self.offers)))
        return [Event("transfer.accepted", to, {"offer": offer, **when})]


def cached_lots_log(size: int, batch: int, cache_dir: Path) -> tuple[Any, float | None]:
    """A SQLite log of about `size` entries of lots (appends of `batch` events, each closed
    by the true state.root), built once under `cache_dir/lots-<size>-<batch>/`."""
    from ledger.entry import Event
    from ledger.lotstate import LotStates
    from ledger.statemap import STATE_ROOT_TYPE, StateMap, StateRoot, lot_key

    final = cache_dir / f"lots-{size}-{batch}"
    if (final / "complete").exists():
        return common.open_sqlite_log(final, keep=True), None
    scratch = cache_dir / f"lots-{size}-{batch}.building-{os.getpid()}"
    shutil.rmtree(scratch, ignore_errors=True)
    bl = common.sqlite_log(scratch)
    world, lots, smap = LotWorld(size), LotStates(), StateMap()
    started = time.perf_counter()
    done = appends = 0
    step = max(1, size // 10)
    from ledger.entry import Entry

    while done < size:
        events: list[Any] = []
        while len(events) < batch:
            events.extend(world.events())
        for event in events:
            entry = Entry.create(done, bytes(32), common.T0, event)  # index: all it reads
            for lot in lots.apply(entry):
                state = lots.state(lot)
                assert state is not None
                smap.set(lot_key(lot), state.hash())
            done += 1
        root = StateRoot(smap.root, done, len(smap))
        events.append(Event(STATE_ROOT_TYPE, "system:altan", root.body()))
        lots.apply(Entry.create(done, bytes(32), common.T0, events[-1]))
        done += 1
        smap.take_changes()
        bl.log.append(events, common.T0 + timedelta(seconds=appends))
        appends += 1
        if done // step != (done - len(events)) // step:
            elapsed = time.perf_counter() - started
            print(f"  building: {done:>9,} / {size:,} entries, {elapsed:6.1f} s", file=sys.stderr)
    took = time.perf_counter() - started
    bl.engine.dispose()
    (scratch / "complete").write_text(
        f"{done} entries in {appends} appends of {batch} events and a state.root, "
        f"{took:.1f} s; {len(lots)} lots\n"
    )
    scratch.rename(final)
    return common.open_sqlite_log(final, keep=True), took


def lots_main(args: argparse.Namespace) -> None:
    n_cores = common.cores()
    print("bench/audit.py --lots: full audit with the state map (issue 14) and without")
    common.print_machine(args.pg_url or None)
    args.cache.mkdir(parents=True, exist_ok=True)
    for size in [int(s) for s in args.sizes.split(",")]:
        bl, took = cached_lots_log(size, args.batch, args.cache)
        bl.close()
        how = f"built in {took:.1f} s" if took else "reused from cache"
        note = (Path(bl.tmpdir) / "complete").read_text().strip()
        print(f"log of lots, ~{size:,} entries (SQLite, {how}): {note}")
        for workers in (n_cores, 1):
            rates: dict[bool, list[float]] = {True: [], False: []}
            cpus: dict[bool, list[tuple[float, float]]] = {True: [], False: []}
            peaks: dict[bool, int] = {True: 0, False: 0}
            for _ in range(args.rounds):  # interleaved: load on the machine hits both alike
                for check_state in (False, True):
                    r = run_child(bl.url, workers, check_state)
                    if not r["ok"]:
                        raise SystemExit(f"audit FAILED: {r['failure']}")
                    entries = float(str(r["entries"]))
                    rates[check_state].append(entries / float(str(r["seconds"])))
                    cpu = (float(str(r["cpu_main"])), float(str(r["cpu_workers"])))
                    cpus[check_state].append(tuple(1e6 * c / entries for c in cpu))  # type: ignore[arg-type]
                    peaks[check_state] = max(peaks[check_state], int(str(r["rss_peak_kib"])))
            off, on = max(rates[False]), max(rates[True])
            verdict = "MET" if on / off >= 0.7 else "MISSED"
            print(
                f"  workers={workers}: without the map {off:>7,.0f} entries/s, with it "
                f"{on:>7,.0f} entries/s = {on / off:.2f}x (target 0.7: {verdict}); best of "
                f"{args.rounds}; peak RSS {peaks[False] / 1024:.0f} / {peaks[True] / 1024:.0f} MiB"
            )
            for check_state in (False, True):
                main_us, workers_us = min(cpus[check_state], key=sum)
                print(
                    f"    CPU per entry {'with' if check_state else 'without':>7} the map: "
                    f"{main_us:6.1f} us in the audit process + {workers_us:6.1f} us in workers"
                )
        print()


if __name__ == "__main__":
    main()
