"""The log's key store (ledger.keys): files and modes, passphrases, rotation, no leaks."""

from __future__ import annotations

import base64
import json
import os
import stat
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric import ec, ed448
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
    load_pem_private_key,
)

from ledger.checkpoint import Checkpoint, open_checkpoint, sign_checkpoint
from ledger.errors import InvalidSignature, KeyProblem, MalformedInput
from ledger.keys import LogKey, LogSigner
from ledger.keystore import KeyStore
from ledger.note import NoteVerifier

NAME = "altan.example/log"
T0 = datetime(2025, 1, 1, 8, 0, tzinfo=UTC)
T1 = T0 + timedelta(days=90)
T2 = T1 + timedelta(days=90)
PASSPHRASE = b"correct horse battery staple"


@pytest.fixture
def umask_022() -> Iterator[None]:
    old = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(old)


def _mode(path: Path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def _pem_files(store: KeyStore) -> list[Path]:
    return sorted(store.path.glob("*.pem"))


def _store(tmp_path: Path, passphrase: bytes | None = None) -> KeyStore:
    store = KeyStore(tmp_path / "state", NAME, passphrase=passphrase)
    store.load_or_create(T0)
    return store


# -- first start and reload ------------------------------------------------------------------


@pytest.mark.parametrize("umask", [0o000, 0o022, 0o077])
def test_first_start_creates_a_0600_pkcs8_file_in_a_0700_folder(tmp_path: Path, umask: int) -> None:
    old = os.umask(umask)
    try:
        store = _store(tmp_path)
    finally:
        os.umask(old)
    assert store.path == tmp_path / "state" / "keys"
    assert _mode(store.path) == 0o700
    [pem] = _pem_files(store)
    assert _mode(pem) == 0o600
    data = pem.read_bytes()
    assert data.startswith(b"-----BEGIN PRIVATE KEY-----\n")  # PKCS8, not encrypted
    key = load_pem_private_key(data, password=None)
    assert isinstance(key, Ed25519PrivateKey)
    assert pem.name == f"{store.active().key.key_id}.pem"
    assert not [p for p in store.path.iterdir() if p.name.endswith(".tmp")]

    [only] = store.keys()
    assert only == store.active().key
    assert only.status == "active"
    assert only.not_before == T0
    assert only.not_after is None
    assert only.name == NAME
    assert len(only.key_id) == 8 and only.key_id == only.key_id.lower()
    assert LogKey.algorithm == only.algorithm == "Ed25519"


def test_metadata_file_lists_public_facts_only(tmp_path: Path) -> None:
    store = _store(tmp_path)
    document = json.loads((store.path / "keys.json").read_text())
    [entry] = document["keys"]
    key = store.active().key
    assert document["name"] == NAME
    assert entry["key_id"] == key.key_id
    assert entry["status"] == "active"
    assert entry["not_after"] is None
    assert datetime.fromisoformat(entry["not_before"]) == T0
    assert base64.b64decode(entry["public_key"]) == key.public_key
    assert "PRIVATE" not in (store.path / "keys.json").read_text()


def test_reload_gives_the_same_key(tmp_path: Path, umask_022: None) -> None:
    first = _store(tmp_path)
    again = KeyStore(tmp_path / "state", NAME)
    again.load_or_create(T1)  # a later start: loads, does not create
    assert again.active().key == first.active().key
    assert again.keys() == first.keys()
    assert len(_pem_files(again)) == 1
    signature = first.active().sign(b"message")
    again.active().key.verify(b"message", signature)
    assert again.active().sign(b"message") == signature  # Ed25519 is deterministic


def test_store_must_be_loaded_first(tmp_path: Path) -> None:
    store = KeyStore(tmp_path, NAME)
    with pytest.raises(KeyProblem, match="load_or_create"):
        store.active()
    with pytest.raises(KeyProblem, match="load_or_create"):
        store.keys()
    with pytest.raises(KeyProblem, match="load_or_create"):
        store.rotate(T1)


def test_naive_times_are_refused(tmp_path: Path) -> None:
    store = KeyStore(tmp_path, NAME)
    with pytest.raises(MalformedInput, match="timezone-aware"):
        store.load_or_create(datetime(2025, 1, 1))
    store.load_or_create(T0)
    with pytest.raises(MalformedInput, match="timezone-aware"):
        store.rotate(datetime(2025, 6, 1))


@pytest.mark.parametrize("name", ["", "has space", "has+plus", "tab\there"])
def test_invalid_key_names_are_refused(tmp_path: Path, name: str) -> None:
    with pytest.raises(KeyProblem, match="key name"):
        KeyStore(tmp_path, name)


def test_other_name_than_the_stored_keys_is_refused(tmp_path: Path) -> None:
    _store(tmp_path)
    with pytest.raises(KeyProblem, match="cannot change"):
        KeyStore(tmp_path / "state", "altan.example/other").load_or_create(T1)


# -- passphrases -----------------------------------------------------------------------------


def test_passphrase_encrypts_the_key(tmp_path: Path, umask_022: None) -> None:
    store = _store(tmp_path, PASSPHRASE)
    [pem] = _pem_files(store)
    data = pem.read_bytes()
    assert b"ENCRYPTED" in data
    assert data.startswith(b"-----BEGIN ENCRYPTED PRIVATE KEY-----\n")
    assert _mode(pem) == 0o600
    again = KeyStore(tmp_path / "state", NAME, passphrase=PASSPHRASE)
    again.load_or_create(T1)
    assert again.active().key == store.active().key


def test_wrong_passphrase_is_a_key_problem(tmp_path: Path) -> None:
    _store(tmp_path, PASSPHRASE)
    with pytest.raises(KeyProblem, match="passphrase") as caught:
        KeyStore(tmp_path / "state", NAME, passphrase=b"wrong guess").load_or_create(T1)
    assert "wrong guess" not in str(caught.value)
    assert PASSPHRASE.decode() not in str(caught.value)


def test_missing_passphrase_is_a_key_problem(tmp_path: Path) -> None:
    _store(tmp_path, PASSPHRASE)
    with pytest.raises(KeyProblem, match="encrypted"):
        KeyStore(tmp_path / "state", NAME).load_or_create(T1)


def test_passphrase_for_an_unencrypted_key_is_a_key_problem(tmp_path: Path) -> None:
    _store(tmp_path)
    with pytest.raises(KeyProblem, match="unencrypted"):
        KeyStore(tmp_path / "state", NAME, passphrase=PASSPHRASE).load_or_create(T1)


def test_empty_passphrase_is_refused(tmp_path: Path) -> None:
    with pytest.raises(KeyProblem, match="passphrase"):
        KeyStore(tmp_path, NAME, passphrase=b"")


# -- rotation --------------------------------------------------------------------------------


def test_rotation_keeps_old_keys_verifiable_and_one_active(tmp_path: Path) -> None:
    store = _store(tmp_path, PASSPHRASE)
    first = store.active()
    old_checkpoint = Checkpoint(origin=NAME, size=3, root_hash=b"\x01" * 32)
    old_note = sign_checkpoint(old_checkpoint, first.note_signer)
    old_receipt = first.sign(b"entry 0")

    second = store.rotate(T1)
    third = store.rotate(T2)
    assert store.active() is third
    assert len({first.key.key_id, second.key.key_id, third.key.key_id}) == 3

    keys = store.keys()
    assert [k.key_id for k in keys] == [first.key.key_id, second.key.key_id, third.key.key_id]
    assert [k.status for k in keys] == ["retired", "retired", "active"]
    assert [k.not_before for k in keys] == [T0, T1, T2]
    assert [k.not_after for k in keys] == [T1, T2, None]
    assert sum(k.status == "active" for k in keys) == 1

    # What the old key signed stays verifiable with the published keys.
    verifiers = [k.note_verifier() for k in keys]
    assert open_checkpoint(old_note, verifiers, origin=NAME) == (old_checkpoint, [verifiers[0]])
    keys[0].verify(b"entry 0", old_receipt)
    new_note = sign_checkpoint(old_checkpoint, third.note_signer)
    assert open_checkpoint(new_note, verifiers)[1] == [verifiers[2]]

    # A restart sees the same keys, and the newest is the one loaded for signing.
    again = KeyStore(tmp_path / "state", NAME, passphrase=PASSPHRASE)
    again.load_or_create(T2 + timedelta(days=1))
    assert again.keys() == keys
    assert again.active().key == third.key
    assert len(_pem_files(again)) == 3
    assert all(_mode(p) == 0o600 for p in _pem_files(again))


def test_valid_at_follows_the_rotation_times(tmp_path: Path) -> None:
    store = _store(tmp_path)
    store.rotate(T1)
    old, new = store.keys()
    assert not old.valid_at(T0 - timedelta(seconds=1))
    assert old.valid_at(T0)
    assert old.valid_at(T1 - timedelta(microseconds=1))
    assert not old.valid_at(T1)
    assert new.valid_at(T1)
    assert new.valid_at(T1 + timedelta(days=3650))
    assert not new.valid_at(T0)


def test_rotation_before_the_active_key_started_is_refused(tmp_path: Path) -> None:
    store = _store(tmp_path)
    with pytest.raises(KeyProblem, match="not_before"):
        store.rotate(T0 - timedelta(seconds=1))
    assert len(store.keys()) == 1


def test_rotation_by_another_process_is_noticed(tmp_path: Path) -> None:
    one = _store(tmp_path)
    two = KeyStore(tmp_path / "state", NAME)
    two.load_or_create(T0)
    one.rotate(T1)
    with pytest.raises(KeyProblem, match="another process"):
        two.rotate(T1)
    two.load_or_create(T1)
    assert two.active().key == one.active().key


# -- refusals --------------------------------------------------------------------------------


def _pkcs8(key: ec.EllipticCurvePrivateKey | ed448.Ed448PrivateKey) -> bytes:
    return key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption())


