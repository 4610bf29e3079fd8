"""Offline proof bundles on the client side: fetch one from a server, verify one anywhere.

A bundle (c2sp.org/tlog-proof@v1, see ledger.proof_bundle) proves that one entry is in the
log, against a signed checkpoint, with no server: keep it beside a certificate, send it to
a bank, check it years later against the pinned log key. A bundle of a certificate's entry
(the one its token reflects, or its `certificate.issued` entry) also carries the status of
the certificate's lot as of that checkpoint (`with_status`): "status as of checkpoint N".
"""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any
from urllib.parse import quote

import cbor2
import httpx

from ledger.certificate import Certificate, token_text
from ledger.checkpoint import Checkpoint
from ledger.cosignature import WitnessKey, count_valid_cosignatures
from ledger.encoding import b64decode
from ledger.entry import Entry
from ledger.errors import MalformedInput
from ledger.hashing import HASH_SIZE
from ledger.note import Note, NoteVerifier
from ledger.proof_bundle import MAX_BUNDLE_BYTES, VerifiedBundle, parse_bundle, verify_bundle
from ledger.status import MAX_INCLUSION_HASHES, StatusProof

USER_AGENT = "altan-ledger-client/0.1"
MAX_STATUS_BYTES = 1 << 20
"""The largest status proof or inclusion proof read from a server (1 MiB)."""
_SAYS = {
    "not_in_log": "the lot does not exist in the log",
    "revoked": "a regulator revoked this certificate",
    "superseded": "a newer certificate replaces this one",
    "consumed": "the lot no longer exists as such (processed, split, merged or sold on)",
    "transferred": "the lot has a new custodian since this certificate was issued",
    "held": "the lot is held by an open case and may not be traded now",
}


def new_http_client(base_url: str) -> httpx.Client:
    """The HTTP client of `altan proof` (a seam: tests send through the app instead)."""
    return httpx.Client(
        base_url=base_url.rstrip("/"), timeout=30.0, headers={"User-Agent": USER_AGENT}
    )


def fetch_bundle(base_url: str, index: int, client: httpx.Client | None = None) -> str:
    """`GET /log/proof/bundle?index=` from the server at `base_url`; the bundle's text."""
    own = client is None
    http = client or new_http_client(base_url)
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


def _get_json(http: httpx.Client, path: str, params: dict[str, Any] | None = None) -> Any:
    body = bytearray()
    with http.stream("GET", path, params=params, headers={"Accept": "application/json"}) as resp:
        resp.raise_for_status()
        for chunk in resp.iter_bytes():
            body += chunk
            if len(body) > MAX_STATUS_BYTES:
                raise MalformedInput(f"{path}: the server sent more than {MAX_STATUS_BYTES} bytes")
    try:
        return json.loads(bytes(body))
    except ValueError as exc:
        raise MalformedInput(f"{path}: the server's answer is not JSON") from exc


def status_subject(entry: Entry, token: bytes | None) -> tuple[str, str | None]:
    """The lot a bundle of ``entry`` proves the status of, and the token to carry: the
    given token's lot (it must reflect the entry: checked when the bundle is verified),
    else the lot of a ``certificate.issued`` entry (its token is in the entry). Raises
    MalformedInput for any other entry."""
    if token is not None:
        # Read, not verified: which lot to ask about. The token is verified against the
        # pinned keys, and must reflect the entry, when the bundle is (ledger.proof_bundle).
        try:
            payload = cbor2.loads(token).value[2]
            cert = Certificate.from_cbor(payload)
        except (cbor2.CBORError, AttributeError, IndexError, TypeError, ValueError) as exc:
            raise MalformedInput(f"the certificate is not a token ({exc})") from exc
        return cert.lot_id, token_text(token)
    body = entry.event.body
    if entry.event.type == "certificate.issued" and isinstance(body.get("lot"), str):
        return str(body["lot"]), None
    raise MalformedInput(
        f"entry {entry.index} is a {entry.event.type!r}: a status goes with a certificate's "
        "entry (give --certificate, or the index of its certificate.issued entry)"
    )


