"""The event pipeline: the one path by which anything changes, and it knows no domain.

A domain gives it the rules of its event types, their projectors and followers (a
`Rules`, exported in the domain's `Domain` value, listed once in `services/domains.py`).
The pipeline authorises each submission, checks the rules, appends to the log and
projects into current state, all in one transaction (`service.EventService`), and lets
concurrent requests share that transaction (`committer.EventCommitter`). `routes` is
`/events`. This package imports no domain (tests/test_import_cycles.py and the
import-linter contracts in pyproject.toml hold it so).

Modules: `context` (what a rule sees), `registration` (rules, domains, the registry),
`projection` (projectors, replay), `service`, `committer`, `routes`, `models`
(idempotency records), `times` (no event from the future).
"""

from __future__ import annotations

from services.pipeline.context import (
    Appended,
    Context,
    Finish,
    Prepare,
    keep,
    lookup,
)
from services.pipeline.projection import Applied, Projector, insert_row
from services.pipeline.registration import Domain, Rules

__all__ = [
    "Appended",
    "Applied",
    "Context",
    "Domain",
    "Finish",
    "Prepare",
    "Projector",
    "Rules",
    "insert_row",
    "keep",
    "lookup",
]
