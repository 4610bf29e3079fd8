"""`ledger.audit` recomputes every lot's state and the state map, and checks each state root.

Synthetic logs, in memory: entries built with `Entry.create`, signed receipts and
checkpoints, and a ``state.root`` entry after each append as the service writes them (the
root of the map of every lot's state after the entries before it, computed here from the
pure projection, whole each time). Then one thing is made wrong (a root, a count, a size,
an entry the projection cannot apply) and the audit must name that entry; an honest log,
with or without state roots, must never be accused. The incremental audit, carried on from
a saved `StateReplay` at any split point, gives the verdict of a full one.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import given, settings
from hypothesis import strategies as st

from ledger.audit import (
    CHUNK,
    AuditReport,
    FailureKind,
    StateReplay,
    StateTables,
    TrustedKey,
    audit,
    audit_entries,
    state_differences,
)
from ledger.checkpoint import Checkpoint, sign_checkpoint
from ledger.entry import ZERO_HASH, Entry, Event, receipt_message
from ledger.errors import MalformedInput, StateProjectionError
from ledger.hashing import hash_leaf
from ledger.lotstate import LotStates
from ledger.merkle import CompactRange
from ledger.note import NoteSigner
from ledger.records import StoredEntry
from ledger.statemap import EMPTY_ROOT, STATE_ROOT_TYPE, LotState, StateMap, StateRoot, lot_key
from support.log import event as plain_event

ORIGIN = "altan.localhost/synthetic"
T0 = datetime(2026, 9, 1, tzinfo=UTC)
SYSTEM = "system:altan"

Body = dict[str, Any]
RootEdit = Callable[[int, StateRoot], Body]


def honest(index: int, root: StateRoot) -> Body:
    return root.body()


# --- an in-memory log -------------------------------------------------------------------------


class SyntheticLog:
    """An `AuditSource` held in memory: entries with receipts, a checkpoint per append and,
    unless told otherwise, a ``state.root`` entry closing each append with the true root."""

    def __init__(self) -> None:
        key = Ed25519PrivateKey.generate()
        self.signer = NoteSigner(key, ORIGIN)
        self._key = key
        self.rows: list[StoredEntry] = []
        self.notes: list[tuple[int, str]] = []
        self.tree = CompactRange()
        self.roots: list[bytes] = [self.tree.root()]  # the tree's root at every size
        self.lots = LotStates()  # the honest service's view, to compute true roots
        self.projectable = True

    # the AuditSource protocol

    def keys(self) -> list[TrustedKey]:
        v = self.signer.verifier
        return [TrustedKey(v.name, v.key_id.hex(), v.public_key)]

    def checkpoint(self) -> str:
        return self.notes[-1][1]

    def entries(self, start: int, end: int) -> Iterator[StoredEntry]:
        return iter(self.rows[start:end])

    def checkpoints(self, start: int = 0) -> Iterator[tuple[int, str]]:
        return iter([(size, note) for size, note in self.notes if size >= start])

    # building

    @property
    def size(self) -> int:
        return len(self.rows)

    def true_root(self) -> StateRoot:
        """The map of every lot's state, built whole from the projection (not the audit's
        incremental way), as the next state.root entry must commit to."""
        states = self.lots.states()
        values = {lot_key(lot): state.hash() for lot, state in states.items()}
        return StateRoot(StateMap(values).root, self.size, len(values))

    def _add(self, event: Event) -> None:
        prev = self.rows[-1].leaf_hash if self.rows else ZERO_HASH
        entry = Entry.create(self.size, prev, T0 + timedelta(seconds=self.size), event)
        if self.projectable:
            try:
                self.lots.apply(entry)
            except StateProjectionError:  # the honest map stops here
                self.projectable = False
        data = entry.to_bytes()
        leaf = hash_leaf(data)
        signature = self._key.sign(receipt_message(leaf))
        self.rows.append(StoredEntry(entry.index, data, leaf, self.signer.key_id.hex(), signature))
        self.tree.append(leaf)
        self.roots.append(self.tree.root())

    def append(self, events: list[Event], *, root: RootEdit | None = honest) -> None:
        """One append: the events, then (unless `root` is None) a state.root entry whose
        body is `root(index, true root)`, then a signed checkpoint."""
        for event in events:
            self._add(event)
        if root is not None:
            true = self.true_root() if self.projectable else StateRoot(EMPTY_ROOT, self.size, 0)
            self._add(Event(STATE_ROOT_TYPE, SYSTEM, root(self.size, true)))
        self.notes.append(
            (
                self.size,
                sign_checkpoint(Checkpoint(ORIGIN, self.size, self.tree.root()), self.signer),
            )
        )

    def checkpoint_at(self, size: int) -> Checkpoint:
        return Checkpoint(ORIGIN, size, self.roots[size])

    def state_root_indices(self) -> list[int]:
        return [
            r.index for r in self.rows if Entry.from_bytes(r.entry).event.type == STATE_ROOT_TYPE
        ]


# --- a world of lots, every kind of event that changes one -------------------------------------


@dataclass
class World:
    """Draws events the service could have recorded (the projection applies each one)."""

    rnd: random.Random
    n: int = 0
    active: dict[str, int] = field(default_factory=dict)  # lot -> mass left
    gold: list[str] = field(default_factory=list)
    offers: list[str] = field(default_factory=list)
    certificates: list[str] = field(default_factory=list)
    holds: list[str] = field(default_factory=list)

    def _id(self, prefix: str) -> str:
        self.n += 1
        return f"{prefix}-{self.n:05d}"

    def event(self) -> Event:
        """One event, valid after the ones drawn before."""
        r = self.rnd.random()
        actor = self.rnd.choice(["centre:a", "centre:b"])
        usable = sorted(lot for lot, mass in self.active.items() if mass > 0)
        if r < 0.3 or not usable:
            lot = self._id("ORE")
            mass = self.rnd.randint(1, 5000)
            self.active[lot] = mass
            body: Body = {"lot": lot, "miner": f"partnership:{self.rnd.randint(1, 9)}"}
            return Event("ore.delivered", actor, {**body, "mass_g": mass})
        lot = self.rnd.choice(usable)
        if r < 0.45:
            used = self.rnd.randint(1, self.active[lot])
            self.active[lot] -= used
            out = self._id("AU")
            self.active[out] = self.rnd.randint(1, 900)
            self.gold.append(out)
            body = {
                "inputs": [{"lot": lot, "mass_g": used}],
                "outputs": [{"lot": out, "mass_mg": self.active[out]}],
            }
            return Event("processing.recorded", actor, body)
        if r < 0.52:
            parts = [self._id("AU") for _ in range(2)]
            self.active[lot] = 0
            for p in parts:
                self.active[p] = self.rnd.randint(1, 400)
                self.gold.append(p)
            into = [{"lot": p, "mass_mg": self.active[p]} for p in parts]
            return Event("lot.split", actor, {"lot": lot, "into": into})
        if r < 0.62:
            offer = self._id("OF")
            self.offers.append(offer)
            to = f"buyer:{self.rnd.randint(1, 3)}"
            return Event("transfer.offered", actor, {"lot": lot, "offer": offer, "to": to})
        if r < 0.7 and self.offers:
            offer = self.offers.pop(self.rnd.randrange(len(self.offers)))
            kind = self.rnd.choice(["transfer.accepted", "transfer.rejected"])
            return Event(kind, "buyer:1", {"offer": offer})
        if r < 0.8:
            cert = f"{self.rnd.getrandbits(128):032x}"
            self.certificates.append(cert)
            kind = self.rnd.choice(["gold", "ore_receipt"])
            return Event(
                "certificate.issued", actor, {"lot": lot, "certificate": cert, "kind": kind}
            )
        if r < 0.84 and self.certificates:
            cert = self.certificates.pop(self.rnd.randrange(len(self.certificates)))
            return Event("certificate.revoked", "regulator:mrpam", {"certificate": cert})
        if r < 0.9:
            case = self._id("CASE")
            self.holds.append(case)
            target = {"kind": "lot", "id": lot}
            return Event(
                "case.opened", "regulator:mrpam", {"case": case, "kind": "hold", "target": target}
            )
        if r < 0.94 and self.holds:
            case = self.holds.pop(self.rnd.randrange(len(self.holds)))
            return Event("case.resolved", "regulator:mrpam", {"case": case})
        if r < 0.97:
            return Event("assay.recorded", "lab:x", {"lot": lot})
        return Event(
            "actor.registered", "admin:root", {"actor": self._id("auditor:a"), "role": "auditor"}
        )


def world_log(seed: int, appends: int, *, largest: int = 4) -> SyntheticLog:
    """A log of `appends` appends of 1..`largest` events, each closed by a true state root."""
    rnd = random.Random(seed)
    world = World(rnd)
    log = SyntheticLog()
    for _ in range(appends):
        log.append([world.event() for _ in range(rnd.randint(1, largest))])
    assert log.projectable
    return log


def verdict(report: AuditReport) -> tuple[FailureKind, int | None] | None:
    return None if report.failure is None else (report.failure.kind, report.failure.index)


def run(log: SyntheticLog, **kw: Any) -> AuditReport:
    return audit(log, workers=kw.pop("workers", 1), **kw)


def wrong_root(at: int) -> RootEdit:
    def edit(index: int, root: StateRoot) -> Body:
        return replace(root, root=bytes(32)).body() if index == at else root.body()

    return edit


# --- honest logs -------------------------------------------------------------------------------


@settings(max_examples=25)
@given(st.integers(0, 2**32), st.integers(1, 30))
def test_an_honest_log_with_state_roots_audits_ok(seed: int, appends: int) -> None:
    log = world_log(seed, appends)
    report = run(log)
    assert report.ok, report.failure
    replay = report.replay
    assert replay is not None and replay.size == log.size
    assert replay.map_root() == log.true_root().root
    assert replay.tree_root == log.tree.root()
    assert replay.committed == log.state_root_indices()[0]


def test_the_audit_checks_every_state_root() -> None:
    # each state.root is compared: a wrong one anywhere is found, only that one named
    log = world_log(7, 12)
    for at in log.state_root_indices():
        bad = SyntheticLog()
        rnd = random.Random(7)
        world = World(rnd)
        for _ in range(12):
            bad.append([world.event() for _ in range(rnd.randint(1, 4))], root=wrong_root(at))
        assert verdict(run(bad)) == (FailureKind.STATE_ROOT_MISMATCH, at)


def test_a_plain_log_without_state_roots_audits_as_before() -> None:
    # the core's test events (mass_kg, no miner) cannot be projected: nothing commits to a
    # map, so nothing is compared and nobody is accused
    log = SyntheticLog()
    for i in range(0, 30, 3):
        log.append([plain_event(i + k) for k in range(3)], root=None)
    report = run(log)
    assert report.ok, report.failure
    assert report.replay is not None and report.replay.broken is not None
    assert report.replay.broken[0] == 0 and report.replay.committed is None


def test_a_log_of_lots_without_state_roots_still_computes_the_map() -> None:
    rnd = random.Random(3)
    world, log = World(rnd), SyntheticLog()
    for _ in range(10):
        log.append([world.event() for _ in range(3)], root=None)
    report = run(log)
    assert report.ok and report.replay is not None
    assert report.replay.committed is None and report.replay.broken is None
    assert report.replay.map_root() == log.true_root().root != EMPTY_ROOT


def test_a_state_root_first_thing_commits_to_the_empty_map() -> None:
    log = SyntheticLog()
    log.append([])
    log.append([Event("ore.delivered", "centre:a", {"lot": "L", "miner": "m", "mass_g": 5})])
    assert log.state_root_indices() == [0, 2]
    assert run(log).ok


def test_the_worker_pool_gives_the_same_verdicts() -> None:
    # more than one chunk: signatures checked in worker processes, the map in this one
    rnd = random.Random(11)
    world, log, bad = World(rnd), SyntheticLog(), SyntheticLog()
    events = [world.event() for _ in range(CHUNK + 500)]
    for i in range(0, len(events), 50):
        log.append(events[i : i + 50])
    at = log.state_root_indices()[-3]
    for i in range(0, len(events), 50):
        bad.append(events[i : i + 50], root=wrong_root(at))
    good = run(log, workers=2)
    assert good.ok, good.failure
    assert good.replay is not None and good.replay.map_root() == log.true_root().root
    assert verdict(run(bad, workers=2)) == (FailureKind.STATE_ROOT_MISMATCH, at)


# --- dishonest state roots ---------------------------------------------------------------------


def tampered(edit: RootEdit, *, appends: int = 8, seed: int = 5) -> tuple[SyntheticLog, int]:
    """A world log whose 4th state.root body is `edit(index, true root)`: the log and that
    entry's index."""
    rnd = random.Random(seed)
    world, log = World(rnd), SyntheticLog()
    target: list[int] = []

    def fourth(index: int, root: StateRoot) -> Body:
        target.append(index)
        return edit(index, root) if len(target) == 4 else root.body()

    for _ in range(appends):
        log.append([world.event() for _ in range(rnd.randint(1, 4))], root=fourth)
    return log, target[3]


