"""Staff accounts: create, list, disable, and who may.

Who manages an actor's staff: a system administrator (a token, or an administrator staff
member, of an actor of role `administrator`) for any actor; the actor itself (its bearer
token) and its administrator staff (`is_admin`) for its own. Only an active caller does.
Who reads the list: those, the officers, and the actor's own staff.
"""

from __future__ import annotations

import secrets
from datetime import datetime

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from ledger.entry import format_time
from schemas.staff import StaffOut
from services.errors import Conflict, Forbidden, RuleViolation
from services.identity import Principal
from services.identity.auth import hidden, may_read, require_active
from services.identity.tables import Actor
from services.roles import ADMINISTRATOR
from services.staff import passwords
from services.staff.models import Staff, StaffSession


def new_staff_id() -> str:
    return "stf_" + secrets.token_hex(8)


def view(row: Staff) -> StaffOut:
    """What the API shows of a staff member: never the password hash."""
    return StaffOut(
        id=row.id,
        actor=row.actor_id,
        username=row.username,
        display_name=row.display_name,
        is_admin=row.is_admin,
        created_at=row.created_at,
        disabled_at=row.disabled_at,
    )


def may_manage(s: Session, principal: Principal, actor_id: str) -> bool:
    """Whether `principal` manages the staff of `actor_id` (see the module docstring)."""
    if principal.staff_id:
        me = s.get(Staff, principal.staff_id)
        if me is None or not me.is_admin or me.disabled_at is not None:
            return False
    return principal.role == ADMINISTRATOR or principal.actor_id == actor_id


def _target(s: Session, principal: Principal, actor_id: str) -> Actor:
    actor = s.get(Actor, actor_id)
    if actor is None or not may_read(principal, {actor_id}):
        raise hidden("actor", "actor")
    if not may_manage(s, principal, actor_id):
        raise Forbidden("not-allowed", "you may not manage this actor's staff", field="actor")
    return actor


def create_staff(
    s: Session,
    principal: Principal,
    *,
    actor_id: str,
    username: str,
    display_name: str,
    password: str,
    is_admin: bool,
    now: datetime,
) -> StaffOut:
    """A new staff member of `actor_id`, if `principal` may (flushes, never commits)."""
    require_active(s, principal)
    actor = _target(s, principal, actor_id)
    if actor.status == "revoked":
        raise RuleViolation("actor-not-active", f"{actor_id} is revoked", field="actor")
    name = passwords.check_username(username)
    shown = passwords.check_display_name(display_name)
    passwords.check_password(password, name)
    if s.scalars(select(Staff.id).where(Staff.username == name)).first() is not None:
        raise Conflict("username-taken", "this username is taken", field="username")
    row = Staff(
        id=new_staff_id(),
        actor_id=actor_id,
        username=name,
        display_name=shown,
        password_hash=passwords.hash_password(password),
        is_admin=is_admin,
        created_at=format_time(now),
        created_by=principal.staff_id or principal.actor_id,
        disabled_at=None,
    )
    s.add(row)
    s.flush()
    return view(row)


def list_staff(s: Session, principal: Principal, actor_id: str) -> list[StaffOut]:
    if not may_read(principal, {actor_id}):
        raise hidden("actor", "actor")
    rows = s.scalars(select(Staff).where(Staff.actor_id == actor_id).order_by(Staff.username))
    return [view(r) for r in rows]


def disable_staff(s: Session, principal: Principal, staff_id: str, now: datetime) -> StaffOut:
    """Disable a staff member: no more sign-ins, and its sessions end at once."""
    require_active(s, principal)
    row = s.get(Staff, staff_id)
    if row is None or not may_read(principal, {row.actor_id}):
        raise hidden("staff", "staff_id")
    if not may_manage(s, principal, row.actor_id):
        raise Forbidden("not-allowed", "you may not manage this actor's staff", field="staff_id")
    row.disabled_at = row.disabled_at or format_time(now)
    s.execute(delete(StaffSession).where(StaffSession.staff_id == staff_id))
    s.flush()
    return view(row)
