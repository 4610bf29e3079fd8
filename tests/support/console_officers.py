"""The console's officer and administrator pages through real HTTP: staff of the regulator,
the auditor and the system administrator, and a centre's own administrator, on top of
`support.console`'s cast.

Shared by tests/services/console/test_console_{officer,admin}.py and their browser test.
"""

from __future__ import annotations

from support.certificates import AUDITOR, CENTRE, REGULATOR
from support.console import PASSWORD
from support.domain import Api

REG_CLERK = "tuya.regulator"  # staff of REGULATOR
AUDIT_CLERK = "nomin.auditor"  # staff of AUDITOR
SYS_ADMIN = "root.admin"  # administrator staff of admin:root
CENTRE_ADMIN = "saran.admin"  # administrator staff of CENTRE


def add_admin_staff(api: Api, actor: str, username: str, *, is_admin: bool) -> None:
    resp = api.client.post(
        "/staff",
        json={
            "actor": actor,
            "username": username,
            "display_name": username,
            "password": PASSWORD,
            "is_admin": is_admin,
        },
        headers=api.headers("admin:root"),
    )
    assert resp.status_code == 201, resp.text


def add_officer_staff(api: Api) -> None:
    """Staff of the regulator and the auditor, the system administrator's administrator
    staff, and the centre's own administrator staff."""
    add_admin_staff(api, REGULATOR, REG_CLERK, is_admin=False)
    add_admin_staff(api, AUDITOR, AUDIT_CLERK, is_admin=False)
    add_admin_staff(api, "admin:root", SYS_ADMIN, is_admin=True)
    add_admin_staff(api, CENTRE, CENTRE_ADMIN, is_admin=True)