def failure_of(log: SyntheticLog) -> tuple[FailureKind, int | None, str]:
    report = run(log)
    assert report.failure is not None, "the audit found nothing wrong"
    return report.failure.kind, report.failure.index, report.failure.message


def test_a_wrong_root_is_named_with_both_roots() -> None:
    log, at = tampered(lambda i, r: replace(r, root=b"\x07" * 32).body())
    kind, index, message = failure_of(log)
    assert (kind, index) == (FailureKind.STATE_ROOT_MISMATCH, at)
    assert f"state root at entry {at} differs from the recomputed map" in message
    assert ("07" * 32) in message
    # and the recomputed root it names is the honest one (the same world, honestly closed)
    rnd = random.Random(5)
    world, honest_log = World(rnd), SyntheticLog()
    for _ in range(8):
        honest_log.append([world.event() for _ in range(rnd.randint(1, 4))])
    body = Entry.from_bytes(honest_log.rows[at].entry).event.body
    assert StateRoot.from_body(body).root.hex() in message


def test_a_root_that_misses_the_last_event_is_refused() -> None:
    # the map as it was one entry before the state.root: stale by one event
    rnd = random.Random(9)
    world, log = World(rnd), SyntheticLog()
    log.append([world.event() for _ in range(3)])
    stale = log.true_root()
    log.append([world.event()], root=lambda i, r: StateRoot(stale.root, i, r.lots).body())
    assert stale.root != log.true_root().root  # the event changed a lot's state
    assert verdict(run(log)) == (FailureKind.STATE_ROOT_MISMATCH, log.size - 1)


