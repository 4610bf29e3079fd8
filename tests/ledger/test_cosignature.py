"""Witness cosignatures (ledger.cosignature): known-answer vectors from real witnesses and the
C2SP spec, a naive reference under hypothesis, round trips and tampering."""

from __future__ import annotations

import base64
import hashlib
import json
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from hypothesis import given
from hypothesis import strategies as st

from ledger.checkpoint import Checkpoint, open_checkpoint, sign_checkpoint
from ledger.cosignature import (
    MAX_TIMESTAMP,
    Cosignature,
    WitnessKey,
    WitnessSigner,
    cosign,
    cosignatures_by,
    count_valid_cosignatures,
    signed_message,
    verify_cosignature,
    witness_key_id,
)
from ledger.errors import InvalidSignature, KeyProblem, MalformedInput, UnknownKey
from ledger.note import Note, NoteSigner, NoteVerifier
from support.paths import VECTORS

VECTORS = VECTORS
COSIG: dict[str, Any] = json.loads(
    (VECTORS / "cosignature" / "cosignature-vectors.json").read_text(encoding="utf-8")
)
NOTES = {
    v["id"]: v
    for v in json.loads(
        (VECTORS / "signed-note" / "signed-note-vectors.json").read_text(encoding="utf-8")
    )["vectors"]
}
WITNESSED = COSIG["witnessed_checkpoint"]
REAL_NOTE: str = NOTES[WITNESSED["note_vector"]]["note"]
REAL_WITNESSES = [WitnessKey.from_vkey(w["vkey"]) for w in WITNESSED["witnesses"]]

CHECKPOINT = Checkpoint("test.altan.example/log", 42, hashlib.sha256(b"root").digest())
BODY = CHECKPOINT.to_text()


def _witness(label: str, name: str = "witness.example/w1") -> WitnessSigner:
    seed = hashlib.sha256(label.encode()).digest()
    return WitnessSigner(Ed25519PrivateKey.from_private_bytes(seed), name)


def _log() -> NoteSigner:
    return NoteSigner(
        Ed25519PrivateKey.from_private_bytes(hashlib.sha256(b"log").digest()), CHECKPOINT.origin
    )


def _body(note: str) -> str:
    return Note.from_text(note).text


# -- known-answer vectors ------------------------------------------------------------------


def test_real_witnessed_checkpoint_counts_all_four_public_witnesses() -> None:
    log_key = NoteVerifier.from_vkey(WITNESSED["log_vkey"])
    checkpoint, _ = open_checkpoint(REAL_NOTE, [log_key], origin=log_key.name)
    assert checkpoint.size == 1432088532
    assert count_valid_cosignatures(REAL_NOTE, REAL_WITNESSES) == [
        REAL_WITNESSES[1],  # the lines' order: little-garden, smartit, remora, stagemole
        REAL_WITNESSES[3],
        REAL_WITNESSES[0],
        REAL_WITNESSES[2],
    ]


@pytest.mark.parametrize("entry", WITNESSED["witnesses"], ids=lambda w: w["vkey"].split("+")[0])
def test_real_cosignature_lines_verify_with_their_timestamps(entry: dict[str, Any]) -> None:
    witness = WitnessKey.from_vkey(entry["vkey"])
    assert witness.vkey == entry["vkey"]
    assert witness_key_id(witness.name, witness.public_key) == witness.key_id
    [(found, cosignature)] = cosignatures_by(REAL_NOTE, [witness])
    assert found == witness
    assert isinstance(cosignature, Cosignature)
    assert cosignature.timestamp == entry["timestamp"]
    verify_cosignature(_body(REAL_NOTE), cosignature, witness)
    # The line written back is the line read.
    assert cosignature.to_line() in REAL_NOTE


