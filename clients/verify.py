"""Offline verification of a certificate: from a QR photo, its URL or the bare token,
against log keys pinned by the verifier (no connection needed)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from ledger.certificate import Certificate, parse_qr_text, verify_certificate
from ledger.errors import MalformedInput
from ledger.keys import LogKey
from ledger.note import NoteVerifier

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class NoQrCode(Exception):
    """The image holds no readable QR code (a better photo will help; not a verdict)."""


def read_token(source: str) -> bytes:
    """The token in `source`: a PNG/JPEG photo of the QR, the QR's URL, or the token."""
    path = Path(source)
    if _is_file(path):
        return parse_qr_text(_decode_image(path))
    return parse_qr_text(source)


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
