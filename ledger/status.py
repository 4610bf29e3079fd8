"""Status proofs: a lot's current state as of a checkpoint, proven from the log alone.

The service appends a ``state.root`` entry as the last entry of every append
(:class:`ledger.statemap.StateRoot`: the root of the map of every lot's state after the
entries before it), so the last entry of every checkpoint it publishes commits to the
state as of that checkpoint. A status proof shows one lot's value under that root.

As JSON (``GET /lots/{lot}/status-proof``; ``GET /api/c/{token}`` member ``status_proof``)::

    {
      "lot": "AU-2026-0001",                       at most 64 characters
      "state": {LotState.to_json()} | null,        null: the map holds no such lot
      "map_proof": {MapProof.to_json()},           of lot_key(lot) against the root
      "root": {
        "index": r,                                the state.root entry's index, n - 1
        "entry": "<base64 of the entry bytes>",    at most 64 KiB
        "inclusion": ["<base64 hash>", ...]        RFC 9162, leaf r in tree_size n; <= 64
      },
      "tree_size": n,
      "checkpoint": "<the signed note of size n>"  optional (a proof bundle carries its own)
    }

Verification (:func:`verify_status`, :func:`open_status`) checklist; each failure raises
:class:`StatusProofInvalid` with the reason named on its right::

    0. the JSON parses strictly: exactly these fields, canonical base64,
       sizes bounded (StatusProof.from_json)                               malformed
    1. the checkpoint is signed by a pinned key, its origin the pinned
       keys' name (open_status, with ledger.checkpoint)                   the checkpoint's errors
    2. tree_size == the checkpoint's size; root.index == tree_size - 1    not_latest_root
    3. leaf = hash_leaf(entry) is leaf root.index of the checkpoint's
       tree (RFC 9162 inclusion against its root)                         root_not_in_log
    4. the entry parses, is entry root.index and a state.root entry whose
       size is its own index (StateRoot.from_entry)                        not_a_state_root
    5. the proof is about the lot asked; the state (when not null) parses
       strictly as a LotState and the map proof verifies lot_key(lot) ->
       state.hash() (or absence) against the state.root's root            map_proof

What it proves: the state the log's own projection gives the lot after entries
0 .. tree_size - 2, as committed by the operator in a signed checkpoint (an audit recomputes
every committed root from the entries; witnesses that cosign the checkpoint make it the one
view everybody sees). The map is served at its latest version only, so a proof is always
against the newest checkpoint; a verifier that trusts an older, witnessed checkpoint W
proves that the newest one extends it (:func:`verify_extends`).

:func:`judge` turns a proven state into the verdict on one certificate of the lot, in the
order of ``services/certificates/verdict.py`` steps 6 and 7::

    state null                          not_genuine  not_in_log   (no such lot)
    certificate in state.revoked        not_genuine  revoked
    state.status != "active"            not_current  consumed
    state.custodian != its custodian    not_current  transferred
    state.certificate != certificate    not_current  superseded
    state.holds not empty               not_current  held
    otherwise                           genuine
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from ledger.checkpoint import Checkpoint, open_checkpoint, pinned_origin
from ledger.encoding import b64decode, b64encode
from ledger.entry import MAX_ENTRY_BYTES, Entry
from ledger.errors import (
    ConsistencyError,
    LedgerError,
    MalformedInput,
    StatusProofInvalid,
)
from ledger.hashing import HASH_SIZE, hash_leaf
from ledger.merkle import verify_consistency, verify_inclusion
from ledger.note import NoteVerifier
from ledger.statemap import LotState, MapProof, StateRoot, lot_key, verify

__all__ = [
    "MAX_CHECKPOINT_CHARS",
    "MAX_INCLUSION_HASHES",
    "MAX_LOT_ID_CHARS",
    "NOT_CURRENT_REASONS",
    "REASONS",
    "ProvenStatus",
    "StatusProof",
    "StatusProofInvalid",
    "StatusReason",
    "Verdict",
    "VerdictReason",
    "judge",
    "open_status",
    "verify_extends",
    "verify_status",
]

MAX_INCLUSION_HASHES = 64
"""A tree of 2**64 leaves needs no more."""
MAX_LOT_ID_CHARS = 64
MAX_CHECKPOINT_CHARS = 64 * 1024
_MAX_ENTRY_B64 = 4 * ((MAX_ENTRY_BYTES + 2) // 3)
_MAX_INDEX = 2**63 - 1
_FIELDS = frozenset({"lot", "state", "map_proof", "root", "tree_size"})
_ROOT_FIELDS = frozenset({"index", "entry", "inclusion"})

StatusReason = Literal[
    "not_latest_root", "root_not_in_log", "not_a_state_root", "map_proof", "malformed"
]
REASONS: frozenset[str] = frozenset(
    {"not_latest_root", "root_not_in_log", "not_a_state_root", "map_proof", "malformed"}
)
Verdict = Literal["genuine", "not_genuine", "not_current"]
VerdictReason = Literal["not_in_log", "revoked", "superseded", "consumed", "transferred", "held"]
NOT_CURRENT_REASONS: frozenset[str] = frozenset({"superseded", "consumed", "transferred", "held"})


def _refuse(reason: StatusReason, message: str, field: str | None = None) -> StatusProofInvalid:
    return StatusProofInvalid(message[:300], reason=reason, field=field)


def _int(value: Any, what: str, lowest: int) -> int:
    if type(value) is not int or not lowest <= value <= _MAX_INDEX:
        raise _refuse("malformed", f"{what}: expected an integer >= {lowest}", what)
    return value


def _bytes(text: Any, what: str, size: int | None = None, limit: int | None = None) -> bytes:
    if not isinstance(text, str):
        raise _refuse("malformed", f"{what}: expected a base64 string", what)
    if limit is not None and len(text) > limit:
        raise _refuse("malformed", f"{what}: expected at most {limit} base64 characters", what)
    try:
        return b64decode(text, size=size, what=what)
    except MalformedInput as exc:
        raise _refuse("malformed", str(exc), what) from exc


@dataclass(frozen=True)
class StatusProof:
    """A lot's state, its map proof, and the ``state.root`` entry with its inclusion proof.

    Parsed, not verified: :func:`verify_status` checks it against a checkpoint.
    """

    lot: str
    state: LotState | None
    map_proof: MapProof
    root_index: int
    root_entry: bytes
    inclusion: tuple[bytes, ...]
    tree_size: int
    checkpoint: str | None = None

    @classmethod
    def from_json(cls, value: Any) -> StatusProof:
        """Parse the JSON form strictly (module docstring).

        Raises :class:`StatusProofInvalid`: ``malformed`` for a wrong shape, type or size;
        ``map_proof`` when ``state`` is not a lot state or ``map_proof`` not a map proof
        (what step 5 would refuse anyway).
        """
        if not isinstance(value, Mapping):
            raise _refuse("malformed", "a status proof must be a JSON object")
        keys = set(value)
        if keys not in (_FIELDS, _FIELDS | {"checkpoint"}):
            raise _refuse(
                "malformed",
                f"a status proof has the fields {sorted(_FIELDS)} (and checkpoint), "
                f"got {sorted(str(k)[:40] for k in keys)[:12]}",
            )
        lot = value["lot"]
        if not isinstance(lot, str) or not 0 < len(lot) <= MAX_LOT_ID_CHARS:
            raise _refuse("malformed", f"lot: expected 1 to {MAX_LOT_ID_CHARS} characters", "lot")
        tree_size = _int(value["tree_size"], "tree_size", 1)
        checkpoint = value.get("checkpoint")
        if checkpoint is not None and (
            not isinstance(checkpoint, str) or len(checkpoint) > MAX_CHECKPOINT_CHARS
        ):
            raise _refuse(
                "malformed",
                f"checkpoint: expected a signed note of at most {MAX_CHECKPOINT_CHARS} characters",
                "checkpoint",
            )
        root = value["root"]
        if not isinstance(root, Mapping) or set(root) != _ROOT_FIELDS:
            raise _refuse("malformed", f"root: expected the fields {sorted(_ROOT_FIELDS)}", "root")
        index = _int(root["index"], "root.index", 0)
        entry = _bytes(root["entry"], "root.entry", limit=_MAX_ENTRY_B64)
        if len(entry) > MAX_ENTRY_BYTES:
            raise _refuse("malformed", f"root.entry: at most {MAX_ENTRY_BYTES} bytes", "root.entry")
        hashes = root["inclusion"]
        if not isinstance(hashes, list) or len(hashes) > MAX_INCLUSION_HASHES:
            raise _refuse(
                "malformed",
                f"root.inclusion: expected a list of at most {MAX_INCLUSION_HASHES} hashes",
                "root.inclusion",
            )
        inclusion = tuple(
            _bytes(h, f"root.inclusion[{i}]", HASH_SIZE, 64) for i, h in enumerate(hashes)
        )
        # Step 5's inputs: a state or a map proof that does not parse cannot match the map.
        state_json = value["state"]
        try:
            state = None if state_json is None else LotState.from_json(state_json)
        except MalformedInput as exc:
            raise _refuse("map_proof", f"state: {exc}", "state") from exc
        try:
            map_proof = MapProof.from_json(value["map_proof"])
        except MalformedInput as exc:
            raise _refuse("map_proof", f"map_proof: {exc}", "map_proof") from exc
        return cls(lot, state, map_proof, index, entry, inclusion, tree_size, checkpoint)

    def to_json(self, *, checkpoint: bool = True) -> dict[str, Any]:
        """The JSON form (``checkpoint`` left out when asked, or when there is none)."""
        out: dict[str, Any] = {
            "lot": self.lot,
            "state": None if self.state is None else self.state.to_json(),
            "map_proof": self.map_proof.to_json(),
            "root": {
                "index": self.root_index,
                "entry": b64encode(self.root_entry),
                "inclusion": [b64encode(h) for h in self.inclusion],
            },
            "tree_size": self.tree_size,
        }
        if checkpoint and self.checkpoint is not None:
            out["checkpoint"] = self.checkpoint
        return out


@dataclass(frozen=True)
class ProvenStatus:
    """What a verified status proof proves: ``lot``'s ``state`` (None: no such lot) in the
    map committed by the ``state.root`` entry ``root_index`` of the tree of ``tree_size``."""

    lot: str
    state: LotState | None
    tree_size: int
    root_index: int
    map_root: bytes


def verify_status(proof: StatusProof, checkpoint: Checkpoint, lot_id: str) -> ProvenStatus:
    """Check ``proof`` against ``checkpoint`` (already opened with a pinned key) for the lot
    ``lot_id``: steps 2 to 5 of the module docstring. Raises :class:`StatusProofInvalid`."""
    # 2. The proof is against this checkpoint, and its root is the tree's last entry.
    if proof.tree_size != checkpoint.size:
        raise _refuse(
            "not_latest_root",
            f"the proof is for tree size {proof.tree_size}, the checkpoint's is {checkpoint.size}",
            "tree_size",
        )
    if proof.root_index != proof.tree_size - 1:
        raise _refuse(
            "not_latest_root",
            f"the state.root is entry {proof.root_index}, not the last entry of the tree "
            f"({proof.tree_size - 1})",
            "root.index",
        )
    # 3. That entry is in the checkpoint's tree.
    leaf = hash_leaf(proof.root_entry)
    try:
        verify_inclusion(
            leaf, proof.root_index, checkpoint.size, proof.inclusion, checkpoint.root_hash
        )
    except LedgerError as exc:
        raise _refuse("root_not_in_log", f"inclusion proof: {exc}", "root.inclusion") from exc
    # 4. It is a state.root entry covering the entries before it.
    try:
        entry = Entry.from_bytes(proof.root_entry)
        if entry.index != proof.root_index:
            raise MalformedInput(f"the entry says index {entry.index}, not {proof.root_index}")
        root = StateRoot.from_entry(entry)
    except MalformedInput as exc:
        raise _refuse("not_a_state_root", str(exc), "root.entry") from exc
    # 5. The lot asked for has this state (or none) under that root.
    if proof.lot != lot_id:
        raise _refuse(
            "map_proof", f"the proof is about lot {proof.lot!r}, not {lot_id!r}"[:200], "lot"
        )
    value = None if proof.state is None else proof.state.hash()
    try:
        verify(root.root, lot_key(lot_id), value, proof.map_proof)
    except LedgerError as exc:
        claim = "absence" if value is None else "state"
        raise _refuse(
            "map_proof", f"the lot's {claim} is not in the map: {exc}", "map_proof"
        ) from exc
    return ProvenStatus(lot_id, proof.state, proof.tree_size, proof.root_index, root.root)


def open_status(
    proof: StatusProof, verifiers: Iterable[NoteVerifier], lot_id: str
) -> tuple[Checkpoint, ProvenStatus]:
    """Steps 1 to 5: open the proof's own checkpoint with the pinned ``verifiers`` (origin:
    their name; ledger.checkpoint's errors), then :func:`verify_status`."""
    if proof.checkpoint is None:
        raise _refuse("malformed", "the proof carries no checkpoint", "checkpoint")
    keys = list(verifiers)
    checkpoint, _ = open_checkpoint(proof.checkpoint, keys, pinned_origin(k.name for k in keys))
    return checkpoint, verify_status(proof, checkpoint, lot_id)


