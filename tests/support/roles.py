"""The cast by role and the specification of which roles may record each event type.

Shared by several test modules (moved from tests/services/test_authorization.py).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

from starlette.exceptions import StarletteDeprecationWarning

from services.staff.sessions import SESSION_COOKIE
from support.domain import Api

with warnings.catch_warnings():
    warnings.simplefilter("ignore", StarletteDeprecationWarning)
    from fastapi.testclient import TestClient

ROLES = {
    "administrator": "admin:root",
    "regulator": "regulator:tov",
    "auditor": "auditor:federation",
    "processing_centre": "centre:bornuur",
    "buyer": "buyer:mongolbank",
    "laboratory": "lab:darkhan",
    "miner": "miner:bat",
    "partnership": "partnership:tuul",
}


GOV = {"administrator", "regulator"}


OFFICERS = {"administrator", "regulator", "auditor"}


EVERYONE = set(ROLES)


# The specification: which roles may record each event type at all (relationships, such
# as "only the custodian", are checked after this and tested in test_lots/test_cases).
MAY_RECORD = {
    "actor.registered": GOV,
    "actor.status_changed": GOV,
    "actor.key_added": EVERYONE,
    "actor.key_revoked": EVERYONE,
    "site.registered": GOV,
    "site.status_changed": GOV,
    "ore.delivered": {"processing_centre"},
    "processing.recorded": {"processing_centre"},
    "assay.recorded": {"laboratory"},
    "lot.split": {"processing_centre", "buyer"},
    "lots.merged": {"processing_centre", "buyer"},
    "transfer.offered": {"processing_centre", "buyer"},
    "transfer.accepted": {"processing_centre", "buyer"},
    "transfer.rejected": {"processing_centre", "buyer"},
    "transfer.cancelled": {"processing_centre", "buyer"},
    "lot.exported": {"buyer"},
    "lot.refined": {"buyer"},
    "case.opened": OFFICERS,
    "case.responded": EVERYONE,
    "case.resolved": OFFICERS,
    "case.escalated": OFFICERS,
    "correction.recorded": EVERYONE,
    "certificate.requested": {"processing_centre", "buyer", "regulator"},
    "certificate.issued": set(),  # the system's own answer; nobody may submit it
    "certificate.revoked": {"regulator"},
    "witness.registered": GOV,
    "witness.removed": GOV,
}


# -- the console's principals: a signed-in staff member (tests/services/test_security_matrix.py)


@dataclass
class StaffSession:
    """A browser of its own, and the session a staff member signed in with (none for
    nobody): the cookie to send and the CSRF token its forms carry."""

    client: TestClient
    cookie: str = ""
    csrf: str = ""
    staff_id: str = ""


def sign_in_staff(
    api: Api, actor: str | None, username: str, password: str, *, is_admin: bool = False
) -> StaffSession:
    """A staff member of `actor` (created with the administrator's token) signed in through
    POST /app/session in a browser of its own; for `actor` None, a browser without one."""
    browser = TestClient(api.client.app, base_url="http://testserver")
    if actor is None:
        return StaffSession(browser)
    made = api.client.post(
        "/staff",
        json={
            "actor": actor,
            "username": username,
            "display_name": username,
            "password": password,
            "is_admin": is_admin,
        },
        headers=api.headers("admin:root"),
    )
    assert made.status_code == 201, made.text
    resp = browser.post("/app/session", json={"username": username, "password": password})
    assert resp.status_code == 200, resp.text
    cookie = browser.cookies.get(SESSION_COOKIE)
    assert cookie, resp.headers
    browser.cookies.clear()
    return StaffSession(browser, cookie, str(resp.json()["csrf_token"]), made.json()["id"])
