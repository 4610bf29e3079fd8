"""Certificates and receipts as small signed tokens that anyone can verify offline.

A token is a COSE_Sign1 (RFC 9052, CBOR tag 18) signed with Ed25519 by a log key::

    18([protected, unprotected, payload, signature])

    protected    bstr .cbor {1: -8 (EdDSA), 4: kid}   kid = the key's 4-byte C2SP key id
    unprotected  {}                                    (nothing; everything that matters is signed)
    payload      bstr .cbor Certificate                (canonical CBOR, integer keys below)
    signature    64-byte Ed25519 signature of
                 CBOR(["Signature1", protected, h'', payload])   (RFC 9052 §4.4)

The payload map (absent optional fields mean None; an explicit null is refused)::

    1 kind (1 gold lot, 2 ore receipt)   6 origin {1 region, 2 miners, 3 sites, ?4 mercury_free}
    2 lot id                             7 custodian
    3 mass (int)                         8 issued_at (unix seconds)
    4 unit ("g" or "mg")                 9 ledger index of the entry it reflects
    ?5 fineness (parts per thousand)     10 first 16 bytes of that entry's leaf hash

Every value has exactly one encoding: tokens and payloads that are not in canonical CBOR
are refused, so a token cannot be re-encoded into a second valid form.

In a QR code the token is written as ``<public url>/c/<base32>`` (RFC 4648 base32, upper
case, no padding), which a QR encoder can store as a byte segment (the URL) plus a compact
alphanumeric segment (the token). Rendering the QR image is not done here.

Verification (``verify_certificate``) is a numbered checklist; each failure raises
``CertificateInvalid`` with a ``reason``:

    1. the token is a COSE_Sign1 in canonical CBOR, within MAX_TOKEN_BYTES  MALFORMED
    2. the protected header is exactly {alg: EdDSA, kid: 4 bytes}, the
       unprotected header is empty and the signature is 64 bytes              MALFORMED
    3. the kid names one of the trusted keys                                  UNKNOWN_KEY
    4. the Ed25519 signature verifies over the Sig_structure                  BAD_SIGNATURE
    5. the payload is a valid certificate (strict, canonical)                 MALFORMED
    6. the key was the signing key at the certificate's issued_at             KEY_NOT_VALID_AT_ISSUE

The signature is checked before the payload is parsed, so a changed payload byte is always
a BAD_SIGNATURE. Online checks (in the log, superseded, revoked, ...) belong to the service.
This module never reads the clock: ``issued_at`` is passed in.
"""

from __future__ import annotations

import base64
import binascii
import enum
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

import cbor2

from ledger.errors import InvalidSignature, MalformedInput, VerificationError
from ledger.keys import ED25519_SIGNATURE_SIZE, LogKey, LogSigner

__all__ = [
    "Certificate",
    "CertificateFailure",
    "CertificateInvalid",
    "CertificateKind",
    "Origin",
    "parse_qr_text",
    "qr_text",
    "sign_certificate",
    "token_text",
    "verify_certificate",
]

COSE_SIGN1_TAG = 18
COSE_HEADER_ALG = 1
COSE_HEADER_KID = 4
COSE_ALG_EDDSA = -8
SIG_CONTEXT = "Signature1"
KID_SIZE = 4
LEAF_HASH_PREFIX_SIZE = 16

MAX_TOKEN_BYTES = 512
MAX_PAYLOAD_BYTES = 384
MAX_QR_TEXT_CHARS = 2048
MAX_TEXT_BYTES = 64  # lot id, custodian, region: UTF-8 bytes each
MAX_MASS = 10**12  # 1000 t in mg
MAX_FINENESS_PPT = 1000
MAX_COUNT = 1_000_000  # miners, sites
MAX_ISSUED_AT = 253_402_300_799  # 9999-12-31T23:59:59Z
MAX_LEDGER_INDEX = 2**63 - 1
_CBOR_MAX_DEPTH = 4

QR_PATH = "/c/"
Unit = Literal["g", "mg"]
UNITS: tuple[str, ...] = ("g", "mg")