def test_real_cosignature_fails_over_another_body_or_time() -> None:
    witness = REAL_WITNESSES[0]
    [(_, cosignature)] = cosignatures_by(REAL_NOTE, [witness])
    assert isinstance(cosignature, Cosignature)
    body = _body(REAL_NOTE)
    other = body.replace("1432088532", "1432088533")
    with pytest.raises(InvalidSignature):
        verify_cosignature(other, cosignature, witness)
    moved = Cosignature(
        cosignature.name, cosignature.key_id, cosignature.timestamp + 1, cosignature.signature
    )
    with pytest.raises(InvalidSignature):
        verify_cosignature(body, moved, witness)


def test_log_signature_lines_are_not_cosignatures() -> None:
    """The log's own Ed25519 line (68 bytes) and its RFC 6962 line (86 bytes) are ignored
    by a counter that trusts only witnesses, and a witness key is not a log key."""
    log_key = NoteVerifier.from_vkey(WITNESSED["log_vkey"])
    fake = WitnessKey.from_public_key(log_key.name, log_key.public_key)
    assert fake.key_id != log_key.key_id  # type byte 0x04 versus 0x01
    assert count_valid_cosignatures(REAL_NOTE, [fake]) == []


def test_c2sp_spec_example_parses_to_its_timestamp() -> None:
    example = COSIG["spec_example"]
    note = Note.from_text(example["note"])
    line = note.signatures[1]
    cosignature = Cosignature.from_note_signature(line)
    assert cosignature.name == example["cosigner"]
    assert cosignature.key_id.hex() == example["key_id"]
    assert cosignature.timestamp == example["timestamp"]
    assert signed_message(note.text, cosignature.timestamp) == example["signed_message"].encode()
    assert Cosignature.from_line(line.to_line()) == cosignature


@pytest.mark.parametrize("case", COSIG["timestamps"]["cases"], ids=lambda c: c["id"])
def test_formats_timestamp_vectors(case: dict[str, Any]) -> None:
    line = f"\u2014 witness.example/w1 {case['base64']}"
    if case["timestamp"] is None:
        with pytest.raises(MalformedInput):
            Cosignature.from_line(line)
    else:
        assert Cosignature.from_line(line).timestamp == case["timestamp"]


@pytest.mark.parametrize("vkey", COSIG["vkeys"]["valid"])
def test_valid_witness_vkeys(vkey: str) -> None:
    assert WitnessKey.from_vkey(vkey).vkey == vkey


@pytest.mark.parametrize("case", COSIG["vkeys"]["invalid"], ids=lambda c: c["id"])
def test_invalid_witness_vkeys_are_refused(case: dict[str, Any]) -> None:
    with pytest.raises(MalformedInput):
        WitnessKey.from_vkey(case["vkey"])


def test_a_witness_vkey_is_not_a_log_vkey_and_back() -> None:
    witness = _witness("a").key
    with pytest.raises(MalformedInput, match="0x01"):
        NoteVerifier.from_vkey(witness.vkey)
    with pytest.raises(MalformedInput, match="0x04"):
        WitnessKey.from_vkey(_log().verifier.vkey)


# -- a naive reference, checked against the module under hypothesis -----------------------

names = st.from_regex(r"[a-z0-9./:-]{1,40}", fullmatch=True)
timestamps = st.integers(min_value=0, max_value=MAX_TIMESTAMP)
checkpoints = st.builds(
    Checkpoint,
    origin=names,
    size=st.integers(min_value=0, max_value=(1 << 64) - 1),
    root_hash=st.binary(min_size=32, max_size=32),
    extensions=st.lists(st.from_regex(r"[ -~]{1,30}", fullmatch=True), max_size=3).map(tuple),
)


