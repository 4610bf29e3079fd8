"""Ore and gold lots: the domain as the
service runs it (listed in services/domains.py)."""

from __future__ import annotations

from services.lots import models  # noqa: F401 - its tables
from services.lots.routes import router
from services.lots.rules import rules
from services.pipeline import Domain

DOMAIN = Domain("lots", rules, router)
