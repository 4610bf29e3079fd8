"""Signed notes (ledger.note): known-answer vectors, round trips, tampering, malformed input."""

from __future__ import annotations

import base64
import hashlib
import json
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from hypothesis import given
from hypothesis import strategies as st

from ledger.errors import (
    InvalidSignature,
    KeyProblem,
    MalformedInput,
    UnknownKey,
    VerificationError,
)
from ledger.note import (
    MAX_NOTE_BYTES,
    MAX_SIGNATURES,
    Note,
    NoteSignature,
    NoteSigner,
    NoteVerifier,
    key_id,
    open_note,
)
from support.paths import VECTORS

VECTORS_FILE = VECTORS / "signed-note" / "signed-note-vectors.json"
VECTORS: list[dict[str, Any]] = json.loads(VECTORS_FILE.read_text(encoding="utf-8"))["vectors"]
BY_ID = {vector["id"]: vector for vector in VECTORS}

# Vectors labelled "invalid", and the error each must raise.
EXPECTED_ERRORS: dict[str, type[VerificationError]] = {
    "go-note-corrupted-sig": InvalidSignature,  # known name and key id, signature does not verify
    "go-note-misnamed": UnknownKey,  # the same bytes under a name nobody trusts
}

# Kinds this library does not verify: it signs and verifies Ed25519 (type 0x01) only.
NOT_ED25519 = {
    "ecdsa-note": "type 0x02 ECDSA note signatures are not supported (Ed25519 only)",
    "mldsa44-cosignature": "type 0x06 ML-DSA-44 cosignatures are not supported (Ed25519 only)",
    "checkpoint-body": "a checkpoint body without signatures; tested in test_checkpoint.py",
}

PETER = BY_ID["go-note-sign-peter"]


def _signer(label: str, name: str = "example.com/test") -> NoteSigner:
    seed = hashlib.sha256(label.encode()).digest()
    return NoteSigner(Ed25519PrivateKey.from_private_bytes(seed), name)


def _type_byte(vkey: str) -> int:
    return base64.b64decode(vkey.split("+", 2)[2])[0]


# -- known-answer vectors -------------------------------------------------------------------


def test_vector_file_has_the_expected_cases() -> None:
    kinds = {vector["kind"] for vector in VECTORS}
    assert "ed25519-note" in kinds
    assert sum(vector["kind"] == "ed25519-note" for vector in VECTORS) >= 6
    assert set(EXPECTED_ERRORS) <= set(BY_ID)


@pytest.mark.parametrize("vector", VECTORS, ids=[vector["id"] for vector in VECTORS])
def test_vector_behaves_as_labelled(vector: dict[str, Any]) -> None:
    kind = vector["kind"]
    if kind in NOT_ED25519:
        pytest.skip(f"{vector['id']}: {NOT_ED25519[kind]}")
    assert kind in ("ed25519-note", "ed25519-note+cosignature-v1"), f"unknown kind {kind}"

    ed25519_vkeys = [vkey for vkey in vector["vkeys"] if _type_byte(vkey) == 0x01]
    other_vkeys = [vkey for vkey in vector["vkeys"] if _type_byte(vkey) != 0x01]
    # Mixed kinds: the Ed25519 part is checked; other key types are refused, not guessed at.
    for vkey in other_vkeys:
        with pytest.raises(MalformedInput, match="not supported"):
            NoteVerifier.from_vkey(vkey)
    assert ed25519_vkeys, "an ed25519 vector without an Ed25519 key"
    verifiers = [NoteVerifier.from_vkey(vkey) for vkey in ed25519_vkeys]

    if vector["expect"] == "valid":
        note, signed_by = open_note(vector["note"], verifiers)
        assert signed_by == verifiers or set(signed_by) == set(verifiers)
        # "valid" means every listed key finds and verifies its own line, on its own too.
        for verifier in verifiers:
            _, alone = open_note(vector["note"], [verifier])
            assert alone == [verifier]
        assert note.to_text() == vector["note"]
    else:
        assert vector["expect"] == "invalid"
        with pytest.raises(EXPECTED_ERRORS[vector["id"]]):
            open_note(vector["note"], verifiers)


