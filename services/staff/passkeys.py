"""Passkeys (WebAuthn, through py_webauthn): a signed-in staff member adds one, and
signs in with it later, by a discoverable credential or after typing the username.

The relying party is the request's host (`rp_id`), the expected origin the request's
scheme and host; both are kept with the challenge and must be the same when the answer
comes. A challenge is 32 random bytes, answered once within `CHALLENGE_TTL`; the answer
names it in its clientDataJSON, which is how it is found again. Stored per credential:
its id (base64url), its COSE public key and its signature counter (a counter that does
not grow, when the authenticator keeps one, is refused as a cloned authenticator).
A passkey sign-in is counted and rate-limited as a password sign-in is.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from fastapi import Request
from sqlalchemy import Engine, delete, select
from sqlalchemy.orm import Session
from webauthn import (
    generate_authentication_options,
    generate_registration_options,
    options_to_json,
    verify_authentication_response,
    verify_registration_response,
)
from webauthn.helpers import base64url_to_bytes, bytes_to_base64url
from webauthn.helpers.exceptions import WebAuthnException
from webauthn.helpers.structs import (
    AuthenticatorSelectionCriteria,
    PublicKeyCredentialDescriptor,
    ResidentKeyRequirement,
    UserVerificationRequirement,
)

from ledger.entry import format_time
from ledger.sql import storage
from services.errors import RuleViolation
from services.identity import Principal
from services.staff import passwords, sessions
from services.staff.models import Passkey, PasskeyChallenge, Staff

RP_NAME = "Altan Ledger"
CHALLENGE_TTL = timedelta(minutes=5)
MAX_PASSKEYS = 10
REGISTER, SIGN_IN = "register", "sign-in"


@dataclass(frozen=True)
class RelyingParty:
    rp_id: str
    origin: str

    @classmethod
    def of(cls, request: Request) -> RelyingParty:
        """The request's host and origin (its scheme as the trusted proxy says)."""
        url = request.url
        return cls(url.hostname or "localhost", f"{url.scheme}://{url.netloc}")


def _refused(detail: str) -> RuleViolation:
    return RuleViolation("passkey-refused", detail, field="credential")


def _store_challenge(
    s: Session,
    challenge: bytes,
    purpose: str,
    staff_id: str | None,
    rp: RelyingParty,
    now: datetime,
) -> None:
    s.execute(
        delete(PasskeyChallenge).where(
            PasskeyChallenge.created_at < format_time(now - CHALLENGE_TTL)
        )
    )
    s.add(
        PasskeyChallenge(
            challenge=bytes_to_base64url(challenge),
            purpose=purpose,
            staff_id=staff_id,
            rp_id=rp.rp_id,
            origin=rp.origin,
            created_at=format_time(now),
        )
    )


def _take_challenge(
    s: Session, credential: dict[str, Any], purpose: str, rp: RelyingParty, now: datetime
) -> PasskeyChallenge:
    """The challenge the answer names, used up (deleted) whatever happens next."""
    try:
        client_data = json.loads(base64url_to_bytes(credential["response"]["clientDataJSON"]))
        named = str(client_data["challenge"])
    except (KeyError, TypeError, ValueError) as exc:
        raise _refused("the credential's clientDataJSON is not readable") from exc
    row = s.get(PasskeyChallenge, named[:100])
    if row is None:
        raise _refused("unknown or used challenge; ask for new options")
    s.delete(row)
    s.flush()
    fresh = row.created_at >= format_time(now - CHALLENGE_TTL)
    if row.purpose != purpose or not fresh or (row.rp_id, row.origin) != (rp.rp_id, rp.origin):
        raise _refused("the challenge is expired, or for another purpose or site")
    return row


# -- adding a passkey (signed in) ------------------------------------------------------------


def registration_options(
    engine: Engine, principal: Principal, rp: RelyingParty, now: datetime
) -> str:
    """The PublicKeyCredentialCreationOptions (JSON) for the signed-in staff member."""
    with storage.write_transaction(engine) as conn:
        s = Session(bind=conn)
        staff = s.get(Staff, principal.staff_id)
        if staff is None:
            raise _refused("no staff member is signed in")
        existing = s.scalars(select(Passkey.credential_id).where(Passkey.staff_id == staff.id))
        options = generate_registration_options(
            rp_id=rp.rp_id,
            rp_name=RP_NAME,
            user_name=staff.username,
            user_id=staff.id.encode(),
            user_display_name=staff.username,  # not the display name: it stays with us
            authenticator_selection=AuthenticatorSelectionCriteria(
                resident_key=ResidentKeyRequirement.PREFERRED,
                user_verification=UserVerificationRequirement.PREFERRED,
            ),
            exclude_credentials=[
                PublicKeyCredentialDescriptor(id=base64url_to_bytes(c)) for c in existing
            ],
        )
        _store_challenge(s, options.challenge, REGISTER, staff.id, rp, now)
        s.flush()
    return options_to_json(options)


