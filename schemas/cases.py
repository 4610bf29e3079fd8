"""What the `/cases` reads answer (field order is the JSON's)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class _Out(BaseModel):
    model_config = ConfigDict(extra="forbid")


class CaseTargetOut(_Out):
    kind: str
    id: str


class CaseOut(_Out):
    """A hold, red flag or dispute as it stands now."""

    case: str
    kind: str
    target: CaseTargetOut
    category: str
    description: str
    status: str
    raised_by: str
    opened_index: int
    last_index: int
    last_note: str | None


class CasesOut(_Out):
    cases: list[CaseOut]