def test_a_wrong_lot_count_is_named() -> None:
    counted: list[int] = []

    def one_more(index: int, root: StateRoot) -> Body:
        counted.append(root.lots)
        return replace(root, lots=root.lots + 1).body()

    log, at = tampered(one_more)
    kind, index, message = failure_of(log)
    assert (kind, index) == (FailureKind.STATE_ROOT_MISMATCH, at)
    lots = counted[-1]
    assert f"it counts {lots + 1} lots, the entries create {lots}" in message
    assert "commits to root" not in message  # the root itself is right


def test_a_state_root_whose_size_is_not_its_index_is_named() -> None:
    log, at = tampered(lambda i, r: replace(r, size=i - 1).body())
    kind, index, message = failure_of(log)
    assert (kind, index) == (FailureKind.STATE_ROOT_MISMATCH, at)
    assert f"claims to cover {at - 1} entries" in message


@pytest.mark.parametrize(
    "edit",
    [
        lambda i, r: {**r.body(), "map": "altan-map-v0"},
        lambda i, r: {**r.body(), "extra": 1},
        lambda i, r: {k: v for k, v in r.body().items() if k != "lots"},
        lambda i, r: {**r.body(), "root": "AAAA"},
        lambda i, r: {**r.body(), "size": str(i)},
    ],
    ids=["other-map", "extra-field", "no-lots", "short-root", "size-as-text"],
)
def test_a_state_root_that_does_not_parse_is_named(edit: RootEdit) -> None:
    log, at = tampered(edit)
    kind, index, message = failure_of(log)
    assert (kind, index) == (FailureKind.STATE_ROOT_MISMATCH, at)
    assert "not a valid state.root entry" in message