# payload keys
_KIND, _LOT, _MASS, _UNIT, _FINENESS, _ORIGIN = 1, 2, 3, 4, 5, 6
_CUSTODIAN, _ISSUED_AT, _INDEX, _LEAF = 7, 8, 9, 10
_REQUIRED = frozenset({_KIND, _LOT, _MASS, _UNIT, _ORIGIN, _CUSTODIAN, _ISSUED_AT, _INDEX, _LEAF})
_ALLOWED = _REQUIRED | {_FINENESS}
# origin keys
_REGION, _MINERS, _SITES, _MERCURY_FREE = 1, 2, 3, 4
_ORIGIN_REQUIRED = frozenset({_REGION, _MINERS, _SITES})
_ORIGIN_ALLOWED = _ORIGIN_REQUIRED | {_MERCURY_FREE}

_BASE32_RE = re.compile(r"[A-Z2-7]+")


class CertificateKind(enum.IntEnum):
    GOLD_LOT = 1
    ORE_RECEIPT = 2


class CertificateFailure(enum.StrEnum):
    """Why a token does not verify; the value is stable (for JSON, logs and translations)."""

    MALFORMED = "malformed"
    UNKNOWN_KEY = "unknown_key"
    BAD_SIGNATURE = "bad_signature"
    KEY_NOT_VALID_AT_ISSUE = "key_not_valid_at_issue"


class CertificateInvalid(VerificationError):
    """A token that does not verify; ``reason`` says which check failed."""

    def __init__(self, reason: CertificateFailure, message: str) -> None:
        super().__init__(f"certificate {reason.value}: {message}", field="token")
        self.reason = reason


# -- field checks ------------------------------------------------------------------------


def _check_int(value: object, what: str, low: int, high: int) -> int:
    if type(value) is not int:
        raise MalformedInput(f"{what}: expected an integer, found {type(value).__name__}")
    if not low <= value <= high:
        raise MalformedInput(f"{what}: expected {low}..{high}, found {value}")
    return value


def _check_text(value: object, what: str) -> str:
    if type(value) is not str:
        raise MalformedInput(f"{what}: expected text, found {type(value).__name__}")
    size = len(value.encode("utf-8", "surrogatepass"))
    if not 1 <= size <= MAX_TEXT_BYTES:
        raise MalformedInput(f"{what}: expected 1..{MAX_TEXT_BYTES} UTF-8 bytes, found {size}")
    if any(unicodedata.category(c) in ("Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp") for c in value):
        raise MalformedInput(f"{what}: expected printable text, found {value!r}")
    if value != value.strip():
        raise MalformedInput(f"{what}: expected no leading or trailing spaces, found {value!r}")
    if unicodedata.normalize("NFC", value) != value:
        raise MalformedInput(f"{what}: expected NFC-normalised text, found {value!r}")
    return value


def _check_bool(value: object, what: str) -> bool:
    if type(value) is not bool:
        raise MalformedInput(f"{what}: expected true or false, found {type(value).__name__}")
    return value


@dataclass(frozen=True)
class Origin:
    """Where the gold came from, in summary: ``region`` is "aimag/soum"."""

    region: str
    miners: int
    sites: int
    mercury_free: bool | None = None

    def __post_init__(self) -> None:
        _check_text(self.region, "origin region")
        _check_int(self.miners, "origin miners", 0, MAX_COUNT)
        _check_int(self.sites, "origin sites", 0, MAX_COUNT)
        if self.mercury_free is not None:
            _check_bool(self.mercury_free, "origin mercury_free")

    def _to_map(self) -> dict[int, Any]:
        out: dict[int, Any] = {_REGION: self.region, _MINERS: self.miners, _SITES: self.sites}
        if self.mercury_free is not None:
            out[_MERCURY_FREE] = self.mercury_free
        return out

    @classmethod
    def _from_map(cls, value: object) -> Origin:
        m = _check_map(value, "origin", _ORIGIN_REQUIRED, _ORIGIN_ALLOWED)
        mercury_free = m.get(_MERCURY_FREE)
        if _MERCURY_FREE in m:
            mercury_free = _check_bool(mercury_free, "origin mercury_free")
        return cls(region=m[_REGION], miners=m[_MINERS], sites=m[_SITES], mercury_free=mercury_free)