@pytest.mark.parametrize(
    "vector",
    [v for v in VECTORS if v["kind"] in ("ecdsa-note", "mldsa44-cosignature")],
    ids=lambda v: v["id"],
)
def test_non_ed25519_vectors_parse_but_their_keys_are_refused(vector: dict[str, Any]) -> None:
    note = Note.from_text(vector["note"])
    assert note.to_text() == vector["note"]
    for vkey in vector["vkeys"]:
        with pytest.raises(MalformedInput, match="not supported"):
            NoteVerifier.from_vkey(vkey)
    with pytest.raises(UnknownKey):
        open_note(note, [_signer("someone else").verifier])


def test_vkeys_round_trip_and_key_ids_match_the_formula() -> None:
    for vector in VECTORS:
        for vkey in vector.get("vkeys", []):
            if _type_byte(vkey) != 0x01:
                continue
            verifier = NoteVerifier.from_vkey(vkey)
            assert verifier.vkey == vkey
            assert key_id(verifier.name, verifier.public_key) == verifier.key_id
            assert verifier.key_id.hex() == vkey.split("+")[1]


def test_deterministic_signing_reproduces_the_go_vector() -> None:
    signer = NoteSigner.from_skey(PETER["skey"])
    text = PETER["note"][: PETER["note"].rindex("\n\n") + 1]
    assert signer.sign(text) == PETER["note"]
    assert text + "\n" + signer.signature_line(text) == PETER["note"]
    assert signer.verifier == NoteVerifier.from_vkey(PETER["vkeys"][0])
    assert signer.verifier.vkey == PETER["vkeys"][0]
    assert signer.name == "PeterNeumann"
    assert signer.key_id == bytes.fromhex("c74f20a3")


def test_two_signers_produce_the_go_two_signature_note() -> None:
    note = BY_ID["go-note-open-two-sigs"]["note"]
    peter = NoteSigner.from_skey(PETER["skey"])
    text = note[: note.rindex("\n\n") + 1]
    assert note.startswith(peter.sign(text))


# -- round trips -----------------------------------------------------------------------------

_note_chars = st.characters(min_codepoint=0x20, codec="utf-8")
_lines = st.lists(st.text(alphabet=_note_chars, max_size=40), min_size=1, max_size=6)


@given(lines=_lines)
def test_sign_then_open_round_trips_any_valid_text(lines: list[str]) -> None:
    text = "\n".join(lines) + "\n"  # may contain blank lines and lines starting with "— "
    signer = _signer("round trip")
    signed = signer.sign(text)
    note, signed_by = open_note(signed, [signer.verifier])
    assert note.text == text
    assert signed_by == [signer.verifier]
    assert Note.from_text(signed).to_text() == signed


def test_bytes_input_and_note_input_are_accepted() -> None:
    signer = _signer("bytes")
    signed = signer.sign("hello\n")
    assert open_note(signed.encode("utf-8"), [signer.verifier])[0].text == "hello\n"
    assert open_note(Note.from_text(signed), [signer.verifier])[0].text == "hello\n"


def test_unknown_signatures_are_ignored_and_known_ones_reported_once() -> None:
    log, witness, stranger = _signer("log", "log.example"), _signer("w", "w.example"), _signer("x")
    text = "body\n"
    note = (
        text
        + "\n"
        + stranger.signature_line(text)
        + log.signature_line(text)
        + witness.signature_line(text)
        + log.signature_line(text)  # an identical repeat
    )
    _, signed_by = open_note(note, [log.verifier])
    assert signed_by == [log.verifier]
    _, signed_by = open_note(note, [witness.verifier, log.verifier, log.verifier])
    assert signed_by == [log.verifier, witness.verifier]


