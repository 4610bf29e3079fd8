"""The pure lot projection (`ledger.lotstate`) against the service's projection tables.

Differential: worlds are built through the real service on SQLite (the shared API world of
tests/support/world.py, the demo season of services/demo.py, and the demo followed by a
seeded chaos run of every event type that touches a lot, tests/support/lotstates.py);
then every entry is read back from the log, projected by `LotStates`, and every field of
every lot compared with what the `lots`, `certificates`, `cases` and `lot_events` tables
say. Then hypothesis: replays are refused and change nothing, unknown event types are
ignored wherever they fall, and a malformed entry is refused with its index.
"""

from __future__ import annotations

import dataclasses
import random
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine

from ledger.entry import Entry, Event
from ledger.errors import ChainBroken
from ledger.lotstate import EVENT_TYPES, LotStates, StateProjectionError
from ledger.statemap import STATE_ROOT_TYPE, LotState, StateMap, StateRoot, lot_key
from services.actors.bootstrap import bootstrap_administrator
from services.demo import fill_demo
from services.runtime import Runtime, open_runtime
from services.settings import Settings
from support.lotstates import (
    Chaos,
    differences,
    log_entries,
    projected,
    service_certificates,
    service_states,
)
from support.world import populated

ZERO = bytes(32)
TIME = "2026-10-30T02:00:00.000000Z"


def _runtime(tmp: Path) -> Iterator[Runtime]:
    runtime = open_runtime(Settings(data_dir=tmp / "data", access_log=False))
    try:
        assert bootstrap_administrator(runtime.events) is not None
        yield runtime
    finally:
        runtime.close()


def _agree(engine: Engine, entries: list[Entry]) -> LotStates:
    """Project the entries, compare with the tables; return the projection."""
    states = projected(entries)
    tables = service_states(engine)
    assert differences(states, tables) == []
    assert dict(states.certificates()) == service_certificates(engine)
    assert len(states) == len(tables)
    return states


# --- the worlds ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def chaos_world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Runtime, Chaos]]:
    """The demo season (200 events), then 500 chaos steps (seed 14)."""
    for runtime in _runtime(tmp_path_factory.mktemp("chaos")):
        fill_demo(runtime.events, 200, seed=14)
        chaos = Chaos(runtime.events, runtime.engine, random.Random(14))
        chaos.run(500)
        yield runtime, chaos


@pytest.fixture(scope="module")
def chaos_entries(chaos_world: tuple[Runtime, Chaos]) -> list[Entry]:
    return log_entries(chaos_world[0].engine)


def test_the_shared_api_world_agrees(tmp_path: Path) -> None:
    with populated(tmp_path, "sqlite") as world:
        engine = world.api.client.app.state.runtime.engine  # type: ignore[attr-defined]
        states = _agree(engine, log_entries(engine))
    assert {"ORE-1", "AU-1"} <= set(states.lot_ids())
    ore = states.state("ORE-1")
    assert ore is not None and (ore.status, ore.mass_left) == ("closed", 0)


def test_the_demo_season_agrees(tmp_path: Path) -> None:
    for runtime in _runtime(tmp_path):
        recorded, _ = fill_demo(runtime.events, 600, seed=3)
        entries = log_entries(runtime.engine)
        states = _agree(runtime.engine, entries)
    assert recorded >= 600
    found = states.states().values()
    assert {s.status for s in found} >= {"active", "closed"}
    assert any(s.certificate for s in found)


def test_the_chaos_world_agrees(
    chaos_world: tuple[Runtime, Chaos], chaos_entries: list[Entry]
) -> None:
    runtime, chaos = chaos_world
    states = _agree(runtime.engine, chaos_entries)
    # The run reached every event type that changes a lot, and every status.
    seen = {e.event.type for e in chaos_entries}
    assert seen >= EVENT_TYPES, sorted(EVENT_TYPES - seen)
    found = states.states().values()
    assert {s.status for s in found} == {"active", "closed", "exported", "refined"}
    assert any(s.holds for s in found)
    assert any(s.certificate is None for s in found if s.status == "active")
    print(
        f"lotstate chaos: {len(chaos_entries)} entries, {len(states)} lots, "
        f"recorded {sum(chaos.recorded.values())} refused {sum(chaos.refused.values())}"
    )


def test_the_tables_agree_after_every_prefix_of_a_small_world(tmp_path: Path) -> None:
    """Not only at the end: after each chaos step, the projection of the log so far agrees
    with the tables (a projector that is right at the end by accident is caught)."""
    for runtime in _runtime(tmp_path):
        fill_demo(runtime.events, 60, seed=5)
        chaos = Chaos(runtime.events, runtime.engine, random.Random(5))
        states = LotStates()
        for _ in range(120):
            chaos.step()
            for entry in log_entries(runtime.engine)[states.size :]:
                changed = states.apply(entry)
                for lot_id in changed:
                    state = states.state(lot_id)
                    assert state is not None and state.latest_index == entry.index
            assert differences(states, service_states(runtime.engine)) == []


