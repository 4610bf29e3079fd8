"""Read a log from a running Altan Ledger over its `/log/*` API (httpx).

Every answer is read with a byte cap for its kind (the server is not trusted to be small):
a checkpoint or the key list at most 64 KiB, a proof 16 KiB, an entries page 64 KiB per
entry asked for, and no single entry over 64 KiB. A longer answer is refused with
`AnswerTooLarge` (no verdict, exit 2) before more is read: a hostile server cannot grow
the client's memory.
A page with more entries than asked, or one that does not move forward, and a proof with
more hashes than any tree of 2**64 leaves needs, are refused (`MalformedInput`). A proof the
server refuses to give (an HTTP 4xx other than 408, 425 and 429: the sizes are beyond what
it holds) is `OutOfRange`, which `ledger.trusted` treats as a proof that failed, not as a
network problem; an entries page it refuses ends the entries, and the audit names what is
missing.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import httpx

from ledger.audit import TrustedKey
from ledger.encoding import b64decode
from ledger.errors import MalformedInput, OutOfRange
from ledger.records import StoredEntry

USER_AGENT = "altan-ledger-client/0.1"

KIB = 1024
MAX_CHECKPOINT_BYTES = 64 * KIB
MAX_KEYS_BYTES = 64 * KIB
MAX_PROOF_BYTES = 16 * KIB
MAX_ENTRY_BYTES = 64 * KIB
"""One entry's bytes; an honest entry is a few hundred bytes."""
MAX_PAGE_BYTES_PER_ENTRY = 64 * KIB
"""An entries page may be at most this much per entry asked for (base64 and JSON included)."""
MAX_PROOF_HASHES = 65
"""The longest RFC 9162 proof of a tree of at most 2**64 - 1 leaves (a consistency proof from
an odd size to a size near 2**64 has 64 path hashes plus the starting node)."""


Fetch = Callable[[str, dict[str, int]], httpx.Response]


class AnswerTooLarge(Exception):
    """A server answer longer than the cap for its kind; the rest was not read.

    Not a LedgerError on purpose: nothing was read to verify, so this is no verdict (exit 2)
    wherever it is raised, like a network error, never a verification failure."""


