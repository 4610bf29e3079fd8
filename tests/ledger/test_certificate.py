"""QR certificate tokens: COSE_Sign1 round trips, every failure reason, an independent
COSE implementation (pycose), RFC 8032 vectors, the QR size budget and real QR images."""

from __future__ import annotations

import json
import random
import unicodedata
from pathlib import Path

import cbor2
import pytest
import qrcode
import zxingcpp
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image
from pycose.algorithms import EdDSA
from pycose.headers import KID, Algorithm
from pycose.keys import OKPKey
from pycose.keys.curves import Ed25519
from pycose.messages import Sign1Message

from ledger.certificate import (
    MAX_ISSUED_AT,
    Certificate,
    CertificateFailure,
    CertificateInvalid,
    CertificateKind,
    MassUnit,
    Origin,
    format_mass,
    parse_qr_text,
    qr_text,
    sign_certificate,
    token_text,
    verify_certificate,
)
from ledger.errors import InvalidSignature, MalformedInput, VerificationError
from ledger.keys import LogKey, LogSigner
from ledger.note import key_id
from ledger.regions import AIMAGS
from support.certificate import (
    ACTIVE,
    ISSUED,
    NAME,
    PUBLIC_URL,
    STRANGER,
    T_RETIRED_FROM,
    T_ROTATED,
    make_qr,
    make_signer,
    realistic,
    render,
)
from support.paths import VECTORS

VECTORS = VECTORS / "qr-certs" / "ed25519"
LEDGER_URL = "https://ledger.altan.mn"  # the log's own host, 7 bytes longer
QR_PREFIX = PUBLIC_URL + "/c/"


M = CertificateFailure


RETIRED = make_signer(2, retired=True)
KEYS = [RETIRED.key, ACTIVE.key]


def cose(protected: object, unprotected: object, payload: object, signature: object) -> bytes:
    return cbor2.dumps(
        cbor2.CBORTag(18, [protected, unprotected, payload, signature]), canonical=True
    )


def protected_header(signer: LogSigner, alg: int = -8) -> bytes:
    return cbor2.dumps({1: alg, 4: bytes.fromhex(signer.key.key_id)}, canonical=True)


def sign_raw(protected: bytes, payload: bytes, signer: LogSigner) -> bytes:
    sig = signer.sign(cbor2.dumps(["Signature1", protected, b"", payload], canonical=True))
    return cose(protected, {}, payload, sig)


def reason_of(token: object, keys: list[LogKey] = KEYS) -> CertificateFailure:
    with pytest.raises(CertificateInvalid) as info:
        verify_certificate(token, keys)  # type: ignore[arg-type]
    assert isinstance(info.value, VerificationError)
    return info.value.reason


# -- round trips ---------------------------------------------------------------------------


def test_round_trip() -> None:
    cert = realistic()
    token = sign_certificate(cert, ACTIVE)
    assert verify_certificate(token, KEYS) == cert
    assert verify_certificate(token, [ACTIVE.key]) == cert
    assert sign_certificate(cert, ACTIVE) == token  # Ed25519 and canonical CBOR: deterministic
    assert Certificate.from_cbor(cert.to_cbor()) == cert
    assert parse_qr_text(qr_text(PUBLIC_URL, token)) == token


def test_payload_layout() -> None:
    payload = cbor2.loads(realistic().to_cbor())
    assert payload == {
        1: 1,
        2: "AU-2026-000123",
        3: [1_234_567, 2, 995],
        6: [55, 37, 4, True],
        7: "centre:bornuur",
        8: ISSUED,
        9: [123_456, bytes.fromhex("8f3a5c0e1b2d4f6a7c9e0b1d3f5a7c9e")],
    }


