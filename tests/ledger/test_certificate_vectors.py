"""Public vectors against the certificate verifier's cryptography and COSE parsing.

- Wycheproof's Ed25519 verification tests: every "valid" signature verifies with the log
  key type certificates use, and every "invalid" one (malleable S, wrong lengths, flipped
  bits, non-canonical points...) is refused;
- EU Digital COVID Certificate COSE_Sign1 tokens (RFC 9052, like ours, but ES256 / PS256
  inside a CWT): a well-formed COSE from another scheme is refused as malformed, never
  mistaken for one of ours.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import cbor2
import pytest

from ledger.certificate import CertificateFailure, CertificateInvalid, verify_certificate
from ledger.errors import InvalidSignature
from ledger.keys import LogKey
from ledger.note import key_id
from support.paths import VECTORS

VECTORS = VECTORS / "qr-certs"
NAME = "wycheproof.example/log"
T0 = datetime(2026, 1, 1, tzinfo=UTC)


def wycheproof() -> list[tuple[str, dict[str, Any]]]:
    data = json.loads((VECTORS / "ed25519" / "wycheproof_ed25519_test.json").read_text())
    assert data["algorithm"] == "EDDSA"
    cases = [(g["publicKey"]["pk"], t) for g in data["testGroups"] for t in g["tests"]]
    assert len(cases) == data["numberOfTests"] == 151
    return cases


@pytest.mark.parametrize(("pk", "case"), wycheproof(), ids=lambda v: str(v)[:12])
def test_wycheproof_ed25519(pk: str, case: dict[str, Any]) -> None:
    public = bytes.fromhex(pk)
    key = LogKey(NAME, key_id(NAME, public).hex(), public, "active", T0)
    message, signature = bytes.fromhex(case["msg"]), bytes.fromhex(case["sig"])
    if case["result"] == "valid":
        key.verify(message, signature)
    else:
        with pytest.raises(InvalidSignature):
            key.verify(message, signature)


@pytest.mark.parametrize("name", ["CO1", "CO3"])
def test_a_covid_certificate_is_not_one_of_ours(name: str) -> None:
    case = json.loads((VECTORS / "dcc" / f"{name}.json").read_text())
    token = bytes.fromhex(case["COSE"])
    outer = cbor2.loads(token)
    assert outer.tag == 18 and len(outer.value) == 4  # a real COSE_Sign1
    any_key = LogKey(NAME, key_id(NAME, bytes(32)).hex(), bytes(32), "active", T0)
    with pytest.raises(CertificateInvalid) as caught:
        verify_certificate(token, [any_key])
    assert caught.value.reason is CertificateFailure.MALFORMED
