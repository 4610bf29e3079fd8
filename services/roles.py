"""Roles: the one place that names them, ranks them and says what they may do to each other.

The role names are the `Role` enum of `schemas/roles.py` (re-exported here as plain
strings, the form principals and tables hold); everything else here is derived from it, and
`RANK` must cover every name (checked at import), so a new role cannot slip in without a rank.

Rank (higher commands lower; equal ranks are peers):

    administrator  3   runs the registry: registers every role, issues any token
    regulator      2   licenses and supervises the trade; registers trading actors and sites
    auditor        1   reads everything, raises and settles cases
    processing_centre, buyer, laboratory, miner, partnership   0   trade

Powers over each other's status (`actor.status_changed`): only a government role
(administrator, regulator) changes an actor's status, and only of an actor whose role
ranks strictly below its own; nobody changes its own status; the last active
administrator is never suspended or revoked. So an administrator is suspended or revoked
only by the operator of the server (`altan admin revoke`, a logged entry by the system
principal, which also keeps the last-administrator rule), never through the API: a stolen
administrator token cannot depose the other administrators, and a regulator cannot depose
any. See `status_powers()` for the table the README prints.
"""

from __future__ import annotations

from typing import Final

from schemas.roles import ROLE_NAMES, Role

ADMINISTRATOR: Final = Role.ADMINISTRATOR.value
REGULATOR: Final = Role.REGULATOR.value
AUDITOR: Final = Role.AUDITOR.value
PROCESSING_CENTRE: Final = Role.PROCESSING_CENTRE.value
BUYER: Final = Role.BUYER.value
LABORATORY: Final = Role.LABORATORY.value
MINER: Final = Role.MINER.value
PARTNERSHIP: Final = Role.PARTNERSHIP.value

ROLES: Final[tuple[str, ...]] = ROLE_NAMES

RANK: Final[dict[str, int]] = {
    ADMINISTRATOR: 3,
    REGULATOR: 2,
    AUDITOR: 1,
    PROCESSING_CENTRE: 0,
    BUYER: 0,
    LABORATORY: 0,
    MINER: 0,
    PARTNERSHIP: 0,
}
if set(RANK) != set(ROLES):  # pragma: no cover - a programming error, caught at import
    raise RuntimeError(f"roles without a rank or ranks without a role: {set(RANK) ^ set(ROLES)}")

# Who registers actors and sites and changes their status (a sequence, as `handles` takes).
GOVERNMENT: Final[tuple[str, ...]] = (ADMINISTRATOR, REGULATOR)
# Who reads every record (and every report): the officers.
OFFICERS: Final = frozenset({ADMINISTRATOR, REGULATOR, AUDITOR})
# Roles only an administrator registers (and issues tokens for).
PRIVILEGED: Final = OFFICERS
# Who may own a mine site.
SITE_OWNERS: Final = frozenset({MINER, PARTNERSHIP})
# Who sees offer prices besides the two parties (administrators see only the commitment).
PRICE_READERS: Final = frozenset({AUDITOR, REGULATOR})


def outranks(role: str, other: str) -> bool:
    """Whether `role` ranks strictly above `other` (unknown roles rank below everyone)."""
    return RANK.get(role, -1) > RANK.get(other, -1)


def may_change_status(by: str, of: str) -> bool:
    """Whether an actor of role `by` may change the status of an actor of role `of`
    through the API (the last-administrator rule is checked apart, on the state)."""
    return by in GOVERNMENT and outranks(by, of)


def status_powers() -> list[tuple[str, list[str]]]:
    """For each role, the roles whose status it may change (the README's table)."""
    return [(by, [of for of in ROLES if may_change_status(by, of)]) for by in ROLES]
