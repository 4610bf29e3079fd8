"""Holds, red flags, disputes and corrections: the domain as the
service runs it (listed in services/domains.py)."""

from __future__ import annotations

from services.cases import models  # noqa: F401 - its tables
from services.cases.routes import router
from services.cases.service import rules
from services.pipeline import Domain

DOMAIN = Domain("cases", rules, router)