def test_optional_fields_are_omitted_not_null() -> None:
    cert = realistic(
        fineness_ppt=None,
        kind=CertificateKind.ORE_RECEIPT,
        unit=MassUnit.G,
        mass=2_500_000,
        origin=Origin(69, 1, 1),  # Bayankhongor, mercury not stated
    )
    payload = cbor2.loads(cert.to_cbor())
    assert payload[3] == [2_500_000, 1] and payload[6] == [69, 1, 1]
    assert verify_certificate(sign_certificate(cert, ACTIVE), KEYS) == cert
    unstated = realistic(origin=Origin(0, 0, 0, False))
    assert cbor2.loads(unstated.to_cbor())[6] == [0, 0, 0, False]
    assert Certificate.from_cbor(unstated.to_cbor()) == unstated


def test_origin_region_names() -> None:
    origin = realistic().origin
    assert (origin.region_name(), origin.region_name("en")) == ("Övörkhangai", "Övörkhangai")
    assert origin.region_name("mn") == "Өвөрхангай"
    assert Origin(1, 1, 1).region_name() == "Ulaanbaatar"
    assert Origin(0, 1, 1).region_name() == "not stated"
    assert Origin(0, 1, 1).region_name("mn") == "тодорхойгүй"
    with pytest.raises(ValueError, match="'en' or 'mn'"):
        origin.region_name("ru")


@pytest.mark.parametrize(
    ("mass", "unit", "text"),
    [
        (1_234_567, MassUnit.MG, "1,234.567 g"),
        (1_250_000, MassUnit.MG, "1,250 g"),
        (1_250_500, MassUnit.MG, "1,250.5 g"),
        (500, MassUnit.MG, "0.5 g"),
        (1, MassUnit.MG, "0.001 g"),
        (10**12, MassUnit.MG, "1,000,000,000 g"),
        (750, MassUnit.G, "750 g"),
        (1_000, MassUnit.G, "1 kg"),
        (2_500_000, MassUnit.G, "2,500 kg"),
        (1_234_567, MassUnit.G, "1,234.567 kg"),
    ],
)
def test_mass_for_people_is_exact(mass: int, unit: MassUnit, text: str) -> None:
    assert format_mass(mass, unit) == text
    assert realistic(mass=mass, unit=unit).mass_text == text


def test_mass_units() -> None:
    assert [(u.name, int(u), u.symbol) for u in MassUnit] == [("G", 1, "g"), ("MG", 2, "mg")]


_text = (
    st.text(st.characters(categories=("L", "N", "P", "S")), min_size=1, max_size=16)
    .map(lambda s: unicodedata.normalize("NFC", s).strip())
    .filter(lambda s: 0 < len(s.encode()) <= 64 and unicodedata.normalize("NFC", s) == s)
)
certificates = st.builds(
    Certificate,
    kind=st.sampled_from(CertificateKind),
    lot_id=_text,
    mass=st.integers(1, 10**12),
    unit=st.sampled_from(MassUnit),
    fineness_ppt=st.none() | st.integers(0, 1000),
    origin=st.builds(
        Origin,
        aimag=st.sampled_from([0] + [a.code for a in AIMAGS]),
        miners=st.integers(0, 1_000_000),
        sites=st.integers(0, 1_000_000),
        mercury_free=st.none() | st.booleans(),
    ),
    custodian=_text,
    issued_at=st.integers(int(T_ROTATED.timestamp()), MAX_ISSUED_AT),
    ledger_index=st.integers(0, 2**63 - 1),
    leaf_hash_prefix=st.binary(min_size=16, max_size=16),
)


@settings(max_examples=30, deadline=None)
@given(certificates)
def test_any_certificate_round_trips_exactly(cert: Certificate) -> None:
    payload = cert.to_cbor()
    assert Certificate.from_cbor(payload) == cert
    token = sign_certificate(cert, ACTIVE)
    assert verify_certificate(token, KEYS) == cert
    assert parse_qr_text(qr_text(PUBLIC_URL, token)) == token


# -- the payload validates itself ------------------------------------------------------------


