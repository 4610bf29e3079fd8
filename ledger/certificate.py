"""Certificates and receipts as small signed tokens that anyone can verify offline.

A token is a COSE_Sign1 (RFC 9052, CBOR tag 18) signed with Ed25519 by a log key::

    18([protected, unprotected, payload, signature])

    protected    bstr .cbor {1: -8 (EdDSA), 4: kid}   kid = the key's 4-byte C2SP key id
    unprotected  {}                                    (nothing; everything that matters is signed)
    payload      bstr .cbor Certificate                (canonical CBOR, integer keys below)
    signature    64-byte Ed25519 signature of
                 CBOR(["Signature1", protected, h'', payload])   (RFC 9052 §4.4)

The payload (version 2) is a map with integer keys; the small groups in it are arrays, whose
optional last elements are left out when absent (an explicit null is refused)::

    1 kind                  1 gold lot, 2 ore receipt
    2 lot id                text
    3 mass                  [mass (int), unit (1 g, 2 mg), ?fineness (parts per thousand)]
    6 origin                [aimag, miners, sites, ?mercury_free]
                            aimag: ISO 3166-2:MN numeric code (55 Övörkhangai; 0 not stated)
    7 custodian             text
    8 issued_at             unix seconds
    9 ledger entry          [index of the entry it reflects, first 16 bytes of its leaf hash]

Keys 4, 5 and 10 (unit, fineness and leaf hash in version 1) are not used. Gold lots are
weighed in milligrams, ore in grams. Bounds: texts 1..64 UTF-8 bytes, printable, NFC, no
outer spaces; mass 1..10^12; fineness 0..1000; miners and sites 0..10^6; aimag 0 or a code
in ``ledger.regions``; issued_at up to 9999-12-31; index 0..2^63-1.

Every value has exactly one encoding: tokens and payloads that are not in canonical CBOR
are refused, so a token cannot be re-encoded into a second valid form.

Size: the token is the payload plus 81 bytes (tag, headers with the 4-byte kid, the 64-byte
signature). A gold-lot certificate with a 14-character lot id and custodian has an 84-byte
payload and a 165-byte token, the most QR version 12 at level Q holds after the 19-byte
``https://altan.mn/c/`` (tests/ledger/test_certificate.py pins the numbers).

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
    5. the payload is a valid certificate (strict, canonical, within the
       bounds above, a known aimag)                                          MALFORMED
    6. the key was the signing key at the certificate's issued_at             KEY_NOT_VALID_AT_ISSUE

The signature is checked before the payload is parsed, so a changed payload byte is always
a BAD_SIGNATURE. Online checks (in the log, superseded, revoked, ...) belong to the service.
This module never reads the clock: ``issued_at`` is passed in.
"""

from __future__ import annotations

import base64
import binascii
import enum
import hashlib
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import cbor2

from ledger.errors import InvalidSignature, MalformedInput, VerificationError
from ledger.keys import ED25519_SIGNATURE_SIZE, LogKey, LogSigner
from ledger.regions import aimag_by_code