def test_note_with_exactly_max_signatures_is_accepted() -> None:
    log = _signer("log")
    text = "body\n"
    others = "".join(_signer(f"s{i}", f"s{i}.example").signature_line(text) for i in range(99))
    note = text + "\n" + others + log.signature_line(text)
    parsed, signed_by = open_note(note, [log.verifier])
    assert len(parsed.signatures) == MAX_SIGNATURES
    assert signed_by == [log.verifier]


# -- tampering -------------------------------------------------------------------------------


def test_every_changed_character_of_the_text_is_rejected() -> None:
    signer = _signer("tamper")
    text = "example.com/log\n12\nAAAA\n"
    signed = signer.sign(text)
    for index, char in enumerate(text):
        if char == "\n":
            continue
        replacement = "B" if char != "B" else "C"
        forged = signed[:index] + replacement + signed[index + 1 :]
        with pytest.raises(InvalidSignature):
            open_note(forged, [signer.verifier])


def test_every_changed_byte_of_the_signature_is_rejected() -> None:
    signer = _signer("tamper")
    text = "text\n"
    raw = signer.key_id + base64.b64decode(signer.signature_line(text).split(" ")[2])[4:]
    for index in range(4, len(raw)):
        forged_raw = raw[:index] + bytes([raw[index] ^ 0x01]) + raw[index + 1 :]
        forged = f"{text}\n\u2014 {signer.name} {base64.b64encode(forged_raw).decode()}\n"
        with pytest.raises(InvalidSignature):
            open_note(forged, [signer.verifier])


def test_changed_key_id_or_name_means_no_known_signature() -> None:
    signer = _signer("tamper")
    text = "text\n"
    line = signer.signature_line(text)
    raw = base64.b64decode(line.split(" ")[2])
    other_id = bytes([raw[0] ^ 0xFF]) + raw[1:]
    with pytest.raises(UnknownKey):
        open_note(
            f"{text}\n\u2014 {signer.name} {base64.b64encode(other_id).decode()}\n",
            [signer.verifier],
        )
    with pytest.raises(UnknownKey):
        open_note(text + "\n" + line.replace(signer.name, "example.com/other"), [signer.verifier])


def test_signature_by_another_key_under_a_trusted_name_and_key_id_is_rejected() -> None:
    trusted, attacker = _signer("trusted"), _signer("attacker")
    text = "text\n"
    attacker_sig = base64.b64decode(attacker.signature_line(text).split(" ")[2])[4:]
    forged_raw = trusted.key_id + attacker_sig
    forged = f"{text}\n\u2014 {trusted.name} {base64.b64encode(forged_raw).decode()}\n"
    with pytest.raises(InvalidSignature):
        open_note(forged, [trusted.verifier])


# Two Ed25519 keys whose key ids collide under one name (found by a birthday search over
# seeds SHA-256("altan-collision-<i>"), i < 2**17).
COLLISION_NAME = "collision.example/log"
COLLISION_SEEDS = ("altan-collision-36063", "altan-collision-60368")


def test_a_real_key_id_collision_is_an_invalid_signature_or_an_ambiguous_key() -> None:
    first, second = (_signer(label, COLLISION_NAME) for label in COLLISION_SEEDS)
    assert first.key_id == second.key_id == bytes.fromhex("e991ce34")
    assert first.verifier.public_key != second.verifier.public_key
    signed_by_second = second.sign("text\n")
    # Same name and key id as the trusted key, but another key signed: reject the note.
    with pytest.raises(InvalidSignature):
        open_note(signed_by_second, [first.verifier])
    assert open_note(signed_by_second, [second.verifier])[1] == [second.verifier]
    # Trusting both cannot attribute the line to one key.
    with pytest.raises(KeyProblem, match="share name"):
        open_note(signed_by_second, [first.verifier, second.verifier])


