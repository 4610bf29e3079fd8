"""The state map (ledger.statemap) at scale: build, updates, proofs, verification, proof sizes.

Builds a map of N lots (default 1,000,000; keys are SHA-256 of "lot-<i>", values random 32
bytes), then times, on one core, in memory:

- updates: `set` of a new value for a random existing lot (90%) or a new lot (10%), in
  batches; each batch ends with `take_changes()` (what a store would write), whose rows per
  update are reported;
- proofs: `prove` for random members and non-members, p50 / p99 latency, and their size;
- verification: `verify` of those proofs against the root.

Run: .venv/bin/python bench/statemap.py [--keys 1000000] [--updates 100000] [--proofs 20000]
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import statistics
import time

from ledger.statemap import MapProof, StateMap, lot_key, verify


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keys", type=int, default=1_000_000)
    parser.add_argument("--updates", type=int, default=100_000)
    parser.add_argument("--batch", type=int, default=1_000)
    parser.add_argument("--proofs", type=int, default=20_000)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    rnd = random.Random(args.seed)
    print(f"python {platform.python_version()} on {platform.machine()}, {os.cpu_count()} cpus")

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


if __name__ == "__main__":
    main()
