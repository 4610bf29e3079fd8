"""Status proofs (ledger.status): a lot's state proven from a checkpoint, refused with a
named reason when any part of the proof is changed, and judged as the server judges.

Logs are built in memory (tests/support/status_vectors.py): real entries projected by
ledger.lotstate, a state.root entry closing every append, an RFC 9162 tree and checkpoints
signed by a generated log key.
"""

from __future__ import annotations

import base64
import copy
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ledger.certificate import certificate_id
from ledger.checkpoint import Checkpoint, sign_checkpoint
from ledger.encoding import b64encode
from ledger.entry import Event
from ledger.errors import ConsistencyError, LedgerError, StatusProofInvalid
from ledger.note import NoteVerifier
from ledger.statemap import LotState
from ledger.status import (
    MAX_INCLUSION_HASHES,
    StatusProof,
    judge,
    open_status,
    verify_extends,
    verify_status,
)
from support.status_vectors import BANK, CENTRE, SyntheticLog, log_signer

OPS = ("gold", "certify", "revoke", "transfer", "hold", "split", "deliver")
scripts = st.lists(st.tuples(st.sampled_from(OPS), st.integers(0, 7)), min_size=1, max_size=10)
SLOW = settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def build(script: list[tuple[str, int]]) -> SyntheticLog:
    """A log from a script of operations on its lots (ones that do not apply are skipped)."""
    log = SyntheticLog()
    log.gold("AU-0")
    tokens: list[bytes] = []
    for op, n in script:
        states = log.lots.states()
        active = [lot for lot, s in states.items() if s.status == "active" and lot.startswith("AU")]
        pick = active[n % len(active)] if active else None
        if op == "gold":
            log.gold(f"AU-{log.size}")
        elif op == "deliver":
            log.deliver(f"ORE-X{log.size}")
        elif op == "certify" and pick is not None:
            tokens.append(log.certify(pick))
        elif op == "revoke" and tokens:
            token = tokens.pop(n % len(tokens))
            log.revoke(token)
        elif op == "transfer" and pick is not None:
            log.transfer(pick, to=f"buyer:b{n}")
        elif op == "hold" and pick is not None:
            log.hold(pick, case=f"HOLD-{log.size}")
        elif op == "split" and pick is not None and states[pick].mass_left >= 2:
            half = states[pick].mass_left // 2
            log.split(pick, [(f"{pick}.a{log.size}", half), (f"{pick}.b{log.size}", half)])
    return log


def refusal(proof: Any, checkpoint: Checkpoint, lot: str) -> str | None:
    """The reason a proof is refused for ``lot``, or None when it verifies."""
    try:
        verify_status(StatusProof.from_json(proof), checkpoint, lot)
    except StatusProofInvalid as exc:
        return exc.reason
    return None