class RemoteLog:
    """An `AuditSource` over HTTP. Pass `transport` to test without a network, or `fetch`
    to read through a connection someone else owns (the SDK's, with its retries: that
    connection reads whole answers, so there the caps are checked after the fact).

    It counts what it reads: `requests`, `bytes_fetched` (response bodies as received,
    before any content decoding) and `entries_fetched`.
    """

    def __init__(
        self,
        base_url: str,
        *,
        transport: httpx.BaseTransport | None = None,
        timeout: float = 30.0,
        page: int = 1000,
        fetch: Fetch | None = None,
    ) -> None:
        self._client: httpx.Client | None = None
        if fetch is None:
            self._client = httpx.Client(
                base_url=base_url.rstrip("/"),
                transport=transport,
                timeout=timeout,
                headers={"User-Agent": USER_AGENT},
            )
        self._fetch = fetch
        self._page = page
        self.requests = 0
        self.bytes_fetched = 0
        self.entries_fetched = 0

    def close(self) -> None:
        """Close the HTTP connection pool (if this log owns one)."""
        if self._client is not None:
            self._client.close()

    def __enter__(self) -> RemoteLog:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def _get(self, path: str, cap: int, **params: int) -> bytes:
        """The body of ``GET path``, refused (AnswerTooLarge) past `cap` bytes."""
        if self._fetch is not None:
            resp = self._fetch(path, params)
            self.requests += 1
            self.bytes_fetched += resp.num_bytes_downloaded or len(resp.content)
            if len(resp.content) > cap:
                raise AnswerTooLarge(_too_large(path, cap))
            return resp.content
        assert self._client is not None
        self.requests += 1
        body = bytearray()
        with self._client.stream("GET", path, params=params) as resp:
            try:
                resp.raise_for_status()  # the body of an error answer is not read at all
                for chunk in resp.iter_bytes():  # decoded, so a compressed bomb is capped too
                    body += chunk
                    if len(body) > cap:
                        raise AnswerTooLarge(_too_large(path, cap))
                return bytes(body)
            finally:
                self.bytes_fetched += resp.num_bytes_downloaded or len(body)

    def _json(self, path: str, cap: int, **params: int) -> dict[str, Any]:
        data = self._get(path, cap, **params)
        try:
            body = json.loads(data)
        except (ValueError, UnicodeDecodeError) as exc:
            raise MalformedInput(f"{path}: expected JSON from the server ({exc})") from exc
        if not isinstance(body, dict):
            raise MalformedInput(f"{path}: expected a JSON object from the server")
        return body

    def keys(self) -> list[TrustedKey]:
        """The log keys the server publishes (`GET /log/keys`)."""
        out = []
        try:
            for k in self._json("/log/keys", MAX_KEYS_BYTES)["keys"]:
                name = str(k["verifier_key"]).split("+", 1)[0]
                out.append(TrustedKey(name, str(k["key_id"]), b64decode(k["public_key"], size=32)))
        except (KeyError, TypeError) as exc:
            raise MalformedInput(f"/log/keys: malformed key list from the server ({exc})") from exc
        return out

    def checkpoint(self) -> str:
        """The latest signed checkpoint (`GET /log/checkpoint`)."""
        data = self._get("/log/checkpoint", MAX_CHECKPOINT_BYTES)
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise MalformedInput(f"/log/checkpoint: expected UTF-8 text ({exc})") from exc

    def checkpoints(self, start: int = 0) -> Iterator[tuple[int, str]]:
        """The API serves only the latest checkpoint; the audit checks that one."""
        return iter(())

    def entries(self, start: int, end: int) -> Iterator[StoredEntry]:
        """Entries start <= i < end, page by page (`GET /log/entries`)."""
        at = start
        while at < end:
            asked = min(end - at, self._page)
            try:
                body = self._json(
                    "/log/entries", asked * MAX_PAGE_BYTES_PER_ENTRY, start=at, end=at + asked
                )
            except httpx.HTTPStatusError as exc:
                if _refused(exc):  # no entries from `at` on: the audit names what is missing
                    return
                raise
            rows = body.get("entries", [])
            if not isinstance(rows, list):
                raise MalformedInput("/log/entries: expected a list of entries")
            if not rows:
                return
            if len(rows) > asked:
                raise MalformedInput(
                    f"/log/entries: asked for at most {asked} entries from {at}, "
                    f"the server sent {len(rows)}"
                )
            for r in rows:
                self.entries_fetched += 1
                yield _entry(r)
            last = _entry(rows[-1]).index
            if last < at:  # a page that goes backwards would make this loop forever
                raise MalformedInput(
                    f"/log/entries: asked for entries from {at}, the page ends at {last}"
                )
            at = last + 1

    def inclusion_proof(self, index: int, tree_size: int) -> list[bytes]:
        """`GET /log/proof/inclusion`."""
        return self._proof("/log/proof/inclusion", index=index, tree_size=tree_size)

    def consistency_proof(self, first: int, second: int) -> list[bytes]:
        """`GET /log/proof/consistency`."""
        return self._proof("/log/proof/consistency", first=first, second=second)

    def _proof(self, path: str, **params: int) -> list[bytes]:
        try:
            body = self._json(path, MAX_PROOF_BYTES, **params)
        except httpx.HTTPStatusError as exc:
            if _refused(exc):  # the server says it cannot prove it
                raise OutOfRange(
                    f"{path}: the server refused to prove {params} "
                    f"(HTTP {exc.response.status_code})"
                ) from exc
            raise
        hashes = body.get("hashes")
        if not isinstance(hashes, list) or not all(isinstance(h, str) for h in hashes):
            raise MalformedInput(f"{path}: expected a list of base64 hashes")
        if len(hashes) > MAX_PROOF_HASHES:
            raise MalformedInput(
                f"{path}: expected at most {MAX_PROOF_HASHES} hashes, the server sent {len(hashes)}"
            )
        return [b64decode(h, size=32, what="proof hash") for h in hashes]


def _refused(exc: httpx.HTTPStatusError) -> bool:
    """A 4xx answer that says no (out of range, not found, invalid), not "try again later"."""
    code = exc.response.status_code
    return 400 <= code < 500 and code not in (408, 425, 429)


def _too_large(path: str, cap: int) -> str:
    return f"{path}: the server's answer is larger than {cap:,} bytes; refused"


def _entry(r: object) -> StoredEntry:
    if not isinstance(r, dict):
        raise MalformedInput("entry from server is malformed: expected a JSON object")
    try:
        data = b64decode(str(r["entry"]), what="entry")
        if len(data) > MAX_ENTRY_BYTES:
            raise AnswerTooLarge(
                f"entry {r.get('index')!r} from the server is {len(data):,} bytes, larger "
                f"than {MAX_ENTRY_BYTES:,}; refused"
            )
        index = r["index"]
        if type(index) is not int or index < 0:
            raise MalformedInput(f"entry index: expected a non-negative integer, got {index!r}")
        return StoredEntry(
            index=index,
            entry=data,
            leaf_hash=b64decode(str(r["leaf_hash"]), size=32, what="leaf_hash"),
            key_id=str(r["key_id"]),
            signature=b64decode(str(r["signature"]), size=64, what="signature"),
        )
    except (KeyError, ValueError) as exc:
        raise MalformedInput(f"entry from server is malformed: {exc}") from exc
