"""Actors, their keys and tokens, off-log personal data, and mine sites: the domain as the
service runs it (listed in services/domains.py)."""

from __future__ import annotations

from services.actors import models  # noqa: F401 - its tables
from services.actors.routes import TradesWith, router
from services.actors.rules import rules
from services.pipeline import Domain


def domain(trades_with: TradesWith) -> Domain:
    """The actors domain; `trades_with` tells whether two actors trade with each other (so
    one reads the other's public record). The lots domain knows, and sits above this one,
    so services/domains.py passes it in rather than this package importing lots."""
    return Domain("actors", rules, router(trades_with))