# -- malformed input -------------------------------------------------------------------------

_GOOD = PETER["note"]
_GOOD_LINE = _GOOD[_GOOD.rindex("\n\n") + 2 :]
_GOOD_B64 = _GOOD_LINE.split(" ")[2].rstrip("\n")
_TEXT = _GOOD[: _GOOD.rindex("\n\n") + 1]

MALFORMED_NOTES = {
    "empty": "",
    "text only": _TEXT,
    "no blank line": _TEXT + _GOOD_LINE,
    "blank line but no signatures": _TEXT + "\n",
    "no final newline": _GOOD[:-1],
    "trailing blank line": _GOOD + "\n",
    "ascii hyphen instead of em dash": _TEXT + "\n- PeterNeumann " + _GOOD_B64 + "\n",
    "en dash instead of em dash": _TEXT + "\n\u2013 PeterNeumann " + _GOOD_B64 + "\n",
    "no space after dash": _TEXT + "\n\u2014PeterNeumann " + _GOOD_B64 + "\n",
    "empty name": _TEXT + "\n\u2014  " + _GOOD_B64 + "\n",
    "no signature": _TEXT + "\n\u2014 PeterNeumann\n",
    "empty signature": _TEXT + "\n\u2014 PeterNeumann \n",
    "two spaces": _TEXT + "\n\u2014 PeterNeumann  " + _GOOD_B64 + "\n",
    "name with plus": _TEXT + "\n\u2014 Peter+Neumann " + _GOOD_B64 + "\n",
    "name with no-break space": _TEXT + "\n\u2014 Peter\u00a0Neumann " + _GOOD_B64 + "\n",
    "unpadded base64": _TEXT + "\n\u2014 PeterNeumann " + _GOOD_B64.rstrip("=") + "\n",
    "url-safe base64": _TEXT + "\n\u2014 PeterNeumann " + _GOOD_B64.replace("/", "_") + "\n",
    "non-canonical base64": _TEXT + "\n\u2014 PeterNeumann " + _GOOD_B64[:-2] + "N=\n",
    "signature shorter than 5 bytes": _TEXT + "\n\u2014 PeterNeumann AAAAAA==\n",
    "carriage return": _GOOD.replace("\n", "\r\n"),
    "tab in text": "a\tb\n\n" + _GOOD_LINE,
    "NUL in text": "a\x00b\n\n" + _GOOD_LINE,
    "lone surrogate": "a\udc80b\n\n" + _GOOD_LINE,
    "too many signatures": _TEXT + "\n" + _GOOD_LINE * (MAX_SIGNATURES + 1),
    "too large": "a" * MAX_NOTE_BYTES + "\n\n" + _GOOD_LINE,
}


@pytest.mark.parametrize("note", MALFORMED_NOTES.values(), ids=MALFORMED_NOTES.keys())
def test_malformed_notes_are_rejected(note: str) -> None:
    with pytest.raises(MalformedInput):
        Note.from_text(note)
    with pytest.raises(MalformedInput):
        open_note(note, [NoteVerifier.from_vkey(PETER["vkeys"][0])])


def test_invalid_utf8_bytes_are_rejected() -> None:
    with pytest.raises(MalformedInput, match="UTF-8"):
        Note.from_text(b"caf\xe9\n\n" + _GOOD_LINE.encode())


