"""Ore deliveries recorded over HTTP, against one uvicorn worker, beside a bare endpoint.

In one run, on the same machine:

1. `altan serve` (one uvicorn worker, SQLite, a fresh data dir): concurrent clients each
   POST /events with an ore.delivered (a new lot each), authenticated as a processing
   centre; every request runs the whole pipeline (token, role, strict body, rules,
   append with receipt and checkpoint, projection), with group commit across requests;
2. the bare FastAPI endpoint of bench/bare_app.py (one uvicorn worker) taking the same
   JSON and answering a receipt-shaped body, nothing else;
3. the batch endpoint: POST /events/batch with `--batch` deliveries per request.

The load generator is asyncio + httpx in this process, on the same 2 cores as the
server, so both servers share the machine with it alike. Target: ours >= 0.5 x bare.
Run: .venv/bin/python bench/http_append.py --help
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
from common import latency_line, print_machine

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
WHEN = "2026-09-14T10:12:00+08:00"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_up(url: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=1).status_code < 500:
                return
        except httpx.HTTPError:
            time.sleep(0.1)
    raise RuntimeError(f"{url} did not come up")


def start(cmd: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def delivery(n: int, tag: str) -> dict[str, Any]:
    return {
        "type": "ore.delivered",
        "body": {
            "occurred_at": WHEN,
            "lot": f"ORE-{tag}-{n:07d}",
            "miner": "partnership:bench",
            "site": "SITE-BENCH",
            "mass_g": 1_200_000 + n % 1000,
            "mined_on": "2026-09-10",
            "notes": "bench delivery, Bornuur centre, gravity plant",
        },
    }


async def load(
    base: str,
    headers: dict[str, str],
    make: Callable[[int], dict[str, Any]],
    total: int,
    concurrency: int,
) -> tuple[float, list[float]]:
    latencies: list[float] = []
    counter = iter(range(total))
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=base, headers=headers, limits=limits, timeout=60) as c:

        async def worker() -> None:
            for n in counter:
                t0 = time.perf_counter()
                resp = await c.post("/events", json=make(n))
                latencies.append(time.perf_counter() - t0)
                if resp.status_code != 201:
                    raise RuntimeError(f"{resp.status_code}: {resp.text[:300]}")

        t0 = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        return time.perf_counter() - t0, latencies


WRK_SCRIPT = """
local n = 0
local tid = 0
local threads = 0
function setup(thread)
  threads = threads + 1
  thread:set("tid", threads)
end
function init(args)
  tag = args[1]
end
request = function()
  n = n + 1
  local body = string.format(
    '{"type":"ore.delivered","body":{"occurred_at":"%s","lot":"ORE-%s-%d-%d",'
    .. '"miner":"partnership:bench","site":"SITE-BENCH","mass_g":%d,'
    .. '"mined_on":"2026-09-10","notes":"bench delivery, Bornuur centre, gravity plant"}}',
    "WHEN", tag, tid, n, 1200000 + n %% 1000)
  return wrk.format("POST", "/events", HEADERS, body)