@pytest.mark.parametrize(
    "changes",
    [
        {"lot_id": ""},
        {"lot_id": "x" * 81},  # over MAX_TEXT_BYTES (an actor id may be 80)
        {"lot_id": " AU-1"},
        {"lot_id": "AU\n1"},
        {"custodian": "O\u0308vo\u0308r"},  # not NFC
        {"mass": 0},
        {"mass": True},
        {"mass": 1.5},
        {"unit": "kg"},
        {"unit": "mg"},  # version 1's text unit
        {"unit": 2},  # an int, not a MassUnit
        {"unit": None},
        {"fineness_ppt": 1001},
        {"fineness_ppt": -1},
        {"issued_at": -1},
        {"ledger_index": -1},
        {"leaf_hash_prefix": bytes(32)},
        {"leaf_hash_prefix": bytearray(16)},
        {"kind": 1},
        {"origin": Origin(55, 1, 1)._to_array()},
    ],
)
def test_invalid_certificates_cannot_exist(changes: dict[str, object]) -> None:
    with pytest.raises(MalformedInput):
        realistic(**changes)


def test_invalid_origin_cannot_exist() -> None:
    for args in [
        ("Övörkhangai", 1, 1),  # a name, not the code
        (-1, 1, 1),
        (100, 1, 1),
        (36, 1, 1),  # between Orkhon (35) and Darkhan-Uul (37): no such aimag
        (2, 1, 1),
        (True, 1, 1),
        (55, -1, 1),
        (55, 1, 10**7),
        (55, 1, 1, 1),
        (55, 1, 1, None, 1),
    ]:
        with pytest.raises((MalformedInput, TypeError)):
            Origin(*args)  # type: ignore[arg-type]


def _payload_with(**edits: object) -> bytes:
    m = cbor2.loads(realistic().to_cbor())
    for k, v in edits.items():
        if v is ...:
            del m[int(k[1:])]
        else:
            m[int(k[1:])] = v
    return cbor2.dumps(m, canonical=True)


@pytest.mark.parametrize(
    "payload",
    [
        b"",
        b"\xff",
        cbor2.dumps([1, 2]),
        _payload_with(k99=1),  # unknown key
        _payload_with(k1=...),  # missing kind
        _payload_with(k1=3),  # unknown kind
        _payload_with(k3=1_234_567),  # mass without its unit
        _payload_with(k3="1234567"),
        _payload_with(k3=[1_234_567]),
        _payload_with(k3=[True, 2]),
        _payload_with(k3=[1_234_567, 0]),  # unknown unit
        _payload_with(k3=[1_234_567, 3]),
        _payload_with(k3=[1_234_567, "mg"]),
        _payload_with(k3=[1_234_567, 2, None]),  # explicit null
        _payload_with(k3=[1_234_567, 2, 1001]),
        _payload_with(k3=[1_234_567, 2, 995, 1]),
        _payload_with(k3={1: 1_234_567, 2: 2}),
        _payload_with(k4=2),  # version 1's keys are not reused
        _payload_with(k5=995),
        _payload_with(k10=bytes(16)),
        _payload_with(k6=[55, 1, 1, None]),
        _payload_with(k6=[55, 1, 1, 1]),
        _payload_with(k6=[55, 1, 1, True, 1]),
        _payload_with(k6=[55, 1]),
        _payload_with(k6=[36, 1, 1]),  # no such aimag
        _payload_with(k6=[100, 1, 1]),
        _payload_with(k6=["Övörkhangai", 1, 1]),
        _payload_with(k6={1: "Övörkhangai/Uyanga", 2: 1, 3: 1}),  # version 1's origin
        _payload_with(k9=123_456),
        _payload_with(k9=[123_456]),
        _payload_with(k9=[123_456, bytes(15)]),
        _payload_with(k9=[123_456, bytes(16), 1]),
        _payload_with(k9=[-1, bytes(16)]),
        _payload_with(k9=[123_456, "00" * 16]),
        _payload_with(k9=...),
        _payload_with(k6=...),
        realistic().to_cbor() + b"\x00",  # trailing byte
        bytes([0xBF]) + realistic().to_cbor()[1:] + b"\xff",  # indefinite-length map
    ],
)
def test_from_cbor_is_strict(payload: bytes) -> None:
    with pytest.raises(MalformedInput):
        Certificate.from_cbor(payload)