@pytest.mark.parametrize(
    ("make_key", "found"),
    [
        (lambda: ec.generate_private_key(ec.SECP256R1()), "ECDSA secp256r1"),
        (ed448.Ed448PrivateKey.generate, "Ed448"),
    ],
    ids=["p256", "ed448"],
)
def test_a_non_ed25519_pem_is_refused(tmp_path: Path, make_key: object, found: str) -> None:
    store = _store(tmp_path)
    [pem] = _pem_files(store)
    pem.write_bytes(_pkcs8(make_key()))  # type: ignore[operator]
    with pytest.raises(KeyProblem, match="expected an Ed25519 key") as caught:
        KeyStore(tmp_path / "state", NAME).load_or_create(T1)
    assert found in str(caught.value)


def test_a_key_that_does_not_match_the_metadata_is_refused(tmp_path: Path) -> None:
    store = _store(tmp_path)
    [pem] = _pem_files(store)
    other = Ed25519PrivateKey.generate()
    pem.write_bytes(other.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption()))
    with pytest.raises(KeyProblem, match="does not match"):
        KeyStore(tmp_path / "state", NAME).load_or_create(T1)


def test_a_non_pkcs8_file_is_refused(tmp_path: Path) -> None:
    store = _store(tmp_path)
    [pem] = _pem_files(store)
    pem.write_bytes(
        b"-----BEGIN OPENSSH PRIVATE KEY-----\nAAAA\n-----END OPENSSH PRIVATE KEY-----\n"
    )
    with pytest.raises(KeyProblem, match="PKCS8"):
        KeyStore(tmp_path / "state", NAME).load_or_create(T1)


