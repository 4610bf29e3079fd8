"""Inclusion and consistency proof latency on a large SQLite log, beside pymerkle.

The log (default 1,000,000 entries) is built once with `Log.append` batches of 10,000 and
kept under var/bench/log-<size>/; later runs reuse it. Latency is wall time of
`Log.inclusion_proof(i, n)` / `Log.consistency_proof(m, n)`, each one read transaction
(head size + one node fetch), over random arguments: half with n = the log's size, half
with a random smaller n. A sample of proofs is verified against the roots.

pymerkle gets the very same leaf bytes (our entries, streamed from the log) in a SqliteTree
(cached under var/bench/pymerkle-<size>.sqlite) and, unless told not to, an InmemoryTree;
its roots must equal ours. Run: .venv/bin/python bench/proofs.py --help
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import common

from ledger.merkle import root_hash, verify_consistency, verify_inclusion
from ledger.sql import storage

Query = tuple[int, int]


def make_queries(
    rnd: random.Random, size: int, count: int, consistency: bool
) -> dict[str, list[Query]]:
    """Half with n = size, half with a random n; (i, n) with 0 <= i < n, or (m, n), 0 < m <= n."""
    half = count // 2
    out: dict[str, list[Query]] = {"n = size": [], "random n": []}
    for label, k in (("n = size", half), ("random n", count - half)):
        for _ in range(k):
            n = size if label == "n = size" else rnd.randint(1, size)
            out[label].append((rnd.randint(1, n), n) if consistency else (rnd.randrange(n), n))
    return out


def measure(fn: Callable[[int, int], object], queries: list[Query], budget: float) -> list[float]:
    """Latency of each call, stopping early when `budget` seconds have gone."""
    out = []
    started = time.perf_counter()
    for a, b in queries:
        t = time.perf_counter()
        fn(a, b)
        out.append(time.perf_counter() - t)
        if t - started > budget:
            break
    return out


def report(
    title: str,
    fn: Callable[[int, int], object],
    qs: dict[str, list[Query]],
    budget: float,
    target_ms: float | None,
) -> None:
    print(title)
    for label, queries in qs.items():
        lat = measure(fn, queries, budget)
        line = "  " + common.latency_line(label, lat)
        if len(lat) < len(queries):
            line += f"  (stopped after {budget:.0f} s)"
        if target_ms is not None:
            p99 = common.pct(lat, 0.99) * 1000
            line += f"  p99 < {target_ms:g} ms: {'MET' if p99 < target_ms else 'MISSED'}"
        print(line)


def verify_sample(bl: common.BenchLog, rnd: random.Random, size: int, k: int) -> int:
    """Check k inclusion and k consistency proofs against the roots; return how many passed."""
    ok = 0
    with storage.read_transaction(bl.engine) as conn:
        nodes = storage.NodeTable(conn)
        for _ in range(k):
            n = rnd.choice([size, rnd.randint(1, size)])
            i = rnd.randrange(n)
            leaf = storage.read_entries(conn, i, i + 1)[0].leaf_hash
            verify_inclusion(leaf, i, n, bl.log.inclusion_proof(i, n), root_hash(nodes, n))
            m = rnd.randint(1, n)
            verify_consistency(
                m, n, bl.log.consistency_proof(m, n), root_hash(nodes, m), root_hash(nodes, n)
            )
            ok += 1
    return ok


def pymerkle_sqlite(
    bl: common.BenchLog, size: int, cache: Path, budget: float
) -> tuple[Any, float | None, int]:
    """pymerkle's SqliteTree holding our first `n` entries: as many as fit in `budget` seconds
    of building (all `size` normally). Cached by size; returns (tree, build seconds, n)."""
    from pymerkle import SqliteTree

    path = cache / f"pymerkle-{size}.sqlite"
    if path.exists():
        tree = SqliteTree(str(path))
        return tree, None, tree.get_size()
    scratch = path.with_suffix(".building")
    scratch.unlink(missing_ok=True)
    tree = SqliteTree(str(scratch))
    started = time.perf_counter()
    chunk: list[bytes] = []
    for data in bl.entry_bytes(0, size):
        chunk.append(data)
        if len(chunk) == 10_000:
            tree.append_entries(chunk)
            chunk = []
            if time.perf_counter() - started > budget:
                break
    if chunk:
        tree.append_entries(chunk)
    took = time.perf_counter() - started
    n = tree.get_size()
    tree.close()
    if n == size:
        scratch.rename(path)
        return SqliteTree(str(path)), took, n
    return SqliteTree(str(scratch)), took, n


def pymerkle_memory(bl: common.BenchLog, size: int, budget: float) -> tuple[Any, float, int]:
    from pymerkle import InmemoryTree

    tree = InmemoryTree()
    started = time.perf_counter()
    chunk: list[bytes] = []
    for data in bl.entry_bytes(0, size):
        chunk.append(data)
        if len(chunk) == 10_000:
            tree.append_entries(chunk)
            chunk = []
            if time.perf_counter() - started > budget:
                break
    if chunk and time.perf_counter() - started <= budget:
        tree.append_entries(chunk)
    return tree, time.perf_counter() - started, tree.get_size()


def run_pymerkle(
    name: str,
    tree: Any,
    n: int,
    built: float | None,
    ours_root: Callable[[int], bytes],
    args: argparse.Namespace,
) -> None:
    how = "reused from cache" if built is None else f"built in {built:.1f} s"
    full = (
        ""
        if n == args.size
        else f" (NOT {args.size:,}: the build budget of {args.pymerkle_budget:.0f} s ran out)"
    )
    same = "same root as ours" if tree.get_root(n) == ours_root(n) else "ROOT DIFFERS FROM OURS"
    print(f"{name}: {n:,} leaves{full}, {how}, {same}")
    rnd = random.Random(args.seed)
    incl = make_queries(rnd, n, args.queries, consistency=False)
    cons = make_queries(rnd, n, args.queries, consistency=True)
    # pymerkle counts leaves from 1; prove_inclusion(index, size), prove_consistency(m, n)
    first = time.perf_counter()
    tree.prove_inclusion(1, n)
    print(f"  first call (cold subroot cache): {1000 * (time.perf_counter() - first):.1f} ms")
    report(
        "  prove_inclusion(i, n):",
        lambda i, size: tree.prove_inclusion(i + 1, size),
        incl,
        args.pymerkle_query_budget,
        None,
    )
    report(
        "  prove_consistency(m, n):",
        lambda m, size: tree.prove_consistency(m, size),
        cons,
        args.pymerkle_query_budget,
        None,
    )


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--size", type=int, default=1_000_000, help="log size (default 1,000,000)")
    ap.add_argument("--batch", type=int, default=10_000, help="events per append while building")
    ap.add_argument("--queries", type=int, default=2000, help="queries per proof kind")
    ap.add_argument("--warmup", type=int, default=50, help="untimed calls first")
    ap.add_argument(
        "--cache",
        type=Path,
        default=common.ROOT / "var" / "bench",
        help="where built logs are kept",
    )
    ap.add_argument(
        "--query-budget", type=float, default=30, help="seconds per latency series, at most"
    )
    ap.add_argument("--target-ms", type=float, default=5.0, help="p99 target in ms")
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--pg-url", default=common.DEFAULT_PG, help="PostgreSQL to name (version only)")
    ap.add_argument("--no-pymerkle", action="store_true", help="skip pymerkle")
    ap.add_argument("--no-inmemory", action="store_true", help="skip pymerkle's InmemoryTree")
    ap.add_argument(
        "--pymerkle-budget",
        type=float,
        default=120,
        help="seconds allowed to build one pymerkle tree",
    )
    ap.add_argument(
        "--pymerkle-query-budget",
        type=float,
        default=60,
        help="seconds per pymerkle latency series",
    )
    args = ap.parse_args()

    print("bench/proofs.py: proof latency")
    common.print_machine(args.pg_url or None)
    args.cache.mkdir(parents=True, exist_ok=True)
    bl, took = common.cached_sqlite_log(args.size, args.batch, args.cache)
    db = Path(bl.url.removeprefix("sqlite:///"))
    how = (
        f"built in {took:.1f} s ({args.size / took:,.0f} events/s)"
        if took
        else f"reused from cache ({common.build_note(bl)})"
    )
    mib = db.stat().st_size / 2**20
    print(f"ours: SQLite log of {args.size:,} entries at {db} ({mib:,.0f} MiB), {how}")
    try:
        size = bl.log.size()
        rnd = random.Random(args.seed)
        for _ in range(args.warmup):
            n = rnd.randint(1, size)
            bl.log.inclusion_proof(rnd.randrange(n), n)
            bl.log.consistency_proof(rnd.randint(1, n), n)
        checked = verify_sample(bl, rnd, size, 20)
        print(f"verified {checked} inclusion and {checked} consistency proofs against the roots")
        print(
            f"({args.warmup} untimed warm-up calls of each kind; each call: one read transaction)"
        )
        incl = make_queries(rnd, size, args.queries, consistency=False)
        cons = make_queries(rnd, size, args.queries, consistency=True)
        budget = args.query_budget
        report("Log.inclusion_proof(i, n):", bl.log.inclusion_proof, incl, budget, args.target_ms)
        report(
            "Log.consistency_proof(m, n):", bl.log.consistency_proof, cons, budget, args.target_ms
        )

        def ours_root(n: int) -> bytes:
            with storage.read_transaction(bl.engine) as conn:
                return root_hash(storage.NodeTable(conn), n)

        print()
        if args.no_pymerkle:
            return
        tree, built, n = pymerkle_sqlite(bl, size, args.cache, args.pymerkle_budget)
        run_pymerkle(
            "pymerkle SqliteTree (leaves only; subroots re-hashed, LRU-cached)",
            tree,
            n,
            built,
            ours_root,
            args,
        )
        tree.close()
        if not args.no_inmemory:
            print()
            mem, built_mem, n_mem = pymerkle_memory(bl, size, args.pymerkle_budget)
            run_pymerkle(
                "pymerkle InmemoryTree (node objects)", mem, n_mem, built_mem, ours_root, args
            )
    finally:
        bl.close()
    sys.stdout.flush()


if __name__ == "__main__":
    main()