def test_an_unprojectable_entry_before_a_state_root_is_named() -> None:
    rnd = random.Random(2)
    world, log = World(rnd), SyntheticLog()
    log.append([world.event() for _ in range(3)], root=None)
    log.append([Event("transfer.accepted", "buyer:1", {"offer": "no-such-offer"})], root=None)
    broken = log.size - 1
    log.append([world.event() for _ in range(2)])  # then a state.root: the log commits
    kind, index, message = failure_of(log)
    assert (kind, index) == (FailureKind.STATE_PROJECTION, broken)
    assert f"entry {broken} cannot be applied" in message and "no-such-offer" in message
    assert f"state.root entry at {log.size - 1}" in message


def test_an_unprojectable_entry_after_a_state_root_is_named_at_once() -> None:
    rnd = random.Random(4)
    world, log = World(rnd), SyntheticLog()
    log.append([world.event() for _ in range(3)])
    log.append([Event("ore.delivered", "centre:a", {"lot": "X", "mass_kg": "1.5"})], root=None)
    broken = log.size - 1
    log.append([world.event()], root=None)  # no later state.root
    assert verdict(run(log)) == (FailureKind.STATE_PROJECTION, broken)


# --- the replay kept between audits ------------------------------------------------------------


@settings(max_examples=20)
@given(st.integers(0, 2**32), st.integers(1, 20), st.data())
def test_a_replay_saved_and_loaded_goes_on_as_the_one_kept(
    seed: int, appends: int, data: st.DataObject
) -> None:
    log = world_log(seed, appends)
    split = data.draw(st.integers(0, log.size), label="split")
    first = audit_entries(log, log.checkpoint_at(split), log.keys(), replay=StateReplay())
    assert first.ok and first.replay is not None
    saved = first.replay.to_bytes()
    loaded = StateReplay.from_bytes(saved)
    assert loaded.to_bytes() == saved
    assert loaded.lots.states() == first.replay.lots.states()
    assert (loaded.size, loaded.committed, loaded.tree_root) == (
        split,
        first.replay.committed,
        log.roots[split],
    )
    rest = audit_entries(
        log,
        log.checkpoint_at(log.size),
        log.keys(),
        frontier=CompactRange(split, first.frontier),
        last_leaf=first.last_leaf,
        replay=loaded,
    )
    assert rest.ok, rest.failure
    assert rest.replay is not None
    assert rest.replay.lots.states() == log.lots.states()
    assert rest.replay.map_root() == log.true_root().root