@settings(max_examples=3, deadline=None, suppress_health_check=list(HealthCheck))
@given(seed=st.integers(0, 2**32 - 1))
def test_hypothesis_chosen_chaos_agrees(
    tmp_path_factory: pytest.TempPathFactory, seed: int
) -> None:
    for runtime in _runtime(tmp_path_factory.mktemp("hyp")):
        fill_demo(runtime.events, 60, seed=seed % 1000)
        Chaos(runtime.events, runtime.engine, random.Random(seed)).run(150)
        _agree(runtime.engine, log_entries(runtime.engine))


# --- order, replays, unknown types -----------------------------------------------------------


def _event(index: int, type_: str, body: dict[str, object], actor: str = "x:y") -> Entry:
    return Entry(index=index, prev=ZERO, time=TIME, event=Event(type=type_, actor=actor, body=body))


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.data())
def test_replays_and_gaps_are_refused_and_change_nothing(
    chaos_entries: list[Entry], data: st.DataObject
) -> None:
    n = data.draw(st.integers(0, len(chaos_entries) - 1))
    states = projected(chaos_entries[:n])
    before = states.states()
    other = data.draw(st.integers(0, len(chaos_entries) - 1).filter(lambda i: i != n))
    with pytest.raises(ChainBroken):
        states.apply(chaos_entries[other])
    assert states.states() == before and states.size == n
    states.apply(chaos_entries[n])  # the right one still goes in
    assert states.size == n + 1


unknown_types = st.from_regex(r"[a-z]{1,8}\.[a-z]{1,8}", fullmatch=True).filter(
    lambda t: t not in EVENT_TYPES
)
json_bodies = st.dictionaries(
    st.sampled_from(["lot", "lots", "case", "offer", "certificate", "into", "target", "x"]),
    st.recursive(
        st.none() | st.integers() | st.text(max_size=5), lambda c: st.lists(c, max_size=3)
    ),
    max_size=4,
)


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.data())
def test_unknown_event_types_are_ignored_wherever_they_fall(
    chaos_entries: list[Entry], data: st.DataObject
) -> None:
    base = chaos_entries[: data.draw(st.integers(0, len(chaos_entries)))]
    inserts = data.draw(
        st.lists(st.tuples(st.integers(0, len(base)), unknown_types, json_bodies), max_size=8)
    )
    at: dict[int, list[tuple[str, dict[str, object]]]] = {}
    for pos, type_, body in inserts:
        at.setdefault(pos, []).append((type_, body))
    mixed: list[Entry] = []
    new_index: dict[int, int] = {}
    for i in range(len(base) + 1):
        for type_, body in at.get(i, []):
            mixed.append(_event(len(mixed), type_, body))
        if i < len(base):
            new_index[i] = len(mixed)
            mixed.append(dataclasses.replace(base[i], index=len(mixed)))
    plain, noisy = LotStates(), LotStates()
    for entry in base:
        plain.apply(entry)
    for entry in mixed:
        changed = noisy.apply(entry)
        if entry.event.type not in EVENT_TYPES:
            assert changed == set()
    expected = {
        lot: dataclasses.replace(s, latest_index=new_index[s.latest_index])
        for lot, s in plain.states().items()
    }
    assert noisy.states() == expected
    assert noisy.size == len(mixed)


def test_every_state_is_a_valid_map_value(chaos_entries: list[Entry]) -> None:
    for state in projected(chaos_entries).states().values():
        assert LotState.from_json(state.to_json()) == state
        assert len(state.hash()) == 32


# --- what the projection refuses -------------------------------------------------------------


DELIVERY = {"lot": "ORE-1", "miner": "partnership:a", "site": "S", "mass_g": 1000}


@pytest.mark.parametrize(
    ("type_", "body", "says"),
    [
        ("ore.delivered", DELIVERY, "already exists"),
        ("assay.recorded", {"lot": "NOPE"}, "no lot"),
        (
            "processing.recorded",
            {
                "inputs": [{"lot": "ORE-1", "mass_g": 1001}],
                "outputs": [{"lot": "AU", "mass_mg": 5}],
            },
            "1001 g used",
        ),
        ("transfer.accepted", {"offer": "O"}, "no offer"),
        ("case.resolved", {"case": "C"}, "no case"),
        ("certificate.revoked", {"certificate": "c", "reason": "r"}, "no certificate"),
        ("ore.delivered", {"lot": "ORE-2", "miner": "m", "site": "S", "mass_g": "12"}, "mass_g"),
        ("lot.split", {"lot": "ORE-1", "into": "two"}, "body.into"),
    ],
)
def test_an_entry_the_service_could_not_have_projected_is_refused_by_index(
    type_: str, body: dict[str, object], says: str
) -> None:
    states = LotStates()
    states.apply(_event(0, "ore.delivered", DELIVERY, actor="centre:c"))
    with pytest.raises(StateProjectionError, match=says) as caught:
        states.apply(_event(1, type_, body))
    assert caught.value.index == 1
    with pytest.raises(StateProjectionError, match="broke at entry 1"):
        states.apply(_event(2, "assay.recorded", {"lot": "ORE-1"}))