def test_a_version_1_payload_is_refused() -> None:
    v1 = {
        1: 1,
        2: "AU-2026-000123",
        3: 1250,
        4: "g",
        5: 995,
        6: {1: "Övörkhangai/Uyanga", 2: 37, 3: 4, 4: True},
        7: "buyer:bank-of-mongolia",
        8: ISSUED,
        9: 123_456,
        10: bytes(16),
    }
    with pytest.raises(MalformedInput):
        Certificate.from_cbor(cbor2.dumps(v1, canonical=True))


def test_from_cbor_refuses_non_canonical_forms() -> None:
    # a 1-byte integer written in 2 bytes, inside the origin array
    good = realistic().to_cbor()
    assert bytes.fromhex("8418371825") in good  # [55, 37, ...
    stretched = good.replace(bytes.fromhex("84183718"), bytes.fromhex("8419003718"))
    assert cbor2.loads(stretched) == cbor2.loads(good)
    with pytest.raises(MalformedInput, match="canonical"):
        Certificate.from_cbor(stretched)


def test_from_cbor_refuses_non_canonical_key_order() -> None:
    m = cbor2.loads(realistic().to_cbor())
    reordered = cbor2.dumps(dict(reversed(list(m.items()))))
    assert cbor2.loads(reordered) == m and reordered != realistic().to_cbor()
    with pytest.raises(MalformedInput, match="canonical"):
        Certificate.from_cbor(reordered)


# -- every failure reason ---------------------------------------------------------------------


def test_unknown_key() -> None:
    token = sign_certificate(realistic(), STRANGER)
    assert reason_of(token) is M.UNKNOWN_KEY
    assert reason_of(sign_certificate(realistic(), ACTIVE), [RETIRED.key]) is M.UNKNOWN_KEY
    assert reason_of(sign_certificate(realistic(), ACTIVE), []) is M.UNKNOWN_KEY


def test_resigned_by_unknown_key_under_a_trusted_kid() -> None:
    payload = realistic(custodian="thief").to_cbor()
    protected = protected_header(ACTIVE)  # claims the trusted kid
    forged = sign_raw(protected, payload, STRANGER)
    assert reason_of(forged) is M.BAD_SIGNATURE


def test_every_flipped_byte_is_refused_with_the_right_reason() -> None:
    token = sign_certificate(realistic(), ACTIVE)
    payload = realistic().to_cbor()
    protected = protected_header(ACTIVE)
    p_start = token.index(payload)
    s_start = len(token) - 64
    kid_start = token.index(protected) + len(protected) - 4
    for i in range(len(token)):
        flipped = bytearray(token)
        flipped[i] ^= 0x01
        reason = reason_of(bytes(flipped))
        if p_start <= i < p_start + len(payload) or s_start <= i:
            assert reason is M.BAD_SIGNATURE, i
        elif kid_start <= i < kid_start + 4:
            assert reason is M.UNKNOWN_KEY, i
        else:
            assert reason is M.MALFORMED, i


def test_key_not_valid_at_issue() -> None:
    before = int(T_RETIRED_FROM.timestamp()) - 1
    after = int(T_ROTATED.timestamp())  # not_after is exclusive
    inside = after - 1
    assert verify_certificate(sign_certificate(realistic(issued_at=inside), RETIRED), KEYS)
    for issued_at in (before, after, ISSUED):
        token = sign_certificate(realistic(issued_at=issued_at), RETIRED)
        assert reason_of(token) is M.KEY_NOT_VALID_AT_ISSUE
    # the active key before its not_before
    token = sign_certificate(realistic(issued_at=inside), ACTIVE)
    assert reason_of(token) is M.KEY_NOT_VALID_AT_ISSUE