def test_a_group_readable_key_file_is_refused(tmp_path: Path) -> None:
    store = _store(tmp_path)
    [pem] = _pem_files(store)
    pem.chmod(0o640)
    with pytest.raises(KeyProblem, match="0600"):
        KeyStore(tmp_path / "state", NAME).load_or_create(T1)


def test_an_open_key_folder_is_refused(tmp_path: Path) -> None:
    store = _store(tmp_path)
    store.path.chmod(0o755)
    with pytest.raises(KeyProblem, match="0700"):
        KeyStore(tmp_path / "state", NAME).load_or_create(T1)


def test_key_files_without_metadata_are_not_silently_replaced(tmp_path: Path) -> None:
    store = _store(tmp_path)
    (store.path / "keys.json").unlink()
    with pytest.raises(KeyProblem, match=r"keys\.json"):
        KeyStore(tmp_path / "state", NAME).load_or_create(T1)
    assert len(_pem_files(store)) == 1


def test_damaged_metadata_is_a_key_problem(tmp_path: Path) -> None:
    store = _store(tmp_path)
    (store.path / "keys.json").write_text("{not json")
    with pytest.raises(KeyProblem, match="JSON"):
        KeyStore(tmp_path / "state", NAME).load_or_create(T1)


# -- values and no leaks ---------------------------------------------------------------------


