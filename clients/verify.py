"""Verification of a certificate from a QR photo, its URL or the bare token, against log
keys pinned by the verifier.

Offline (`verify_offline`): the token's signature and facts, no connection needed.

Online (`verify_online`): the offline check first (its failure is final), then the ledger's
word on the certificate from `GET <server>/api/c/<token>`. The server is trusted for as
little as possible:

1. its checkpoint must be signed by one of the *pinned* keys (never its own key list);
2. its inclusion proof must lead from the entry the token reflects (the token's ledger
   index, a leaf hash starting with the token's prefix) to that checkpoint's root;
3. when witnesses are pinned (`witnesses=`, `min_cosignatures=K`), at least K of them
   cosigned that checkpoint (c2sp.org/tlog-cosignature) within the last `max_age` seconds,
   so the server is not showing this verifier a view of the log that the witnesses never
   saw, nor an old one hiding later entries: the proof is against the newest checkpoint
   (the latest, or an older one the answer lists under `witnessed`) that meets this;
4. only then is its status taken: revoked, not_in_log, or not current (superseded,
   consumed, transferred, held) with the newer certificates. When the answer carries a
   `status_proof` (ledger.status: the lot's state in the map committed by the `state.root`
   entry that ends the answer's checkpoint), the status is the verdict `ledger.status.judge`
   gives on the PROVEN state, and the server's own words (verdict, reason, lot) are not
   read; with a witness policy whose checkpoint W is older than the answer's, the
   answer's checkpoint must extend W (the `witnessed` item's `consistency` proof). An older
   server sends no status proof: its status is then its word (`status_checked` false).

An answer that fails 1, 2 or its status proof is the verdict `not_genuine` /
`proof_invalid`; one that fails 3 is `not_genuine` / `not_witnessed`, or `stale` (cosigned,
but longer ago than max_age). Without a status proof, the server alone vouches for the
status (that no revocation or transfer is being hidden); without witnesses, for how fresh
its checkpoint is (a proven status is as of that checkpoint): ask a server you chose
(`server=`) rather than one named by the QR, which whoever printed the QR chose. What a
status proof cannot tell: a certificate never issued from one superseded (the map holds a
lot's current and revoked certificates only), so the server's `not_in_log` stands then.
"""

from __future__ import annotations

import json
import time
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal
from urllib.parse import quote, urlsplit

import httpx
from pydantic import BaseModel, ConfigDict, ValidationError

from ledger.certificate import (
    QR_PATH,
    Certificate,
    CertificateInvalid,
    certificate_id,
    parse_qr_text,
    token_text,
    verify_certificate,
)
from ledger.checkpoint import Checkpoint, open_checkpoint, pinned_origin
from ledger.cosignature import WitnessKey, count_valid_cosignatures
from ledger.encoding import b64decode
from ledger.errors import LedgerError, MalformedInput, StatusProofInvalid
from ledger.hashing import HASH_SIZE, hash_leaf
from ledger.keys import LogKey
from ledger.merkle import MAX_PROOF_HASHES, verify_inclusion
from ledger.note import Note, NoteVerifier
from ledger.status import ProvenStatus, StatusProof, judge, verify_extends, verify_status

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

TIMEOUT_SECONDS = 10.0
"""How long the online check waits for the server (connect, read, write, pool)."""

MAX_ANSWER_BYTES = 1 << 20
"""The largest verdict accepted from a server (1 MiB, after decompression)."""

USER_AGENT = "altan-verify/0.1"
DEFAULT_MAX_AGE_SECONDS = 3600
"""How old the pinned witnesses' cosignatures may be (`--max-age`): one hour. Witnesses
cosign the log's latest checkpoint again every few minutes (clients.witness.REFRESH_SECONDS,
`altan witness push --every`), so a recent cosignature says the log showed them no later
checkpoint before then; a server proving against an older one could hide what came after."""
CLOCK_SKEW_SECONDS = 600
"""How far ahead of this verifier's clock a cosignature may be timestamped."""
MAX_WITNESSED_READ = 4
"""The most alternative witnessed checkpoints read from one answer."""
API_PATH = "/api/c/"


class NoQrCode(Exception):
    """The image holds no readable QR code (a better photo will help; not a verdict)."""