def test_garbage_and_truncated_tokens_are_malformed() -> None:
    token = sign_certificate(realistic(), ACTIVE)
    rng = random.Random(4)
    garbage = [
        b"",
        b"\x00",
        b"hello",
        bytes(rng.randrange(256) for _ in range(200)),
        bytes(600),
        token + b"\x00",
        token[1:],  # untagged
        cbor2.dumps(cbor2.CBORTag(98, cbor2.loads(token).value)),  # COSE_Sign, not Sign1
        "not bytes",
    ]
    garbage += [token[:n] for n in range(len(token))]
    for g in garbage:
        assert reason_of(g) is M.MALFORMED, g


def test_structural_deviations_are_malformed() -> None:
    payload = realistic().to_cbor()
    good_protected = protected_header(ACTIVE)
    kid = bytes.fromhex(ACTIVE.key.key_id)
    cases = [
        sign_raw(protected_header(ACTIVE, alg=-7), payload, ACTIVE),  # ES256 claimed
        sign_raw(cbor2.dumps({1: -8}), payload, ACTIVE),  # no kid
        sign_raw(cbor2.dumps({1: -8, 4: kid[:3]}), payload, ACTIVE),
        sign_raw(cbor2.dumps({1: -8, 4: kid, 2: [1]}), payload, ACTIVE),  # crit
        sign_raw(b"", payload, ACTIVE),
        sign_raw(b"\xff", payload, ACTIVE),
        cose(good_protected, {4: kid}, payload, bytes(64)),  # unprotected kid
        cose(good_protected, {}, payload, bytes(63)),
        cose(good_protected, {}, None, bytes(64)),  # detached payload
        cose(good_protected, [], payload, bytes(64)),
        sign_raw(good_protected, b"\xa0", ACTIVE),  # signed, but not a certificate
        sign_raw(good_protected, payload + b"\x00", ACTIVE),
    ]
    for token in cases:
        assert reason_of(token) is M.MALFORMED, token.hex()
    # a non-canonical outer encoding (a 1-byte length written in 2 bytes)
    token = sign_certificate(realistic(), ACTIVE)
    assert token[2] == 0x49  # bstr of 9 bytes: the protected header
    stretched = token[:2] + b"\x58\x09" + token[3:]
    assert cbor2.loads(stretched) == cbor2.loads(token)
    assert reason_of(stretched) is M.MALFORMED


def test_reasons_are_stable_strings_and_errors_carry_them() -> None:
    assert [r.value for r in CertificateFailure] == [
        "malformed",
        "unknown_key",
        "bad_signature",
        "key_not_valid_at_issue",
    ]
    with pytest.raises(CertificateInvalid, match="certificate unknown_key") as info:
        verify_certificate(sign_certificate(realistic(), STRANGER), KEYS)
    assert info.value.field == "token"


# -- QR text -------------------------------------------------------------------------------------


def test_qr_text_forms() -> None:
    token = sign_certificate(realistic(), ACTIVE)
    b32 = token_text(token)
    assert "=" not in b32 and b32 == b32.upper()
    assert qr_text(PUBLIC_URL + "/", token) == QR_PREFIX + b32
    for text in [
        QR_PREFIX + b32,
        b32,
        b32.lower(),
        f"  {b32[:40]}\n{b32[40:]}\r\n",
        "HTTPS://LEDGER.ALTAN.MN/C/" + b32,
        "HTTPS://ALTAN.MN/C/" + b32,
        qr_text(LEDGER_URL, token),
        "http://localhost:8000/c/" + b32.lower(),
    ]:
        assert parse_qr_text(text) == token


@pytest.mark.parametrize(
    "text",
    [
        "",
        "   ",
        "hello world!",
        "AB",  # stray bits after the last byte
        "A",  # impossible length
        "AAAAAAAA1",
        "https://ledger.altan.mn/c/",
        "https://ledger.altan.mn/x/AAAA",
        "ftp://ledger.altan.mn/c/AAAA",
        "ledger.altan.mn/c/AAAA",
        "A" * 3000,
        "ÄAAA",
    ],
)
def test_parse_qr_text_rejects_garbage(text: str) -> None:
    with pytest.raises(MalformedInput):
        parse_qr_text(text)


# -- an independent COSE implementation (pycose) -----------------------------------------------


