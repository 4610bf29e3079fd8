"""Read a log from a running Altan Ledger over its `/log/*` API (httpx)."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import httpx

from ledger.audit import TrustedKey
from ledger.encoding import b64decode
from ledger.errors import MalformedInput
from ledger.storage import StoredEntry

USER_AGENT = "altan-ledger-client/0.1"


Fetch = Callable[[str, dict[str, int]], httpx.Response]


class RemoteLog:
    """An `AuditSource` over HTTP. Pass `transport` to test without a network, or `fetch`
    to read through a connection someone else owns (the SDK's, with its retries).

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

    def _get(self, path: str, **params: int) -> httpx.Response:
        if self._fetch is not None:
            resp = self._fetch(path, params)
        else:
            assert self._client is not None
            resp = self._client.get(path, params=params)
            resp.raise_for_status()
        self.requests += 1
        self.bytes_fetched += resp.num_bytes_downloaded or len(resp.content)
        return resp

    def keys(self) -> list[TrustedKey]:
        """The log keys the server publishes (`GET /log/keys`)."""
        out = []
        for k in self._get("/log/keys").json()["keys"]:
            name = str(k["verifier_key"]).split("+", 1)[0]
            out.append(TrustedKey(name, str(k["key_id"]), b64decode(k["public_key"], size=32)))
        return out

    def checkpoint(self) -> str:
        """The latest signed checkpoint (`GET /log/checkpoint`)."""
        return self._get("/log/checkpoint").text

    def checkpoints(self, start: int = 0) -> Iterator[tuple[int, str]]:
        """The API serves only the latest checkpoint; the audit checks that one."""
        return iter(())

    def entries(self, start: int, end: int) -> Iterator[StoredEntry]:
        """Entries start <= i < end, page by page (`GET /log/entries`)."""
        at = start
        while at < end:
            body = self._get("/log/entries", start=at, end=min(end, at + self._page)).json()
            rows = body.get("entries", [])
            if not rows:
                return
            for r in rows:
                self.entries_fetched += 1
                yield _entry(r)
            at = int(rows[-1]["index"]) + 1

    def inclusion_proof(self, index: int, tree_size: int) -> list[bytes]:
        """`GET /log/proof/inclusion`."""
        body = self._get("/log/proof/inclusion", index=index, tree_size=tree_size).json()
        return [b64decode(h, size=32, what="proof hash") for h in body["hashes"]]

    def consistency_proof(self, first: int, second: int) -> list[bytes]:
        """`GET /log/proof/consistency`."""
        body = self._get("/log/proof/consistency", first=first, second=second).json()
        return [b64decode(h, size=32, what="proof hash") for h in body["hashes"]]


def _entry(r: dict[str, object]) -> StoredEntry:
    try:
        return StoredEntry(
            index=int(str(r["index"])),
            entry=b64decode(str(r["entry"]), what="entry"),
            leaf_hash=b64decode(str(r["leaf_hash"]), size=32, what="leaf_hash"),
            key_id=str(r["key_id"]),
            signature=b64decode(str(r["signature"]), size=64, what="signature"),
        )
    except (KeyError, ValueError) as exc:
        raise MalformedInput(f"entry from server is malformed: {exc}") from exc