def test_a_damaged_replay_is_refused() -> None:
    log = world_log(1, 5)
    report = run(log)
    assert report.replay is not None
    good = report.replay.to_bytes()
    for bad in (b"", good[:-7], good[:40] + b"x" + good[41:], b"altan-ledger/state-replay/v2\n"):
        with pytest.raises(MalformedInput, match="state replay"):
            StateReplay.from_bytes(bad)


def test_a_replay_of_another_size_is_refused_by_the_audit() -> None:
    log = world_log(1, 5)
    with pytest.raises(MalformedInput, match="covers 0 entries"):
        audit_entries(
            log,
            log.checkpoint_at(log.size),
            log.keys(),
            frontier=CompactRange(3, _range(log, 3)),
            last_leaf=log.rows[2].leaf_hash,
            replay=StateReplay(),
        )


def _range(log: SyntheticLog, size: int) -> tuple[bytes, ...]:
    tree = CompactRange()
    for row in log.rows[:size]:
        tree.append(row.leaf_hash)
    return tuple(tree.hashes)


def split_verdicts(log: SyntheticLog, splits: list[int]) -> tuple[FailureKind, int | None] | None:
    """Audit `log` in runs ending at each of `splits` then at its size, each run going on
    from the replay the last one saved (to bytes and back): the first failure, or None."""
    frontier, last_leaf, replay = CompactRange(), ZERO_HASH, StateReplay()
    for end in [*sorted(splits), log.size]:
        report = audit_entries(
            log,
            log.checkpoint_at(end),
            log.keys(),
            frontier=frontier,
            last_leaf=last_leaf,
            replay=replay,
        )
        if report.failure is not None:
            return verdict(report)
        assert report.replay is not None
        frontier = CompactRange(end, report.frontier)
        last_leaf = report.last_leaf
        replay = StateReplay.from_bytes(report.replay.to_bytes())
    return None