def read_qr_text(source: str) -> str:
    """The text of `source`: decoded from a PNG/JPEG photo of the QR, else `source` itself."""
    path = Path(source)
    if _is_file(path):
        return _decode_image(path)
    return source


def read_token(source: str) -> bytes:
    """The token in `source`: a PNG/JPEG photo of the QR, the QR's URL, or the token."""
    return parse_qr_text(read_qr_text(source))


def _is_file(path: Path) -> bool:
    try:
        return path.is_file()
    except OSError:  # a token is longer than any file name may be
        return False


def _decode_image(path: Path) -> str:
    import zxingcpp
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as img:
            found = zxingcpp.read_barcodes(img.convert("L"))
    except (OSError, UnidentifiedImageError) as exc:
        raise NoQrCode(f"{path}: not an image this verifier can read ({exc})") from exc
    codes = [r.text for r in found if r.format == zxingcpp.BarcodeFormat.QRCode]
    if not codes:
        raise NoQrCode(f"{path}: no QR code found; try a sharper, closer photo")
    return str(codes[0])


def pinned_keys(vkeys: list[str]) -> list[LogKey]:
    """Log keys from C2SP verifier key strings. A pinned key carries no validity period, so
    it is taken as valid at every time; the online check adds the log's own periods."""
    keys = []
    for vkey in vkeys:
        v = NoteVerifier.from_vkey(vkey)
        keys.append(LogKey(v.name, v.key_id.hex(), v.public_key, "active", _EPOCH))
    if not keys:
        raise MalformedInput("give at least one --key to verify against")
    return keys


def verify_offline(source: str, vkeys: list[str]) -> Certificate:
    """Read and verify; raises CertificateInvalid (not genuine), MalformedInput (no token
    in the text) or NoQrCode (nothing readable in the photo)."""
    return verify_certificate(read_token(source), pinned_keys(vkeys))


def describe(cert: Certificate) -> str:
    """One line a person can read aloud at the counter."""
    kind = "gold lot" if cert.kind == 1 else "ore receipt"
    fine = f", {cert.fineness_ppt}‰ fine" if cert.fineness_ppt is not None else ""
    hg = {True: ", mercury-free", False: ", mercury used", None: ""}[cert.origin.mercury_free]
    when = datetime.fromtimestamp(cert.issued_at, UTC).strftime("%Y-%m-%d %H:%M UTC")
    origin = cert.origin
    miners, sites = _count(origin.miners, "miner"), _count(origin.sites, "site")
    return (
        f"{kind} {cert.lot_id}: {cert.mass_text}{fine}; origin {origin.region_name('en')} "
        f"({miners}, {sites}{hg}); custodian {cert.custodian}; "
        f"ledger entry {cert.ledger_index}; issued {when}"
    )


def _count(n: int, noun: str) -> str:
    return f"{n:,} {noun}" if n == 1 else f"{n:,} {noun}s"


# --- online --------------------------------------------------------------------------------

OnlineWord = Literal["genuine", "not_genuine", "not_current"]
NOT_CURRENT_REASONS = frozenset({"superseded", "consumed", "transferred", "held"})

_SAYS = {
    "malformed": "the ledger reads no certificate in this token",
    "unknown_key": "the ledger does not know the key that signed it",
    "bad_signature": "the ledger finds that the signature does not match the facts",
    "key_not_valid_at_issue": "signed with a log key that was not in use on the issue date",
    "not_in_log": "the ledger has no record of this certificate: do not accept it",
    "revoked": "a regulator revoked this certificate",
    "superseded": "a newer certificate replaces this one",
    "consumed": "the lot no longer exists as such (processed, split, merged or sold on)",
    "transferred": "the lot has a new custodian since this certificate was issued",
    "held": "the lot is held by an open case and may not be traded now",
}


class CannotCheckOnline(Exception):
    """No online verdict could be had (not a verdict on the certificate).

    reason: `no_server` (none given and none in the QR), `unreachable` (no answer, a
    timeout, a network error) or `bad_answer` (an HTTP error, not JSON, too large, not a
    verdict).
    """

    def __init__(self, reason: Literal["no_server", "unreachable", "bad_answer"], message: str):
        super().__init__(_clean(message, 1000))  # it may quote the server
        self.reason = reason