def cose_key(signer: LogSigner, *, private: bytes = b"") -> OKPKey:
    return OKPKey(crv=Ed25519, x=signer.key.public_key, d=private)


def pycose_decode(token: bytes) -> Sign1Message:
    """``Sign1Message.decode`` of pycose 1.1.0 expects cbor2 5 (cbor2 6 decodes a tag's array
    as a tuple), so only the outer tag-18 array is unwrapped here; pycose still parses the
    headers, builds the Sig_structure and checks the signature itself."""
    outer = cbor2.loads(token)
    assert outer.tag == 18
    protected, unprotected, payload, signature = outer.value
    return Sign1Message.from_cose_obj([protected, dict(unprotected), payload, signature], True)


def test_pycose_verifies_our_token() -> None:
    cert = realistic()
    token = sign_certificate(cert, ACTIVE)
    msg = pycose_decode(token)
    msg.key = cose_key(ACTIVE)
    assert msg.verify_signature()
    assert msg.phdr[Algorithm] is EdDSA
    assert msg.phdr[KID] == bytes.fromhex(ACTIVE.key.key_id)
    assert msg.uhdr == {}
    assert msg.payload == cert.to_cbor()
    assert Certificate.from_cbor(msg.payload) == cert

    forged = sign_certificate(cert, STRANGER)
    msg = pycose_decode(forged)
    msg.key = cose_key(ACTIVE)
    assert not msg.verify_signature()


def test_our_verifier_accepts_a_pycose_token() -> None:
    cert = realistic()
    seed = bytes([1]) * 32  # ACTIVE's private key
    msg = Sign1Message(
        phdr={Algorithm: EdDSA, KID: bytes.fromhex(ACTIVE.key.key_id)},
        payload=cert.to_cbor(),
    )
    msg.key = cose_key(ACTIVE, private=seed)
    token = msg.encode()
    assert verify_certificate(token, KEYS) == cert
    assert token == sign_certificate(cert, ACTIVE)  # byte for byte the same token

    wrong = Sign1Message(
        phdr={Algorithm: EdDSA, KID: bytes.fromhex(ACTIVE.key.key_id)},
        payload=cert.to_cbor(),
    )
    wrong.key = OKPKey(crv=Ed25519, d=bytes([3]) * 32, x=STRANGER.key.public_key)
    assert reason_of(wrong.encode()) is M.BAD_SIGNATURE


# -- Ed25519 core: RFC 8032 §7.1 -------------------------------------------------------------------


def test_ed25519_rfc8032_vectors() -> None:
    vectors = json.loads((VECTORS / "rfc8032_section7.1_ed25519.json").read_text())
    assert len(vectors) == 4
    for v in vectors:
        sk = Ed25519PrivateKey.from_private_bytes(bytes.fromhex(v["secret_key"]))
        pub = bytes.fromhex(v["public_key"])
        key = LogKey(NAME, key_id(NAME, pub).hex(), pub, "active", T_ROTATED)
        signer = LogSigner(key, sk)  # checks the secret key derives the public key
        message, signature = bytes.fromhex(v["message"]), bytes.fromhex(v["signature"])
        assert signer.sign(message) == signature, v["name"]
        key.verify(message, signature)
        bad = bytearray(signature)
        bad[0] ^= 0x80
        with pytest.raises(InvalidSignature):
            key.verify(message, bytes(bad))
        # the same key signs certificates that pycose accepts
        token = sign_certificate(realistic(), signer)
        msg = pycose_decode(token)
        msg.key = OKPKey(crv=Ed25519, x=pub)
        assert msg.verify_signature(), v["name"]


# -- QR size and real images ---------------------------------------------------------------------


Q = qrcode.constants.ERROR_CORRECT_Q
EC_M = qrcode.constants.ERROR_CORRECT_M

