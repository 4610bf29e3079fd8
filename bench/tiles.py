"""Reading the log as an auditor: tlog-tiles against the JSON API, in bytes and requests.

One server (the real app, in process over ASGI: bytes and requests are counted, not time)
with a log of realistic entries (`common.make_events`, appended in batches of 100 as group
commits would). Three reads, each verified against the signed checkpoint:

1. Full: every entry. JSON: `/log/checkpoint` then `/log/entries` pages (the server's
   page, 1,000). Tiles: `/log/checkpoint` then `ledger.tiles.verified_entries` (the entry
   bundles and the few hash tiles along the right border).
2. Incremental: a verifier that holds the checkpoint of size N - 1,000 reads the 1,000 new
   entries. JSON: the checkpoint, a consistency proof, one page. Tiles: the checkpoint,
   the bundles from the one holding entry N - 1,000 on (one is partly re-read), the border
   tiles (the consistency proof is computed from tiles).
3. Cacheability: which share of those bytes a shared cache (a CDN) may keep forever and
   serve to every other auditor. A JSON page is immutable only for the exact start/end a
   client chose; tiles have one URL per 256 entries.

Bytes are response bodies as sent: JSON uncompressed (the service does not compress it),
tiles with `Accept-Encoding: gzip` (bundles compressed by the service, hash tiles not);
"gzip" columns give what a compressing CDN would send of the JSON too. Per audited entry.
Note what each carries: the JSON pages add each entry's receipt (the log's signature) and
leaf hash, which a tiles reader does not get (the checkpoint covers every entry instead).

Run: .venv/bin/python bench/tiles.py [--entries 10000]
"""

from __future__ import annotations

import argparse
import base64
import gzip
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import common
from fastapi.testclient import TestClient

from ledger import merkle
from ledger.checkpoint import Checkpoint, open_checkpoint
from ledger.note import Note, NoteVerifier
from ledger.sql import storage
from ledger.tiles import Tile, TileReader, verified_entries
from services.app import create_app
from services.settings import Settings

IMMUTABLE = "immutable"


@dataclass
class Tally:
    """What one way of reading cost."""

    requests: int = 0
    body: int = 0  # bytes as sent
    decoded: int = 0  # bytes after content decoding (what a client without gzip gets)
    gzip: int = 0  # bytes if every body were gzip-compressed (level 6)
    cacheable: int = 0  # bytes in answers a shared cache may keep forever
    paths: list[str] = field(default_factory=list)

    def add(self, path: str, resp: Any) -> bytes:
        content: bytes = resp.content
        sent = resp.num_bytes_downloaded or len(content)
        self.requests += 1
        self.body += sent
        self.decoded += len(content)
        encoded = resp.headers.get("content-encoding") == "gzip"
        self.gzip += sent if encoded else len(gzip.compress(content, 6))
        if IMMUTABLE in resp.headers.get("cache-control", ""):
            self.cacheable += sent
        self.paths.append(path)
        return content

    def line(self, label: str, entries: int) -> str:
        return (
            f"  {label:<7} {self.requests:>6} requests  {self.body:>12,} B  "
            f"{self.requests / entries:>8.4f} req/entry  {self.body / entries:>7.1f} B/entry  "
            f"(uncompressed {self.decoded / entries:>6.1f}, gzip {self.gzip / entries:>6.1f})  "
            f"cacheable forever {100 * self.cacheable / max(1, self.body):>5.1f}%"
        )


def get(client: TestClient, tally: Tally, path: str, **params: int) -> Any:
    resp = client.get(path, params=params or None, headers={"Accept-Encoding": "gzip"})
    resp.raise_for_status()
    tally.add(path, resp)
    return resp


def checkpoint(client: TestClient, tally: Tally, verifier: NoteVerifier) -> Checkpoint:
    note = get(client, tally, "/log/checkpoint").text
    cp, _ = open_checkpoint(note, [verifier])
    return cp


