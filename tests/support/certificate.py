"""Signed certificates and their QR codes, built offline with a throwaway log key.

Shared by several test modules (moved from tests/ledger/test_certificate.py).
"""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime

import qrcode
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from PIL import Image
from qrcode.util import MODE_8BIT_BYTE, MODE_ALPHA_NUM, QRData

from ledger.certificate import (
    Certificate,
    CertificateKind,
    MassUnit,
    Origin,
    token_text,
)
from ledger.keys import LogKey, LogSigner
from ledger.note import key_id

NAME = "ledger.altan.mn/log"


PUBLIC_URL = "https://altan.mn"  # the short public host the QR budget is planned for


T_RETIRED_FROM = datetime(2025, 1, 1, tzinfo=UTC)


T_ROTATED = datetime(2026, 1, 1, tzinfo=UTC)


ISSUED = int(datetime(2026, 5, 20, 9, 30, tzinfo=UTC).timestamp())


def make_signer(seed: int, *, retired: bool = False) -> LogSigner:
    sk = Ed25519PrivateKey.from_private_bytes(bytes([seed]) * 32)
    pub = sk.public_key().public_bytes_raw()
    if retired:
        key = LogKey(NAME, key_id(NAME, pub).hex(), pub, "retired", T_RETIRED_FROM, T_ROTATED)
    else:
        key = LogKey(NAME, key_id(NAME, pub).hex(), pub, "active", T_ROTATED)
    return LogSigner(key, sk)


ACTIVE = make_signer(1)


STRANGER = make_signer(3)  # a key nobody trusts


def realistic(**changes: object) -> Certificate:
    cert = Certificate(
        kind=CertificateKind.GOLD_LOT,
        lot_id="AU-2026-000123",
        mass=1_234_567,
        unit=MassUnit.MG,
        fineness_ppt=995,
        origin=Origin(aimag=55, miners=37, sites=4, mercury_free=True),  # Övörkhangai
        custodian="centre:bornuur",
        issued_at=ISSUED,
        ledger_index=123_456,
        leaf_hash_prefix=bytes.fromhex("8f3a5c0e1b2d4f6a7c9e0b1d3f5a7c9e"),
    )
    return dataclasses.replace(cert, **changes)  # type: ignore[arg-type]


def make_qr(
    token: bytes, level: int = qrcode.constants.ERROR_CORRECT_Q, public_url: str = PUBLIC_URL
) -> qrcode.QRCode:
    """The QR as the service should render it: URL as bytes, token as alphanumeric."""
    qr = qrcode.QRCode(error_correction=level, border=4, box_size=1)
    qr.add_data(QRData(f"{public_url}/c/".encode("ascii"), mode=MODE_8BIT_BYTE))
    qr.add_data(QRData(token_text(token).encode("ascii"), mode=MODE_ALPHA_NUM))
    qr.make(fit=True)
    assert [d.mode for d in qr.data_list] == [MODE_8BIT_BYTE, MODE_ALPHA_NUM]
    return qr


def render(qr: qrcode.QRCode, box: int = 8) -> Image.Image:
    matrix = qr.get_matrix()  # includes the quiet zone
    n = len(matrix)
    img = Image.frombytes("L", (n, n), bytes(0 if cell else 255 for row in matrix for cell in row))
    return img.resize((n * box, n * box), Image.Resampling.NEAREST)