class ProofInvalid(Exception):
    """The server's checkpoint or inclusion proof does not hold up against the pinned keys."""


@dataclass(frozen=True)
class Successor:
    """A newer certificate the server names; `genuine`: its token verifies offline against
    the pinned keys (the server could name anything)."""

    id: str
    lot: str
    url: str
    genuine: bool


@dataclass(frozen=True)
class Revocation:
    """The server's account of a revocation: who, when, why (never proven: a status proof
    proves that the certificate is revoked, not these details)."""

    reason: str
    by: str
    index: int
    time: str


StatusSource = Literal["proof", "server_word", "none"]
"""Where an online verdict's status came from: a status proof checked here, the server's
word (an older server, no proof), or nowhere (the answer was refused before it)."""


@dataclass(frozen=True)
class OnlineVerdict:
    """The online verdict on a certificate whose token verified offline.

    verdict/reason: genuine (reason None); not_genuine with a reason of the server's
    (`not_in_log`, `revoked`, or another it found) or `proof_invalid` (its answer failed
    the client's own checks); not_current with superseded | consumed | transferred | held.
    checkpoint: the server's checkpoint, verified with a pinned key (None when it gave
    none, or gave one that does not verify); with a witness policy, the one it chose.
    cosigned_by: the names of the pinned witnesses with a valid cosignature on it.
    status: the proven state of the certificate's lot (None unless status_source is
    "proof"), as of `status.tree_size` (the answer's latest checkpoint).
    """

    verdict: OnlineWord
    reason: str | None
    detail: str
    certificate: Certificate
    server: str
    server_from_qr: bool
    checkpoint: Checkpoint | None = None
    successors: tuple[Successor, ...] = ()
    revocation: Revocation | None = None
    lot_status: str | None = None
    lot_custodian: str | None = None
    cosigned_by: tuple[str, ...] = ()
    status: ProvenStatus | None = None
    status_source: StatusSource = "none"

    @property
    def genuine(self) -> bool:
        """Issued by the log and not revoked (it may still be no longer current)."""
        return self.verdict != "not_genuine"

    @property
    def current(self) -> bool:
        return self.verdict == "genuine"

    @property
    def exit_code(self) -> int:
        """0 genuine and current, 1 not genuine, 3 genuine but no longer current."""
        return {"genuine": 0, "not_genuine": 1, "not_current": 3}[self.verdict]

    def message(self) -> str:
        """One line: why, the successors, the facts of the certificate, where it was checked."""
        parts = [] if self.current else [self.detail]
        if self.revocation is not None:
            r = self.revocation
            said = " (the server's account)" if self.status is not None else ""
            parts.append(f"revoked by {r.by} at entry {r.index} ({r.time}){said}: {r.reason}")
        if self.successors:
            parts.append("newer: " + " ".join(_successor_text(s) for s in self.successors))
        parts.append(describe(self.certificate))
        where = f"checked online at {self.server}"
        if self.checkpoint is not None:
            where += f" (tree size {self.checkpoint.size})"
        if self.cosigned_by:
            where += f", cosigned by {', '.join(self.cosigned_by)}"
        parts.append(where)
        said = self.status_text()
        if said:
            parts.append(said)
        return "; ".join(parts)

    def status_text(self) -> str:
        """Where the status came from, for people ("" when the answer was refused)."""
        if self.status is not None:
            text = f"status proven as of checkpoint {self.status.tree_size}"
            if self.checkpoint is not None and self.checkpoint.size != self.status.tree_size:
                text += f", which extends the cosigned checkpoint {self.checkpoint.size}"
            return text
        if self.status_source == "server_word":
            return "status not proven: the server's word (it sent no status proof)"
        return ""

    def to_json(self) -> dict[str, Any]:
        cp = self.checkpoint
        return {
            "genuine": self.genuine,
            "current": self.current,
            "verdict": self.verdict,
            "reason": self.reason or "genuine",
            # proven here, the server's word (an older server), or not taken (offline:
            # "unknown_offline")
            "status": {"proof": "proven", "server_word": "server_word", "none": "not_checked"}[
                self.status_source
            ],
            "status_checked": self.status is not None,
            "status_proof": {
                "proven": self.status is not None,
                "as_of": None if self.status is None else self.status.tree_size,
                "lot": self.certificate.lot_id,
                "state": None
                if self.status is None or self.status.state is None
                else self.status.state.to_json(),
            },
            "message": self.message(),
            "detail": self.detail,
            "server": self.server,
            "server_from_qr": self.server_from_qr,
            "checkpoint": None
            if cp is None
            else {"origin": cp.origin, "tree_size": cp.size, "root_hash": cp.root_hash.hex()},
            "revocation": None
            if self.revocation is None
            else {
                "reason": self.revocation.reason,
                "by": self.revocation.by,
                "index": self.revocation.index,
                "time": self.revocation.time,
                "proven": False,  # the status proof proves the revocation, not its details
            },
            "successors": [
                {"id": s.id, "lot": s.lot, "url": s.url, "genuine": s.genuine}
                for s in self.successors
            ],
            "lot": None
            if self.lot_status is None
            else {"status": self.lot_status, "custodian": self.lot_custodian},
            "cosigned_by": list(self.cosigned_by),
            "certificate": {
                "lot": self.certificate.lot_id,
                "custodian": self.certificate.custodian,
                "ledger_index": self.certificate.ledger_index,
                "description": describe(self.certificate),
            },
        }


