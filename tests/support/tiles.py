"""Helpers for the tlog-tiles tests: a grown log, tiles read through the HTTP app, an entry
of exactly 65,536 bytes."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from ledger.entry import MAX_ENTRY_BYTES, ZERO_HASH, Entry, Event
from ledger.sql.log import Log
from ledger.tiles import Tile
from support.log import event

WHEN = datetime(2026, 9, 14, 8, 0, tzinfo=UTC)
PREFIX = "/log"  # the server's tlog-tiles prefix


def app_log(client: Any) -> Log:
    """The log a TestClient's app appends to (bypassing the domains: tiles read only the
    log tables)."""
    log: Log = client.app.state.runtime.log
    return log


def grow(client: Any, count: int, *, batch: int = 5000) -> int:
    """Append `count` sample entries straight to the app's log; the new size."""
    log = app_log(client)
    size = log.size()
    for start in range(0, count, batch):
        log.append([event(size + i) for i in range(start, min(count, start + batch))], WHEN)
    return log.size()


class ClientTiles:
    """A ledger.tiles.TileFetch reading `<prefix>/tile/...` through a TestClient."""

    def __init__(self, client: Any, prefix: str = PREFIX) -> None:
        self.client = client
        self.prefix = prefix
        self.requests = 0

    def __call__(self, tile: Tile) -> bytes | None:
        self.requests += 1
        resp = self.client.get(f"{self.prefix}/{tile.path}")
        if resp.status_code == 404:
            return None
        assert resp.status_code == 200, resp.text
        content: bytes = resp.content
        return content


def oversized_event(index: int) -> Event:
    """An event whose entry at `index` (time WHEN) is exactly MAX_ENTRY_BYTES (65,536)
    bytes: the largest the log accepts, one byte more than a tlog-tiles bundle carries."""

    def size(padding: int) -> int:
        ev = Event(type="ore.delivered", actor="centre:zaamar", body={"note": "a" * padding})
        return len(Entry.create(index, ZERO_HASH, WHEN, ev).to_bytes())

    padding = MAX_ENTRY_BYTES - size(0)
    assert size(padding) == MAX_ENTRY_BYTES
    return Event(type="ore.delivered", actor="centre:zaamar", body={"note": "a" * padding})