def with_status(
    text: str, base_url: str, token: bytes | None = None, client: httpx.Client | None = None
) -> str:
    """``text`` (a bundle from `fetch_bundle`) with the status of its certificate's lot
    (`status_subject`) as of one checkpoint: the server's latest. When that is newer than
    the bundle's, the entry is proven again against it (`GET /log/proof/inclusion`).

    Raises httpx.HTTPError (no answer) and MalformedInput (an answer that is not a proof,
    or an entry with no certificate)."""
    bundle = parse_bundle(text)
    if bundle.entry is None:
        raise MalformedInput("proof bundle: expected the entry in the 'extra' line")
    lot, carried = status_subject(Entry.from_bytes(bundle.entry), token)
    own = client is None
    http = client or new_http_client(base_url)
    try:
        status = StatusProof.from_json(_get_json(http, f"/lots/{quote(lot, safe='')}/status-proof"))
        if status.checkpoint is None:
            raise MalformedInput("the status proof carries no checkpoint")
        ours = Checkpoint.from_text(Note.from_text(bundle.checkpoint_note).text)
        if status.tree_size == ours.size:
            note, proof = bundle.checkpoint_note, bundle.proof
        elif status.tree_size > ours.size:
            note = status.checkpoint
            found = _get_json(
                http,
                "/log/proof/inclusion",
                {"index": bundle.index, "tree_size": status.tree_size},
            )
            hashes = found.get("hashes") if isinstance(found, dict) else None
            if not isinstance(hashes, list) or len(hashes) > MAX_INCLUSION_HASHES:
                raise MalformedInput("the server's inclusion proof is not a list of hashes")
            proof = tuple(b64decode(str(h), size=HASH_SIZE, what="proof hash") for h in hashes)
        else:
            raise MalformedInput(
                f"the server's status is as of tree size {status.tree_size}, older than its "
                f"bundle's checkpoint ({ours.size})"
            )
    finally:
        if own:
            http.close()
    return replace(
        bundle, checkpoint_note=note, proof=proof, status=status, certificate=carried
    ).to_text()


def add_status(
    text: str, base_url: str, token: bytes | None = None, client: httpx.Client | None = None
) -> tuple[str, str | None]:
    """`with_status` where it applies: (the bundle with the status, None), or (``text``
    unchanged, why not) when the entry is no certificate's and no token is given, or the
    server has no status to give (an older server, or a log with no state.root yet: 404).
    Other failures raise as `with_status` does."""
    try:
        bundle = parse_bundle(text)
        if bundle.entry is None:
            raise MalformedInput("proof bundle: expected the entry in the 'extra' line")
        entry = Entry.from_bytes(bundle.entry)
    except MalformedInput as exc:  # verifying the bundle refuses it, with its reason
        return text, f"the bundle does not parse ({exc})"
    if token is None and entry.event.type != "certificate.issued":
        return text, f"entry {entry.index} is a {entry.event.type}, not a certificate's"
    try:
        return with_status(text, base_url, token, client), None
    except httpx.HTTPStatusError as exc:
        if exc.response.status_code == 404:
            return text, "the server has no status proof for it (404)"
        raise


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


def bundle_verdict(verified: VerifiedBundle) -> tuple[str, str | None, str] | None:
    """(verdict, reason, "status as of checkpoint N: ...") of a bundle with a status;
    None without one. Exit codes as online: genuine 0, not_genuine 1, not_current 3."""
    if verified.verdict is None or verified.status is None:
        return None
    word, reason = verified.verdict
    said = "genuine and current" if reason is None else f"{reason}: {_SAYS[reason]}"
    return word, reason, f"status as of checkpoint {verified.status.tree_size}: {said}"


def describe_bundle(verified: VerifiedBundle) -> str:
    """One line for people: which entry, what it records, against which checkpoint."""
    e = verified.entry
    return (
        f"entry {e.index} ({e.event.type} by {e.event.actor}, logged {e.time}) is in the log "
        f"{verified.checkpoint.origin} of size {verified.checkpoint.size}; leaf hash "
        f"{verified.leaf_hash.hex()}"
    )
