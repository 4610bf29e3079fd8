"""The log side of c2sp.org/tlog-witness: submit the latest checkpoint to every registered
witness that has a URL, and keep the cosignatures they return.

For each active witness key with a `url` (event `witness.registered`), in order:

1. old size: the largest checkpoint this witness cosigned here (0 if none);
2. `POST <url>/add-checkpoint` with `old <size>`, the RFC 9162 consistency proof from that
   size to the latest checkpoint, a blank line and the latest signed checkpoint note;
3. 200: the answer's signature lines, appended to the note, go through the same checks as a
   witness's own `POST /log/cosignatures` (a registered active key, a valid cosignature of
   this very checkpoint, not from the future) and are stored (the newest per witness);
4. 409 with a `text/x.tlog.size` body: the witness last cosigned another size; retried once
   from that size when the log has it (no larger than the latest). A larger size means the
   witness saw a bigger tree of this log than the log now has: a rollback or a split view,
   reported and logged, never "fixed";
5. anything else is reported (`refused`, `unreachable`, `bad_answer`) and the next witness
   tried: one witness down never stops the others.

Submitting the same checkpoint again gets a fresh cosignature (the witness re-cosigns an
unchanged tree), which is how verifiers that demand recent cosignatures keep getting them
while nothing is appended: run `altan witness push --every N` (N well under their max age).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

import httpx
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from ledger.cosignature import TLOG_SIZE_CONTENT_TYPE, AddCheckpoint, parse_tlog_size
from ledger.errors import LedgerError
from ledger.merkle import consistency_proof
from ledger.sql import storage
from services.errors import DomainError
from services.witnesses import queries
from services.witnesses.cosignatures import accept_cosignatures

TIMEOUT_SECONDS = 10.0
MAX_ANSWER_BYTES = 16 * 1024
"""The largest witness answer read (a few cosignature lines)."""
USER_AGENT = "altan-ledger-push/0.1"

log = logging.getLogger(__name__)

Outcome = Literal["cosigned", "conflict", "refused", "unreachable", "bad_answer"]


@dataclass(frozen=True)
class Pushed:
    """What one witness answered: `cosigned` (stored), `conflict` (it has seen a larger tree
    than this log's latest), `refused` (an HTTP error status), `unreachable`, `bad_answer`
    (its answer is not a valid cosignature of this checkpoint)."""

    witness: str
    url: str
    outcome: Outcome
    size: int
    detail: str


@dataclass(frozen=True)
class _Target:
    name: str
    key_id: str
    url: str
    old_size: int


def new_http_client() -> httpx.Client:
    """The submitter's HTTP client: a timeout, no redirects (a witness answers itself)."""
    return httpx.Client(
        timeout=httpx.Timeout(TIMEOUT_SECONDS),
        follow_redirects=False,
        headers={"User-Agent": USER_AGENT},
    )


def push_checkpoint(
    engine: Engine, now: datetime, client: httpx.Client | None = None
) -> list[Pushed]:
    """Submit the latest checkpoint to every active witness with a URL (module docstring)
    and store the cosignatures returned; one result per witness."""
    with storage.read_transaction(engine) as conn:
        published = storage.latest_checkpoint(conn)
        session = Session(bind=conn)
        targets = [
            _Target(
                w.name,
                w.key_id,
                str(w.url),
                queries.last_cosigned_size(session, w.name, w.key_id),
            )
            for w in queries.witnesses_with_url(session)
        ]
    if published is None or not targets:
        return []
    if client is None:
        with new_http_client() as own:
            return [_push_one(engine, own, t, published, now) for t in targets]
    return [_push_one(engine, client, t, published, now) for t in targets]


def _push_one(
    engine: Engine,
    client: httpx.Client,
    target: _Target,
    published: storage.StoredCheckpoint,
    now: datetime,
) -> Pushed:
    def result(outcome: Outcome, detail: str) -> Pushed:
        if outcome != "cosigned":
            log.warning("witness %s (%s): %s: %s", target.name, target.url, outcome, detail)
        return Pushed(target.name, target.url, outcome, published.size, detail)

    old = min(target.old_size, published.size)
    for attempt in (1, 2):
        try:
            status, content_type, body = _post(client, target.url, _request(engine, old, published))
        except httpx.HTTPError as exc:
            return result("unreachable", f"{type(exc).__name__}: {exc}")
        if status == 409 and content_type.split(";")[0].strip() == TLOG_SIZE_CONTENT_TYPE:
            try:
                theirs = parse_tlog_size(body)
            except LedgerError as exc:
                return result("bad_answer", f"409 with a bad size: {exc}")
            if theirs > published.size:
                return result(
                    "conflict",
                    f"the witness cosigned tree size {theirs}, larger than this log's latest "
                    f"{published.size}: a rollback or a split view of this log",
                )
            if attempt == 1 and theirs != old:
                old = theirs
                continue
            return result("conflict", f"409 Conflict at old size {old} (witness: {theirs})")
        if status != 200:
            return result("refused", f"HTTP {status} {_printable(body)}")
        return _store(engine, published, body, now, result)
    raise AssertionError("unreachable")  # pragma: no cover


def _request(engine: Engine, old: int, published: storage.StoredCheckpoint) -> bytes:
    proof: list[bytes] = []
    if 0 < old < published.size:
        with storage.read_transaction(engine) as conn:
            proof = consistency_proof(storage.NodeTable(conn), old, published.size)
    return AddCheckpoint(old, tuple(proof), published.note).to_bytes()


def _post(client: httpx.Client, url: str, body: bytes) -> tuple[int, str, bytes]:
    """Status, media type and body (at most MAX_ANSWER_BYTES) of one add-checkpoint."""
    with client.stream(
        "POST",
        url.rstrip("/") + "/add-checkpoint",
        content=body,
        headers={"Content-Type": "text/plain; charset=utf-8"},
    ) as resp:
        data = bytearray()
        for chunk in resp.iter_bytes():
            data += chunk
            if len(data) > MAX_ANSWER_BYTES:
                raise httpx.DecodingError(f"answer larger than {MAX_ANSWER_BYTES} bytes")
        return resp.status_code, resp.headers.get("content-type", ""), bytes(data)


def _store(
    engine: Engine,
    published: storage.StoredCheckpoint,
    body: bytes,
    now: datetime,
    result: Callable[[Outcome, str], Pushed],
) -> Pushed:
    """The witness's lines go through accept_cosignatures, as if it had posted them."""
    try:
        lines = body.decode("utf-8")
        if not lines or not lines.endswith("\n"):
            return result("bad_answer", "expected signature lines ending in a newline")
        _, accepted = accept_cosignatures(engine, published.note + lines, now)
    except (UnicodeDecodeError, LedgerError, DomainError) as exc:
        return result("bad_answer", f"{type(exc).__name__}: {exc}")
    stamps = ", ".join(f"{a.witness} at {a.timestamp}" for a in accepted)
    return result("cosigned", f"cosigned size {published.size} ({stamps})")


def _printable(body: bytes, limit: int = 200) -> str:
    text = body[:limit].decode("utf-8", errors="replace")
    return "".join(c if c.isprintable() else " " for c in text).strip()
