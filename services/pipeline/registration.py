"""What the pipeline runs for each event type, and where it comes from.

Each domain's rules module collects its registrations in one `Rules` value (the decorators
`rules.handles`, `rules.projects`, `rules.follows` only fill that value: nothing global);
the domain exports it in its `Domain`, and `services/domains.py` lists every domain once.
`Registry.of(domains)` merges them, refusing two handlers for one type; one type may have a
projector in several domains (a case about a lot: the cases domain projects the case, the
lots domain the lot's history), run in the order of the domains. The event service, the
replay (`projection.rebuild`) and the tests run that registry.
"""

from __future__ import annotations

import builtins
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from fastapi import APIRouter
from sqlalchemy.orm import Session

from schemas.events import Body
from services.pipeline.context import Decide, Prepare, StorePrivate
from services.pipeline.projection import Applied, Projector


@dataclass(frozen=True)
class Handler:
    """The rules of one event type."""

    type: str
    body: builtins.type[Body]
    roles: frozenset[str]
    decide: Decide
    store_private: StorePrivate | None = None
    allowed_when_suspended: bool = False


@dataclass
class Rules:
    """One domain's event types: their rules (handlers), projectors and followers."""

    handlers: dict[str, Handler] = field(default_factory=dict)
    projectors: dict[str, Projector] = field(default_factory=dict)
    followers: dict[str, list[Prepare]] = field(default_factory=dict)

    def handles(
        self,
        type_: str,
        body: type[Body],
        roles: Iterable[str],
        *,
        store_private: StorePrivate | None = None,
        allowed_when_suspended: bool = False,
    ) -> Callable[[Decide], Decide]:
        """Register the rules of one event type."""

        def register(fn: Decide) -> Decide:
            if type_ in self.handlers:
                raise RuntimeError(f"two handlers for {type_}")
            self.handlers[type_] = Handler(
                type_, body, frozenset(roles), fn, store_private, allowed_when_suspended
            )
            return fn

        return register

    def projects(self, event_type: str) -> Callable[[Projector], Projector]:
        """Register the projector of one event type."""

        def register(fn: Projector) -> Projector:
            if event_type in self.projectors:
                raise RuntimeError(f"two projectors for {event_type}")
            self.projectors[event_type] = fn
            return fn

        return register

    def follows(self, *types: str) -> Callable[[Prepare], Prepare]:
        """Register a follower of the given event types."""

        def register(fn: Prepare) -> Prepare:
            for type_ in types:
                self.followers.setdefault(type_, []).append(fn)
            return fn

        return register


@dataclass(frozen=True)
class Domain:
    """What a domain package gives the service: its event types' rules, projectors and
    followers (`rules`, empty for a domain that only reads) and its HTTP routes."""

    name: str
    rules: Rules = field(default_factory=Rules)
    router: APIRouter | None = None


@dataclass(frozen=True)
class Registry:
    """Every handler, projector and follower of a list of domains, merged."""

    handlers: dict[str, Handler]
    projectors: dict[str, list[Projector]]  # of each type, in the order of the domains
    followers: dict[str, list[Prepare]]

    @classmethod
    def of(cls, domains: Iterable[Domain]) -> Registry:
        """Merge the domains' rules; two handlers for a type is an error, projectors of one
        type from several domains run in the order of the domains."""
        handlers: dict[str, Handler] = {}
        projectors: dict[str, list[Projector]] = {}
        followers: dict[str, list[Prepare]] = {}
        for domain in domains:
            for type_, handler in domain.rules.handlers.items():
                if type_ in handlers:
                    raise RuntimeError(f"two handlers for {type_}")
                handlers[type_] = handler
            for type_, projector in domain.rules.projectors.items():
                projectors.setdefault(type_, []).append(projector)
            for type_, prepares in domain.rules.followers.items():
                followers.setdefault(type_, []).extend(prepares)
        return cls(handlers, projectors, followers)

    def apply(self, session: Session, entry: Applied) -> None:
        """Project one entry with every projector of its type, in the order of the domains;
        types without a projector (system notes) change nothing."""
        for fn in self.projectors.get(entry.type, ()):
            fn(session, entry)
