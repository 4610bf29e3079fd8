"""Actors, their keys and tokens, off-log personal data, and mine sites: the domain as the
service runs it (listed in services/domains.py)."""

from __future__ import annotations

from services.actors import models  # noqa: F401 - its tables
from services.actors.routes import router
from services.actors.service import rules
from services.pipeline import Domain

DOMAIN = Domain("actors", rules, router)
