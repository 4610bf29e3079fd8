"""The staff tables: accounts, console sessions, sign-in attempts, passkeys and the
passkey challenges in flight. Off the log: nothing here is ever appended to it, and the
display name (personal data) stays in `staff` alone."""

from __future__ import annotations

from sqlalchemy import BigInteger, Boolean, ForeignKey, Integer, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from services.db import Base

STAFF_ID_LENGTH = 20  # "stf_" + 16 hex
USERNAME_MAX = 64
DISPLAY_NAME_MAX = 200


class Staff(Base):
    """A person who signs in to the console for an actor."""

    __tablename__ = "staff"

    id: Mapped[str] = mapped_column(String(STAFF_ID_LENGTH), primary_key=True)
    actor_id: Mapped[str] = mapped_column(String(80), index=True)
    username: Mapped[str] = mapped_column(String(USERNAME_MAX), unique=True)
    display_name: Mapped[str] = mapped_column(String(DISPLAY_NAME_MAX))
    password_hash: Mapped[str] = mapped_column(String(255))
    is_admin: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[str] = mapped_column(String(32))
    created_by: Mapped[str] = mapped_column(String(80))  # an actor id or a staff id
    disabled_at: Mapped[str | None] = mapped_column(String(32))


class StaffSession(Base):
    """A signed-in console session; only SHA-256 of its cookie value is kept."""

    __tablename__ = "staff_sessions"

    cookie_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    staff_id: Mapped[str] = mapped_column(ForeignKey("staff.id"), index=True)
    csrf_token: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[str] = mapped_column(String(32))
    last_seen_at: Mapped[str] = mapped_column(String(32))


class SignInAttempt(Base):
    """One sign-in attempt, kept a day for the rate limit (and counted in the metrics)."""

    __tablename__ = "staff_sign_in_attempts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    username: Mapped[str] = mapped_column(String(USERNAME_MAX), index=True)
    address: Mapped[str] = mapped_column(String(64), index=True)
    at: Mapped[str] = mapped_column(String(32), index=True)
    ok: Mapped[bool] = mapped_column(Boolean)


class Passkey(Base):
    """A WebAuthn credential of a staff member: its id (base64url), public key (COSE)
    and signature counter."""

    __tablename__ = "staff_passkeys"

    credential_id: Mapped[str] = mapped_column(String(1400), primary_key=True)
    staff_id: Mapped[str] = mapped_column(ForeignKey("staff.id"), index=True)
    public_key: Mapped[bytes] = mapped_column(LargeBinary(4096))
    sign_count: Mapped[int] = mapped_column(BigInteger, default=0)
    created_at: Mapped[str] = mapped_column(String(32))
    last_used_at: Mapped[str | None] = mapped_column(String(32))


class PasskeyChallenge(Base):
    """A WebAuthn challenge handed out and not yet answered (used once, for 5 minutes)."""

    __tablename__ = "staff_passkey_challenges"

    challenge: Mapped[str] = mapped_column(String(100), primary_key=True)  # base64url
    purpose: Mapped[str] = mapped_column(String(16))  # "register" or "sign-in"
    staff_id: Mapped[str | None] = mapped_column(String(STAFF_ID_LENGTH))
    rp_id: Mapped[str] = mapped_column(String(255))
    origin: Mapped[str] = mapped_column(String(300))
    created_at: Mapped[str] = mapped_column(String(32))
