"""Certificates of gold lots: the domain as the
service runs it (listed in services/domains.py)."""

from __future__ import annotations

from services.certificates import models  # noqa: F401 - its tables
from services.certificates.routes import router
from services.certificates.rules import rules
from services.pipeline import Domain

DOMAIN = Domain("certificates", rules, router)
