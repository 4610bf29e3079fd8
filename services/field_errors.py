"""One mistake in a request, as data: the domain errors carry them (services.errors) and the
glossary words them (services.problem_texts); apart from both so that neither imports the
other's importer."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from dataclasses import field as dataclass_field
from typing import Any


@dataclass(frozen=True)
class FieldError:
    """One mistake in a request.

    field: where, dotted from the request body's root (`body.mass_g`, `items.2.type`) or
    a query parameter or header name; None for the request as a whole.
    rule: a stable slug (`missing`, `string-pattern-mismatch`, `mass-exceeds-remaining`).
    params: the values the plain-language sentence for `rule` needs (a bound, the pattern
    the value had to match); never shown as such.
    detail: the service's own English sentence, when the rule has no glossary sentence of
    its own (domain rules carry the specifics: masses, ids).
    in_body: whether `field` is a path into the JSON body (it then gets a JSON pointer).
    """

    field: str | None
    rule: str
    params: Mapping[str, Any] = dataclass_field(default_factory=dict)
    detail: str | None = None
    in_body: bool = False

    def within(self, prefix: str) -> FieldError:
        """The same error, with its field moved under `prefix` (an item of a batch)."""
        if self.field and (self.field == prefix or self.field.startswith(prefix + ".")):
            where = self.field  # already named from the batch's root
        else:
            where = f"{prefix}.{self.field}" if self.field else prefix
        return FieldError(where, self.rule, self.params, self.detail, in_body=True)
