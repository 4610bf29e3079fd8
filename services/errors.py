"""Domain errors: each names the rule broken; one handler maps them to problem+json.

DomainError                   (status, rule, field, detail)
├── Unauthenticated     401   no or bad bearer token
├── Forbidden           403   the principal may not do this (role or relationship)
├── NotFound            404   an id that does not exist
├── Conflict            409   an id already taken, an idempotency key reused with another body
├── RuleViolation       422   a supply-chain rule (mass, state, hold, yield bounds...)
│   └── InvalidFields   422   a body that fails its schema: every field at fault, listed
└── TooManyAttempts     429   too many tries (sign-ins) for now: Retry-After says when

Each error carries its field errors (`errors`): the one it names, or, for `InvalidFields`,
every mistake of the body, so that a clerk fixes them all at once. The problem handler
(`services.problems`) words them in the reader's language (`services.problem_texts`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from services.field_errors import FieldError
from services.problem_texts import field_error_text


class DomainError(Exception):
    """A user's request that breaks a rule; nothing was recorded."""

    status = 400
    # Extension members of the problem document (RFC 9457 §3.2), beside type/title/...
    members: Mapping[str, Any] = {}
    # Response headers beside the problem (a 429's Retry-After).
    headers: Mapping[str, str] = {}

    def __init__(
        self,
        rule: str,
        detail: str,
        *,
        field: str | None = None,
        errors: Sequence[FieldError] | None = None,
    ) -> None:
        super().__init__(detail)
        self.rule = rule
        self.detail = detail
        self.field = field
        self._errors = tuple(errors) if errors is not None else None

    @property
    def errors(self) -> tuple[FieldError, ...]:
        """Every mistake this error stands for (at least one)."""
        if self._errors:
            return self._errors
        in_body = self.field is not None and self.field.split(".", 1)[0] in BODY_ROOTS
        return (FieldError(self.field, self.rule, detail=self.detail, in_body=in_body),)


# The first segment of a `field` that is a path into a JSON request body (EventIn.body,
# a batch's items, the private data): these fields get a JSON pointer too.
BODY_ROOTS = frozenset({"body", "items", "private", "signature", "type", "idempotency_key"})


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


class TooManyAttempts(DomainError):
    """Too many attempts (failed sign-ins) from one name or address; try again after
    `retry_after` seconds (the Retry-After header)."""

    status = 429

    def __init__(self, rule: str, detail: str, *, retry_after: int, field: str | None = None):
        super().__init__(rule, detail, field=field)
        self.retry_after = max(1, retry_after)
        self.headers = {"Retry-After": str(self.retry_after)}


class InvalidFields(RuleViolation):
    """A body that fails its schema, with every field at fault (`errors`), not just the
    first. `rule` stays `invalid-<first error's kind>` (the problem's `type`), `detail` an
    English summary for logs; the handler words each error for the reader."""

    @classmethod
    def from_pydantic(
        cls, raw_errors: Iterable[Mapping[str, Any]], *, prefix: str = "", in_body: bool = True
    ) -> InvalidFields:
        """From pydantic's `ValidationError.errors()`: each error's location (under
        `prefix`), its kind and its context; the input value and pydantic's own message
        are dropped (the input may be personal data, the message quotes regexes)."""
        found: list[FieldError] = []
        for e in raw_errors:
            loc = [str(p) for p in e.get("loc", ())]
            where = ".".join([prefix, *loc] if prefix else loc) or None
            found.append(
                FieldError(
                    where,
                    str(e.get("type", "invalid")).replace("_", "-"),
                    {k: v for k, v in (e.get("ctx") or {}).items() if k != "error"},
                    None,
                    in_body,
                )
            )
        if not found:
            found.append(FieldError(prefix or None, "invalid", in_body=in_body))
        first = found[0]
        summary = "; ".join(field_error_text(f, "en") for f in found)
        return cls(
            "invalid-" + first.rule,
            summary,
            field=first.field,
            errors=found,
        )