def _reference_line(seed: bytes, name: str, body: str, timestamp: int) -> str:
    """The spec, written out by hand (tlog-cosignature, Ed25519 section)."""
    key = Ed25519PrivateKey.from_private_bytes(seed)
    public = key.public_key().public_bytes_raw()
    key_id = hashlib.sha256(name.encode() + b"\n" + b"\x04" + public).digest()[:4]
    message = b"cosignature/v1\n" + b"time " + str(timestamp).encode() + b"\n" + body.encode()
    payload = key_id + timestamp.to_bytes(8, "big") + key.sign(message)
    return "\u2014 " + name + " " + base64.b64encode(payload).decode() + "\n"


@given(seed=st.binary(min_size=32, max_size=32), name=names, cp=checkpoints, ts=timestamps)
def test_cosign_matches_the_reference_and_verifies(
    seed: bytes, name: str, cp: Checkpoint, ts: int
) -> None:
    signer = WitnessSigner(Ed25519PrivateKey.from_private_bytes(seed), name)
    body = cp.to_text()
    line = cosign(body, ts, signer)
    assert line == _reference_line(seed, name, body, ts)  # Ed25519 is deterministic
    parsed = Cosignature.from_line(line)
    assert parsed.timestamp == ts
    verify_cosignature(body, parsed, signer.key)
    assert WitnessKey.from_vkey(signer.key.vkey) == signer.key
    note = sign_checkpoint(cp, _log()) + line
    assert count_valid_cosignatures(note, [signer.key]) == [signer.key]