def _successor_text(s: Successor) -> str:
    return s.url if s.genuine else f"{s.url} (does not verify against the pinned keys)"


def server_of(text: str) -> str | None:
    """The server a QR URL points at: everything before its `/c/<token>` (the scheme and
    host for a server at the root of its site); None for a bare token."""
    body = "".join(text.split())
    scheme, sep, rest = body.partition("://")
    if not sep:
        return None
    cut = max(rest.rfind(QR_PATH), rest.rfind(QR_PATH.upper()))
    if cut < 0:
        return None
    return _base_url(f"{scheme}://{rest[:cut]}")


def _base_url(url: str) -> str | None:
    try:
        parts = urlsplit(url.strip())
    except ValueError:
        return None
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        return None
    if parts.query or parts.fragment:
        return None
    return f"{parts.scheme.lower()}://{parts.netloc}{parts.path.rstrip('/')}"


def new_http_client() -> httpx.Client:
    """The HTTP client of the online check: a 10 s timeout, redirects followed."""
    return httpx.Client(
        timeout=httpx.Timeout(TIMEOUT_SECONDS),
        follow_redirects=True,
        headers={"User-Agent": USER_AGENT},
    )


def verify_online(
    source: str,
    vkeys: Sequence[str],
    server: str | None = None,
    client: httpx.Client | None = None,
    *,
    witnesses: Sequence[str] = (),
    min_cosignatures: int = 0,
    max_age: int = DEFAULT_MAX_AGE_SECONDS,
) -> OnlineVerdict:
    """Verify offline against `vkeys`, then ask the server and check its answer.

    server: the base URL to ask (`https://ledger.altan.mn`); by default the one in the QR
    URL. client: the httpx client to send through (not closed here); by default a new one
    (`new_http_client`). witnesses: pinned witness vkeys (type 0x04); min_cosignatures: how
    many of them must have cosigned the server's checkpoint (else `not_witnessed`), each
    within the last `max_age` seconds (else `stale`; Quorum).

    Raises CertificateInvalid (not genuine offline: final), MalformedInput or NoQrCode (no
    token could be read), CannotCheckOnline (no verdict from a server).
    """
    quorum = pinned_witnesses(witnesses, min_cosignatures, max_age)  # bad options first
    text = read_qr_text(source)
    token = parse_qr_text(text)
    keys = pinned_keys(list(vkeys))
    cert = verify_certificate(token, keys)
    verifiers = [NoteVerifier.from_vkey(v) for v in vkeys]
    pinned_origin(v.name for v in verifiers)  # KeyProblem: the keys of two logs pinned
    if server is not None:
        base = _base_url(server)
        if base is None:
            raise CannotCheckOnline(
                "no_server", f"--server: expected an http(s):// base URL, got {server[:100]!r}"
            )
        from_qr = False
    else:
        found = server_of(text)
        if found is None:
            raise CannotCheckOnline(
                "no_server",
                "genuine offline, but a bare token names no server to ask: give --server URL",
            )
        base, from_qr = found, True
    url = f"{base}{API_PATH}{quote(token_text(token), safe='')}"
    if client is None:
        with new_http_client() as own:
            data = _fetch(own, url, base)
    else:
        data = _fetch(client, url, base)
    try:
        answer = _Answer.model_validate(data)
    except ValidationError as exc:
        raise CannotCheckOnline(
            "bad_answer", f"{base}: the answer is not a verdict ({exc.error_count()} problems)"
        ) from exc
    return _judge(answer, token, cert, keys, verifiers, base, from_qr, quorum)


