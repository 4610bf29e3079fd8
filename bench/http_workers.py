"""HTTP append throughput on PostgreSQL with 1, 2 and 4 uvicorn workers, beside the bare
FastAPI endpoint with as many workers and the raw single-row INSERT rate, in one run.

For each worker count N:

1. `altan serve --workers N` on a fresh PostgreSQL schema: wrk POSTs ore deliveries (a new
   lot each) as a processing centre; every request runs the whole pipeline and every
   delivery is two signed entries (the delivery and the miner's receipt);
2. bench/bare_app.py under `uvicorn --workers N`, the same JSON, nothing else;

and once: 32 threads each doing single-row INSERT + COMMIT into a plain table on the same
PostgreSQL (what "one durable write per request" costs without any of our work).
Appends stay serialised by the database (a row lock on the log head), so more workers add
HTTP and rule capacity, not append capacity.

Run: .venv/bin/python bench/http_workers.py [--workers 1 2 4] [--seconds 10]
"""

from __future__ import annotations

import argparse
import os
import re
import secrets
import shutil
import subprocess
import tempfile
import threading
import time
from pathlib import Path

from common import DEFAULT_PG, postgres_reachable, print_machine
from http_append import BIN, ROOT, free_port, setup_ours, start, wait_up, wrk_load
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url


def schema_url(base: str, schema: str) -> str:
    url = make_url(base).update_query_dict({"options": f"-csearch_path={schema}"})
    return url.render_as_string(hide_password=False)


def raw_insert_rate(base: str, schema: str, seconds: float, threads: int = 32) -> float:
    engine = create_engine(schema_url(base, schema), pool_size=threads, max_overflow=0)
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE raw_bench (id bigserial primary key, body text)"))
    done = [0] * threads
    stop = time.monotonic() + seconds

    def work(k: int) -> None:
        with engine.connect() as conn:
            while time.monotonic() < stop:
                conn.execute(text("INSERT INTO raw_bench (body) VALUES (:b)"), {"b": "x" * 300})
                conn.commit()
                done[k] += 1

    pool = [threading.Thread(target=work, args=(k,)) for k in range(threads)]
    t0 = time.monotonic()
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    elapsed = time.monotonic() - t0
    engine.dispose()
    return sum(done) / elapsed


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--workers", type=int, nargs="+", default=[1, 2, 4])
    ap.add_argument("--seconds", type=int, default=10)
    ap.add_argument("--concurrency", type=int, default=32)
    ap.add_argument("--pg-url", default=os.environ.get("ALTAN_TEST_POSTGRES_URL", DEFAULT_PG))
    args = ap.parse_args()
    print("bench/http_workers.py: POST /events on PostgreSQL with N uvicorn workers")
    print_machine(args.pg_url)
    if postgres_reachable(args.pg_url) is None or not shutil.which("wrk"):
        raise SystemExit("needs a reachable PostgreSQL and wrk (apt-get install wrk)")
    admin_engine = create_engine(args.pg_url)
    schemas: list[str] = []

    def new_schema() -> str:
        name = "bench_" + secrets.token_hex(4)
        with admin_engine.begin() as conn:
            conn.execute(text(f"CREATE SCHEMA {name}"))
        schemas.append(name)
        return name

    try:
        raw = raw_insert_rate(args.pg_url, new_schema(), args.seconds)
        print(f"  raw single-row INSERT + COMMIT, 32 threads: {raw:9,.0f} /s")
        for n in args.workers:
            tmp = Path(tempfile.mkdtemp(prefix="altan-workers-"))
            env = {
                **os.environ,
                "ALTAN_DATA_DIR": str(tmp / "data"),
                "ALTAN_DATABASE_URL": schema_url(args.pg_url, new_schema()),
                "PYTHONPATH": str(ROOT),
                "ALTAN_ACCESS_LOG": "false",
                "ALTAN_RATE_LIMIT_PER_MINUTE": "0",  # one client: the limiter would refuse it
            }
            init = subprocess.run(
                [str(BIN / "altan"), "init"], env=env, capture_output=True, text=True, check=True
            )
            admin = re.findall(r"^altan_\S+$", init.stdout, re.M)[0]
            port, bare_port = free_port(), free_port()
            ours = start(
                [str(BIN / "altan"), "serve", "--port", str(port), "--workers", str(n)], env
            )
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
                    "--workers",
                    str(n),
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
                wrk_load(base, token, f"W{n}", 2, args.concurrency)
                wrk_load(bare_base, None, f"W{n}", 2, args.concurrency)
                ours_r = wrk_load(base, token, f"A{n}", args.seconds, args.concurrency)
                bare_r = wrk_load(bare_base, None, f"A{n}", args.seconds, args.concurrency)
                print(
                    f"  {n} worker(s): ours {ours_r['rate']:8,.0f} req/s "
                    f"(p99 {ours_r['p99']:.1f} ms), bare {bare_r['rate']:8,.0f} req/s, "
                    f"ratio {ours_r['rate'] / bare_r['rate']:.2f}, "
                    f"ours / raw INSERT {ours_r['rate'] / raw:.2f}"
                )
            finally:
                for p in (ours, bare):
                    p.terminate()
                    p.wait(timeout=30)
                shutil.rmtree(tmp, ignore_errors=True)
    finally:
        with admin_engine.begin() as conn:
            for name in schemas:
                conn.execute(text(f"DROP SCHEMA {name} CASCADE"))
        admin_engine.dispose()


if __name__ == "__main__":
    main()
