"""Reports: mass balance, custody, red flags (reads only): the domain as the
service runs it (listed in services/domains.py)."""

from __future__ import annotations

from services.pipeline import Domain
from services.reports.routes import router

DOMAIN = Domain("reports", router=router)