def test_log_key_facts(tmp_path: Path) -> None:
    key = _store(tmp_path).active().key
    verifier = NoteVerifier.from_vkey(key.verifier_key)
    assert verifier == key.note_verifier()
    assert key.verifier_key.startswith(f"{NAME}+{key.key_id}+")
    assert verifier.key_id.hex() == key.key_id
    with pytest.raises(InvalidSignature):
        key.verify(b"message", b"\x00" * 64)
    with pytest.raises(InvalidSignature):
        key.verify(b"message", b"short")


def test_log_key_validates_itself(tmp_path: Path) -> None:
    key = _store(tmp_path).active().key
    fields = {
        "name": key.name,
        "key_id": key.key_id,
        "public_key": key.public_key,
        "status": "active",
        "not_before": T0,
    }
    bad_changes: list[dict[str, object]] = [
        {"key_id": "00000000"},
        {"public_key": key.public_key[:31]},
        {"status": "revoked"},
        {"not_before": datetime(2025, 1, 1)},
        {"status": "retired"},  # without not_after
        {"status": "active", "not_after": T1},
        {"status": "retired", "not_after": T0 - timedelta(days=1)},
    ]
    # Regression: the upper-case form only differs when the id has a letter (a-f); an
    # all-digit id (about 2% of keys) made this case pass and the test flaky.
    if key.key_id.upper() != key.key_id:
        bad_changes.append({"key_id": key.key_id.upper()})
    for change in bad_changes:
        with pytest.raises(MalformedInput):
            LogKey(**{**fields, **change})  # type: ignore[arg-type]
    assert LogKey(**{**fields, "status": "retired", "not_after": T1}).not_after == T1  # type: ignore[arg-type]


def test_log_signer_refuses_a_mismatched_private_key(tmp_path: Path) -> None:
    key = _store(tmp_path).active().key
    with pytest.raises(KeyProblem, match="does not match"):
        LogSigner(key, Ed25519PrivateKey.generate())


def test_repr_and_str_show_no_key_material(tmp_path: Path) -> None:
    store = _store(tmp_path, PASSPHRASE)
    signer = store.active()
    [pem] = _pem_files(store)
    private = load_pem_private_key(pem.read_bytes(), password=PASSPHRASE)
    assert isinstance(private, Ed25519PrivateKey)
    seed = private.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())
    secrets = [
        seed.hex(),
        seed.hex().upper(),
        base64.b64encode(seed).decode(),
        base64.b64encode(b"\x01" + seed).decode(),
        PASSPHRASE.decode(),
        "PRIVATE KEY",
        repr(seed)[2:-1],
    ]
    shown = [repr(signer), str(signer), repr(store), str(store)]
    shown += [repr(signer.note_signer), str(signer.note_signer), repr(signer.key)]
    for text in shown:
        for secret in secrets:
            assert secret not in text, (text, "leaks key material")
    assert signer.key.key_id in repr(signer)
    assert "encrypted=True" in repr(store)


def test_a_rotation_by_another_process_is_picked_up_before_the_next_signature(
    tmp_path: Path,
) -> None:
    from datetime import UTC, datetime, timedelta

    t0 = datetime(2026, 9, 1, tzinfo=UTC)
    server = KeyStore(tmp_path, "altan.example/log")
    server.load_or_create(t0)
    old = server.active().key
    operator = KeyStore(tmp_path, "altan.example/log")  # `altan keys rotate` elsewhere
    operator.load_or_create(t0)
    new = operator.rotate(t0 + timedelta(days=1)).key
    assert server.active().key.key_id == new.key_id != old.key_id
    assert [k.status for k in server.keys()] == ["retired", "active"]
