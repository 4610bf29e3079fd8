"""Identity: who asks. A principal (an actor and its role, through one of its tokens), the
bearer token a request carries before it is resolved, and the system's own actor.

This package imports no domain and no part of the event pipeline; the pipeline, the web
kit (limits, problems) and every domain build on it. Its tables (`tables`) are the actors,
their keys and their tokens: the pipeline reads them to authorise every event, and the
actors domain projects the log into them.
"""

from __future__ import annotations

from dataclasses import dataclass, field

SYSTEM_ACTOR = "system:altan"


@dataclass(frozen=True)
class Principal:
    """Who is asking: a token's (or a signed-in staff member's) actor and that actor's role."""

    actor_id: str
    role: str
    token_id: str = ""
    staff_id: str = ""  # the staff member signed in to the console (services.staff), if any


@dataclass(frozen=True)
class BearerToken:
    """A request's credential, resolved to a principal inside the batch's transaction (one
    transaction per batch instead of one more per request; a revoked token fails at once)."""

    token: str = field(repr=False)


Who = Principal | BearerToken