end
"""


def wrk_load(
    base: str, token: str | None, tag: str, seconds: int, concurrency: int
) -> dict[str, float]:
    """Drive `POST /events` with wrk (C, one thread) and parse its summary."""
    headers = '{["Content-Type"]="application/json"'
    if token:
        headers += f', ["Authorization"]="Bearer {token}"'
    headers += "}"
    script = WRK_SCRIPT.replace("WHEN", WHEN).replace("HEADERS", headers).replace("%%", "%")
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as f:
        f.write(script)
    out = subprocess.run(
        [
            "wrk",
            "-t1",
            f"-c{concurrency}",
            f"-d{seconds}s",
            "--latency",
            "-s",
            f.name,
            base,
            "--",
            tag,
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    os.unlink(f.name)
    if "Non-2xx" in out:
        raise RuntimeError("wrk saw errors:\n" + out)

    def ms(label: str) -> float:
        m = re.search(rf"^\s+{label}\s+([\d.]+)(us|ms|s)\s*$", out, re.M)
        if m is None:
            return float("nan")
        value, unit = float(m.group(1)), m.group(2)
        return value / 1000 if unit == "us" else value * 1000 if unit == "s" else value

    rate = re.search(r"Requests/sec:\s+([\d.]+)", out)
    assert rate is not None, out
    return {"rate": float(rate.group(1)), "p50": ms("50%"), "p99": ms("99%")}


def setup_ours(base: str, admin: str) -> str:
    h = {"Authorization": f"Bearer {admin}"}
    with httpx.Client(base_url=base, headers=h, timeout=30) as c:

        def post(type_: str, body: dict[str, Any]) -> None:
            r = c.post("/events", json={"type": type_, "body": {"occurred_at": WHEN, **body}})
            if r.status_code != 201:
                raise RuntimeError(r.text)

        post(
            "actor.registered",
            {
                "actor": "centre:bench",
                "role": "processing_centre",
                "region": {"aimag": "Töv", "soum": "Bornuur"},
            },
        )
        post(
            "actor.registered",
            {
                "actor": "partnership:bench",
                "role": "partnership",
                "members": 7,
                "region": {"aimag": "Töv", "soum": "Bornuur"},
            },
        )
        post(
            "site.registered",
            {
                "site": "SITE-BENCH",
                "owner": "partnership:bench",
                "region": {"aimag": "Töv", "soum": "Bornuur"},
                "lat": "48.51234",
                "lon": "106.27123",
            },
        )
        r = c.post("/actors/centre:bench/tokens", json={"label": "bench"})
        return str(r.json()["token"])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--requests", type=int, default=4000, help="single-event requests per server")
    ap.add_argument("--concurrency", type=int, default=32, help="concurrent clients")
    ap.add_argument("--seconds", type=int, default=10, help="wrk duration per server")
    ap.add_argument("--batch", type=int, default=100, help="events per batch request")
    ap.add_argument("--batches", type=int, default=40, help="batch requests")
    ap.add_argument("--target", type=float, default=0.5)
    args = ap.parse_args()
    print("bench/http_append.py: ore deliveries over HTTP, one uvicorn worker")
    print_machine(None)

    tmp = Path(tempfile.mkdtemp(prefix="altan-http-"))
    # No access log on either server: the bare one has none, so neither pays for one. The
    # rate limiter runs (its cost is measured) with a limit the load never reaches.
    env = {
        "ALTAN_RATE_LIMIT_PER_MINUTE": "1000000",
        **os.environ,
        "ALTAN_DATA_DIR": str(tmp / "data"),
        "PYTHONPATH": str(ROOT),
        "ALTAN_ACCESS_LOG": "false",
    }
    init = subprocess.run(
        [str(BIN / "altan"), "init"], env=env, capture_output=True, text=True, check=True
    )
    admin = re.findall(r"^altan_\S+$", init.stdout, re.M)[0]

    port, bare_port = free_port(), free_port()
    ours = start([str(BIN / "altan"), "serve", "--port", str(port)], env)
    bare = start(
        [
            str(BIN / "python"),
            "-m",
            "uvicorn",
            "bare_app:app",
            "--app-dir",
            str(ROOT / "bench"),
            "--port",
            str(bare_port),
            "--log-level",
            "warning",
        ],
        env,
    )
    try:
        base, bare_base = f"http://127.0.0.1:{port}", f"http://127.0.0.1:{bare_port}"
        wait_up(base + "/healthz")
        wait_up(bare_base + "/docs")
        token = setup_ours(base, admin)
        auth = {"Authorization": f"Bearer {token}"}
        if shutil.which("wrk"):
            wrk_load(base, token, "W", 2, args.concurrency)  # warm up
            wrk_load(bare_base, None, "W", 2, args.concurrency)
            ours_r = wrk_load(base, token, "A", args.seconds, args.concurrency)
            bare_r = wrk_load(bare_base, None, "A", args.seconds, args.concurrency)
            rate, brate = ours_r["rate"], bare_r["rate"]
            print(f"load: wrk, 1 thread, {args.concurrency} connections, {args.seconds} s each")
            print(
                f"  ours: POST /events (ore.delivered)   {rate:9,.0f} req/s  "
                f"p50 {ours_r['p50']:.2f} ms  p99 {ours_r['p99']:.2f} ms"
            )
            print(
                f"  bare FastAPI endpoint, same JSON    {brate:9,.0f} req/s  "
                f"p50 {bare_r['p50']:.2f} ms  p99 {bare_r['p99']:.2f} ms"
            )
        else:
            print("wrk not found (apt-get install wrk): httpx asyncio load, which is itself")
            print("the bottleneck here, so the ratio says little")
            secs, lat = asyncio.run(
                load(base, auth, lambda n: delivery(n, "A"), args.requests, args.concurrency)
            )
            bsecs, blat = asyncio.run(
                load(bare_base, {}, lambda n: delivery(n, "A"), args.requests, args.concurrency)
            )
            rate, brate = args.requests / secs, args.requests / bsecs
            print(f"  ours: {rate:9,.0f} req/s; " + latency_line("one request", lat))
            print(f"  bare: {brate:9,.0f} req/s; " + latency_line("one request", blat))
        ratio = rate / brate
        verdict = "MET" if ratio >= args.target else "MISSED"
        print(f"  ratio ours / bare = {ratio:.2f} (target >= {args.target}): {verdict}")

        with httpx.Client(base_url=base, headers=auth, timeout=120) as c:
            t0 = time.perf_counter()
            for b in range(args.batches):
                items = [delivery(b * args.batch + i, "B") for i in range(args.batch)]
                r = c.post("/events/batch", json={"items": items})
                out = r.json()
                if r.status_code != 200 or out["failed"]:
                    raise RuntimeError(r.text[:500])
            bsec = time.perf_counter() - t0
        n = args.batch * args.batches
        print(
            f"  batch endpoint: {n} events in {args.batches} requests of {args.batch}: "
            f"{n / bsec:,.0f} events/s"
        )
        size = httpx.get(base + "/healthz").json()["tree_size"]
        print(f"  log size at the end: {size}")
    finally:
        for p in (ours, bare):
            p.terminate()
            p.wait(timeout=30)


if __name__ == "__main__":
    main()
