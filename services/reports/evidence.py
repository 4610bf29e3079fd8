"""Evidence from the log itself: entries by index, scans for one event type, proof links.

Reports cite ledger indices; anyone can fetch `/log/proof/inclusion?index=I&tree_size=N`
for a cited entry and check it against the signed checkpoint of size N (the latest one
when the report was made, given in every report as `checkpoint`).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from sqlalchemy import Connection, select

from ledger.encoding import b64encode
from ledger.entry import Entry
from ledger.sql import storage

_CHUNK = 500  # indices per IN (...) query
_PAGE = 5000  # entries per page of a scan


def checkpoint(conn: Connection) -> dict[str, Any]:
    """The latest signed checkpoint's size and root, as reports cite it."""
    cp = storage.latest_checkpoint(conn)
    if cp is None:
        return {"tree_size": 0, "root_hash": None, "published_at": None}
    return {
        "tree_size": cp.size,
        "root_hash": b64encode(cp.root_hash),
        "published_at": cp.published_at,
    }


def proof_url(index: int, tree_size: int) -> str | None:
    """The inclusion proof of entry `index` in the tree of `tree_size` (None if not covered)."""
    if not 0 <= index < tree_size:
        return None
    return f"/log/proof/inclusion?index={index}&tree_size={tree_size}"


def entries_at(conn: Connection, indices: Iterable[int]) -> dict[int, Entry]:
    """The parsed entries at these indices (missing ones are left out)."""
    wanted = sorted(set(indices))
    found: dict[int, Entry] = {}
    table = storage.log_entries
    for start in range(0, len(wanted), _CHUNK):
        chunk = wanted[start : start + _CHUNK]
        rows = conn.execute(select(table.c.idx, table.c.entry).where(table.c.idx.in_(chunk)))
        for idx, data in rows:
            found[int(idx)] = Entry.from_bytes(bytes(data))
    return found


def scan(conn: Connection, event_type: str, start: int = 0) -> Iterator[Entry]:
    """Every entry of `event_type` from index `start` on, in order.

    Streams the log page by page; an entry is parsed only when its bytes name the type
    (`"type":"<type>"` appears verbatim in RFC 8785 JSON), so a scan costs little more than
    reading the rows.
    """
    needle = b'"type":"' + event_type.encode() + b'"'
    size = storage.read_size(conn)
    at = start
    while at < size:
        rows = storage.read_entries(conn, at, size, _PAGE)
        if not rows:
            break
        for row in rows:
            if needle in row.entry:
                entry = Entry.from_bytes(row.entry)
                if entry.event.type == event_type:
                    yield entry
        at = rows[-1].index + 1


def latest_by(entries: Iterable[Entry], key: str) -> dict[str, Entry]:
    """The last entry per value of `body[key]` (entries come in index order)."""
    out: dict[str, Entry] = {}
    for entry in entries:
        value = entry.event.body.get(key)
        if isinstance(value, str):
            out[value] = entry
    return out


def sorted_indices(values: Sequence[int | None]) -> list[int]:
    """Evidence indices: distinct, in log order, without blanks."""
    return sorted({v for v in values if v is not None})