MISDEEDS: dict[str, RootEdit | None] = {
    "honest": None,
    "wrong-root": lambda i, r: replace(r, root=b"\x01" * 32).body(),
    "wrong-lots": lambda i, r: replace(r, lots=r.lots + 2).body(),
    "wrong-size": lambda i, r: replace(r, size=i + 1).body(),
}


@settings(max_examples=40)
@given(
    st.integers(0, 2**32),
    st.sampled_from(sorted(MISDEEDS)),
    st.sampled_from(["none", "early", "late"]),
    st.data(),
)
def test_an_audit_in_runs_gives_the_verdict_of_a_full_one(
    seed: int, misdeed: str, unprojectable: str, data: st.DataObject
) -> None:
    rnd = random.Random(seed)
    world, log = World(rnd), SyntheticLog()
    appends = rnd.randint(3, 12)
    bad_at = rnd.randrange(appends)
    edit = MISDEEDS[misdeed]
    roots: list[int] = []

    def close(index: int, root: StateRoot) -> Body:
        roots.append(index)
        if edit is not None and len(roots) == bad_at + 1:
            return edit(index, root)
        return root.body()

    for n in range(appends):
        if (unprojectable == "early" and n == 0) or (unprojectable == "late" and n == appends - 1):
            log.append([Event("lot.exported", "centre:a", {"lot": "NO-SUCH-LOT"})], root=None)
        log.append([world.event() for _ in range(rnd.randint(1, 3))], root=close)
    full = verdict(run(log))
    if misdeed == "honest" and unprojectable == "none":
        assert full is None
    else:
        assert full is not None
    splits = data.draw(st.lists(st.integers(0, log.size), max_size=4, unique=True), label="splits")
    assert split_verdicts(log, splits) == full


# --- the tables of a source ----------------------------------------------------------------


class TabledLog(SyntheticLog):
    """A synthetic log whose "service" also keeps every lot's state in tables, which an
    insider may edit; `behind` entries were appended after the checkpoint was read."""

    def __init__(self) -> None:
        super().__init__()
        self.edits: dict[str, LotState | None] = {}
        self.extra: dict[str, LotState] = {}

    def table_states(self) -> tuple[int, Mapping[str, LotState]] | None:
        states: dict[str, LotState] = dict(self.lots.states())
        for lot, state in self.edits.items():
            if state is None:
                del states[lot]
            else:
                states[lot] = state
        states.update(self.extra)
        return self.size, states