# Measured (payload version 2). The token is the payload plus 81 bytes.
#
#                                  https://altan.mn   https://ledger.altan.mn
#   realistic payload / token          84 / 165              84 / 165
#   QR version at Q / at M              12 / 10               13 / 10
#   largest token in v12 at Q / M     165 / 241             159 / 235
#
# The realistic gold-lot certificate fits version 12 at Q with https://altan.mn exactly: one
# more byte (a 15-character lot id or custodian) needs version 13. With the longer host it
# needs version 13 at Q; version 12 at Q holds a payload of at most 78 bytes there.
REALISTIC_PAYLOAD_BYTES = 84
REALISTIC_TOKEN_BYTES = 165
SIZES = {  # public URL: (version at Q, version at M, largest token at v12-Q, at v12-M)
    PUBLIC_URL: (12, 10, 165, 241),
    LEDGER_URL: (13, 10, 159, 235),
}


def largest_token_in_v12(level: int, public_url: str) -> int:
    return max(n for n in range(120, 260) if make_qr(bytes(n), level, public_url).version <= 12)


def test_realistic_certificate_size_is_pinned() -> None:
    token = sign_certificate(realistic(), ACTIVE)
    assert len(realistic().to_cbor()) == REALISTIC_PAYLOAD_BYTES
    assert len(token) == REALISTIC_TOKEN_BYTES == REALISTIC_PAYLOAD_BYTES + 81
    for url, (at_q, at_m, max_q, max_m) in SIZES.items():
        assert make_qr(token, Q, url).version == at_q, url
        assert make_qr(token, EC_M, url).version == at_m, url
        assert largest_token_in_v12(Q, url) == max_q, url
        assert largest_token_in_v12(EC_M, url) == max_m, url
    # an ore receipt (grams, no fineness) is 3 bytes smaller
    ore = realistic(
        kind=CertificateKind.ORE_RECEIPT, unit=MassUnit.G, mass=2_500_000, fineness_ppt=None
    )
    assert len(ore.to_cbor()) == REALISTIC_PAYLOAD_BYTES - 3


def test_realistic_certificate_fits_qr_version_12_at_q() -> None:
    token = sign_certificate(realistic(), ACTIVE)
    assert make_qr(token, Q, "https://altan.mn").version <= 12
    # and the margin is zero: one byte more in the lot id does not fit
    longer = sign_certificate(realistic(lot_id="AU-2026-0001234"), ACTIVE)
    assert make_qr(longer, Q, "https://altan.mn").version == 13


def decode(img: Image.Image) -> str:
    results = zxingcpp.read_barcodes(img)
    assert len(results) == 1
    assert results[0].format == zxingcpp.BarcodeFormat.QRCode
    return str(results[0].text)


def camera(img: Image.Image, scale: float, seed: int) -> Image.Image:
    """Scale down (blurring modules together) and add light noise, as a phone camera would."""
    small = img.resize((int(img.width * scale), int(img.height * scale)), Image.Resampling.BILINEAR)
    rng = random.Random(seed)
    noisy = bytes(max(0, min(255, p + int(rng.gauss(0, 25)))) for p in small.tobytes())
    return Image.frombytes("L", small.size, noisy)


def test_real_qr_image_round_trip(tmp_path: Path) -> None:
    cert = realistic()
    token = sign_certificate(cert, ACTIVE)
    img = render(make_qr(token))
    path = tmp_path / "certificate.png"
    img.save(path)
    with Image.open(path) as loaded:
        text = decode(loaded)
    assert text == qr_text(PUBLIC_URL, token)
    assert verify_certificate(parse_qr_text(text), KEYS) == cert

    for scale, seed in [(0.6, 1), (0.45, 2)]:
        photo = camera(img, scale, seed)
        photo.save(tmp_path / f"photo-{scale}.png")
        text = decode(photo)
        assert verify_certificate(parse_qr_text(text), KEYS) == cert


def test_qr_image_of_a_forged_token_decodes_but_does_not_verify() -> None:
    token = sign_certificate(realistic(), ACTIVE)
    flipped = bytearray(token)
    flipped[40] ^= 0x01  # inside the payload
    text = decode(render(make_qr(bytes(flipped))))
    assert reason_of(parse_qr_text(text)) is M.BAD_SIGNATURE
