"""Every domain of the service, listed once: the app mounts their routes (in this order),
the event pipeline runs their rules, projectors and followers (`REGISTRY`), and
`altan rebuild`, the migrations and the tests use the same list. A domain is a package
whose `domain.py` exports one `Domain` value (or, where the domain needs reads of a domain
above it, a function that builds it from them: actors and cases, below); adding one means
adding it here.

Every domain package has the same files:

- `domain.py`      its one `Domain` value (or the function building it);
- `routes.py`      thin routes: parse, authorise, call the domain, return;
- `queries.py`     the reads the routes (and the rules) serve;
- `models.py`      its tables (a domain without tables of its own says which it reads);
- `rules.py`       the rules of each of its event types and its `Rules` value, and
- `projectors.py`  their projectors (`PROJECTORS`, put into that `Rules`): only in a domain
                   with event types (reports and epcis only read, so have neither).

Any other module names a concept of its own (certificates/verdict.py, reports/red_flags.py,
epcis/mapping.py, witnesses/cosignatures.py, ...). `services/log` (the transparency log's
endpoints, mounted by the app) is no domain: it has no events and no tables of its own."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from sqlalchemy import Connection
from sqlalchemy.orm import Session

import services.pipeline.models  # noqa: F401 - the pipeline's own table
from ledger.sql.log import Log
from schemas.events import EVENT_BODIES
from services.actors import domain as actors
from services.actors import queries as actor_queries
from services.cases import domain as cases
from services.certificates import status
from services.certificates.domain import DOMAIN as CERTIFICATES
from services.console.domain import DOMAIN as CONSOLE
from services.epcis.domain import DOMAIN as EPCIS
from services.lots import queries as lot_queries
from services.lots.domain import DOMAIN as LOTS
from services.pipeline import Domain, projection
from services.pipeline import service as pipeline
from services.pipeline.registration import Handler, Registry
from services.reports.domain import DOMAIN as REPORTS
from services.settings import Settings
from services.staff.domain import DOMAIN as STAFF
from services.witnesses.domain import DOMAIN as WITNESSES

# Reads that a domain needs of one above it, passed in here rather than imported there (no
# import circle, issue 12): who may read an actor's public record (its trading partners),
# and whether a case's target exists and who answers for it.
ACTORS = actors.domain(trades_with=lot_queries.trades_with)
CASES = cases.domain(
    targets={
        "lot": lot_queries.lot_case_parties,
        "actor": actor_queries.actor_case_parties,
        "site": actor_queries.site_case_parties,
    }
)

DOMAINS: tuple[Domain, ...] = (
    ACTORS,
    LOTS,
    CASES,
    CERTIFICATES,
    EPCIS,
    REPORTS,
    WITNESSES,
    STAFF,
    CONSOLE,
)
REGISTRY = Registry.of(DOMAINS)

HANDLERS: dict[str, Handler] = REGISTRY.handlers  # the rules of every event type
apply = REGISTRY.apply  # project one entry, as the pipeline does

# Every event type has rules and a projector (a test holds it so).
MISSING_HANDLERS = set(EVENT_BODIES) - set(HANDLERS)
MISSING_PROJECTORS = set(EVENT_BODIES) - set(REGISTRY.projectors)


class EventService(pipeline.EventService):
    """The event pipeline over every domain listed here."""

    def __init__(self, log: Log, settings: Settings, clock: Callable[[], datetime]) -> None:
        super().__init__(log, settings, clock, REGISTRY, closer=status.close)


def rebuild(conn: Connection, page: int = 5000) -> int:
    """Empty the projection tables and replay the whole log into them with every domain's
    projectors (see `services.pipeline.projection.rebuild`)."""
    done = projection.rebuild(conn, REGISTRY.apply, page)
    status.rebuild_map(Session(bind=conn, autoflush=False))
    return done
