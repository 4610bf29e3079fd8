"""Projectors of witnesses: `witness.registered` adds a witness key (active),
`witness.removed` marks it removed (never deleted)."""

from __future__ import annotations

from typing import Final

from sqlalchemy.orm import Session

from ledger.cosignature import WitnessKey
from services.pipeline import Applied, Projector
from services.witnesses import queries
from services.witnesses.models import Witness


def _project_witness(s: Session, e: Applied) -> None:
    key = WitnessKey.from_vkey(e.body["key"])
    s.add(
        Witness(
            name=key.name,
            key_id=key.key_id.hex(),
            public_key=key.public_key,
            vkey=key.vkey,
            status="active",
            registered_index=e.index,
            registered_by=e.actor,
            url=e.body.get("url"),
        )
    )


def _project_witness_removed(s: Session, e: Applied) -> None:
    row = queries.active_witness(s, e.body["witness"])
    assert row is not None
    row.status = "removed"
    row.removed_index = e.index
    row.removed_by = e.actor
    row.removed_reason = e.body["reason"]


PROJECTORS: Final[dict[str, Projector]] = {
    "witness.registered": _project_witness,
    "witness.removed": _project_witness_removed,
}
"""The projector of each event type of this domain (rules.py puts them in its `Rules`)."""
