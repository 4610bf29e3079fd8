"""Checkpoints (ledger.checkpoint): vectors, strict parsing, round trips, sign and open."""

from __future__ import annotations

import base64
import hashlib
import json
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import given
from hypothesis import strategies as st

from ledger.checkpoint import (
    MAX_TREE_SIZE,
    Checkpoint,
    OriginMismatch,
    open_checkpoint,
    sign_checkpoint,
)
from ledger.errors import InvalidSignature, MalformedInput, UnknownKey, VerificationError
from ledger.note import NoteSigner, NoteVerifier
from support.paths import VECTORS

VECTORS = VECTORS
TESSERA = VECTORS / "tlog-tiles-tessera"
NOTE_VECTORS: dict[str, dict[str, Any]] = {
    vector["id"]: vector
    for vector in json.loads(
        (VECTORS / "signed-note" / "signed-note-vectors.json").read_text(encoding="utf-8")
    )["vectors"]
}

# From /work/shared/vectors/README.md (transparency-dev/tessera testdata/build_log.sh).
TESSERA_ORIGIN = "example.com/log/testdata"
TESSERA_VKEY = "example.com/log/testdata+33d7b496+AeHTu4Q3hEIMHNqc6fASMsq3rKNx280NI+oO5xCFkkSx"
TESSERA_SKEY = (
    "PRIVATE+KEY+example.com/log/testdata+33d7b496+AeymY/SZAX0jZcJ8enZ5FY1Dz+wTML2yWSkK+9DSF3eg"
)
TESSERA_ENTRIES = [
    "one",
    "two",
    "three",
    "four",
    "five",
    "six",
    "seven",
    "eit",
    "nain",
    "ten",
    "ileven",
    "twelf",
    "threeten",
    "fourten",
    "fivten",
]


def _signer(label: str, name: str = "altan.example/log") -> NoteSigner:
    seed = hashlib.sha256(label.encode()).digest()
    return NoteSigner(Ed25519PrivateKey.from_private_bytes(seed), name)


def _mth(leaves: list[bytes]) -> bytes:
    """A naive RFC 9162 Merkle tree hash, to check the vectors' roots independently."""
    if not leaves:
        return hashlib.sha256(b"").digest()
    if len(leaves) == 1:
        return hashlib.sha256(b"\x00" + leaves[0]).digest()
    split = 1
    while split * 2 < len(leaves):
        split *= 2
    return hashlib.sha256(b"\x01" + _mth(leaves[:split]) + _mth(leaves[split:])).digest()


# -- vectors ---------------------------------------------------------------------------------


@pytest.mark.parametrize("size", range(16))
def test_tessera_checkpoints_open_and_resign_byte_for_byte(size: int) -> None:
    published = (TESSERA / f"checkpoint.{size}").read_text(encoding="utf-8")
    verifier = NoteVerifier.from_vkey(TESSERA_VKEY)
    checkpoint, signed_by = open_checkpoint(published, [verifier], origin=TESSERA_ORIGIN)
    assert signed_by == [verifier]
    assert checkpoint.origin == TESSERA_ORIGIN
    assert checkpoint.size == size
    assert checkpoint.extensions == ()
    assert checkpoint.root_hash == _mth([e.encode() for e in TESSERA_ENTRIES[:size]])
    # Ed25519 is deterministic: re-signing the body with the published test key gives the file.
    assert sign_checkpoint(checkpoint, NoteSigner.from_skey(TESSERA_SKEY)) == published


def test_tessera_latest_checkpoint_is_checkpoint_15() -> None:
    latest = (TESSERA / "checkpoint").read_text(encoding="utf-8")
    assert latest == (TESSERA / "checkpoint.15").read_text(encoding="utf-8")
    checkpoint, _ = open_checkpoint(latest, [NoteVerifier.from_vkey(TESSERA_VKEY)])
    assert checkpoint.size == 15


def test_real_sumdb_checkpoint_with_a_key_name_other_than_the_origin() -> None:
    vector = NOTE_VECTORS["sumdb-real-checkpoint"]
    verifier = NoteVerifier.from_vkey(vector["vkeys"][0])
    checkpoint, _ = open_checkpoint(vector["note"], [verifier], origin="go.sum database tree")
    assert checkpoint == Checkpoint(
        origin=vector["checkpoint"]["origin"],
        size=vector["checkpoint"]["size"],
        root_hash=base64.b64decode(vector["checkpoint"]["root_b64"]),
    )
    assert verifier.name == "sum.golang.org" != checkpoint.origin


