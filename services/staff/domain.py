"""Staff accounts, console sessions and passkeys (off the log, no event types): the domain
as the service runs it (listed in services/domains.py)."""

from __future__ import annotations

from services.pipeline import Domain
from services.pipeline.registration import Rules
from services.staff import models  # noqa: F401 - its tables
from services.staff.routes import router

DOMAIN = Domain("staff", Rules(), router)