@dataclass(frozen=True)
class Quorum:
    """Pinned witnesses, how many of them must cosign, and how recently (max_age seconds):
    a checkpoint qualifies when at least `required` of them cosigned it within max_age."""

    witnesses: tuple[WitnessKey, ...] = ()
    required: int = 0
    max_age: int = DEFAULT_MAX_AGE_SECONDS


def pinned_witnesses(
    vkeys: Sequence[str], required: int, max_age: int = DEFAULT_MAX_AGE_SECONDS
) -> Quorum:
    """Witness keys from vkeys, the number required (0 to their count) and the largest age
    in seconds of a cosignature that counts (at least 1)."""
    witnesses = tuple(WitnessKey.from_vkey(v) for v in vkeys)
    if isinstance(required, bool) or not isinstance(required, int) or required < 0:
        raise MalformedInput(f"--min-cosignatures: expected 0 or more, got {required!r}")
    if isinstance(max_age, bool) or not isinstance(max_age, int) or max_age < 1:
        raise MalformedInput(f"--max-age: expected 1 second or more, got {max_age!r}")
    if required > len(set(witnesses)):
        raise MalformedInput(
            f"--min-cosignatures {required}: expected at least {required} distinct --witness "
            f"keys, got {len(set(witnesses))}"
        )
    return Quorum(witnesses, required, max_age)


def _fetch(client: httpx.Client, url: str, base: str) -> object:
    headers = {"Accept": "application/json", "User-Agent": USER_AGENT}
    try:
        with client.stream("GET", url, headers=headers) as resp:
            if resp.status_code != 200:
                raise CannotCheckOnline(
                    "bad_answer", f"{base}{API_PATH}…: HTTP {resp.status_code} {resp.reason_phrase}"
                )
            declared = resp.headers.get("content-length", "")
            if declared.isdigit() and int(declared) > MAX_ANSWER_BYTES:
                raise CannotCheckOnline("bad_answer", f"{base}: answer larger than 1 MiB")
            body = bytearray()
            for chunk in resp.iter_bytes():
                body += chunk
                if len(body) > MAX_ANSWER_BYTES:
                    raise CannotCheckOnline("bad_answer", f"{base}: answer larger than 1 MiB")
    except (httpx.HTTPError, httpx.InvalidURL) as exc:
        raise CannotCheckOnline(
            "unreachable", f"cannot reach {base}: {type(exc).__name__}: {exc}"
        ) from exc
    try:
        return json.loads(bytes(body))
    except ValueError as exc:
        raise CannotCheckOnline("bad_answer", f"{base}: the answer is not JSON") from exc


# What the client reads of `schemas.certificates.VerdictOut`; members it does not use are
# ignored, so that a newer server's additions do not break an older verifier.