def test_holds_and_certificates_follow_the_case_and_certificate_lifecycle() -> None:
    """A hand-written log: the ids and values each step gives, as the docstring says."""
    log: list[tuple[str, dict[str, object], str]] = [
        ("ore.delivered", DELIVERY, "centre:c"),
        (
            "processing.recorded",
            {
                "inputs": [{"lot": "ORE-1", "mass_g": 400}],
                "outputs": [{"lot": "AU", "mass_mg": 90}],
            },
            "centre:c",
        ),
        (
            "certificate.issued",
            {"certificate": "r1", "lot": "ORE-1", "kind": "ore_receipt"},
            "system:altan",
        ),
        (
            "certificate.issued",
            {"certificate": "c1", "lot": "AU", "kind": "gold_lot"},
            "system:altan",
        ),
        (
            "certificate.issued",
            {"certificate": "c2", "lot": "AU", "kind": "gold_lot"},
            "system:altan",
        ),
        ("certificate.revoked", {"certificate": "c2", "reason": "r"}, "regulator:r"),
        (
            "case.opened",
            {"case": "H", "kind": "hold", "target": {"kind": "lot", "id": "AU"}},
            "auditor:a",
        ),
        (
            "case.opened",
            {"case": "F", "kind": "red_flag", "target": {"kind": "lot", "id": "AU"}},
            "auditor:a",
        ),
        (
            "case.opened",
            {"case": "A", "kind": "hold", "target": {"kind": "actor", "id": "centre:c"}},
            "auditor:a",
        ),
        ("case.resolved", {"case": "H"}, "auditor:a"),
        ("case.responded", {"case": "H"}, "centre:c"),
        ("transfer.offered", {"offer": "O", "lot": "AU", "to": "buyer:b"}, "centre:c"),
        ("transfer.accepted", {"offer": "O"}, "buyer:b"),
        ("lot.refined", {"lot": "AU"}, "buyer:b"),
    ]
    states = LotStates()
    changes = [states.apply(_event(i, t, b, actor=a)) for i, (t, b, a) in enumerate(log)]
    assert changes[1] == {"ORE-1", "AU"} and changes[8] == set()
    assert states.state("ORE-1") == LotState("active", "centre:c", "partnership:a", "r1", 600, 2)
    # c2 superseded c1, then was revoked: no current certificate; H open again after its
    # (rule-breaking) response, as the service's status column would say.
    assert states.state("AU") == LotState(
        "refined", "buyer:b", "buyer:b", None, 90, 13, ("H",), ("c2",)
    )
    assert states.lot_of("c1") == "AU" and states.lot_of("nope") is None
    assert states.state("NOPE") is None


# --- an edited table parts from the log --------------------------------------------------------


def test_edited_projection_tables_are_named_by_lot_and_field(tmp_path: Path) -> None:
    """The review's attacks on the tables (a revocation erased, a sold lot given back, a
    hold lifted, mass added) each show as a difference naming the lot and the field."""
    for runtime in _runtime(tmp_path):
        fill_demo(runtime.events, 80, seed=7)
        Chaos(runtime.events, runtime.engine, random.Random(7)).run(250)
        states = _agree(runtime.engine, log_entries(runtime.engine))
        found = states.states()
        with runtime.engine.connect() as conn:  # revoked while it was its lot's current one
            revoked = conn.exec_driver_sql(
                "SELECT id FROM certificates WHERE revoked_index IS NOT NULL "
                "AND superseded_by IS NULL ORDER BY id LIMIT 1"
            ).scalar_one()
        sold = next(lot for lot, s in found.items() if s.custodian.startswith("buyer:"))
        held = next(lot for lot, s in found.items() if s.holds)
        with runtime.engine.begin() as conn:
            conn.exec_driver_sql(
                "UPDATE certificates SET revoked_index = NULL WHERE id = ?", (revoked,)
            )
            conn.exec_driver_sql(
                "UPDATE lots SET custodian_id = 'centre:bornuur', remaining = remaining + 1 "
                "WHERE id = ?",
                (sold,),
            )
            conn.exec_driver_sql(
                "UPDATE cases SET status = 'resolved' WHERE id = ?", (found[held].holds[0],)
            )
        parted = {
            (lot, name) for lot, name, _, _ in differences(states, service_states(runtime.engine))
        }
    assert {
        (states.lot_of(revoked), "certificate"),
        (sold, "custodian"),
        (sold, "mass_left"),
        (held, "holds"),
    } <= parted


def test_every_committed_root_is_the_map_of_the_recomputed_states(
    chaos_entries: list[Entry],
) -> None:
    """What the service's closer commits (from its tables) is what the pure projection
    gives, at every state.root of a world with every kind of event and many refusals."""
    states, smap, roots = LotStates(), StateMap(), 0
    for entry in chaos_entries:
        if entry.event.type == STATE_ROOT_TYPE:
            committed = StateRoot.from_entry(entry)
            assert (committed.root, committed.lots) == (smap.root, len(smap)), entry.index
            roots += 1
        for lot in states.apply(entry):
            state = states.state(lot)
            assert state is not None
            smap.set(lot_key(lot), state.hash())
    assert chaos_entries[-1].event.type == STATE_ROOT_TYPE and roots > 300