__all__ = [
    "Certificate",
    "CertificateFailure",
    "CertificateInvalid",
    "CertificateKind",
    "MassUnit",
    "Origin",
    "certificate_id",
    "format_mass",
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
CERTIFICATE_ID_SIZE = 16  # bytes of SHA-256(token) in a certificate's id

MAX_TOKEN_BYTES = 512
MAX_PAYLOAD_BYTES = 384
MAX_QR_TEXT_CHARS = 2048
MAX_TEXT_BYTES = 80  # lot id, custodian (an actor id is at most 80): UTF-8 bytes each
MAX_MASS = 10**12  # 1000 t in mg
MAX_FINENESS_PPT = 1000
MAX_COUNT = 1_000_000  # miners, sites
MAX_AIMAG = 99  # ISO 3166-2:MN numeric codes are 1..99; 0 = not stated
MAX_ISSUED_AT = 253_402_300_799  # 9999-12-31T23:59:59Z
MAX_LEDGER_INDEX = 2**63 - 1
_CBOR_MAX_DEPTH = 4

QR_PATH = "/c/"

# payload keys (4, 5 and 10 were version 1's unit, fineness and leaf hash: not reused)
_KIND, _LOT, _MASS, _ORIGIN, _CUSTODIAN, _ISSUED_AT, _ENTRY = 1, 2, 3, 6, 7, 8, 9
_KEYS = frozenset({_KIND, _LOT, _MASS, _ORIGIN, _CUSTODIAN, _ISSUED_AT, _ENTRY})

_BASE32_RE = re.compile(r"[A-Z2-7]+")


class CertificateKind(enum.IntEnum):
    GOLD_LOT = 1
    ORE_RECEIPT = 2


class MassUnit(enum.IntEnum):
    """The unit of a certificate's mass: grams for ore receipts, milligrams for gold lots."""

    G = 1
    MG = 2

    @property
    def symbol(self) -> str:
        """The SI symbol: "g" or "mg"."""
        return self.name.lower()


def format_mass(mass: int, unit: MassUnit) -> str:
    """A mass for people, exact (never rounded), with thousands separators.

    Gold (milligrams) is shown in grams: 1_234_567 mg → "1,234.567 g". Ore (grams) is shown
    in kilograms from 1 kg up: 2_500_000 g → "2,500 kg", 1_234_567 g → "1,234.567 kg",
    750 g → "750 g". Trailing zeros of the fraction are left out.
    """
    if unit is MassUnit.MG or (unit is MassUnit.G and mass >= 1000):
        whole, thousandths = divmod(mass, 1000)
        symbol = "g" if unit is MassUnit.MG else "kg"
        fraction = f".{thousandths:03d}".rstrip("0") if thousandths else ""
        return f"{whole:,}{fraction} {symbol}"
    return f"{mass:,} {unit.symbol}"


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


def _check_array(value: object, what: str, low: int, high: int) -> list[Any]:
    if type(value) is not list:
        raise MalformedInput(f"{what}: expected a CBOR array, found {type(value).__name__}")
    if not low <= len(value) <= high:
        raise MalformedInput(f"{what}: expected {low}..{high} elements, found {len(value)}")
    return value


_NOT_STATED = {"en": "not stated", "mn": "тодорхойгүй"}


@dataclass(frozen=True)
class Origin:
    """Where the gold came from, in summary: the aimag by its ISO 3166-2:MN numeric code
    (``ledger.regions``; 0 = not stated), how many miners and sites, and whether it was
    mined without mercury (None = not stated)."""

    aimag: int
    miners: int
    sites: int
    mercury_free: bool | None = None

    def __post_init__(self) -> None:
        _check_int(self.aimag, "origin aimag", 0, MAX_AIMAG)
        if self.aimag and aimag_by_code(self.aimag) is None:
            raise MalformedInput(
                f"origin aimag: expected an ISO 3166-2:MN code or 0, found {self.aimag}"
            )
        _check_int(self.miners, "origin miners", 0, MAX_COUNT)
        _check_int(self.sites, "origin sites", 0, MAX_COUNT)
        if self.mercury_free is not None:
            _check_bool(self.mercury_free, "origin mercury_free")

    def region_name(self, lang: str = "en") -> str:
        """The aimag's name in English (``"en"``, "Övörkhangai") or Mongolian Cyrillic
        (``"mn"``, "Өвөрхангай"); "not stated" ("тодорхойгүй") for code 0."""
        if lang not in _NOT_STATED:
            raise ValueError(f"region name language: expected 'en' or 'mn', found {lang!r}")
        aimag = aimag_by_code(self.aimag)
        if aimag is None:
            return _NOT_STATED[lang]
        return aimag.en if lang == "en" else aimag.mn

    def _to_array(self) -> list[Any]:
        out: list[Any] = [self.aimag, self.miners, self.sites]
        if self.mercury_free is not None:
            out.append(self.mercury_free)
        return out

    @classmethod
    def _from_array(cls, value: object) -> Origin:
        a = _check_array(value, "origin", 3, 4)
        mercury_free = _check_bool(a[3], "origin mercury_free") if len(a) == 4 else None
        return cls(aimag=a[0], miners=a[1], sites=a[2], mercury_free=mercury_free)


@dataclass(frozen=True)
class Certificate:
    """The signed facts of a gold-lot certificate or an ore receipt (the token's payload)."""

    kind: CertificateKind
    lot_id: str
    mass: int
    unit: MassUnit
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
        if type(self.unit) is not MassUnit:
            raise MalformedInput(f"certificate unit: expected a MassUnit, found {self.unit!r}")
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

    @property
    def mass_text(self) -> str:
        """The mass for people: "1,234.567 g" (a gold lot), "2,500 kg" (ore); see format_mass."""
        return format_mass(self.mass, self.unit)

    def to_cbor(self) -> bytes:
        """The canonical (RFC 8949 §4.2.1 core deterministic) CBOR payload."""
        mass: list[Any] = [self.mass, int(self.unit)]
        if self.fineness_ppt is not None:
            mass.append(self.fineness_ppt)
        m: dict[int, Any] = {
            _KIND: int(self.kind),
            _LOT: self.lot_id,
            _MASS: mass,
            _ORIGIN: self.origin._to_array(),
            _CUSTODIAN: self.custodian,
            _ISSUED_AT: self.issued_at,
            _ENTRY: [self.ledger_index, self.leaf_hash_prefix],
        }
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
        m = _check_map(_cbor_loads(data, "certificate payload"), "certificate", _KEYS)
        kind = _check_int(m[_KIND], "certificate kind", 1, max(CertificateKind))
        mass = _check_array(m[_MASS], "certificate mass", 2, 3)
        unit = _check_int(mass[1], "certificate unit", 1, max(MassUnit))
        fineness = None
        if len(mass) == 3:
            fineness = _check_int(mass[2], "certificate fineness_ppt", 0, MAX_FINENESS_PPT)
        entry = _check_array(m[_ENTRY], "certificate ledger entry", 2, 2)
        cert = cls(
            kind=CertificateKind(kind),
            lot_id=m[_LOT],
            mass=mass[0],
            unit=MassUnit(unit),
            fineness_ppt=fineness,
            origin=Origin._from_array(m[_ORIGIN]),
            custodian=m[_CUSTODIAN],
            issued_at=m[_ISSUED_AT],
            ledger_index=entry[0],
            leaf_hash_prefix=entry[1],
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


def _check_map(value: object, what: str, keys: frozenset[int]) -> dict[int, Any]:
    if type(value) is not dict:
        raise MalformedInput(f"{what}: expected a CBOR map, found {type(value).__name__}")
    found = set(value)
    if any(type(k) is not int for k in found):
        raise MalformedInput(f"{what}: expected integer keys, found {sorted(map(repr, found))}")
    if missing := keys - found:
        raise MalformedInput(f"{what}: expected keys {sorted(missing)}, found none")
    if unknown := found - keys:
        raise MalformedInput(f"{what}: expected only keys {sorted(keys)}, found {sorted(unknown)}")
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


def qr_text(public_url: str, token: bytes | str) -> str:
    """The text a QR code holds: ``<public_url>/c/<base32 token>``; `token` is the token's
    bytes or already its base32 text (as stored). The one place this URL is built."""
    text = token if isinstance(token, str) else token_text(token)
    return f"{public_url.rstrip('/')}{QR_PATH}{text}"


def certificate_id(token: bytes) -> str:
    """A certificate's id: hex of the first CERTIFICATE_ID_SIZE bytes of SHA-256 over its
    token (the service's key for it, and what an offline verifier compares with)."""
    return hashlib.sha256(token).digest()[:CERTIFICATE_ID_SIZE].hex()


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