class _Lenient(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class _Proof(_Lenient):
    index: int
    tree_size: int
    entry: str
    leaf_hash: str
    path: list[str]
    root_hash: str


class _Successor(_Lenient):
    id: str
    lot: str
    url: str


class _Revocation(_Lenient):
    reason: str
    by: str
    index: int
    time: str


class _Lot(_Lenient):
    status: str
    custodian: str


class _Facts(_Lenient):
    id: str


class _Witnessed(_Lenient):
    checkpoint: str
    proof: _Proof
    consistency: list[str] | None = None  # base64 hashes, from this checkpoint to the latest


class _Answer(_Lenient):
    verdict: OnlineWord
    reason: str | None
    certificate: _Facts | None = None
    revocation: _Revocation | None = None
    successors: list[_Successor] = []
    lot: _Lot | None = None
    proof: _Proof | None = None
    checkpoint: str | None = None
    witnessed: list[_Witnessed] = []
    status_proof: Any = None  # parsed strictly by ledger.status.StatusProof.from_json


def _judge(
    answer: _Answer,
    token: bytes,
    cert: Certificate,
    keys: list[LogKey],
    verifiers: list[NoteVerifier],
    server: str,
    from_qr: bool,
    quorum: Quorum = Quorum(),
) -> OnlineVerdict:
    cosigned_by: tuple[str, ...] = ()

    def verdict(word: OnlineWord, reason: str | None, detail: str, **kw: Any) -> OnlineVerdict:
        return OnlineVerdict(
            word, reason, detail, cert, server, from_qr, cosigned_by=cosigned_by, **kw
        )

    checkpoint: Checkpoint | None = None
    proven: ProvenStatus | None = None
    word: OnlineWord = "not_genuine"
    why: str | None = None
    try:
        if answer.checkpoint is not None:  # whatever it says, it must be this log speaking
            checkpoint = _open(answer.checkpoint, verifiers)
            found = count_valid_cosignatures(answer.checkpoint, quorum.witnesses)
            cosigned_by = tuple(_clean(w.name, 200) for w in found)
        if answer.certificate is not None and answer.certificate.id != certificate_id(token):
            raise ProofInvalid("the answer is about another certificate")
        if answer.status_proof is not None:
            # the status from the proof, the server's words unread (module docstring, 4)
            if checkpoint is None:
                raise ProofInvalid("the answer holds a status proof but no checkpoint")
            proven = _check_status(answer.status_proof, checkpoint, cert)
            word, why = _proven_verdict(answer, token, cert, proven)
            needs_proof = (word, why) != ("not_genuine", "not_in_log")
        else:
            needs_proof = answer.verdict != "not_genuine" or answer.reason == "revoked"
        if needs_proof:
            # a status of an issued certificate: the entry it reflects must be proven
            if checkpoint is None or answer.proof is None:
                raise ProofInvalid("the answer holds no checkpoint and inclusion proof")
            _check_proof(answer.proof, checkpoint, cert)
    except ProofInvalid as exc:
        return verdict(
            "not_genuine",
            "proof_invalid",
            f"the server's answer does not hold up against the pinned keys ({_clean(str(exc))}): "
            "do not rely on it",
            checkpoint=checkpoint,
        )
    if quorum.required > 0:  # the witness policy picks the checkpoint proven against
        latest = checkpoint
        checkpoint, cosigned_by, refusal, refused_why, consistency = _witness_policy(
            answer, checkpoint, cosigned_by, cert, verifiers, quorum, needs_proof
        )
        if refusal is not None:
            return verdict("not_genuine", refusal, refused_why, checkpoint=checkpoint)
        if proven is not None and checkpoint is not latest:
            # the status is proven against the latest: it must extend the cosigned one
            assert checkpoint is not None and latest is not None
            try:
                _check_extends(checkpoint, latest, consistency)
            except ProofInvalid as exc:
                return verdict(
                    "not_genuine",
                    "proof_invalid",
                    f"the server's status is proven against its latest checkpoint (tree size "
                    f"{latest.size}), which it does not show to extend the one the witnesses "
                    f"cosigned (tree size {checkpoint.size}): {_clean(str(exc))}; do not rely "
                    "on it",
                    checkpoint=checkpoint,
                )

    successors = tuple(_successor(s, keys) for s in answer.successors[:20])
    revocation = (
        None
        if answer.revocation is None
        else Revocation(
            reason=_clean(answer.revocation.reason),
            by=_clean(answer.revocation.by, 80),
            index=answer.revocation.index,
            time=_clean(answer.revocation.time, 40),
        )
    )
    if proven is not None:
        state = proven.state
        return verdict(
            word,
            why,
            "genuine and current" if why is None else _SAYS[why],
            checkpoint=checkpoint,
            successors=successors if word == "not_current" else (),
            revocation=revocation if why == "revoked" else None,  # details: the server's word
            lot_status=None if state is None else _clean(state.status, 40),
            lot_custodian=None if state is None else _clean(state.custodian, 80),
            status=proven,
            status_source="proof",
        )

    reason = None if answer.verdict == "genuine" else answer.reason
    if answer.verdict == "not_current" and reason not in NOT_CURRENT_REASONS:
        raise CannotCheckOnline("bad_answer", f"not current for an unknown reason {reason!r}")
    if answer.verdict == "not_genuine" and (reason is None or reason in NOT_CURRENT_REASONS):
        raise CannotCheckOnline("bad_answer", f"not genuine for no known reason ({reason!r})")
    lot = answer.lot
    return verdict(
        answer.verdict,
        _clean(reason, 40) if reason is not None else None,
        "genuine and current" if reason is None else _SAYS.get(reason, "the ledger refuses it"),
        checkpoint=checkpoint,
        successors=successors,
        revocation=revocation,
        lot_status=_clean(lot.status, 40) if lot is not None else None,
        lot_custodian=_clean(lot.custodian, 80) if lot is not None else None,
        status_source="server_word",
    )


def _check_status(value: Any, checkpoint: Checkpoint, cert: Certificate) -> ProvenStatus:
    """The answer's status proof, for the certificate's lot, against the answer's checkpoint
    (ledger.status's checklist; the proof's own copy of the checkpoint must name it too)."""
    try:
        proof = StatusProof.from_json(value)
        if proof.checkpoint is not None:
            named = Checkpoint.from_text(Note.from_text(proof.checkpoint).text)
            if (named.size, named.root_hash) != (checkpoint.size, checkpoint.root_hash):
                raise StatusProofInvalid(
                    f"the proof names the checkpoint of tree size {named.size}, the answer "
                    f"the one of tree size {checkpoint.size}",
                    reason="not_latest_root",
                )
        return verify_status(proof, checkpoint, cert.lot_id)
    except LedgerError as exc:
        raise ProofInvalid(f"status proof: {exc}") from exc


def _proven_verdict(
    answer: _Answer, token: bytes, cert: Certificate, proven: ProvenStatus
) -> tuple[OnlineWord, str | None]:
    """`judge` on the proven state. A status proof cannot tell a certificate that was never
    issued from one superseded (neither is the lot's current or revoked one): a server that
    says `not_in_log` then keeps its refusal, the one word of it that is read."""
    word, why = judge(certificate_id(token), cert.custodian, proven.state)
    if why == "superseded" and (answer.verdict, answer.reason) == ("not_genuine", "not_in_log"):
        return "not_genuine", "not_in_log"
    return word, why


def _check_extends(witnessed: Checkpoint, latest: Checkpoint, proof: list[str] | None) -> None:
    if proof is None and witnessed.size == latest.size:
        proof = []  # the same tree (roots compared below): nothing to prove
    if proof is None:
        raise ProofInvalid("no consistency proof from the cosigned checkpoint")
    if len(proof) > MAX_PROOF_HASHES:
        raise ProofInvalid(f"a consistency proof of {len(proof)} hashes")
    try:
        hashes = [b64decode(h, size=HASH_SIZE, what="consistency hash") for h in proof]
        verify_extends(witnessed, latest, hashes)
    except (LedgerError, TypeError, AttributeError) as exc:
        raise ProofInvalid(str(exc)) from exc


def _witness_policy(
    answer: _Answer,
    latest: Checkpoint | None,
    latest_cosigners: tuple[str, ...],
    cert: Certificate,
    verifiers: list[NoteVerifier],
    quorum: Quorum,
    needs_proof: bool,
) -> tuple[
    Checkpoint | None,
    tuple[str, ...],
    Literal["not_witnessed", "stale"] | None,
    str,
    list[str] | None,
]:
    """Step 3: the newest checkpoint the pinned witnesses vouch for, or why there is none.

    Candidates: the answer's latest checkpoint (already checked) and its `witnessed` ones
    (older checkpoints with their cosignatures and the entry's proof against each; one that
    does not verify is skipped, never counted). The newest candidate with `required` pinned
    cosignatures timestamped within max_age of this verifier's clock is chosen. None: then
    `stale` when some candidate has them but older (the server may hide what the log
    recorded since), else `not_witnessed`. Returns (checkpoint, cosigners, refusal, detail,
    the chosen item's consistency proof to the latest: None for the latest itself).
    """
    now = int(time.time())
    candidates: list[tuple[str, Checkpoint, list[str] | None]] = []
    if answer.checkpoint is not None and latest is not None:
        candidates.append((answer.checkpoint, latest, None))
    for other in answer.witnessed[:MAX_WITNESSED_READ]:
        try:
            checkpoint = _open(other.checkpoint, verifiers)
            if needs_proof:
                _check_proof(other.proof, checkpoint, cert)
        except ProofInvalid:
            continue
        candidates.append((other.checkpoint, checkpoint, other.consistency))
    candidates.sort(key=lambda c: c[1].size, reverse=True)

    def names(found: list[WitnessKey]) -> tuple[str, ...]:
        return tuple(_clean(w.name, 200) for w in found)

    stale: tuple[Checkpoint, tuple[str, ...]] | None = None
    for note, checkpoint, consistency in candidates:
        valid = count_valid_cosignatures(note, quorum.witnesses, not_after=now + CLOCK_SKEW_SECONDS)
        fresh = count_valid_cosignatures(
            note,
            quorum.witnesses,
            not_after=now + CLOCK_SKEW_SECONDS,
            not_before=now - quorum.max_age,
        )
        if len(fresh) >= quorum.required:
            return checkpoint, names(fresh), None, "", consistency
        if stale is None and len(valid) >= quorum.required:
            stale = (checkpoint, names(valid))
    if stale is not None:
        return (
            stale[0],
            stale[1],
            "stale",
            f"the pinned witnesses cosigned the server's checkpoint (tree size {stale[0].size}) "
            f"more than {quorum.max_age} s ago (--max-age): the server may be hiding what the "
            "log recorded since (a revocation, a sale); do not rely on it",
            None,
        )
    return (
        latest,
        latest_cosigners,
        "not_witnessed",
        f"{len(latest_cosigners)} of the pinned witnesses cosigned the server's checkpoint, "
        f"{quorum.required} required: it may be showing you a view of the log that "
        "nobody else sees; do not rely on it",
        None,
    )


def _open(note: str, verifiers: list[NoteVerifier]) -> Checkpoint:
    # The origin expected is the pinned keys' name, never the note's own first line: a
    # checkpoint signed by the real key but naming another log (say the origin with a
    # trailing "/", a rewritten history) is refused (c2sp.org/tlog-checkpoint, issue 10).
    try:
        origin = pinned_origin(v.name for v in verifiers)
        checkpoint, _ = open_checkpoint(note, verifiers, origin)
    except LedgerError as exc:
        raise ProofInvalid(f"checkpoint: {exc}") from exc
    return checkpoint


def _check_proof(proof: _Proof, checkpoint: Checkpoint, cert: Certificate) -> None:
    if proof.index != cert.ledger_index:
        raise ProofInvalid(
            f"the proof is of entry {proof.index}, the certificate names {cert.ledger_index}"
        )
    if proof.tree_size != checkpoint.size or proof.root_hash != checkpoint.root_hash.hex():
        raise ProofInvalid("the proof is not against the signed checkpoint")
    try:
        entry = b64decode(proof.entry, what="proof entry")
        path = [bytes.fromhex(p) for p in proof.path]
    except (LedgerError, ValueError) as exc:
        raise ProofInvalid(f"malformed proof: {exc}") from exc
    leaf = hash_leaf(entry)
    if not leaf.startswith(cert.leaf_hash_prefix):
        raise ProofInvalid("the entry's leaf hash is not the one the certificate names")
    if proof.leaf_hash != leaf.hex():
        raise ProofInvalid("the proof's leaf hash is not the hash of its entry")
    try:
        verify_inclusion(leaf, proof.index, checkpoint.size, path, checkpoint.root_hash)
    except LedgerError as exc:
        raise ProofInvalid(f"inclusion proof: {exc}") from exc


def _successor(s: _Successor, keys: list[LogKey]) -> Successor:
    try:
        verify_certificate(parse_qr_text(s.url), keys)
        genuine = True
    except (CertificateInvalid, MalformedInput):
        genuine = False
    return Successor(id=_clean(s.id, 64), lot=_clean(s.lot, 80), url=_clean(s.url), genuine=genuine)


def _clean(text: str, limit: int = 500) -> str:
    """Server text made safe to print: no control characters (no terminal escapes)."""
    out = "".join(" " if unicodedata.category(c).startswith("C") else c for c in text[:limit])
    return out.strip()