def test_real_witnessed_ct_checkpoint_opens_with_the_log_key() -> None:
    vector = NOTE_VECTORS["ct-static-checkpoint-witnessed"]
    log_key = NoteVerifier.from_vkey(vector["vkeys"][0])
    checkpoint, signed_by = open_checkpoint(vector["note"], [log_key], origin=log_key.name)
    assert signed_by == [log_key]
    assert checkpoint.size == 1432088532


def test_sumdb_checkpoint_body_formatting_vector() -> None:
    vector = NOTE_VECTORS["sumdb-tree-format"]
    checkpoint = Checkpoint.from_text(vector["note"])
    assert checkpoint.origin == "go.sum database tree"
    assert checkpoint.size == 123456789012
    assert checkpoint.root_hash == hashlib.sha256(b"\x00" + vector["record"].encode()).digest()
    assert checkpoint.to_text() == vector["note"]


# -- round trips -----------------------------------------------------------------------------

_line_chars = st.characters(min_codepoint=0x20, codec="utf-8")
_lines = st.text(alphabet=_line_chars, min_size=1, max_size=30)
_checkpoints = st.builds(
    Checkpoint,
    origin=_lines,
    size=st.integers(min_value=0, max_value=MAX_TREE_SIZE),
    root_hash=st.binary(min_size=32, max_size=32),
    extensions=st.lists(_lines, max_size=4).map(tuple),
)
_SIGNER = _signer("hypothesis")


@given(checkpoint=_checkpoints)
def test_text_round_trip(checkpoint: Checkpoint) -> None:
    text = checkpoint.to_text()
    assert Checkpoint.from_text(text) == checkpoint
    assert text.count("\n") == 3 + len(checkpoint.extensions)


@given(checkpoint=_checkpoints)
def test_sign_open_round_trip(checkpoint: Checkpoint) -> None:
    note = sign_checkpoint(checkpoint, _SIGNER)
    opened, signed_by = open_checkpoint(note, [_SIGNER.verifier], origin=checkpoint.origin)
    assert opened == checkpoint
    assert signed_by == [_SIGNER.verifier]


# -- strict parsing --------------------------------------------------------------------------

ROOT = base64.b64encode(bytes(range(32))).decode()

BAD_BODIES = {
    "empty": "",
    "no final newline": f"log\n1\n{ROOT}",
    "two lines": "log\n1\n",
    "empty origin": f"\n1\n{ROOT}\n",
    "empty size": f"log\n\n{ROOT}\n",
    "leading zero": f"log\n01\n{ROOT}\n",
    "double zero": f"log\n00\n{ROOT}\n",
    "plus sign": f"log\n+1\n{ROOT}\n",
    "minus sign": f"log\n-1\n{ROOT}\n",
    "leading space": f"log\n 1\n{ROOT}\n",
    "trailing space": f"log\n1 \n{ROOT}\n",
    "underscore": f"log\n1_000\n{ROOT}\n",
    "hex size": f"log\n0x10\n{ROOT}\n",
    "arabic-indic digit": f"log\n\u0661\n{ROOT}\n",
    "fullwidth digit": f"log\n\uff11\n{ROOT}\n",
    "size 2**64": f"log\n{2**64}\n{ROOT}\n",
    "huge size": f"log\n{'9' * 400}\n{ROOT}\n",
    "empty root": "log\n1\n\n",
    "unpadded root": f"log\n1\n{ROOT.rstrip('=')}\n",
    "url-safe root": "log\n1\n" + base64.urlsafe_b64encode(b"\xff" * 32).decode() + "\n",
    "root with space": f"log\n1\n{ROOT[:10]} {ROOT[10:]}\n",
    "non-canonical root": f"log\n1\n{ROOT[:-2]}9=\n",
    "31-byte root": "log\n1\n" + base64.b64encode(b"\x00" * 31).decode() + "\n",
    "33-byte root": "log\n1\n" + base64.b64encode(b"\x00" * 33).decode() + "\n",
    "hex root": "log\n1\n" + "00" * 32 + "\n",
    "empty extension line": f"log\n1\n{ROOT}\n\next\n",
    "trailing blank line": f"log\n1\n{ROOT}\n\n",
    "crlf": f"log\r\n1\r\n{ROOT}\r\n",
    "control character in origin": f"l\x00g\n1\n{ROOT}\n",
}