@dataclass(frozen=True)
class Certificate:
    """The signed facts of a gold-lot certificate or an ore receipt (the token's payload)."""

    kind: CertificateKind
    lot_id: str
    mass: int
    unit: Unit
    fineness_ppt: int | None
    origin: Origin
    custodian: str
    issued_at: int
    ledger_index: int
    leaf_hash_prefix: bytes

    def __post_init__(self) -> None:
        if type(self.kind) is not CertificateKind:
            raise MalformedInput(
                f"certificate kind: expected a CertificateKind, found {self.kind!r}"
            )
        _check_text(self.lot_id, "certificate lot id")
        _check_int(self.mass, "certificate mass", 1, MAX_MASS)
        if self.unit not in UNITS or type(self.unit) is not str:
            raise MalformedInput(f"certificate unit: expected one of {UNITS}, found {self.unit!r}")
        if self.fineness_ppt is not None:
            _check_int(self.fineness_ppt, "certificate fineness_ppt", 0, MAX_FINENESS_PPT)
        if not isinstance(self.origin, Origin):
            raise MalformedInput(f"certificate origin: expected an Origin, found {self.origin!r}")
        _check_text(self.custodian, "certificate custodian")
        _check_int(self.issued_at, "certificate issued_at", 0, MAX_ISSUED_AT)
        _check_int(self.ledger_index, "certificate ledger index", 0, MAX_LEDGER_INDEX)
        if (
            type(self.leaf_hash_prefix) is not bytes
            or len(self.leaf_hash_prefix) != LEAF_HASH_PREFIX_SIZE
        ):
            raise MalformedInput(
                f"certificate leaf hash prefix: expected {LEAF_HASH_PREFIX_SIZE} bytes, "
                f"found {self.leaf_hash_prefix!r}"
            )

    @property
    def issued_at_datetime(self) -> datetime:
        return datetime.fromtimestamp(self.issued_at, UTC)

    def to_cbor(self) -> bytes:
        """The canonical (RFC 8949 §4.2.1 core deterministic) CBOR payload."""
        m: dict[int, Any] = {
            _KIND: int(self.kind),
            _LOT: self.lot_id,
            _MASS: self.mass,
            _UNIT: self.unit,
            _ORIGIN: self.origin._to_map(),
            _CUSTODIAN: self.custodian,
            _ISSUED_AT: self.issued_at,
            _INDEX: self.ledger_index,
            _LEAF: self.leaf_hash_prefix,
        }
        if self.fineness_ppt is not None:
            m[_FINENESS] = self.fineness_ppt
        return cbor2.dumps(m, canonical=True)

    @classmethod
    def from_cbor(cls, data: bytes) -> Certificate:
        """Parse a payload strictly: known keys only, exact types, canonical encoding."""
        if type(data) is not bytes:
            raise MalformedInput(
                f"certificate payload: expected bytes, found {type(data).__name__}"
            )
        if len(data) > MAX_PAYLOAD_BYTES:
            raise MalformedInput(
                f"certificate payload: expected at most {MAX_PAYLOAD_BYTES} bytes, "
                f"found {len(data)}"
            )
        m = _check_map(_cbor_loads(data, "certificate payload"), "certificate", _REQUIRED, _ALLOWED)
        kind = _check_int(m[_KIND], "certificate kind", 1, max(CertificateKind))
        fineness = m.get(_FINENESS)
        if _FINENESS in m:
            fineness = _check_int(fineness, "certificate fineness_ppt", 0, MAX_FINENESS_PPT)
        cert = cls(
            kind=CertificateKind(kind),
            lot_id=m[_LOT],
            mass=m[_MASS],
            unit=m[_UNIT],
            fineness_ppt=fineness,
            origin=Origin._from_map(m[_ORIGIN]),
            custodian=m[_CUSTODIAN],
            issued_at=m[_ISSUED_AT],
            ledger_index=m[_INDEX],
            leaf_hash_prefix=m[_LEAF],
        )
        if cert.to_cbor() != data:
            raise MalformedInput("certificate payload: expected canonical CBOR, found another form")
        return cert


def _cbor_loads(data: bytes, what: str) -> object:
    try:
        return cbor2.loads(
            data, max_depth=_CBOR_MAX_DEPTH, allow_indefinite=False, allow_duplicate_keys=False
        )
    except (cbor2.CBORError, ValueError, TypeError, OverflowError, RecursionError) as exc:
        raise MalformedInput(
            f"{what}: expected CBOR, found bytes that do not parse: {exc}"
        ) from exc