def json_read(
    client: TestClient, verifier: NoteVerifier, start: int, old: Checkpoint | None, page: int
) -> tuple[Tally, int]:
    tally = Tally()
    cp = checkpoint(client, tally, verifier)
    if old is not None:
        proof = get(client, tally, "/log/proof/consistency", first=old.size, second=cp.size).json()[
            "hashes"
        ]
        merkle.verify_consistency(
            old.size, cp.size, [base64.b64decode(h) for h in proof], old.root_hash, cp.root_hash
        )
    frontier = merkle.CompactRange() if old is None else None
    at, read = start, 0
    while at < cp.size:  # pages as clients.remote.RemoteLog asks for them
        end = min(at + page, cp.size)
        rows = get(client, tally, "/log/entries", start=at, end=end).json()["entries"]
        for r in rows:
            if frontier is not None:
                frontier.append(base64.b64decode(r["leaf_hash"]))
        read += len(rows)
        at = rows[-1]["index"] + 1
    if frontier is not None:  # a full read recomputes the root
        assert frontier.root() == cp.root_hash
    return tally, read


def tiles_read(
    client: TestClient, verifier: NoteVerifier, start: int, old: Checkpoint | None, page: int
) -> tuple[Tally, int]:
    tally = Tally()
    cp = checkpoint(client, tally, verifier)

    def fetch(tile: Tile) -> bytes | None:
        resp = client.get(f"/log/{tile.path}", headers={"Accept-Encoding": "gzip"})
        if resp.status_code == 404:
            return None
        resp.raise_for_status()
        return tally.add(tile.path, resp)

    reader = TileReader(fetch, cp.size)
    if old is not None:
        proof = merkle.consistency_proof(reader, old.size, cp.size)
        merkle.verify_consistency(old.size, cp.size, proof, old.root_hash, cp.root_hash)
    read = sum(1 for _ in verified_entries(reader, cp.root_hash, start))
    return tally, read


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--entries", type=int, default=10_000)
    parser.add_argument("--tail", type=int, default=1_000, help="entries of the incremental read")
    args = parser.parse_args()
    common.print_machine(None)
    with tempfile.TemporaryDirectory() as tmp:
        app = create_app(Settings(data_dir=Path(tmp) / "data", access_log=False))
        with TestClient(app) as client:
            log = app.state.runtime.log
            events = common.make_events(args.entries)
            for batch in common.batches(events, 100):
                log.append(list(batch), common.T0)
            size = log.size()
            page = app.state.settings.entries_page_max
            vkey = client.get("/log/keys").json()["keys"][0]["verifier_key"]
            verifier = NoteVerifier.from_vkey(vkey)
            entry_bytes = sum(
                len(base64.b64decode(r["entry"]))
                for start in range(0, size, 1000)
                for r in client.get("/log/entries", params={"start": start, "end": size}).json()[
                    "entries"
                ]
            )
            print(
                f"log: {size:,} entries, {entry_bytes / size:.0f} bytes per entry on average "
                f"(RFC 8785 JSON), JSON page {page}"
            )
            print(f"1. full read of {size:,} entries, verified against the checkpoint")
            for label, read in (("json", json_read), ("tiles", tiles_read)):
                tally, count = read(client, verifier, 0, None, page)
                assert count == size, (label, count)
                print(tally.line(label, count))
            old_size = size - args.tail
            with storage.read_transaction(log.engine) as conn:
                stored = storage.checkpoint_at(conn, old_size)
            assert stored is not None, f"no checkpoint at {old_size}: use a multiple of 100"
            old = Checkpoint.from_text(Note.from_text(stored.note).text)
            print(f"2. incremental: from the checkpoint of {old_size:,} to {size:,}")
            for label, read in (("json", json_read), ("tiles", tiles_read)):
                tally, count = read(client, verifier, old_size, old, page)
                print(tally.line(label, count))
            print(
                "cacheable forever: answers marked immutable (full tiles and bundles; a JSON "
                "page when it ends where asked, but only for that exact start/end)"
            )


if __name__ == "__main__":
    main()