def test_large_multibyte_note_is_rejected_by_its_byte_size() -> None:
    text = "\u00e9" * (MAX_NOTE_BYTES // 2) + "\n"  # fewer characters than bytes
    with pytest.raises(MalformedInput, match="bytes"):
        Note.from_text(text + "\n" + _GOOD_LINE)


MALFORMED_VKEYS = {
    "no plus": "PeterNeumann",
    "two fields": "PeterNeumann+c74f20a3",
    "short key id": "PeterNeumann+c74f20a+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",
    "non-hex key id": "PeterNeumann+c74f20ag+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",
    "wrong key id": "PeterNeumann+c74f20a4+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",
    "wrong name": "PeterNeumannn+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",
    "empty name": "+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",
    "bad base64": "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10T",
    "empty key": "PeterNeumann+c74f20a3+",
    "type byte only": "PeterNeumann+c74f20a3+AQ==",
    "short key": "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10Q=",
    "other type": "PeterNeumann+c74f20a3+Anpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",
}


@pytest.mark.parametrize("vkey", MALFORMED_VKEYS.values(), ids=MALFORMED_VKEYS.keys())
def test_malformed_verifier_keys_are_rejected(vkey: str) -> None:
    with pytest.raises(MalformedInput):
        NoteVerifier.from_vkey(vkey)


def test_verifier_cannot_be_built_with_a_wrong_key_id() -> None:
    good = NoteVerifier.from_vkey(PETER["vkeys"][0])
    with pytest.raises(MalformedInput, match="key id"):
        NoteVerifier(name=good.name, key_id=b"\x00\x00\x00\x00", public_key=good.public_key)
    with pytest.raises(MalformedInput):
        NoteVerifier(name=good.name, key_id=good.key_id, public_key=good.public_key[:31])


def test_verifier_rejects_wrong_lengths_without_raising() -> None:
    verifier = _signer("v").verifier
    assert verifier.verify(b"m", b"") is False
    assert verifier.verify(b"m", b"\x00" * 64) is False


@pytest.mark.parametrize(
    "skey",
    [
        PETER["skey"].replace("PRIVATE+KEY", "PUBLIC+KEY"),
        PETER["skey"].replace("c74f20a3", "c74f20a4"),
        PETER["skey"].replace("PeterNeumann", "EnochRoot"),
        PETER["skey"][:-4],
        PETER["skey"].replace("+AYEK", "+AoEK"),
        "PRIVATE+KEY+PeterNeumann",
    ],
)
def test_malformed_signer_keys_are_rejected_without_echoing_the_key(skey: str) -> None:
    with pytest.raises(MalformedInput) as caught:
        NoteSigner.from_skey(skey)
    secret = PETER["skey"].split("+")[-1]
    assert secret[:12] not in str(caught.value)


def test_signer_refuses_text_that_cannot_be_a_note() -> None:
    signer = _signer("s")
    for text in ("", "no newline", "tab\there\n", "cr\r\n", "a\udc80\n"):
        with pytest.raises(MalformedInput):
            signer.sign(text)


def test_signer_repr_shows_no_key_material() -> None:
    seed = hashlib.sha256(b"secret").digest()
    key = Ed25519PrivateKey.from_private_bytes(seed)
    signer = NoteSigner(key, "example.com/log")
    public = key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    for shown in (repr(signer), str(signer)):
        assert "example.com/log" in shown
        for secret in (
            seed.hex(),
            base64.b64encode(seed).decode(),
            base64.b64encode(b"\x01" + seed).decode(),
        ):
            assert secret not in shown
        assert public.hex() not in shown


def test_note_values_validate_themselves() -> None:
    sig = NoteSignature(name="a.example", key_id=b"\x01\x02\x03\x04", signature=b"\x05")
    with pytest.raises(MalformedInput):
        NoteSignature(name="a b", key_id=b"\x01\x02\x03\x04", signature=b"\x05")
    with pytest.raises(MalformedInput):
        NoteSignature(name="a.example", key_id=b"\x01\x02\x03", signature=b"\x05")
    with pytest.raises(MalformedInput):
        NoteSignature(name="a.example", key_id=b"\x01\x02\x03\x04", signature=b"")
    with pytest.raises(MalformedInput):
        Note(text="no newline", signatures=(sig,))
    with pytest.raises(MalformedInput):
        Note(text="text\n", signatures=())
    assert Note(text="text\n", signatures=(sig,)).to_text() == "text\n\n" + sig.to_line()