def flip(text: str, bit: int) -> str:
    """Base64 ``text`` with one bit of its bytes flipped."""
    data = bytearray(base64.b64decode(text))
    data[(bit // 8) % len(data)] ^= 1 << (bit % 8)
    return b64encode(bytes(data))


# --- honest proofs ----------------------------------------------------------------------------


@SLOW
@given(script=scripts)
def test_an_honest_proof_is_never_refused_and_yields_the_state(
    script: list[tuple[str, int]],
) -> None:
    log = build(script)
    for lot in [*log.lots.lot_ids(), "AU-NOWHERE"]:
        proof = log.status_proof(lot)
        parsed = StatusProof.from_json(proof)
        assert parsed.to_json() == proof  # one JSON form
        proven = verify_status(parsed, log.checkpoint(), lot)
        assert proven.state == log.lots.state(lot)
        assert (proven.lot, proven.tree_size, proven.root_index) == (lot, log.size, log.size - 1)


@SLOW
@given(script=scripts)
def test_every_checkpoint_the_log_published_proves_every_lot_of_its_time(
    script: list[tuple[str, int]],
) -> None:
    log = build(script)
    pinned = [NoteVerifier.from_vkey(log.vkey)]
    for size in log.notes:
        for lot in [*log.states_at[size - 1], "nobody"]:
            checkpoint, proven = open_status(
                StatusProof.from_json(log.status_proof(lot, size=size)), pinned, lot
            )
            assert checkpoint.size == size
            assert proven.state == log.states_at[size - 1].get(lot)


# --- every change is refused, with its reason -------------------------------------------------


@SLOW
@given(script=scripts, data=st.data())
def test_a_changed_proof_is_refused_with_the_reason_of_the_part_changed(
    script: list[tuple[str, int]], data: st.DataObject
) -> None:
    log = build(script)
    lots = [*log.lots.lot_ids(), "AU-NOWHERE"]
    lot = data.draw(st.sampled_from(lots))
    honest = log.status_proof(lot)
    cp = log.checkpoint()
    assert refusal(honest, cp, lot) is None
    bit = data.draw(st.integers(0, 10**6))

    entry = copy.deepcopy(honest)
    entry["root"]["entry"] = flip(entry["root"]["entry"], bit)
    assert refusal(entry, cp, lot) == "root_not_in_log"

    hashes = copy.deepcopy(honest)
    at = bit % len(hashes["root"]["inclusion"])
    hashes["root"]["inclusion"][at] = flip(hashes["root"]["inclusion"][at], bit)
    assert refusal(hashes, cp, lot) == "root_not_in_log"

    # any bit of the map proof: its bitmap, a sibling, the other leaf's key or value
    mp = honest["map_proof"]
    parts: list[tuple[str, Any]] = [("bitmap", None)]
    parts += [("siblings", i) for i in range(len(mp["siblings"]))]
    if "other" in mp:
        parts += [("other", "key"), ("other", "value")]
    where, which = data.draw(st.sampled_from(parts))
    changed = copy.deepcopy(honest)
    if where == "bitmap":
        changed["map_proof"]["bitmap"] = flip(mp["bitmap"], bit)
    elif where == "siblings":
        changed["map_proof"]["siblings"][which] = flip(mp["siblings"][which], bit)
    else:
        changed["map_proof"]["other"][which] = flip(mp["other"][which], bit)
    assert refusal(changed, cp, lot) == "map_proof"

    lied = copy.deepcopy(honest)
    lied["state"] = data.draw(other_states(honest["state"]))
    assert refusal(lied, cp, lot) == "map_proof"


def other_states(state: dict[str, Any] | None) -> st.SearchStrategy[dict[str, Any] | None]:
    """States that are not ``state``: one field changed, or a state for none, or none."""
    if state is None:
        base = LotState("active", CENTRE, CENTRE, None, 1, 0).to_json()
        return st.just(base)
    changes = [
        {"status": "closed" if state["status"] == "active" else "active"},
        {"custodian": state["custodian"] + "x"},
        {"owner": state["owner"] + "x"},
        {"certificate": None if state["certificate"] else "0" * 32},
        {"mass_left": state["mass_left"] + 1},
        {"latest_index": state["latest_index"] + 1},
        {"holds": [] if state["holds"] else ["HOLD-X"]},
        {"revoked": [] if state["revoked"] else ["0" * 32]},
        {"mass_left": "1"},  # no longer a state at all
    ]
    return st.sampled_from([None, *({**state, **c} for c in changes)])


@SLOW
@given(script=scripts, data=st.data())
def test_an_older_state_root_is_not_the_latest(
    script: list[tuple[str, int]], data: st.DataObject
) -> None:
    log = build(script)
    roots = sorted(log.states_at)[:-1]  # every root but the latest
    root = data.draw(st.sampled_from(roots))
    lot = data.draw(st.sampled_from([*log.states_at[root], "AU-NOWHERE"]))
    cp = log.checkpoint()
    # an older root, proven in the latest tree: it is not the tree's last entry
    assert refusal(log.status_proof(lot, root=root), cp, lot) == "not_latest_root"
    # the older checkpoint's own honest proof, shown against the latest
    assert refusal(log.status_proof(lot, size=root + 1), cp, lot) == "not_latest_root"
    # relabelled as the last entry, it is not in the tree there
    lied = log.status_proof(lot, root=root)
    lied["root"] = {**lied["root"], "index": log.size - 1}
    lied["root"]["inclusion"] = log.status_proof(lot)["root"]["inclusion"]
    assert refusal(lied, cp, lot) == "root_not_in_log"


@SLOW
@given(script=scripts, data=st.data())
def test_a_proof_for_another_lot_is_refused(
    script: list[tuple[str, int]], data: st.DataObject
) -> None:
    log = build(script)
    lots = list(log.lots.lot_ids())
    lot = data.draw(st.sampled_from(lots))
    other = data.draw(st.sampled_from([*lots, "AU-NOWHERE"]).filter(lambda x: x != lot))
    cp = log.checkpoint()
    proof = log.status_proof(lot)  # a lot that exists: its leaf binds its key
    assert refusal(proof, cp, other) == "map_proof"
    assert refusal({**proof, "lot": other}, cp, other) == "map_proof"


def test_the_last_entry_must_be_a_state_root_covering_the_entries_before_it() -> None:
    log = SyntheticLog()
    log.gold("AU-1")
    honest = log.status_proof("AU-1")
    # a checkpoint whose last entry is an event, not a state.root
    log._add(Event("assay.recorded", CENTRE, {"lot": "AU-1"}))
    note = sign_checkpoint(
        Checkpoint(log.signer.key.name, log.size, log._tree.root()), log.signer.note_signer
    )
    log.notes[log.size] = note
    last = log.size - 1
    lied = {
        **honest,
        "root": {
            "index": last,
            "entry": b64encode(log.raw[last]),
            "inclusion": [b64encode(h) for h in log.inclusion(last)],
        },
        "tree_size": log.size,
    }
    assert refusal(lied, log.checkpoint(), "AU-1") == "not_a_state_root"


def test_a_state_root_claiming_another_size_is_not_a_state_root() -> None:
    from ledger.statemap import STATE_ROOT_TYPE, StateRoot

    log = SyntheticLog()
    log.gold("AU-1")
    real = log.entries[-1]
    root = StateRoot.from_entry(real)
    body = StateRoot(root.root, root.size - 1, root.lots).body()  # covers one entry less
    log._add(Event(STATE_ROOT_TYPE, "system:altan", body))
    note = sign_checkpoint(
        Checkpoint(log.signer.key.name, log.size, log._tree.root()), log.signer.note_signer
    )
    log.notes[log.size] = note
    proof = log.status_proof("AU-1", size=log.size - 1)  # the honest map proof
    last = log.size - 1
    proof["root"] = {
        "index": last,
        "entry": b64encode(log.raw[last]),
        "inclusion": [b64encode(h) for h in log.inclusion(last)],
    }
    proof["tree_size"] = log.size
    assert refusal(proof, log.checkpoint(), "AU-1") == "not_a_state_root"


def test_a_proof_against_another_checkpoint_size() -> None:
    log = SyntheticLog()
    log.gold("AU-1")
    older = log.size
    log.gold("AU-2")
    assert refusal(log.status_proof("AU-1"), log.checkpoint(older), "AU-1") == "not_latest_root"


def test_the_checkpoint_must_be_signed_by_the_pinned_key() -> None:
    log = SyntheticLog()
    log.gold("AU-1")
    proof = StatusProof.from_json(log.status_proof("AU-1"))
    stranger = log_signer(9)
    with pytest.raises(LedgerError) as caught:
        open_status(proof, [stranger.key.note_verifier()], "AU-1")
    assert not isinstance(caught.value, StatusProofInvalid)  # the checkpoint's own error
    bare = StatusProof.from_json(
        {k: v for k, v in log.status_proof("AU-1").items() if k != "checkpoint"}
    )
    with pytest.raises(StatusProofInvalid) as missing:
        open_status(bare, [log.signer.key.note_verifier()], "AU-1")
    assert missing.value.reason == "malformed"


# --- strict parsing ---------------------------------------------------------------------------


def _honest() -> dict[str, Any]:
    log = SyntheticLog()
    log.gold("AU-1")
    return log.status_proof("AU-1")


def _with(path: str, value: Any) -> dict[str, Any]:
    proof = _honest()
    target = proof
    *parents, last = path.split(".")
    for p in parents:
        target = target[p]
    if value is _DROP:
        del target[last]
    else:
        target[last] = value
    return proof


_DROP = object()
_HASH = b64encode(bytes(32))


@pytest.mark.parametrize(
    "proof",
    [
        pytest.param([], id="not-an-object"),
        pytest.param(_with("lot", _DROP), id="no-lot"),
        pytest.param(_with("extra", 1), id="extra-field"),
        pytest.param(_with("lot", ""), id="empty-lot"),
        pytest.param(_with("lot", "L" * 65), id="lot-of-65"),
        pytest.param(_with("lot", 7), id="lot-not-text"),
        pytest.param(_with("tree_size", 0), id="empty-tree"),
        pytest.param(_with("tree_size", True), id="size-bool"),
        pytest.param(_with("tree_size", "5"), id="size-text"),
        pytest.param(_with("root.index", -1), id="negative-index"),
        pytest.param(_with("root.extra", 1), id="root-extra"),
        pytest.param(_with("root.entry", "not base64!"), id="entry-not-base64"),
        pytest.param(_with("root.entry", b64encode(b"x" * (64 * 1024 + 1))), id="entry-too-big"),
        pytest.param(_with("root.inclusion", [_HASH] * (MAX_INCLUSION_HASHES + 1)), id="65-hashes"),
        pytest.param(_with("root.inclusion", [b64encode(bytes(31))]), id="short-hash"),
        pytest.param(_with("root.inclusion", "abc"), id="inclusion-not-a-list"),
        pytest.param(_with("checkpoint", 5), id="checkpoint-not-text"),
    ],
)
def test_malformed_proofs(proof: Any) -> None:
    with pytest.raises(StatusProofInvalid) as caught:
        StatusProof.from_json(proof)
    assert caught.value.reason == "malformed"


@pytest.mark.parametrize(
    "proof",
    [
        pytest.param(_with("state.status", _DROP), id="state-missing-field"),
        pytest.param(_with("state.holds", ["b", "a"]), id="state-unsorted-holds"),
        pytest.param(_with("map_proof.siblings", "x"), id="map-proof-siblings"),
        pytest.param(_with("map_proof", {}), id="map-proof-empty"),
    ],
)
def test_a_state_or_map_proof_that_does_not_parse_is_a_map_proof_failure(proof: Any) -> None:
    with pytest.raises(StatusProofInvalid) as caught:
        StatusProof.from_json(proof)
    assert caught.value.reason == "map_proof"


# --- the witnessed checkpoint and the latest --------------------------------------------------


def test_the_latest_checkpoint_extends_every_earlier_one() -> None:
    log = build([("gold", 0), ("certify", 0), ("transfer", 0), ("gold", 1)])
    sizes = sorted(log.notes)
    for a in sizes:
        for b in sizes[sizes.index(a) :]:
            verify_extends(log.checkpoint(a), log.checkpoint(b), log.consistency(a, b))
    first, last = sizes[0], sizes[-1]
    proof = log.consistency(first, last)
    bad = [bytes([proof[0][0] ^ 1]) + proof[0][1:], *proof[1:]]
    with pytest.raises(ConsistencyError):
        verify_extends(log.checkpoint(first), log.checkpoint(last), bad)
    with pytest.raises(ConsistencyError):
        verify_extends(log.checkpoint(last), log.checkpoint(first), [])
    with pytest.raises(ConsistencyError):
        verify_extends(log.checkpoint(first), log.checkpoint(last), [])
    forked = Checkpoint(log.signer.key.name, last, bytes(32))
    with pytest.raises(ConsistencyError):
        verify_extends(log.checkpoint(first), forked, proof)
    other = Checkpoint("other.example/log", last, log.checkpoint(last).root_hash)
    with pytest.raises(ConsistencyError):
        verify_extends(log.checkpoint(first), other, proof)


# --- the verdict from a proven state ----------------------------------------------------------

CERT = "a" * 32
OTHER = "b" * 32


def state(**changes: Any) -> LotState:
    base: dict[str, Any] = {
        "status": "active",
        "custodian": CENTRE,
        "owner": CENTRE,
        "certificate": CERT,
        "mass_left": 50_000,
        "latest_index": 9,
        "holds": (),
        "revoked": (),
    }
    return LotState(**{**base, **changes})


@pytest.mark.parametrize(
    ("lot", "expected"),
    [
        (None, ("not_genuine", "not_in_log")),
        (state(certificate=None, revoked=(CERT,)), ("not_genuine", "revoked")),
        (state(revoked=(CERT,)), ("not_genuine", "revoked")),  # revoked comes first
        (state(certificate=OTHER), ("not_current", "superseded")),
        (state(certificate=None), ("not_current", "superseded")),
        (state(certificate=OTHER, revoked=(OTHER,)), ("not_current", "superseded")),
        (state(status="closed", mass_left=0), ("not_current", "consumed")),
        (state(status="exported"), ("not_current", "consumed")),
        (state(status="closed", custodian=BANK), ("not_current", "consumed")),  # before custody
        (state(status="closed", certificate=OTHER), ("not_current", "consumed")),
        (state(custodian=BANK, owner=BANK), ("not_current", "transferred")),
        (state(custodian=BANK, certificate=OTHER), ("not_current", "transferred")),  # sold
        (state(custodian=BANK, holds=("HOLD-1",)), ("not_current", "transferred")),
        (state(certificate=OTHER, holds=("HOLD-1",)), ("not_current", "superseded")),
        (state(holds=("HOLD-1",)), ("not_current", "held")),
        (state(), ("genuine", None)),
        (state(owner=BANK), ("genuine", None)),  # the custodian is what a certificate names
    ],
)
def test_judge(lot: LotState | None, expected: tuple[str, str | None]) -> None:
    assert judge(CERT, CENTRE, lot) == expected


def test_judge_on_a_real_history() -> None:
    """A certificate through its life, judged on the state the log proves at each step."""
    log = SyntheticLog()
    log.gold("AU-1")
    first = log.certify("AU-1")

    def now(token: bytes = first) -> tuple[str, str | None]:
        proven = verify_status(
            StatusProof.from_json(log.status_proof("AU-1")), log.checkpoint(), "AU-1"
        )
        return judge(certificate_id(token), CENTRE, proven.state)

    assert now() == ("genuine", None)
    log.hold("AU-1")
    assert now() == ("not_current", "held")
    log.append(Event("case.resolved", "regulator:mrpam", {"case": "HOLD-1"}))
    assert now() == ("genuine", None)
    second = log.certify("AU-1")
    assert now() == ("not_current", "superseded")
    assert now(second) == ("genuine", None)
    log.revoke(second)
    assert now(second) == ("not_genuine", "revoked")
    assert now() == ("not_current", "superseded")  # the first stays superseded
    log.transfer("AU-1")
    third = log.certify("AU-1")
    assert judge(certificate_id(third), BANK, log.lots.state("AU-1")) == ("genuine", None)
    assert now() == ("not_current", "transferred")  # the seller's: the lot was sold
    assert log.lots.state("AU-1").revoked == (certificate_id(second),)  # type: ignore[union-attr]
