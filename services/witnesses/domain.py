"""Witnesses of the log's checkpoints: the domain as the
service runs it (listed in services/domains.py)."""

from __future__ import annotations

from services.pipeline import Domain
from services.witnesses import models  # noqa: F401 - its tables
from services.witnesses.routes import router
from services.witnesses.rules import rules

DOMAIN = Domain("witnesses", rules, router)
