"""Group commit beside a poisoning client (issue 11, finding 5).

Good clients POST /events (actor.registered, a new miner each) concurrently for a fixed time;
in the second and third rounds one more client sends only items that fail unexpectedly
inside the pipeline (a handler patched to raise for them, as a bug or a value the database
refuses would). Rounds:

1. no poison: the good clients alone;
2. poison, this code: a failing item is dropped and its batch run again without it;
3. poison, the old fallback (emulated): any such failure ran the batch one item at a time.

The server is uvicorn in this process (so the handler can be patched), SQLite or
`--database-url`; the load generator is asyncio + httpx, also here. The figure is the good
clients' events/s per round, and the round's mean batch size.
Run: .venv/bin/python bench/group_commit_poison.py --help
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import socket
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import uvicorn

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from services import domains as pipeline
from services.actors.bootstrap import bootstrap_administrator
from services.app import create_app
from services.pipeline.committer import EventCommitter
from services.settings import Settings

WHEN = "2026-09-14T10:12:00+08:00"


def poison_handler() -> None:
    original = pipeline.HANDLERS["actor.registered"]

    def decide(ctx: Any, body: Any) -> None:
        if body.actor.startswith("miner:poison"):
            raise RuntimeError("poison")
        original.decide(ctx, body)

    pipeline.HANDLERS["actor.registered"] = pipeline.Handler(
        original.type, original.body, original.roles, decide, original.store_private
    )


def old_fallback(self: EventCommitter, items: list[Any]) -> list[Any]:
    """The fallback before issue 11: any unexpected error, every item alone."""
    try:
        results = self.events.submit_many(items, atomic=False)
    except Exception:
        if len(items) == 1:
            raise
        out: list[Any] = []
        for item in items:
            try:
                out.append(self.events.submit(*item))
            except Exception as exc:
                out.append(exc)
        return out
    return [r.error if r.error is not None else r.recorded for r in results]


async def client(
    http: httpx.AsyncClient, name: str, stop: float, token: str, counts: dict[str, int]
) -> None:
    n = 0
    headers = {"Authorization": f"Bearer {token}"}
    while time.monotonic() < stop:
        body = {"occurred_at": WHEN, "actor": f"miner:{name}-{n}", "role": "miner"}
        resp = await http.post(
            "/events", json={"type": "actor.registered", "body": body}, headers=headers
        )
        n += 1
        if name.startswith("poison"):
            key = "poison"
        else:
            key = "ok" if resp.status_code == 201 else f"status {resp.status_code}"
        counts[key] = counts.get(key, 0) + 1


async def round_(base: str, token: str, tag: str, good: int, poison: bool, seconds: float) -> float:
    counts: dict[str, int] = {}
    limits = httpx.Limits(max_connections=good + 2)
    async with httpx.AsyncClient(base_url=base, limits=limits, timeout=60) as http:
        stop = time.monotonic() + seconds
        tasks = [client(http, f"{tag}g{i}", stop, token, counts) for i in range(good)]
        if poison:
            tasks.append(client(http, f"poison{tag}", stop, token, counts))
        started = time.monotonic()
        await asyncio.gather(*tasks)
        elapsed = time.monotonic() - started
    return counts.get("ok", 0) / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=16, help="good clients")
    parser.add_argument("--seconds", type=float, default=8.0, help="length of each round")
    parser.add_argument("--database-url", default=None, help="default: SQLite in a temp dir")
    args = parser.parse_args()
    poison_handler()
    with tempfile.TemporaryDirectory() as tmp:
        cfg = Settings(
            data_dir=Path(tmp) / "data",
            database_url=args.database_url,
            access_log=False,
            rate_limit_per_minute=0,
            log_format="text",
        )
        app = create_app(cfg)
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        base = f"http://127.0.0.1:{sock.getsockname()[1]}"
        server = uvicorn.Server(uvicorn.Config(app, log_level="critical", access_log=False))
        thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
        thread.start()
        while not server.started:
            time.sleep(0.05)
        logging.getLogger("httpx").setLevel(logging.WARNING)  # a line per request otherwise
        logging.getLogger("altan.error").setLevel(logging.CRITICAL)  # the poison's 500s
        token = bootstrap_administrator(app.state.events)
        assert token is not None
        from services.observability import GROUP_COMMIT_BATCH

        def mean_batch() -> tuple[float, float]:
            count = sum_ = 0.0
            for metric in GROUP_COMMIT_BATCH.collect():
                for s in metric.samples:
                    if s.name.endswith("_count"):
                        count = s.value
                    elif s.name.endswith("_sum"):
                        sum_ = s.value
            return count, sum_

        rounds = [("no poison", False, False), ("poison, this code", True, False)]
        rounds.append(("poison, old fallback", True, True))
        print(
            f"{args.clients} good clients, {args.seconds:.0f} s per round, "
            f"{'SQLite' if args.database_url is None else 'PostgreSQL'}"
        )
        for i, (label, poison, old) in enumerate(rounds):
            if old:
                EventCommitter._settle = old_fallback  # type: ignore[method-assign,assignment]
            c0, s0 = mean_batch()
            rate = asyncio.run(round_(base, token, f"r{i}", args.clients, poison, args.seconds))
            c1, s1 = mean_batch()
            batch = (s1 - s0) / max(c1 - c0, 1)
            print(f"{label:>22}: {rate:8.1f} good events/s, mean batch {batch:5.1f}")
        server.should_exit = True
        thread.join(timeout=30)


if __name__ == "__main__":
    main()
