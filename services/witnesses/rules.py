"""Rules of witnesses: registration and removal through the log (`witness.registered`,
`witness.removed`, by the government roles). Their projectors: projectors.py; the
cosignatures witnesses send: cosignatures.py.
"""

from __future__ import annotations

from ledger.cosignature import WitnessKey
from ledger.errors import MalformedInput
from schemas.events import WitnessRegistered, WitnessRemoved
from services.errors import Conflict, NotFound, RuleViolation
from services.pipeline import Context, Rules
from services.roles import GOVERNMENT
from services.witnesses import queries
from services.witnesses.projectors import PROJECTORS

# This domain's handlers (registered below) and projectors (see domain.py).
rules = Rules(projectors=dict(PROJECTORS))


def _witness_key(body: WitnessRegistered) -> WitnessKey:
    try:
        key = WitnessKey.from_vkey(body.key)
    except MalformedInput as exc:
        raise RuleViolation("bad-witness-key", f"key: {exc}", field="body.key") from exc
    if key.name != body.witness:
        raise RuleViolation(
            "witness-name-mismatch",
            f"key: expected a key named {body.witness!r}, found one named {key.name!r}",
            field="body.key",
        )
    return key


@rules.handles("witness.registered", WitnessRegistered, GOVERNMENT)
def _register_witness(ctx: Context, body: WitnessRegistered) -> None:
    key = _witness_key(body)
    if queries.active_witness(ctx.session, body.witness) is not None:
        raise Conflict(
            "witness-exists",
            f"witness {body.witness} is registered: remove its key first to register another",
            field="body.witness",
        )
    if queries.witness(ctx.session, key.name, key.key_id.hex()) is not None:
        raise Conflict(
            "witness-key-removed",
            f"this key of {body.witness} was removed and cannot be registered again",
            field="body.key",
        )
    other = queries.witness_with_public_key(ctx.session, key.public_key)
    if other is not None:
        # cosignature/v1 does not commit to the witness's name (c2sp.org/tlog-cosignature)
        raise Conflict(
            "witness-key-reused",
            f"this public key is already registered for witness {other.name}: "
            "each witness needs a key of its own",
            field="body.key",
        )


@rules.handles("witness.removed", WitnessRemoved, GOVERNMENT)
def _remove_witness(ctx: Context, body: WitnessRemoved) -> None:
    if queries.active_witness(ctx.session, body.witness) is None:
        raise NotFound(
            "unknown-witness",
            f"no registered witness {body.witness!r} (or it was removed already)",
            field="body.witness",
        )
