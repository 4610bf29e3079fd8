"""Ore deliveries recorded over HTTP, against one uvicorn worker: the state map on and off,
beside a bare endpoint.

In one run, on the same machine, three servers side by side (each one uvicorn worker):

1. ours, map on: the service as `altan serve` runs it (SQLite, a fresh data dir, made by
   `altan init`), started through this file's app factory `bench_app` (uvicorn --factory),
   which builds `services.app.create_app()` unchanged; concurrent clients each POST /events
   with an ore.delivered (a new lot each), authenticated as a processing centre; every
   request runs the whole pipeline (token, role, strict body, rules, append with receipt,
   projection, the state map's update and `state.root` entry, one checkpoint), with group
   commit across requests;
2. ours, map off: the same, with ALTAN_BENCH_MAP=off, read only by `bench_app` (no service
   setting): the pipeline's closer is None, so an append ends with its checkpoint alone;
3. the bare FastAPI endpoint of bench/bare_app.py taking the same JSON and answering a
   receipt-shaped body, nothing else;

then the batch endpoint (POST /events/batch, `--batch` deliveries per request), map on and
off. Loads take turns (`--rounds`: on, off, bare, then off, on, bare, ...) so that other
work on the machine falls on each alike. Load: wrk (one thread, `--concurrency`
connections; apt-get install wrk), else asyncio + httpx in this process (then the client is
the bottleneck). Figures: req/s, p50/p99 per server, ratio map on / off (issue 14), ratio
ours / bare (target >= 0.5), and the mean events per append (group commit) from each log.
Run: .venv/bin/python bench/http_append.py [--map both|on|off] [--seconds 10] [--rounds 2]
         [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import shutil
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
from common import LoadSampler, print_machine

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
    count = re.search(r"(\d+) requests in", out)
    assert rate is not None and count is not None, out
    return {
        "rate": float(rate.group(1)),
        "p50": ms("50%"),
        "p99": ms("99%"),
        "requests": float(count.group(1)),
    }


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (Linux /proc), to tell a server's own
    work from the machine's load."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


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


def bench_app() -> Any:
    """The app factory of the servers of this bench (uvicorn --factory): `create_app()` as
    `altan serve` builds it; with ALTAN_BENCH_MAP=off, the pipeline runs without its closer
    (no state map update, no state.root entry), a switch only this bench reads."""
    import services.app as service_app
    from services.runtime import Runtime, open_runtime
    from services.settings import Settings

    if os.environ.get("ALTAN_BENCH_MAP", "on") == "off":

        def without_map(settings: Settings) -> Runtime:
            runtime = open_runtime(settings)
            runtime.events.closer = None
            return runtime

        service_app.open_runtime = without_map  # type: ignore[attr-defined]
    return service_app.create_app()


class Server:
    """One of ours: a data dir made by `altan init`, served by `bench_app`."""

    def __init__(self, name: str, tmp: Path, base_env: dict[str, str], map_mode: str) -> None:
        self.name = name
        self.data = tmp / name.replace(" ", "-")
        self.env = {**base_env, "ALTAN_DATA_DIR": str(self.data), "ALTAN_BENCH_MAP": map_mode}
        init = subprocess.run(
            [str(BIN / "altan"), "init"], env=self.env, capture_output=True, text=True, check=True
        )
        self.admin = re.findall(r"^altan_\S+$", init.stdout, re.M)[0]
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.proc = start(
            [
                str(BIN / "python"),
                "-m",
                "uvicorn",
                "http_append:bench_app",
                "--factory",
                "--app-dir",
                str(ROOT / "bench"),
                "--port",
                str(self.port),
                "--log-level",
                "warning",
                "--no-access-log",
            ],
            self.env,
        )
        self.token = ""
        self.rounds: list[dict[str, float]] = []
        self.batch_s = 0.0
        self.batch_cpu = 0.0

    def ready(self) -> None:
        wait_up(self.base + "/healthz")
        self.token = setup_ours(self.base, self.admin)

    def appends(self) -> tuple[int, int]:
        """(entries, checkpoints) of its log, read from its SQLite file (WAL: while it runs)."""
        db = sqlite3.connect(self.data / "altan.db")
        try:
            entries = db.execute("SELECT count(*) FROM log_entries").fetchone()[0]
            checkpoints = db.execute("SELECT count(*) FROM log_checkpoints").fetchone()[0]
        finally:
            db.close()
        return int(entries), int(checkpoints)


def summary(rounds: list[dict[str, float]]) -> str:
    rate = statistics.fmean(r["rate"] for r in rounds)
    per = ", ".join(f"{r['rate']:,.0f}" for r in rounds)
    p50 = statistics.fmean(r["p50"] for r in rounds)
    p99 = statistics.fmean(r["p99"] for r in rounds)
    cpu = sum(r["cpu"] for r in rounds) / sum(r["requests"] for r in rounds) * 1000
    return (
        f"{rate:9,.0f} req/s (rounds: {per})  p50 {p50:.2f} ms  p99 {p99:.2f} ms  "
        f"server CPU {cpu:.2f} ms/req"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--map", choices=["both", "on", "off"], default="both", help="ours to run")
    ap.add_argument("--requests", type=int, default=4000, help="httpx load: requests per round")
    ap.add_argument("--concurrency", type=int, default=32, help="concurrent clients")
    ap.add_argument("--seconds", type=int, default=10, help="wrk duration per server per round")
    ap.add_argument("--rounds", type=int, default=2, help="turns of on, off, bare")
    ap.add_argument("--batch", type=int, default=100, help="events per batch request")
    ap.add_argument("--batches", type=int, default=40, help="batch requests per server")
    ap.add_argument("--target", type=float, default=0.5, help="ours / bare to meet")
    ap.add_argument("--quick", action="store_true", help="3 s rounds, 1 round, 10 batches")
    args = ap.parse_args()
    if args.quick:
        args.seconds, args.rounds, args.batches, args.requests = 3, 1, 10, 500
    print("bench/http_append.py: ore deliveries over HTTP, one uvicorn worker, map on / off")
    print_machine(None)
    load_avg = LoadSampler()

    tmp = Path(tempfile.mkdtemp(prefix="altan-http-"))
    # No access log on any server: the bare one has none, so neither pays for one. The
    # rate limiter runs (its cost is measured) with a limit the load never reaches.
    env = {
        "ALTAN_RATE_LIMIT_PER_MINUTE": "1000000",
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "ALTAN_ACCESS_LOG": "false",
    }
    modes = {"both": ["on", "off"], "on": ["on"], "off": ["off"]}[args.map]
    ours = [Server(f"map {m}", tmp, env, m) for m in modes]
    bare_port = free_port()
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
    bare_rounds: list[dict[str, float]] = []
    use_wrk = shutil.which("wrk") is not None
    try:
        bare_base = f"http://127.0.0.1:{bare_port}"
        for server in ours:
            server.ready()
        wait_up(bare_base + "/docs")

        def one(
            proc: subprocess.Popen[bytes], base: str, token: str | None, tag: str
        ) -> dict[str, float]:
            cpu = cpu_seconds(proc.pid)
            out = load_once(base, token, tag)
            out["cpu"] = cpu_seconds(proc.pid) - cpu
            return out

        def load_once(base: str, token: str | None, tag: str) -> dict[str, float]:
            if use_wrk:
                return wrk_load(base, token, tag, args.seconds, args.concurrency)
            headers = {"Authorization": f"Bearer {token}"} if token else {}
            secs, lat = asyncio.run(
                load(
                    base,
                    headers,
                    lambda n: delivery(n, tag),
                    args.requests,
                    args.concurrency,
                )
            )
            ms = sorted(x * 1000 for x in lat)
            return {
                "rate": args.requests / secs,
                "p50": ms[len(ms) // 2],
                "p99": ms[min(len(ms) - 1, int(0.99 * len(ms)))],
                "requests": float(args.requests),
            }

        if use_wrk:  # warm up
            for server in ours:
                wrk_load(server.base, server.token, "W", 2, args.concurrency)
            wrk_load(bare_base, None, "W", 2, args.concurrency)
        before = {server.name: server.appends() for server in ours}
        for r in range(args.rounds):
            order = ours if r % 2 == 0 else ours[::-1]
            for server in order:
                server.rounds.append(one(server.proc, server.base, server.token, f"R{r}"))
            bare_rounds.append(one(bare, bare_base, None, f"R{r}"))
        if use_wrk:
            print(
                f"load: wrk, 1 thread, {args.concurrency} connections, {args.seconds} s per "
                f"server per round, {args.rounds} rounds taking turns"
            )
        else:
            print("wrk not found (apt-get install wrk): httpx asyncio load, which is itself")
            print("the bottleneck here, so the ratios say little")
        for server in ours:
            print(f"  ours, {server.name:<8} POST /events (ore.delivered) {summary(server.rounds)}")
        print(f"  bare FastAPI endpoint, same JSON      {summary(bare_rounds)}")
        rates = {s.name: statistics.fmean(x["rate"] for x in s.rounds) for s in ours}
        brate = statistics.fmean(x["rate"] for x in bare_rounds)
        for server in ours:
            # Group commit: how many requests shared an append (one checkpoint each).
            appends = server.appends()[1] - before[server.name][1]
            requests = sum(x["requests"] for x in server.rounds)
            print(
                f"  ours, {server.name}: {requests:,.0f} requests in {appends:,} appends "
                f"({requests / max(1, appends):.1f} events per append; the map adds one "
                f"state.root entry to each)"
            )
        if len(ours) == 2:
            cpu = {
                s.name: sum(x["cpu"] for x in s.rounds) / sum(x["requests"] for x in s.rounds)
                for s in ours
            }
            print(
                f"  ratio map on / map off = {rates['map on'] / rates['map off']:.2f} in req/s, "
                f"{cpu['map off'] / cpu['map on']:.2f} in server CPU per request (off / on)"
            )
        for name, rate in rates.items():
            ratio = rate / brate
            verdict = "MET" if ratio >= args.target else "MISSED"
            print(
                f"  ratio ours ({name}) / bare = {ratio:.2f} (target >= {args.target}): {verdict}"
            )

        for r in range(2):
            for server in ours if r == 0 else ours[::-1]:
                auth = {"Authorization": f"Bearer {server.token}"}
                with httpx.Client(base_url=server.base, headers=auth, timeout=120) as c:
                    t0, c0 = time.perf_counter(), cpu_seconds(server.proc.pid)
                    for b in range(args.batches // 2):
                        items = [delivery(b * args.batch + i, f"B{r}") for i in range(args.batch)]
                        resp = c.post("/events/batch", json={"items": items})
                        out = resp.json()
                        if resp.status_code != 200 or out["failed"]:
                            raise RuntimeError(resp.text[:500])
                    server.batch_s += time.perf_counter() - t0
                    server.batch_cpu += cpu_seconds(server.proc.pid) - c0
        n = args.batch * (args.batches // 2) * 2
        for server in ours:
            print(
                f"  batch endpoint, {server.name}: {n} events in requests of {args.batch}: "
                f"{n / server.batch_s:,.0f} events/s; server CPU "
                f"{server.batch_cpu / n * 1e6:,.0f} us/event"
            )
        if len(ours) == 2:
            on, off = ours
            print(
                f"  batch endpoint ratio map on / map off = {off.batch_s / on.batch_s:.2f} in "
                f"events/s, {off.batch_cpu / on.batch_cpu:.2f} in server CPU per event"
            )
    finally:
        for p in (*(s.proc for s in ours), bare):
            p.terminate()
            p.wait(timeout=30)
    print(load_avg.stop())
    shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
