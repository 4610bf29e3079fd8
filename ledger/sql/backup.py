"""Backups of the log: a streaming export file, and an import that re-verifies everything.

The file (``altan-ledger/backup``, version 1) is gzip-compressed JSON Lines: UTF-8, one
RFC 8785 JSON object per line, each with a ``type``, in this order::

    {"type":"header","format":"altan-ledger/backup","version":1,"origin":…,"size":N,
     "checkpoint":"<the signed checkpoint note at size N>","exported_at":"<RFC 3339 UTC>",
     "counts":{"keys":K,"checkpoints":C,"entries":N}}
    K lines {"type":"key","key_id","name","public_key","algorithm","status","not_before",
             "not_after"}                                         the log_keys rows
    C lines {"type":"checkpoint","size","root_hash","key_id","published_at","note"}
                                                                  log_checkpoints, by size
    N lines {"type":"entry","index","entry","leaf_hash","key_id","signature"}
                                                                  log_entries, by index
    {"type":"trailer","lines":K+C+N+1,"sha256":"<hex>"}

Bytes are standard padded base64, as on the wire (an entry line is what
``GET /log/entries`` returns). ``sha256`` covers the uncompressed bytes of every line
before the trailer, newlines included. Interior Merkle nodes are not exported: they are a
function of the leaf hashes, and the import recomputes them with the same
`ledger.merkle.CompactRange` the appender uses. What the log does not hold is not in the
file either: personal data, prices, tokens, idempotency records, witness cosignatures
(a database-level backup keeps those) and the private log keys (their own backup).

`export_log` reads one snapshot (`storage.snapshot_transaction`) page by page and writes
as it reads: memory stays flat in the log's size, and the server keeps appending
meanwhile (the file holds the log as of the size read first).

`import_log` loads a file into an empty log, in the caller's one write transaction:

1. the database holds no log yet (`NotEmpty` otherwise);
2. the file is read line by line: header first, then the sections in order with the
   counts the header announced, every field of the expected type and size, entry indices
   0..N-1, checkpoint sizes increasing up to N, each checkpoint's ``size``, ``root_hash``
   and ``key_id`` as its note says, the last one the header's, then the trailer and
   nothing after it (``malformed``, ``truncated``);
3. rows go into the log tables as they are read, each entry's leaf and the perfect
   subtrees it completes into ``log_nodes``, and the head is set to N;
4. the log just loaded is audited in the same transaction by `ledger.audit.audit`, the
   code ``altan audit`` runs: every leaf hash, chain link and receipt, every checkpoint's
   signature and its root against the tree recomputed at its size, the latest
   checkpoint's root (the audit's failure kinds name what failed);
5. the trailer's SHA-256 equals the file's (``digest_mismatch``: a byte that no
   signature covers was changed, a key's status or a checkpoint's publication time);
6. the stored nodes give the latest checkpoint's root (``root_mismatch``).

Any failure raises `BackupInvalid` (naming the entry, checkpoint, key, line or trailer)
before the caller commits, so a refused or interrupted import leaves nothing behind.
Steps 4 and 5 are checked in this order so that a changed entry is named, not just
noticed by the digest.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import itertools
import json
import re
import zlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import IO, Any, Protocol

from sqlalchemy import Connection, Engine

from ledger.audit import AuditFailure, FailureKind, TrustedKey, audit
from ledger.checkpoint import Checkpoint
from ledger.encoding import b64decode, b64encode, canonical_json
from ledger.entry import MAX_ENTRY_BYTES, format_time
from ledger.errors import BackupInvalid, LedgerError, NotEmpty, StorageError
from ledger.hashing import HASH_SIZE
from ledger.merkle import CompactRange, root_hash
from ledger.note import MAX_NOTE_BYTES, Note
from ledger.records import StoredCheckpoint, StoredEntry, StoredKey, log_key
from ledger.sql import pages, storage

FORMAT = "altan-ledger/backup"
VERSION = 1
PAGE = 5000  # rows per read while exporting, per insert while importing
MAX_LINE = 2 * (MAX_NOTE_BYTES + MAX_ENTRY_BYTES)  # a line's upper bound, with room to spare
GZIP_LEVEL = 6  # zlib's default: level 9 costs twice the time for 3% less
_GZIP_MAGIC = b"\x1f\x8b"
_SIGNATURE_SIZE = 64

Progress = Callable[[str, int, int], None]
"""Called with (phase, done, total): ``export``, ``load``, ``audit`` (and ``rebuild`` by
`services.backup`)."""


@dataclass(frozen=True)
class BackupSummary:
    """What a backup file holds (from an export, or an import that verified it)."""

    origin: str
    size: int
    root_hash: bytes
    checkpoint: str
    exported_at: str
    key_ids: tuple[str, ...]
    checkpoints: int


# -- export ----------------------------------------------------------------------------------


def export_log(
    engine: Engine,
    out: IO[bytes],
    *,
    exported_at: datetime,
    progress: Progress | None = None,
    compresslevel: int = GZIP_LEVEL,
) -> BackupSummary:
    """Write the log as of now to `out` (a binary stream, left open) in the backup format."""
    with storage.snapshot_transaction(engine) as conn:
        size = storage.read_size(conn)
        latest = storage.checkpoint_at(conn, size)
        if latest is None:
            raise StorageError(
                f"the log's head is at size {size} but no checkpoint of that size is stored: "
                "is this an Altan log (altan init)?"
            )
        keys = storage.read_keys(conn)
        n_checkpoints = storage.count_checkpoints(conn, size)
        origin = Checkpoint.from_text(Note.from_text(latest.note).text).origin
        exported = format_time(exported_at)
        header = {
            "type": "header",
            "format": FORMAT,
            "version": VERSION,
            "origin": origin,
            "size": size,
            "checkpoint": latest.note,
            "exported_at": exported,
            "counts": {"keys": len(keys), "checkpoints": n_checkpoints, "entries": size},
        }
        with gzip.GzipFile(fileobj=out, mode="wb", compresslevel=compresslevel, mtime=0) as gz:
            writer = _LineWriter(gz)
            writer.write(header)
            for key in keys:
                writer.write(_key_line(key))
            written = 0
            for cp in _checkpoints_up_to(conn, size):
                writer.write(_checkpoint_line(cp))
                written += 1
            if written != n_checkpoints:  # the snapshot makes this impossible; say so if not
                raise StorageError(
                    f"expected {n_checkpoints} checkpoints up to size {size}, read {written}"
                )
            done = 0
            while done < size:
                rows = storage.read_entries(conn, done, size, PAGE)
                if not rows or rows[0].index != done:
                    raise StorageError(
                        f"log entry {done} is missing from the database (a log of size {size}): "
                        "audit it (altan audit) before backing it up"
                    )
                for row in rows:
                    writer.write(_entry_line(row))
                done = rows[-1].index + 1
                if progress is not None:
                    progress("export", done, size)
            gz.write(
                canonical_json(
                    {"type": "trailer", "lines": writer.lines, "sha256": writer.digest()}
                )
                + b"\n"
            )
    return BackupSummary(
        origin=origin,
        size=size,
        root_hash=latest.root_hash,
        checkpoint=latest.note,
        exported_at=exported,
        key_ids=tuple(k.key_id for k in keys),
        checkpoints=n_checkpoints,
    )


class _Writable(Protocol):
    def write(self, data: bytes, /) -> int: ...


class _Lines(Protocol):
    def readline(self, size: int = -1, /) -> bytes: ...

    def read(self, size: int = -1, /) -> bytes: ...


class _LineWriter:
    """Writes JSON lines and hashes what it wrote."""

    def __init__(self, out: _Writable) -> None:
        self._out = out
        self._sha = hashlib.sha256()
        self.lines = 0

    def write(self, obj: dict[str, Any]) -> None:
        data = canonical_json(obj) + b"\n"
        self._sha.update(data)
        self._out.write(data)
        self.lines += 1

    def digest(self) -> str:
        return self._sha.hexdigest()


def _checkpoints_up_to(conn: Connection, size: int) -> Iterator[StoredCheckpoint]:
    return itertools.takewhile(lambda cp: cp.size <= size, pages.checkpoints(pages.on(conn)))


def _key_line(key: StoredKey) -> dict[str, Any]:
    return {
        "type": "key",
        "key_id": key.key_id,
        "name": key.name,
        "public_key": b64encode(key.public_key),
        "algorithm": key.algorithm,
        "status": key.status,
        "not_before": key.not_before,
        "not_after": key.not_after,
    }


def _checkpoint_line(cp: StoredCheckpoint) -> dict[str, Any]:
    return {
        "type": "checkpoint",
        "size": cp.size,
        "root_hash": b64encode(cp.root_hash),
        "key_id": cp.key_id,
        "published_at": cp.published_at,
        "note": cp.note,
    }


def _entry_line(row: StoredEntry) -> dict[str, Any]:
    return {
        "type": "entry",
        "index": row.index,
        "entry": b64encode(row.entry),
        "leaf_hash": b64encode(row.leaf_hash),
        "key_id": row.key_id,
        "signature": b64encode(row.signature),
    }


# -- import ----------------------------------------------------------------------------------


def import_log(
    conn: Connection,
    stream: IO[bytes],
    *,
    trusted_keys: Sequence[TrustedKey] | None = None,
    workers: int | None = None,
    progress: Progress | None = None,
) -> BackupSummary:
    """Load a backup file into the empty log of the caller's write transaction
    (`storage.write_transaction`), verifying everything (the module docstring's checklist).

    `stream` is the file as written (gzip; plain JSON Lines are read too). `trusted_keys`
    pins the log keys: the checkpoints and receipts must verify with them, and every key
    record of the file must be one of them (the restored server publishes those records).
    Without it the file's own key records are used, which proves the file whole and
    self-consistent but not who signed it. Raises `NotEmpty` or `BackupInvalid`; the
    caller then rolls back (leaving the transaction is enough).
    """
    storage.ensure_head(conn)
    storage.lock_head(conn)  # an appender or `altan init` starting meanwhile waits for us
    occupied = storage.occupied_log_tables(conn)
    if occupied:
        raise NotEmpty(
            f"the database already holds a log (rows in {', '.join(occupied)}): a backup is "
            "imported into an empty database only",
            tables=tuple(occupied),
        )
    reader = _Reader(stream)
    header = reader.header()
    size = header.size

    pinned = None if trusted_keys is None else {(k.key_id, k.public_key) for k in trusted_keys}
    keys: list[StoredKey] = []
    for _ in range(header.keys):
        key = reader.key()
        if any(k.key_id == key.key_id for k in keys):
            raise BackupInvalid(
                "this key id appears twice", what=f"key {key.key_id}", kind="malformed"
            )
        if pinned is not None and (key.key_id, key.public_key) not in pinned:
            # it would be served at /log/keys as the log's: with pins, every key is pinned
            raise BackupInvalid(
                f"{key.name}+{key.key_id} is not one of the pinned keys: pin every key of the "
                "log (`altan keys list` shows them, retired ones too)",
                what=f"key {key.key_id}",
                kind=FailureKind.UNKNOWN_KEY,
            )
        storage.upsert_key(conn, key)
        keys.append(key)

    last_cp: StoredCheckpoint | None = None
    pending: list[StoredCheckpoint] = []
    for _ in range(header.checkpoints):
        cp = reader.checkpoint(after=-1 if last_cp is None else last_cp.size, size=size)
        pending.append(cp)
        last_cp = cp
        if len(pending) >= PAGE:
            storage.insert_checkpoints(conn, pending)
            pending = []
    if pending:
        storage.insert_checkpoints(conn, pending)
    if last_cp is None or last_cp.size != size or last_cp.note != header.checkpoint:
        raise BackupInvalid(
            f"the header names the checkpoint at size {size}, but the last checkpoint line is "
            + ("missing" if last_cp is None else f"at size {last_cp.size}, another note"),
            what="header",
            kind="malformed",
        )

    frontier = CompactRange()
    rows: list[StoredEntry] = []
    for index in range(size):
        rows.append(reader.entry(index))
        if len(rows) >= PAGE or index == size - 1:
            _integrate(conn, frontier, rows)
            rows = []
            if progress is not None:
                progress("load", index + 1, size)
    storage.set_size(conn, size)
    digest_ok, found, expected = reader.trailer()

    # Everything is in; nothing is committed. The same audit as `altan audit`, over the
    # rows of this very transaction.
    audit_progress: Callable[[int, int], None] | None = None
    if progress is not None:
        report_progress = progress

        def audit_progress(done: int, total: int) -> None:
            report_progress("audit", done, total)

    report = audit(
        _Loaded(conn, keys, header.checkpoint),
        trusted_keys=trusted_keys,
        origin=header.origin,
        workers=workers,
        progress=audit_progress,
    )
    if report.failure is not None:
        what, message = _failure_what(report.failure, size)
        raise BackupInvalid(message, what=what, kind=report.failure.kind)
    if not digest_ok:
        raise BackupInvalid(
            f"the file's lines hash to {found} but the trailer says {expected}: the file was "
            "changed after it was written (in the trailer, or in a field no signature covers)",
            what="trailer",
            kind="digest_mismatch",
        )
    root = root_hash(storage.NodeTable(conn), size) if size else last_cp.root_hash
    if root != last_cp.root_hash:
        raise BackupInvalid(
            f"the recomputed Merkle nodes give root {root.hex()} at size {size}, but the "
            f"checkpoint says {last_cp.root_hash.hex()}",
            what="log_nodes",
            kind=FailureKind.ROOT_MISMATCH,
        )
    return BackupSummary(
        origin=header.origin,
        size=size,
        root_hash=last_cp.root_hash,
        checkpoint=last_cp.note,
        exported_at=header.exported_at,
        key_ids=tuple(k.key_id for k in keys),
        checkpoints=header.checkpoints,
    )


def _integrate(conn: Connection, frontier: CompactRange, rows: list[StoredEntry]) -> None:
    """Store entries with their leaves and the perfect subtrees they complete, as
    `Log.append_in` does (the receipts and the chain are the audit's to check)."""
    storage.insert_entries(conn, rows)
    nodes = [node for row in rows for node in frontier.append(row.leaf_hash)]
    storage.insert_nodes(conn, nodes)


def _failure_what(failure: AuditFailure, size: int) -> tuple[str, str]:
    """The part of the file an audit failure is about, and the message without it."""
    found = _CHECKPOINT_AT.match(failure.message)
    if found:
        return f"checkpoint at size {found[1]}", failure.message[found.end() :]
    if failure.kind == FailureKind.CHECKPOINT_FORK and failure.index is not None:
        return f"checkpoint at size {failure.index + 1}", failure.message
    if failure.kind in (FailureKind.CHECKPOINT_SIGNATURE_INVALID, FailureKind.ROOT_MISMATCH):
        return f"checkpoint at size {size}", failure.message  # the latest one
    if failure.index is not None:
        what = f"entry {failure.index}"
        return what, failure.message.removeprefix(what + ": ")
    return "log", failure.message


_CHECKPOINT_AT = re.compile(r"checkpoint at size (\d+): ")


class _Loaded:
    """An `ledger.audit.AuditSource` over the rows just loaded, read in the import's own
    transaction (so the audit sees them before anything is committed), page by page."""

    def __init__(self, conn: Connection, keys: Sequence[StoredKey], note: str) -> None:
        self._conn = conn
        self._keys = [TrustedKey(k.name, k.key_id, k.public_key) for k in keys]
        self._note = note

    def keys(self) -> list[TrustedKey]:
        return list(self._keys)

    def checkpoint(self) -> str:
        return self._note

    def entries(self, start: int, end: int) -> Iterator[StoredEntry]:
        return pages.entries(pages.on(self._conn), start, end, PAGE)

    def checkpoints(self, start: int = 0) -> Iterator[tuple[int, str]]:
        for cp in pages.checkpoints(pages.on(self._conn), start):
            yield cp.size, cp.note


# -- reading the file ------------------------------------------------------------------------


@dataclass(frozen=True)
class _Header:
    origin: str
    size: int
    checkpoint: str
    exported_at: str
    keys: int
    checkpoints: int


class _Reader:
    """The file's lines in order, each parsed and checked for shape; hashes as it reads."""

    def __init__(self, stream: IO[bytes]) -> None:
        # peek at the first bytes without consuming them: gzip, or plain JSON Lines
        raw: Any = stream if hasattr(stream, "peek") else io.BufferedReader(stream)
        compressed = raw.peek(2)[:2] == _GZIP_MAGIC
        self._lines: _Lines = gzip.GzipFile(fileobj=raw, mode="rb") if compressed else raw
        self._sha = hashlib.sha256()
        self.line = 0

    def _next(self, expected: str, label: str | None = None) -> dict[str, Any]:
        """The next line, parsed, of type `expected` (`label` names it in errors)."""
        self.line += 1
        what = f"{label or expected} at line {self.line}"
        try:
            data = self._lines.readline(MAX_LINE)
        except EOFError as exc:
            raise BackupInvalid(
                f"the file ends in the middle of its gzip stream ({exc}), before the "
                f"{expected}: it is truncated",
                what=what,
                kind="truncated",
            ) from exc
        except (OSError, zlib.error) as exc:
            raise BackupInvalid(
                f"the gzip stream cannot be read ({exc}): the file is damaged",
                what=what,
                kind="corrupt",
            ) from exc
        if not data:
            raise BackupInvalid(
                f"the file ends after {self.line - 1} lines, where the {expected} was "
                "expected: it is truncated",
                what=what,
                kind="truncated",
            )
        if not data.endswith(b"\n"):
            if len(data) >= MAX_LINE:
                raise BackupInvalid(
                    f"expected a line of at most {MAX_LINE} bytes", what=what, kind="malformed"
                )
            raise BackupInvalid(
                f"the last line stops without its newline where the {expected} was "
                "expected: the file is truncated",
                what=what,
                kind="truncated",
            )
        try:
            obj = json.loads(data)
        except (ValueError, UnicodeDecodeError) as exc:
            raise BackupInvalid(
                f"expected the {expected} as a JSON object, found a line that is not JSON ({exc})",
                what=what,
                kind="malformed",
            ) from exc
        if not isinstance(obj, dict) or obj.get("type") not in _TYPES:
            found = obj.get("type") if isinstance(obj, dict) else type(obj).__name__
            raise BackupInvalid(
                f"expected the {expected}, found a line of type {found!r}",
                what=what,
                kind="malformed",
            )
        if obj["type"] != "trailer":
            self._sha.update(data)
        if obj["type"] != expected:
            raise BackupInvalid(
                f"expected the {expected}, found a {obj['type']} line",
                what=what,
                kind="malformed",
            )
        return obj

    def header(self) -> _Header:
        obj = self._next("header")
        f = _Fields(obj, "header")
        if obj.get("format") != FORMAT:
            raise BackupInvalid(
                f"expected format {FORMAT!r}, found {obj.get('format')!r}",
                what="header",
                kind="malformed",
            )
        version = f.integer("version")
        if version != VERSION:
            raise BackupInvalid(
                f"expected version {VERSION}, found {version}: "
                + ("written by a newer Altan Ledger" if version > VERSION else "unknown"),
                what="header",
                kind="unsupported",
            )
        size = f.integer("size")
        counts = obj.get("counts")
        if not isinstance(counts, dict):
            raise BackupInvalid("expected counts as an object", what="header", kind="malformed")
        c = _Fields(counts, "header counts")
        if c.integer("entries") != size:
            raise BackupInvalid(
                f"expected counts.entries equal to size {size}, found {c.integer('entries')}",
                what="header",
                kind="malformed",
            )
        return _Header(
            origin=f.text("origin"),
            size=size,
            checkpoint=f.text("checkpoint"),
            exported_at=f.text("exported_at"),
            keys=c.integer("keys"),
            checkpoints=c.integer("checkpoints"),
        )

    def key(self) -> StoredKey:
        obj = self._next("key")
        f = _Fields(obj, f"key at line {self.line}")
        key = StoredKey(
            key_id=f.text("key_id"),
            name=f.text("name"),
            public_key=f.b64("public_key"),
            algorithm=f.text("algorithm"),
            status=f.text("status"),
            not_before=f.text("not_before"),
            not_after=f.optional_text("not_after"),
        )
        what = f"key {key.key_id}"
        if key.status not in ("active", "retired") or key.algorithm != "Ed25519":
            raise BackupInvalid(
                f"expected an Ed25519 key, active or retired, found {key.algorithm} {key.status!r}",
                what=what,
                kind="malformed",
            )
        try:
            log_key(key)  # the key id is the name's and public key's; times parse
        except LedgerError as exc:
            raise BackupInvalid(str(exc), what=what, kind="malformed") from exc
        return key

    def checkpoint(self, after: int, size: int) -> StoredCheckpoint:
        obj = self._next("checkpoint")
        f = _Fields(obj, f"checkpoint at line {self.line}")
        cp = StoredCheckpoint(
            size=f.integer("size"),
            root_hash=f.b64("root_hash", HASH_SIZE),
            key_id=f.text("key_id"),
            published_at=f.text("published_at"),
            note=f.text("note"),
        )
        what = f"checkpoint at size {cp.size}"
        if not after < cp.size <= size:
            raise BackupInvalid(
                f"expected a size above {after} and at most the log's {size} (checkpoints in "
                "size order)",
                what=what,
                kind="malformed",
            )
        try:
            note = Note.from_text(cp.note)  # parsed only: the audit verifies the signature
            body = Checkpoint.from_text(note.text)
        except LedgerError as exc:
            raise BackupInvalid(str(exc), what=what, kind="malformed") from exc
        signers = {sig.key_id.hex() for sig in note.signatures}
        if body.size != cp.size or body.root_hash != cp.root_hash or cp.key_id not in signers:
            raise BackupInvalid(
                f"its size {cp.size}, root {cp.root_hash.hex()} and key {cp.key_id} differ "
                f"from its note's: size {body.size}, root {body.root_hash.hex()}, signed by "
                f"{', '.join(sorted(signers))}",
                what=what,
                kind="malformed",
            )
        return cp

    def entry(self, index: int) -> StoredEntry:
        obj = self._next("entry", f"entry {index}")
        what = f"entry {index} at line {self.line}"
        f = _Fields(obj, what)
        row = StoredEntry(
            index=f.integer("index"),
            entry=f.b64("entry"),
            leaf_hash=f.b64("leaf_hash", HASH_SIZE),
            key_id=f.text("key_id"),
            signature=f.b64("signature", _SIGNATURE_SIZE),
        )
        if row.index != index:
            raise BackupInvalid(
                f"expected entry {index} here (entries in index order, none missing), "
                f"found entry {row.index}",
                what=what,
                kind=FailureKind.ORDER_BROKEN,
            )
        return row

    def trailer(self) -> tuple[bool, str, str]:
        """Read the trailer and the end of the file; (digest matches, found, expected)."""
        lines = self.line
        obj = self._next("trailer")
        f = _Fields(obj, "trailer")
        expected = f.text("sha256")
        if f.integer("lines") != lines:
            raise BackupInvalid(
                f"expected {f.integer('lines')} lines before the trailer, found {lines}",
                what="trailer",
                kind="malformed",
            )
        try:
            extra = self._lines.read(1)
        except (EOFError, OSError, zlib.error) as exc:
            raise BackupInvalid(
                f"the gzip stream after the trailer cannot be read ({exc})",
                what="trailer",
                kind="corrupt",
            ) from exc
        if extra:
            raise BackupInvalid(
                "expected the end of the file after the trailer, found more",
                what="trailer",
                kind="malformed",
            )
        found = self._sha.hexdigest()
        return found == expected, found, expected


_TYPES = frozenset({"header", "key", "checkpoint", "entry", "trailer"})


class _Fields:
    """Typed access to one line's fields; a missing or mistyped one is `malformed`."""

    def __init__(self, obj: dict[str, Any], what: str) -> None:
        self._obj = obj
        self._what = what

    def _bad(self, name: str, expected: str) -> BackupInvalid:
        found = self._obj.get(name, "nothing")
        return BackupInvalid(
            f"{name}: expected {expected}, found {str(found)[:60]!r}",
            what=self._what,
            kind="malformed",
        )

    def integer(self, name: str) -> int:
        value = self._obj.get(name)
        if type(value) is not int or value < 0:
            raise self._bad(name, "a non-negative integer")
        return value

    def text(self, name: str) -> str:
        value = self._obj.get(name)
        if not isinstance(value, str):
            raise self._bad(name, "a string")
        return value

    def optional_text(self, name: str) -> str | None:
        value = self._obj.get(name)
        if value is not None and not isinstance(value, str):
            raise self._bad(name, "a string or null")
        return value

    def b64(self, name: str, size: int | None = None) -> bytes:
        value = self.text(name)
        try:
            return b64decode(value, size=size, what=name)
        except LedgerError as exc:
            raise BackupInvalid(str(exc), what=self._what, kind="malformed") from exc