def register(
    engine: Engine,
    principal: Principal,
    credential: dict[str, Any],
    rp: RelyingParty,
    now: datetime,
) -> str:
    """Verify an authenticator's registration answer and keep the passkey; returns its id."""
    with storage.write_transaction(engine) as conn:
        s = Session(bind=conn)
        row = _take_challenge(s, credential, REGISTER, rp, now)
        if row.staff_id != principal.staff_id:
            raise _refused("the challenge was given to another staff member")
        try:
            verified = verify_registration_response(
                credential=credential,
                expected_challenge=base64url_to_bytes(row.challenge),
                expected_rp_id=rp.rp_id,
                expected_origin=rp.origin,
            )
        except (WebAuthnException, KeyError, TypeError, ValueError) as exc:
            raise _refused(f"the registration does not verify ({type(exc).__name__})") from exc
        credential_id = bytes_to_base64url(verified.credential_id)
        if s.get(Passkey, credential_id) is not None:
            raise _refused("this passkey is registered already")
        count = len(
            s.scalars(select(Passkey.credential_id).where(Passkey.staff_id == row.staff_id)).all()
        )
        if count >= MAX_PASSKEYS:
            raise _refused(f"at most {MAX_PASSKEYS} passkeys per staff member")
        s.add(
            Passkey(
                credential_id=credential_id,
                staff_id=principal.staff_id,
                public_key=verified.credential_public_key,
                sign_count=verified.sign_count,
                created_at=format_time(now),
                last_used_at=None,
            )
        )
        s.flush()
    return credential_id


# -- signing in with a passkey ---------------------------------------------------------------


def authentication_options(
    engine: Engine, username: str | None, rp: RelyingParty, now: datetime
) -> str:
    """PublicKeyCredentialRequestOptions (JSON): for a discoverable credential when no
    username is given, else listing that name's passkeys (none for an unknown name, so
    the answer does not tell whether it exists: the browser then offers its own)."""
    with storage.write_transaction(engine) as conn:
        s = Session(bind=conn)
        allow: list[PublicKeyCredentialDescriptor] = []
        if username:
            name = passwords.normalise_username(username)
            ids = s.scalars(
                select(Passkey.credential_id)
                .join(Staff, Staff.id == Passkey.staff_id)
                .where(Staff.username == name)
            )
            allow = [PublicKeyCredentialDescriptor(id=base64url_to_bytes(c)) for c in ids]
        options = generate_authentication_options(
            rp_id=rp.rp_id,
            allow_credentials=allow or None,
            user_verification=UserVerificationRequirement.PREFERRED,
        )
        _store_challenge(s, options.challenge, SIGN_IN, None, rp, now)
        s.flush()
    return options_to_json(options)


def sign_in(
    engine: Engine, credential: dict[str, Any], rp: RelyingParty, *, ip: str, now: datetime
) -> sessions.SignedIn:
    """Verify an authenticator's assertion and open a session (as `sessions.sign_in`)."""
    raw_id = str(credential.get("id", ""))[:1400] if isinstance(credential, dict) else ""
    with storage.write_transaction(engine) as conn:
        s = Session(bind=conn)
        key = s.get(Passkey, raw_id)
        staff = None if key is None else s.get(Staff, key.staff_id)
        label = staff.username if staff is not None else "passkey:" + raw_id[:40]
        wait = sessions.retry_after_seconds(s, label, ip, now)
    if wait is not None:
        raise sessions.limited(wait, "passkey")
    signed: sessions.SignedIn | None = None
    refusal: RuleViolation | None = None
    with storage.write_transaction(engine) as conn:
        s = Session(bind=conn)
        try:
            row = _take_challenge(s, credential, SIGN_IN, rp, now)
        except RuleViolation as exc:
            refusal = exc  # a stale challenge: not the person's fault, not a failure
            row = None
        key = s.get(Passkey, raw_id)
        staff = None if key is None else s.get(Staff, key.staff_id)
        ok = False
        if row is not None and key is not None and staff is not None and sessions.usable(s, staff):
            try:
                verified = verify_authentication_response(
                    credential=credential,
                    expected_challenge=base64url_to_bytes(row.challenge),
                    expected_rp_id=rp.rp_id,
                    expected_origin=rp.origin,
                    credential_public_key=key.public_key,
                    credential_current_sign_count=key.sign_count,
                )
                ok = True
            except (WebAuthnException, KeyError, TypeError, ValueError):
                ok = False
            if ok:
                key.sign_count = verified.new_sign_count
                key.last_used_at = format_time(now)
                value, csrf = sessions.start_session(s, staff, now)
                signed = sessions.SignedIn(
                    staff.id, staff.actor_id, staff.username, staff.is_admin, value, csrf
                )
        if refusal is None:
            sessions.record_attempt(s, label, ip, now, ok)
        s.flush()
    if refusal is not None:
        raise refusal
    if signed is None:
        raise sessions.failed("passkey")
    sessions.SIGN_INS.labels("passkey", "ok").inc()
    return signed