def _check_map(
    value: object, what: str, required: frozenset[int], allowed: frozenset[int]
) -> dict[int, Any]:
    if type(value) is not dict:
        raise MalformedInput(f"{what}: expected a CBOR map, found {type(value).__name__}")
    keys = set(value)
    if any(type(k) is not int for k in keys):
        raise MalformedInput(f"{what}: expected integer keys, found {sorted(map(repr, keys))}")
    if missing := required - keys:
        raise MalformedInput(f"{what}: expected keys {sorted(missing)}, found none")
    if unknown := keys - allowed:
        raise MalformedInput(
            f"{what}: expected only keys {sorted(allowed)}, found {sorted(unknown)}"
        )
    return value


# -- COSE_Sign1 --------------------------------------------------------------------------


def _sig_structure(protected: bytes, payload: bytes) -> bytes:
    return cbor2.dumps([SIG_CONTEXT, protected, b"", payload], canonical=True)


def sign_certificate(cert: Certificate, signer: LogSigner) -> bytes:
    """The COSE_Sign1 token of ``cert``, signed by ``signer`` (tag 18, canonical CBOR)."""
    kid = bytes.fromhex(signer.key.key_id)
    protected = cbor2.dumps({COSE_HEADER_ALG: COSE_ALG_EDDSA, COSE_HEADER_KID: kid}, canonical=True)
    payload = cert.to_cbor()
    signature = signer.sign(_sig_structure(protected, payload))
    return cbor2.dumps(
        cbor2.CBORTag(COSE_SIGN1_TAG, [protected, {}, payload, signature]), canonical=True
    )


def _malformed(message: str) -> CertificateInvalid:
    return CertificateInvalid(CertificateFailure.MALFORMED, message)


def verify_certificate(token: bytes, keys: Sequence[LogKey]) -> Certificate:
    """Return the certificate in ``token`` if it verifies against ``keys``.

    Raises CertificateInvalid with the reason of the first failed check (module docstring).
    """
    # 1. a COSE_Sign1 in canonical CBOR
    if type(token) is not bytes:
        raise _malformed(f"expected bytes, found {type(token).__name__}")
    if not 0 < len(token) <= MAX_TOKEN_BYTES:
        raise _malformed(f"expected 1..{MAX_TOKEN_BYTES} bytes, found {len(token)}")
    try:
        outer = _cbor_loads(token, "token")
    except MalformedInput as exc:
        raise _malformed(str(exc)) from exc
    if not isinstance(outer, cbor2.CBORTag) or outer.tag != COSE_SIGN1_TAG:
        raise _malformed(f"expected a COSE_Sign1 (CBOR tag {COSE_SIGN1_TAG}), found {outer!r:.60}")
    parts = outer.value
    if type(parts) not in (list, tuple) or len(parts) != 4:
        raise _malformed("expected a 4-element COSE_Sign1 array")
    protected, unprotected, payload, signature = parts
    if not (
        type(protected) is bytes
        and isinstance(unprotected, dict | cbor2.frozendict)  # tag contents decode frozen
        and type(payload) is bytes
        and type(signature) is bytes
    ):
        raise _malformed("expected COSE_Sign1 [bstr, map, bstr, bstr]")
    try:
        canonical = cbor2.dumps(outer, canonical=True)
    except (cbor2.CBORError, ValueError, TypeError) as exc:  # pragma: no cover - defensive
        raise _malformed(f"cannot re-encode the token: {exc}") from exc
    if canonical != token:
        raise _malformed("expected canonical CBOR, found another encoding or trailing bytes")

    # 2. headers and signature size
    try:
        header = _cbor_loads(protected, "protected header")
    except MalformedInput as exc:
        raise _malformed(str(exc)) from exc
    if type(header) is not dict or set(header) != {COSE_HEADER_ALG, COSE_HEADER_KID}:
        raise _malformed(f"protected header: expected exactly {{1: alg, 4: kid}}, found {header!r}")
    if type(header[COSE_HEADER_ALG]) is not int or header[COSE_HEADER_ALG] != COSE_ALG_EDDSA:
        raise _malformed(f"alg: expected {COSE_ALG_EDDSA} (EdDSA), found {header[1]!r}")
    kid = header[COSE_HEADER_KID]
    if type(kid) is not bytes or len(kid) != KID_SIZE:
        raise _malformed(f"kid: expected {KID_SIZE} bytes, found {kid!r}")
    if unprotected:
        raise _malformed(f"unprotected header: expected empty, found {len(unprotected)} entries")
    if len(signature) != ED25519_SIGNATURE_SIZE:
        raise _malformed(
            f"signature: expected {ED25519_SIGNATURE_SIZE} bytes, found {len(signature)}"
        )

    # 3. a trusted key
    candidates = [k for k in keys if k.key_id == kid.hex()]
    if not candidates:
        raise CertificateInvalid(
            CertificateFailure.UNKNOWN_KEY,
            f"kid {kid.hex()}: expected one of {[k.key_id for k in keys]}, found none",
        )

    # 4. the signature
    message = _sig_structure(protected, payload)
    key = None
    for candidate in candidates:
        try:
            candidate.verify(message, signature)
        except InvalidSignature:
            continue
        key = candidate
        break
    if key is None:
        raise CertificateInvalid(
            CertificateFailure.BAD_SIGNATURE,
            f"expected a valid Ed25519 signature by key {kid.hex()}, "
            "found one that does not verify",
        )

    # 5. the payload
    try:
        cert = Certificate.from_cbor(payload)
    except MalformedInput as exc:
        raise _malformed(str(exc)) from exc

    # 6. the key was current when the certificate was issued
    if not key.valid_at(cert.issued_at_datetime):
        until = key.not_after.isoformat() if key.not_after else "now"
        raise CertificateInvalid(
            CertificateFailure.KEY_NOT_VALID_AT_ISSUE,
            f"key {key.key_id}: expected issued_at within {key.not_before.isoformat()} .. {until}, "
            f"found {cert.issued_at_datetime.isoformat()}",
        )
    return cert


