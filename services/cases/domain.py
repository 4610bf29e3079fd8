"""Holds, red flags, disputes and corrections: the domain as the
service runs it (listed in services/domains.py)."""

from __future__ import annotations

from services.cases import models  # noqa: F401 - its tables
from services.cases.queries import Targets
from services.cases.routes import router
from services.cases.rules import rules
from services.pipeline import Domain


def domain(targets: Targets) -> Domain:
    """The cases domain; `targets` tells, for each kind of case target (a lot, an actor, a
    site), whether one exists and who answers for it. Its domains sit above or beside this
    one, so services/domains.py passes it in rather than this package importing them."""
    return Domain("cases", rules(targets), router(targets))