@given(ts=timestamps, flip=st.integers(min_value=0, max_value=75 * 8 - 1))
def test_any_flipped_bit_in_the_line_is_not_counted(ts: int, flip: int) -> None:
    signer = _witness("tamper")
    line = cosign(BODY, ts, signer)
    name, payload = line[2:-1].split(" ")
    raw = bytearray(base64.b64decode(payload))
    raw[flip // 8] ^= 1 << (flip % 8)
    bad = f"\u2014 {name} {base64.b64encode(bytes(raw)).decode()}\n"
    note = sign_checkpoint(CHECKPOINT, _log()) + bad
    assert count_valid_cosignatures(note, [signer.key]) == []


# -- counting ------------------------------------------------------------------------------


def _note(*lines: str) -> str:
    return sign_checkpoint(CHECKPOINT, _log()) + "".join(lines)


def test_counting_ignores_strangers_and_counts_each_witness_once() -> None:
    a, b, stranger = _witness("a", "a.example/w"), _witness("b", "b.example/w"), _witness("x")
    note = _note(
        cosign(BODY, 100, a),
        cosign(BODY, 101, stranger),
        cosign(BODY, 102, a),
        cosign(BODY, 103, b),
    )
    assert count_valid_cosignatures(note, [b.key, a.key]) == [a.key, b.key]
    assert count_valid_cosignatures(note, [a.key, a.key]) == [a.key]
    assert count_valid_cosignatures(note, []) == []


def test_a_bad_line_by_a_witness_does_not_hide_its_good_one() -> None:
    a = _witness("a")
    forged = Cosignature(a.name, a.key.key_id, 5, bytes(64)).to_line()
    note = _note(forged, cosign(BODY, 6, a))
    assert count_valid_cosignatures(note, [a.key]) == [a.key]
    assert count_valid_cosignatures(_note(forged), [a.key]) == []


def test_a_cosignature_of_another_checkpoint_does_not_count() -> None:
    """A witness that cosigned the fork does not vouch for this view, and vice versa."""
    a = _witness("a")
    fork = Checkpoint(CHECKPOINT.origin, CHECKPOINT.size, hashlib.sha256(b"fork").digest())
    note = _note(cosign(fork.to_text(), 7, a))
    assert count_valid_cosignatures(note, [a.key]) == []


def test_a_malformed_line_by_a_known_name_and_key_id_is_reported_not_counted() -> None:
    a = _witness("a")
    short = f"\u2014 {a.name} {base64.b64encode(a.key.key_id + bytes(64)).decode()}\n"
    note = _note(short)
    [(witness, problem)] = cosignatures_by(note, [a.key])
    assert witness == a.key and isinstance(problem, MalformedInput)
    assert count_valid_cosignatures(note, [a.key]) == []


def test_not_after_drops_cosignatures_from_the_future() -> None:
    a = _witness("a")
    note = _note(cosign(BODY, 1000, a))
    assert count_valid_cosignatures(note, [a.key], not_after=1000) == [a.key]
    assert count_valid_cosignatures(note, [a.key], not_after=999) == []


def test_two_trusted_keys_with_one_name_and_key_id_are_refused() -> None:
    a = _witness("a")
    clash = WitnessKey.__new__(WitnessKey)
    object.__setattr__(clash, "name", a.name)
    object.__setattr__(clash, "key_id", a.key.key_id)
    object.__setattr__(clash, "public_key", bytes(32))
    with pytest.raises(KeyProblem):
        count_valid_cosignatures(_note(cosign(BODY, 1, a)), [a.key, clash])


def test_verify_names_the_wrong_witness() -> None:
    a, b = _witness("a", "a.example/w"), _witness("b", "b.example/w")
    with pytest.raises(UnknownKey, match=r"expected one by b\.example/w"):
        verify_cosignature(BODY, a.cosign(BODY, 1), b.key)


def test_the_same_key_under_another_name_is_another_key_id() -> None:
    """The message does not commit to the name; the key id does (see the module)."""
    seed = hashlib.sha256(b"shared").digest()
    one = WitnessSigner(Ed25519PrivateKey.from_private_bytes(seed), "one.example")
    two = WitnessSigner(Ed25519PrivateKey.from_private_bytes(seed), "two.example")
    assert one.key.key_id != two.key.key_id
    note = _note(cosign(BODY, 1, one))
    assert count_valid_cosignatures(note, [two.key]) == []


# -- malformed input -----------------------------------------------------------------------


@pytest.mark.parametrize("timestamp", [-1, MAX_TIMESTAMP + 1, True, 1.5])
def test_timestamps_out_of_range_are_refused(timestamp: Any) -> None:
    with pytest.raises(MalformedInput):
        _witness("a").cosign(BODY, timestamp)


def test_timestamp_at_the_limit_round_trips() -> None:
    a = _witness("a")
    line = cosign(BODY, MAX_TIMESTAMP, a)
    verify_cosignature(BODY, Cosignature.from_line(line), a.key)
    raw = bytearray(base64.b64decode(line.split(" ")[2]))
    raw[4] |= 0x80  # 2^63 and above
    with pytest.raises(MalformedInput):
        Cosignature.from_line(f"\u2014 {a.name} {base64.b64encode(bytes(raw)).decode()}")


@pytest.mark.parametrize(
    "body",
    ["", "no newline", "origin\n42\n", "origin\n042\nAAAA\n", "a\n1\n" + "A" * 44 + "\n\n"],
)
def test_only_checkpoint_bodies_are_cosigned(body: str) -> None:
    with pytest.raises(MalformedInput):
        _witness("a").cosign(body, 1)


@pytest.mark.parametrize(
    "line",
    [
        "",
        "- witness.example/w1 AAAA",
        "\u2014 witness.example/w1",
        "\u2014 witness.example/w1 not-base64!",
        "\u2014 bad+name " + base64.b64encode(bytes(76)).decode(),
        "\u2014 a " + base64.b64encode(bytes(76)).decode() + "\n\u2014 b x",
    ],
)
def test_malformed_lines_are_refused(line: str) -> None:
    with pytest.raises(MalformedInput):
        Cosignature.from_line(line)


def test_signer_refuses_other_keys_and_shows_no_secret() -> None:
    with pytest.raises(KeyProblem):
        WitnessSigner(Ed25519PublicKey, "w")  # type: ignore[arg-type]
    signer = _witness("a")
    seed_hex = hashlib.sha256(b"a").hexdigest()
    assert seed_hex not in repr(signer) and signer.key.key_id.hex() in repr(signer)