# -- text forms --------------------------------------------------------------------------


def token_text(token: bytes) -> str:
    """RFC 4648 base32 of ``token``: upper case, no padding."""
    return base64.b32encode(token).decode("ascii").rstrip("=")


def qr_text(public_url: str, token: bytes) -> str:
    """The text a QR code holds: ``<public_url>/c/<base32 token>``."""
    return f"{public_url.rstrip('/')}{QR_PATH}{token_text(token)}"


def parse_qr_text(text: str) -> bytes:
    """The token in a QR text: a ``.../c/<base32>`` URL or the bare base32 (any case)."""
    if type(text) is not str:
        raise MalformedInput(f"QR text: expected text, found {type(text).__name__}", field="token")
    if len(text) > MAX_QR_TEXT_CHARS:
        raise MalformedInput(
            f"QR text: expected at most {MAX_QR_TEXT_CHARS} characters, found {len(text)}",
            field="token",
        )
    body = "".join(text.split())
    if "/" in body:
        scheme, sep, rest = body.partition("://")
        if not sep or scheme.lower() not in ("http", "https"):
            raise MalformedInput(f"QR text: expected an http(s) URL, found {text[:60]!r}")
        _, sep, body = rest.rpartition(QR_PATH)
        if not sep:
            # a server may be configured with an upper-case path; the host part is case-free
            _, sep, body = rest.rpartition(QR_PATH.upper())
        if not sep or not body:
            raise MalformedInput(
                f"QR text: expected a URL ending {QR_PATH}<token>, found {text[:60]!r}"
            )
    body = body.upper()
    if not _BASE32_RE.fullmatch(body):
        raise MalformedInput(
            f"QR text: expected RFC 4648 base32 (A-Z, 2-7), found {body[:60]!r}", field="token"
        )
    padded = body + "=" * (-len(body) % 8)
    try:
        token = base64.b32decode(padded)
    except (binascii.Error, ValueError) as exc:
        raise MalformedInput(f"QR text: base32 of impossible length {len(body)}") from exc
    if token_text(token) != body:
        raise MalformedInput("QR text: base32 is not in canonical form (stray bits)")
    return token
