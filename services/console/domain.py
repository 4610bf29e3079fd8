"""The console: the pages for people (landing page, sign-in, the centre's pages): the
domain as the service runs it (listed in services/domains.py). It records through the
event pipeline like any client and has no event types or tables of its own."""

from __future__ import annotations

from services.console.routes import router
from services.pipeline import Domain
from services.pipeline.registration import Rules

DOMAIN = Domain("console", Rules(), router)