def tabled(seed: int = 8, appends: int = 10) -> TabledLog:
    rnd = random.Random(seed)
    world, log = World(rnd), TabledLog()
    for _ in range(appends):
        log.append([world.event() for _ in range(rnd.randint(1, 4))])
    return log


def test_honest_tables_audit_ok() -> None:
    log = tabled()
    assert isinstance(log, StateTables)
    report = run(log)
    assert report.ok, report.failure


def test_an_edited_table_field_is_named_with_both_values() -> None:
    log = tabled()
    states = log.lots.states()
    lot = sorted(states)[3]
    was = states[lot]
    log.edits[lot] = replace(was, custodian="buyer:someone-else", mass_left=was.mass_left + 1)
    report = run(log)
    assert report.failure is not None
    assert report.failure.kind == FailureKind.STATE_TABLE_MISMATCH
    assert report.failure.index == was.latest_index
    assert {(d.lot, d.field, d.entries, d.tables) for d in report.failure.differences} == {
        (lot, "custodian", was.custodian, "buyer:someone-else"),
        (lot, "mass_left", was.mass_left, was.mass_left + 1),
    }
    message = report.failure.message
    says = f"the entries give {was.custodian!r}, the tables say 'buyer:someone-else'"
    assert f"lot {lot} custodian: {says}" in message


def test_a_revocation_erased_from_the_tables_is_named() -> None:
    # the review's attack: UPDATE certificates SET revoked_index = NULL
    log = TabledLog()
    log.append([Event("ore.delivered", "centre:a", {"lot": "L1", "miner": "m", "mass_g": 9})])
    log.append(
        [
            Event(
                "certificate.issued", "centre:a", {"lot": "L1", "certificate": "c1", "kind": "gold"}
            )
        ]
    )
    log.append([Event("certificate.revoked", "regulator:mrpam", {"certificate": "c1"})])
    was = log.lots.state("L1")
    assert was is not None and was.revoked == ("c1",) and was.certificate is None
    log.edits["L1"] = replace(was, revoked=(), certificate="c1")
    report = run(log)
    assert report.failure is not None and report.failure.kind == FailureKind.STATE_TABLE_MISMATCH
    fields = {d.field: (d.entries, d.tables) for d in report.failure.differences}
    assert fields == {"revoked": (["c1"], []), "certificate": (None, "c1")}


def test_lots_only_one_side_holds_are_named() -> None:
    log = tabled()
    gone = sorted(log.lots.states())[0]
    log.edits[gone] = None
    log.extra["FORGED-1"] = LotState("active", "centre:a", "centre:a", None, 5, 2)
    report = run(log)
    assert report.failure is not None
    found = {(d.lot, d.field, d.entries, d.tables) for d in report.failure.differences}
    assert found == {(gone, "lot", True, False), ("FORGED-1", "lot", False, True)}


def test_tables_ahead_of_the_checkpoint_are_compared_at_their_size() -> None:
    # entries appended after the checkpoint was read: the tables reflect them, so they are
    # projected too, and the replay no longer ends at the checkpoint
    log = tabled()
    checkpoint = log.checkpoint_at(log.size)
    rnd = random.Random(1)
    world = World(rnd)
    world.active = {
        lot: s.mass_left for lot, s in log.lots.states().items() if s.status == "active"
    }
    world.n = 10_000
    log.append([world.event() for _ in range(3)])
    report = audit_entries(log, checkpoint, log.keys(), replay=StateReplay())
    assert report.ok, report.failure
    assert report.replay is None  # not resumable: it went past the checkpoint


def test_state_differences_of_equal_sides_is_empty() -> None:
    log = world_log(3, 6)
    assert state_differences(log.lots, log.lots.states()) == []
