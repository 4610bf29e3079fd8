"""Domain errors: each names the rule broken; one handler maps them to problem+json.

DomainError                   (status, rule, field, detail)
├── Unauthenticated     401   no or bad bearer token
├── Forbidden           403   the principal may not do this (role or relationship)
├── NotFound            404   an id that does not exist
├── Conflict            409   an id already taken, an idempotency key reused with another body
└── RuleViolation       422   a supply-chain rule (mass, state, hold, yield bounds...)
"""

from __future__ import annotations


class DomainError(Exception):
    """A user's request that breaks a rule; nothing was recorded."""

    status = 400

    def __init__(self, rule: str, detail: str, *, field: str | None = None) -> None:
        super().__init__(detail)
        self.rule = rule
        self.detail = detail
        self.field = field


class Unauthenticated(DomainError):
    status = 401


class Forbidden(DomainError):
    status = 403


class NotFound(DomainError):
    status = 404


class Conflict(DomainError):
    status = 409


class RuleViolation(DomainError):
    status = 422
