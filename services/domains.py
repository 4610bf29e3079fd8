"""Every domain of the service, listed once: the app mounts their routes (in this order),
the event pipeline runs their rules, projectors and followers (`REGISTRY`), and
`altan rebuild`, the migrations and the tests use the same list. A domain is a package
whose `domain.py` exports one `Domain` value; adding one means adding it here."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from sqlalchemy import Connection

import services.pipeline.models  # noqa: F401 - the pipeline's own table
from ledger.sql.log import Log
from schemas.events import EVENT_BODIES
from services.actors.domain import DOMAIN as ACTORS
from services.cases.domain import DOMAIN as CASES
from services.certificates.domain import DOMAIN as CERTIFICATES
from services.epcis.domain import DOMAIN as EPCIS
from services.lots.domain import DOMAIN as LOTS
from services.pipeline import Domain, projection
from services.pipeline import service as pipeline
from services.pipeline.registration import Handler, Registry
from services.reports.domain import DOMAIN as REPORTS
from services.settings import Settings
from services.witnesses.domain import DOMAIN as WITNESSES

DOMAINS: tuple[Domain, ...] = (ACTORS, LOTS, CASES, CERTIFICATES, EPCIS, REPORTS, WITNESSES)
REGISTRY = Registry.of(DOMAINS)

HANDLERS: dict[str, Handler] = REGISTRY.handlers  # the rules of every event type
apply = REGISTRY.apply  # project one entry, as the pipeline does

# Every event type has rules and a projector (a test holds it so).
MISSING_HANDLERS = set(EVENT_BODIES) - set(HANDLERS)
MISSING_PROJECTORS = set(EVENT_BODIES) - set(REGISTRY.projectors)


class EventService(pipeline.EventService):
    """The event pipeline over every domain listed here."""

    def __init__(self, log: Log, settings: Settings, clock: Callable[[], datetime]) -> None:
        super().__init__(log, settings, clock, REGISTRY)


def rebuild(conn: Connection, page: int = 5000) -> int:
    """Empty the projection tables and replay the whole log into them with every domain's
    projectors (see `services.pipeline.projection.rebuild`)."""
    return projection.rebuild(conn, REGISTRY.apply, page)
