"""Passwords (argon2id through argon2-cffi, its default parameters) and usernames.

A password is stored only as its argon2id hash; `verify` says whether one matches and
whether the hash should be made again (the parameters changed since). A sign-in for a
name that does not exist verifies against `DUMMY_HASH`, so that it takes as long as a
wrong password for one that does.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from services.errors import RuleViolation
from services.staff.models import DISPLAY_NAME_MAX, USERNAME_MAX

PASSWORD_MIN = 10
PASSWORD_MAX = 256
USERNAME_MIN = 3
_USERNAME = re.compile(r"[\w.@-]+")  # letters (any script), digits, _ . @ -
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")

_HASHER = PasswordHasher()  # argon2id, RFC 9106's second recommended parameters
DUMMY_HASH = _HASHER.hash("not a password: the hash unknown names verify against")


def normalise_username(raw: str) -> str:
    """NFKC, lower-case, without surrounding spaces: the form stored and compared."""
    return unicodedata.normalize("NFKC", raw).strip().lower()


def check_username(raw: str) -> str:
    """The normalised username, or RuleViolation naming the field."""
    name = normalise_username(raw)
    if not USERNAME_MIN <= len(name) <= USERNAME_MAX or not _USERNAME.fullmatch(name):
        raise RuleViolation(
            "bad-username",
            f"a username is {USERNAME_MIN} to {USERNAME_MAX} letters, digits, '.', '_', '@' "
            f"or '-', got {len(name)} characters",
            field="username",
        )
    return name


def check_display_name(raw: str) -> str:
    name = unicodedata.normalize("NFC", raw).strip()
    if not 1 <= len(name) <= DISPLAY_NAME_MAX or _CONTROL.search(name):
        raise RuleViolation(
            "bad-display-name",
            f"a display name is 1 to {DISPLAY_NAME_MAX} characters without control characters",
            field="display_name",
        )
    return name


def check_password(password: str, username: str) -> None:
    """The password rule: PASSWORD_MIN to PASSWORD_MAX characters, not the username."""
    if not PASSWORD_MIN <= len(password) <= PASSWORD_MAX:
        raise RuleViolation(
            "weak-password",
            f"a password is {PASSWORD_MIN} to {PASSWORD_MAX} characters, got {len(password)}",
            field="password",
        )
    if normalise_username(password) == normalise_username(username):
        raise RuleViolation(
            "password-is-username", "the password must not be the username", field="password"
        )


def hash_password(password: str) -> str:
    return _HASHER.hash(password)


@dataclass(frozen=True)
class Verified:
    ok: bool
    new_hash: str | None = None  # set when the stored hash should be replaced by this one


def verify(stored_hash: str, password: str) -> Verified:
    """Whether `password` matches `stored_hash`; with a fresh hash when the stored one was
    made with other parameters than today's."""
    try:
        _HASHER.verify(stored_hash, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return Verified(False)
    if _HASHER.check_needs_rehash(stored_hash):
        return Verified(True, _HASHER.hash(password))
    return Verified(True)


def verify_dummy(password: str) -> None:
    """Spend the time a verification takes, for a name that does not exist."""
    verify(DUMMY_HASH, password)
