"""The log's key store: its Ed25519 signing keys kept on disk, loaded at start, rotated.

The keys themselves are the values of `ledger.keys` (`LogKey`, `LogSigner`).

Layout under ``<directory>/keys/`` (the folder is mode 0700, and refused when group or
others have any access to it)::

    keys.json          public facts per key: key id, public key, status, not_before, not_after
    <key id>.pem       the private key, PKCS8 PEM, mode 0600; encrypted with the passphrase
                       (BestAvailableEncryption) when one is given
    .lock              an advisory lock (flock) held while keys are created or rotated

Exactly one key is ``active`` (signs new entries and checkpoints); older keys are
``retired`` with ``not_after`` set, and stay listed so that what they signed stays
verifiable. Only the active private key is loaded into memory.

Times are always passed in (``now``); this module never reads the clock.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import fcntl
import itertools
import json
import os
import stat
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, cast

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
)
from cryptography.hazmat.primitives.serialization import (
    BestAvailableEncryption,
    Encoding,
    KeySerializationEncryption,
    NoEncryption,
    PrivateFormat,
    PublicFormat,
    load_pem_private_key,
)

from ledger.errors import KeyProblem, MalformedInput
from ledger.files import read_private_file, write_private_file
from ledger.keys import KeyStatus, LogKey, LogSigner, check_aware, describe_private_key
from ledger.note import check_key_name, key_id

__all__ = ["KeyStore"]

METADATA_FILE = "keys.json"
METADATA_FORMAT = "altan-ledger/keys/v1"
LOCK_FILE = ".lock"
MAX_KEY_FILE_BYTES = 64 * 1024
MAX_METADATA_BYTES = 1 << 20

_PEM_PKCS8 = b"-----BEGIN PRIVATE KEY-----"
_PEM_PKCS8_ENCRYPTED = b"-----BEGIN ENCRYPTED PRIVATE KEY-----"


def _iso(value: datetime) -> str:
    return value.astimezone(UTC).isoformat()


def _parse_time(value: object, what: str) -> datetime:
    if not isinstance(value, str):
        raise KeyProblem(f"{what}: expected an ISO 8601 time string, found {value!r}")
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError as exc:
        raise KeyProblem(f"{what}: expected an ISO 8601 time, found {value!r}") from exc
    if parsed.tzinfo is None:
        raise KeyProblem(f"{what}: expected a time with a UTC offset, found {value!r}")
    return parsed


class KeyStore:
    """The log's keys in ``<directory>/keys/``; see the module docstring for the layout.

    ``repr()`` shows the folder, the key name and whether a passphrase is set, never the
    passphrase or a key.
    """

    def __init__(self, directory: Path, name: str, passphrase: bytes | None = None) -> None:
        try:
            check_key_name(name)
        except MalformedInput as exc:
            raise KeyProblem(f"log key name cannot be used: {exc}") from exc
        if passphrase is not None:
            if not isinstance(passphrase, bytes):
                raise KeyProblem(
                    f"key passphrase: expected bytes, found {type(passphrase).__name__}"
                )
            if not passphrase:
                raise KeyProblem("key passphrase: expected at least 1 byte, found an empty one")
        self._directory = Path(directory)
        self._keys_dir = self._directory / "keys"
        self._name = name
        self._passphrase = passphrase
        self._keys: list[LogKey] = []
        self._active: LogSigner | None = None
        self._stamp: tuple[int, int] | None = None  # keys.json (inode, mtime) when loaded

    @property
    def name(self) -> str:
        return self._name

    @property
    def path(self) -> Path:
        """The folder that holds the key files (``<directory>/keys``)."""
        return self._keys_dir

    def __repr__(self) -> str:
        return (
            f"KeyStore(path={str(self._keys_dir)!r}, name={self._name!r}, "
            f"encrypted={self._passphrase is not None}, keys={len(self._keys)})"
        )

    __str__ = __repr__

    # -- public operations -------------------------------------------------------------

    def load_or_create(self, now: datetime) -> None:
        """Load the keys, or on first start generate the first active key (valid from now)."""
        check_aware(now, "now")
        self._ensure_folder()
        with self._locked():
            if (self._keys_dir / METADATA_FILE).exists():
                keys = self._read_metadata()
                active = keys[-1]
                signer = LogSigner(active, self._load_private_key(active.key_id))
            else:
                strays = sorted(p.name for p in self._keys_dir.glob("*.pem"))
                if strays:
                    raise KeyProblem(
                        f"{self._keys_dir}: expected {METADATA_FILE} next to the key files, "
                        f"found key files {strays} but no {METADATA_FILE}; restore it from a "
                        "backup (or move the stray files away to start a new log key)"
                    )
                signer = self._generate(now.astimezone(UTC), used_ids=set())
                keys = [signer.key]
                self._write_metadata(keys)
            self._keys = keys
            self._active = signer
            self._stamp = self._metadata_stamp()

    def active(self) -> LogSigner:
        """The one active key.

        A rotation by another process (``altan keys rotate`` beside a running server) is
        picked up here: keys.json is replaced atomically, so a changed inode or mtime
        means the keys must be read again before anything else is signed.
        """
        return self._refreshed()[1]

    def _metadata_stamp(self) -> tuple[int, int] | None:
        try:
            st = os.stat(self._keys_dir / METADATA_FILE)
        except FileNotFoundError:
            return None
        return (st.st_ino, st.st_mtime_ns)

    def keys(self) -> list[LogKey]:
        """All keys, retired ones included, oldest first."""
        return list(self._refreshed()[0])

    def _refreshed(self) -> tuple[list[LogKey], LogSigner]:
        if self._active is None:
            raise KeyProblem("key store: expected load_or_create() to have run, found no keys")
        if self._metadata_stamp() != self._stamp:
            self.load_or_create(self._active.key.not_before)
        return self._keys, self._active

    def rotate(self, now: datetime) -> LogSigner:
        """Make a new active key; the previous one is retired with ``not_after = now``."""
        check_aware(now, "now")
        # No refresh here: a rotation this store has not seen must be refused, not repeated.
        current = self._active
        if current is None:
            raise KeyProblem("key store: expected load_or_create() to have run, found no keys")
        now = now.astimezone(UTC)
        self._ensure_folder()
        with self._locked():
            on_disk = self._read_metadata()
            if on_disk[-1].key_id != current.key.key_id:
                raise KeyProblem(
                    f"{self._keys_dir}: expected active key {current.key.key_id} on disk, "
                    f"found {on_disk[-1].key_id} (changed by another process); "
                    "call load_or_create() again"
                )
            if now < current.key.not_before:
                raise KeyProblem(
                    f"rotation time: expected no earlier than the active key's not_before "
                    f"{_iso(current.key.not_before)}, found {_iso(now)}"
                )
            retired = replace(on_disk[-1], status="retired", not_after=now)
            signer = self._generate(now, used_ids={k.key_id for k in on_disk})
            keys = [*on_disk[:-1], retired, signer.key]
            self._write_metadata(keys)
            self._keys = keys
            self._active = signer
            self._stamp = self._metadata_stamp()
        return signer

    # -- files ---------------------------------------------------------------------------

    def _ensure_folder(self) -> None:
        self._directory.mkdir(parents=True, exist_ok=True)
        try:
            self._keys_dir.mkdir(mode=0o700)
        except FileExistsError:
            pass
        else:
            os.chmod(self._keys_dir, 0o700)  # mkdir's mode is narrowed by the umask
        info = os.stat(self._keys_dir)
        if not stat.S_ISDIR(info.st_mode):
            raise KeyProblem(f"{self._keys_dir}: expected a folder, found another kind of file")
        if info.st_mode & 0o077:
            raise KeyProblem(
                f"{self._keys_dir}: expected mode 0700 (no access for group and others), "
                f"found {stat.S_IMODE(info.st_mode):04o}; run chmod 700 on it"
            )

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        fd = os.open(self._keys_dir / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)  # closing releases the lock

    def _write_file(self, path: Path, data: bytes) -> None:
        """Write ``data`` to ``path`` atomically; the file is mode 0600 from its creation."""
        write_private_file(path, data)

    def _read_limited(self, path: Path, limit: int, what: str) -> bytes:
        return read_private_file(path, limit, what, KeyProblem)

    def _generate(self, now: datetime, used_ids: set[str]) -> LogSigner:
        for _ in range(8):
            private_key = Ed25519PrivateKey.generate()
            public_key = private_key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
            new_id = key_id(self._name, public_key).hex()
            if new_id not in used_ids and not (self._keys_dir / f"{new_id}.pem").exists():
                break
        else:  # pragma: no cover - 8 collisions of a 32-bit id in a row
            raise KeyProblem("cannot generate a log key with an unused key id")
        key = LogKey(
            name=self._name,
            key_id=new_id,
            public_key=public_key,
            status="active",
            not_before=now,
        )
        encryption: KeySerializationEncryption = (
            BestAvailableEncryption(self._passphrase)
            if self._passphrase is not None
            else NoEncryption()
        )
        pem = private_key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, encryption)
        self._write_file(self._keys_dir / f"{new_id}.pem", pem)
        return LogSigner(key, private_key)

    def _load_private_key(self, wanted_id: str) -> Ed25519PrivateKey:
        path = self._keys_dir / f"{wanted_id}.pem"
        data = self._read_limited(path, MAX_KEY_FILE_BYTES, "private key file")
        if _PEM_PKCS8_ENCRYPTED in data:
            encrypted = True
        elif _PEM_PKCS8 in data:
            encrypted = False
        else:
            raise KeyProblem(
                f"private key file {path}: expected a PKCS8 PEM private key "
                "('BEGIN PRIVATE KEY' or 'BEGIN ENCRYPTED PRIVATE KEY'), found neither"
            )
        if encrypted and self._passphrase is None:
            raise KeyProblem(
                f"private key file {path}: the key is encrypted, expected a passphrase, found none"
            )
        if not encrypted and self._passphrase is not None:
            raise KeyProblem(
                f"private key file {path}: a passphrase was given, expected an encrypted key, "
                "found an unencrypted one (re-encrypt it or start without a passphrase)"
            )
        try:
            private_key = load_pem_private_key(data, password=self._passphrase)
        except (ValueError, TypeError, UnsupportedAlgorithm):
            # `from None`: no part of the key file or passphrase goes into a traceback.
            if encrypted:
                raise KeyProblem(
                    f"private key file {path}: cannot decrypt it; expected the right "
                    "passphrase, found a wrong one (or a damaged file)"
                ) from None
            raise KeyProblem(
                f"private key file {path}: expected a readable PKCS8 PEM key, found a "
                "damaged or unsupported one"
            ) from None
        if not isinstance(private_key, Ed25519PrivateKey):
            raise KeyProblem(
                f"private key file {path}: expected an Ed25519 key, "
                f"found {describe_private_key(private_key)}"
            )
        return private_key

    # -- metadata ------------------------------------------------------------------------

    def _write_metadata(self, keys: list[LogKey]) -> None:
        document = {
            "format": METADATA_FORMAT,
            "name": self._name,
            "keys": [
                {
                    "key_id": key.key_id,
                    "algorithm": key.algorithm,
                    "public_key": base64.b64encode(key.public_key).decode("ascii"),
                    "status": key.status,
                    "not_before": _iso(key.not_before),
                    "not_after": None if key.not_after is None else _iso(key.not_after),
                    "file": f"{key.key_id}.pem",
                }
                for key in keys
            ],
        }
        text = json.dumps(document, indent=2, sort_keys=True) + "\n"
        self._write_file(self._keys_dir / METADATA_FILE, text.encode("utf-8"))

    def _read_metadata(self) -> list[LogKey]:
        path = self._keys_dir / METADATA_FILE
        raw = self._read_limited(path, MAX_METADATA_BYTES, "key metadata")
        try:
            document = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise KeyProblem(f"key metadata {path}: expected JSON, found damaged text") from exc
        if not isinstance(document, dict) or document.get("format") != METADATA_FORMAT:
            raise KeyProblem(
                f"key metadata {path}: expected format {METADATA_FORMAT!r}, "
                f"found {document.get('format') if isinstance(document, dict) else document!r}"
            )
        if document.get("name") != self._name:
            raise KeyProblem(
                f"key metadata {path}: expected keys named {self._name!r}, "
                f"found {document.get('name')!r} (the log key name cannot change)"
            )
        entries = document.get("keys")
        if not isinstance(entries, list) or not entries:
            raise KeyProblem(f"key metadata {path}: expected a non-empty 'keys' list")
        keys = [self._parse_entry(entry, path) for entry in entries]
        active = [k.key_id for k in keys if k.status == "active"]
        if len(active) != 1 or keys[-1].status != "active":
            raise KeyProblem(
                f"key metadata {path}: expected exactly one active key, listed last, "
                f"found active keys {active}"
            )
        for older, newer in itertools.pairwise(keys):
            if newer.not_before < older.not_before:
                raise KeyProblem(
                    f"key metadata {path}: expected keys oldest first, found {newer.key_id} "
                    f"(not_before {_iso(newer.not_before)}) after {older.key_id} "
                    f"(not_before {_iso(older.not_before)})"
                )
        if len({k.key_id for k in keys}) != len(keys):
            raise KeyProblem(f"key metadata {path}: expected distinct key ids, found repeats")
        return keys

    def _parse_entry(self, entry: object, path: Path) -> LogKey:
        if not isinstance(entry, dict):
            raise KeyProblem(f"key metadata {path}: expected an object per key, found {entry!r}")
        item = cast(dict[str, Any], entry)
        what = f"key metadata {path} key {item.get('key_id')!r}"
        if item.get("algorithm") != LogKey.algorithm:
            raise KeyProblem(
                f"{what}: expected algorithm {LogKey.algorithm!r}, found {item.get('algorithm')!r}"
            )
        public_b64 = item.get("public_key")
        try:
            if not isinstance(public_b64, str):
                raise ValueError(public_b64)
            public_key = base64.b64decode(public_b64.encode("ascii"), validate=True)
        except (ValueError, UnicodeEncodeError, binascii.Error) as exc:
            raise KeyProblem(f"{what}: expected a base64 public key, found {public_b64!r}") from exc
        not_after_raw = item.get("not_after")
        try:
            return LogKey(
                name=self._name,
                key_id=str(item.get("key_id")),
                public_key=public_key,
                status=cast(KeyStatus, item.get("status")),
                not_before=_parse_time(item.get("not_before"), f"{what} not_before"),
                not_after=None
                if not_after_raw is None
                else _parse_time(not_after_raw, f"{what} not_after"),
            )
        except MalformedInput as exc:
            raise KeyProblem(f"{what}: {exc}") from exc