def verify_extends(older: Checkpoint, newer: Checkpoint, proof: Sequence[bytes]) -> None:
    """Check that ``newer`` extends ``older`` (RFC 9162 consistency): the same log, no smaller,
    every entry of ``older`` kept. Raises :class:`ConsistencyError`."""
    if older.origin != newer.origin:
        raise ConsistencyError(f"checkpoints of two logs: {older.origin!r}, {newer.origin!r}")
    if older.size > newer.size:
        raise ConsistencyError(
            f"the newer checkpoint (size {newer.size}) is smaller than the older ({older.size})"
        )
    if older.size == 0:
        if proof:
            raise ConsistencyError("a consistency proof from the empty tree has no hashes")
        return
    try:
        verify_consistency(older.size, newer.size, proof, older.root_hash, newer.root_hash)
    except LedgerError as exc:
        raise ConsistencyError(
            f"tree size {newer.size} does not extend tree size {older.size}: {exc}"
        ) from exc


def judge(
    certificate_id: str, custodian: str, state: LotState | None
) -> tuple[Verdict, VerdictReason | None]:
    """The verdict on a certificate of the lot whose proven state is ``state`` (the table of
    the module docstring); reason None for genuine. ``custodian`` is the certificate's."""
    if state is None:
        return "not_genuine", "not_in_log"
    if certificate_id in state.revoked:
        return "not_genuine", "revoked"
    if state.status != "active":
        return "not_current", "consumed"
    if state.custodian != custodian:
        return "not_current", "transferred"
    if state.certificate != certificate_id:
        return "not_current", "superseded"
    if state.holds:
        return "not_current", "held"
    return "genuine", None