@pytest.mark.parametrize("body", BAD_BODIES.values(), ids=BAD_BODIES.keys())
def test_strict_parsing_rejects_bad_bodies(body: str) -> None:
    with pytest.raises(MalformedInput):
        Checkpoint.from_text(body)


def test_largest_size_and_extensions_parse() -> None:
    text = f"o\n{MAX_TREE_SIZE}\n{ROOT}\next one\next two\n"
    checkpoint = Checkpoint.from_text(text)
    assert checkpoint.size == MAX_TREE_SIZE
    assert checkpoint.extensions == ("ext one", "ext two")
    assert checkpoint.to_text() == text
    assert Checkpoint.from_text(f"o\n0\n{ROOT}\n").size == 0


BAD_VALUES: dict[str, dict[str, Any]] = {
    "empty origin": {"origin": ""},
    "origin with newline": {"origin": "a\nb"},
    "origin with control char": {"origin": "a\tb"},
    "negative size": {"size": -1},
    "size too large": {"size": 2**64},
    "bool size": {"size": True},
    "string size": {"size": "1"},
    "short root": {"root_hash": b"\x00" * 31},
    "long root": {"root_hash": b"\x00" * 33},
    "str root": {"root_hash": "00" * 32},
    "empty extension": {"extensions": ("",)},
    "extension with newline": {"extensions": ("a\nb",)},
    "extensions as list": {"extensions": ["a"]},
}


@pytest.mark.parametrize("change", BAD_VALUES.values(), ids=BAD_VALUES.keys())
def test_invalid_checkpoints_cannot_be_built(change: dict[str, Any]) -> None:
    fields: dict[str, Any] = {"origin": "log", "size": 1, "root_hash": b"\x00" * 32}
    fields.update(change)
    with pytest.raises(MalformedInput):
        Checkpoint(**fields)


# -- sign and open ---------------------------------------------------------------------------

CHECKPOINT = Checkpoint(origin="altan.example/log", size=7, root_hash=bytes(range(32)))


def test_wrong_origin_is_a_verification_error() -> None:
    signer = _signer("log")
    note = sign_checkpoint(CHECKPOINT, signer)
    with pytest.raises(OriginMismatch) as caught:
        open_checkpoint(note, [signer.verifier], origin="altan.example/other-log")
    assert isinstance(caught.value, VerificationError)
    assert "altan.example/other-log" in str(caught.value)
    assert "altan.example/log" in str(caught.value)


def test_signed_by_another_key_is_unknown() -> None:
    note = sign_checkpoint(CHECKPOINT, _signer("impostor"))
    with pytest.raises(UnknownKey):
        open_checkpoint(note, [_signer("log").verifier], origin=CHECKPOINT.origin)


def test_tampered_size_is_an_invalid_signature() -> None:
    signer = _signer("log")
    note = sign_checkpoint(CHECKPOINT, signer).replace("\n7\n", "\n8\n", 1)
    with pytest.raises(InvalidSignature):
        open_checkpoint(note, [signer.verifier])


def test_signed_note_that_is_not_a_checkpoint_is_malformed() -> None:
    signer = _signer("log")
    with pytest.raises(MalformedInput):
        open_checkpoint(signer.sign("just a message\n"), [signer.verifier])


def test_checkpoint_signed_by_log_and_witness_opens_with_either_key() -> None:
    log, witness = _signer("log"), _signer("witness", "witness.example")
    text = CHECKPOINT.to_text()
    note = sign_checkpoint(CHECKPOINT, log) + witness.signature_line(text)
    assert open_checkpoint(note, [log.verifier])[0] == CHECKPOINT
    assert open_checkpoint(note, [witness.verifier])[1] == [witness.verifier]
    _, both = open_checkpoint(note, [witness.verifier, log.verifier])
    assert both == [log.verifier, witness.verifier]
