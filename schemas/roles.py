"""Roles: the one definition of their names (services/roles.py ranks them and says what each
may do).

`Role` is the enum a reader names them by (`Role.PROCESSING_CENTRE`). `RoleName` is how an
event body carries one (`actor.registered`'s `role`): bodies are strict and logged as the
client sent them, so they take the plain string, not an enum member. The two are checked
against each other at import, so neither can gain a role the other lacks.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Final, Literal, get_args


class Role(StrEnum):
    ADMINISTRATOR = "administrator"
    REGULATOR = "regulator"
    AUDITOR = "auditor"
    PROCESSING_CENTRE = "processing_centre"
    BUYER = "buyer"
    LABORATORY = "laboratory"
    MINER = "miner"
    PARTNERSHIP = "partnership"


RoleName = Literal[
    "administrator",
    "regulator",
    "auditor",
    "processing_centre",
    "buyer",
    "laboratory",
    "miner",
    "partnership",
]

ROLE_NAMES: Final[tuple[str, ...]] = tuple(role.value for role in Role)
"""Every role's name, in the enum's order (highest rank first)."""

if get_args(RoleName) != ROLE_NAMES:  # pragma: no cover - a programming error, caught at import
    raise RuntimeError(f"RoleName {get_args(RoleName)} differs from Role {ROLE_NAMES}")
