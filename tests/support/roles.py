"""The cast by role and the specification of which roles may record each event type.

Shared by several test modules (moved from tests/services/test_authorization.py).
"""

from __future__ import annotations

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
