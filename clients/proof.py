"""Offline proof bundles on the client side: fetch one from a server, verify one anywhere.

A bundle (c2sp.org/tlog-proof@v1, see ledger.proof_bundle) proves that one entry is in the
log, against a signed checkpoint, with no server: keep it beside a certificate, send it to
a bank, check it years later against the pinned log key.
"""

from __future__ import annotations

import httpx

from ledger.cosignature import WitnessKey, count_valid_cosignatures
from ledger.errors import MalformedInput
from ledger.note import NoteVerifier
from ledger.proof_bundle import MAX_BUNDLE_BYTES, VerifiedBundle, verify_bundle

USER_AGENT = "altan-ledger-client/0.1"


def fetch_bundle(base_url: str, index: int, client: httpx.Client | None = None) -> str:
    """`GET /log/proof/bundle?index=` from the server at `base_url`; the bundle's text."""
    own = client is None
    http = client or httpx.Client(
        base_url=base_url.rstrip("/"), timeout=30.0, headers={"User-Agent": USER_AGENT}
    )
    try:
        # Streamed with a cap: a hostile server cannot grow this process's memory.
        body = bytearray()
        with http.stream("GET", "/log/proof/bundle", params={"index": index}) as resp:
            resp.raise_for_status()
            for chunk in resp.iter_bytes():
                body += chunk
                if len(body) > MAX_BUNDLE_BYTES:
                    raise MalformedInput(
                        f"proof bundle: the server sent more than {MAX_BUNDLE_BYTES} bytes; refused"
                    )
        try:
            return body.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise MalformedInput("proof bundle: expected UTF-8 text from the server") from exc
    finally:
        if own:
            http.close()


def verify_bundle_text(
    text: str | bytes,
    vkeys: list[str],
    witnesses: list[str] | None = None,
    min_cosignatures: int = 0,
) -> VerifiedBundle:
    """Verify a bundle against pinned C2SP verifier keys of the log and, when asked, demand
    `min_cosignatures` cosignatures by the pinned witness vkeys (ledger.proof_bundle names
    the checks and their errors)."""
    if not vkeys:
        raise MalformedInput("give at least one --key to verify against")
    pinned = [WitnessKey.from_vkey(w) for w in witnesses or []]

    def cosigned(note: str) -> int:
        return len(count_valid_cosignatures(note, pinned))

    return verify_bundle(
        text,
        [NoteVerifier.from_vkey(v) for v in vkeys],
        min_cosignatures=min_cosignatures,
        cosigned=cosigned,
    )


def describe_bundle(verified: VerifiedBundle) -> str:
    """One line for people: which entry, what it records, against which checkpoint."""
    e = verified.entry
    return (
        f"entry {e.index} ({e.event.type} by {e.event.actor}, logged {e.time}) is in the log "
        f"{verified.checkpoint.origin} of size {verified.checkpoint.size}; leaf hash "
        f"{verified.leaf_hash.hex()}"
    )
