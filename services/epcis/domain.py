"""The GS1 EPCIS export (reads only): the domain as the
service runs it (listed in services/domains.py)."""

from __future__ import annotations

from services.epcis.routes import router
from services.pipeline import Domain

DOMAIN = Domain("epcis", router=router)
