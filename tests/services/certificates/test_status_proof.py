"""`GET /lots/{id}/status-proof` and the map the log commits to, through the real service:
every checkpoint ends with a `state.root` entry whose root is the pure recomputation's, a
proof checks out with nothing but the pure core, an unknown lot gets a proof of absence,
and an insider's edit of a projection table does not change what a proof says."""

from __future__ import annotations

import base64
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from ledger.checkpoint import open_checkpoint
from ledger.entry import Entry
from ledger.hashing import hash_leaf
from ledger.lotstate import LotStates
from ledger.merkle import verify_inclusion
from ledger.note import NoteVerifier
from ledger.statemap import (
    STATE_ROOT_TYPE,
    LotState,
    MapProof,
    StateMap,
    StateRoot,
    lot_key,
    verify,
)
from services.actors.bootstrap import bootstrap_administrator
from services.app import create_app
from services.identity import Principal
from services.pipeline.service import Submission
from services.runtime import Runtime, open_runtime
from services.settings import Settings
from support.certificates import (
    AUDITOR,
    BANK,
    CENTRE,
    PARTNERSHIP,
    REGULATOR,
    SITE,
    World,
    populate,
)
from support.db import Database, database_url
from support.domain import WHEN, Api, TestClient, running_api
from support.lotstates import log_entries

PUBLIC_URL = "https://altan.mn"


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    with running_api(tmp_path, public_url=PUBLIC_URL) as api:
        yield populate(api)


def proven(world: World, lot: str) -> tuple[LotState | None, dict[str, Any]]:
    """What a verifier does with only the pure core and the log's pinned keys."""
    resp = world.c.get(f"/lots/{lot}/status-proof")
    assert resp.status_code == 200, resp.text
    body = resp.json()
    verifiers = [NoteVerifier.from_vkey(v) for v in world.vkeys()]
    cp, _ = open_checkpoint(body["checkpoint"], verifiers)
    root = body["root"]
    assert cp.size == body["tree_size"] == root["index"] + 1
    entry_bytes = base64.b64decode(root["entry"])
    verify_inclusion(
        hash_leaf(entry_bytes),
        root["index"],
        cp.size,
        [base64.b64decode(h) for h in root["inclusion"]],
        cp.root_hash,
    )
    committed = StateRoot.from_entry(Entry.from_bytes(entry_bytes))
    state = None if body["state"] is None else LotState.from_json(body["state"])
    verify(
        committed.root,
        lot_key(lot),
        None if state is None else state.hash(),
        MapProof.from_json(body["map_proof"]),
    )
    return state, body


def recomputed(world: World) -> tuple[LotStates, list[Entry]]:
    engine = world.c.app.state.runtime.engine  # type: ignore[attr-defined]
    entries = log_entries(engine)
    states = LotStates()
    for e in entries:
        states.apply(e)
    return states, entries


def test_every_append_ends_with_the_root_of_the_recomputed_map(world: World) -> None:
    world.gold("AU-1", 5000)
    world.request("AU-1")
    world.offer_and_accept("OF-1", "AU-1", BANK)
    engine = world.c.app.state.runtime.engine  # type: ignore[attr-defined]
    entries = log_entries(engine)
    with engine.connect() as conn:
        sizes = [int(s) for (s,) in conn.execute(text("SELECT size FROM log_checkpoints"))]
    assert sizes[0] == 0
    states, smap = LotStates(), StateMap()
    roots = 0
    for e in entries:
        if e.event.type == STATE_ROOT_TYPE:
            committed = StateRoot.from_entry(e)
            assert committed.root == smap.root and committed.lots == len(smap)
            roots += 1
        for lot in states.apply(e):
            state = states.state(lot)
            assert state is not None
            smap.set(lot_key(lot), state.hash())
    assert sorted(states.lot_ids()) == ["AU-1", "ORE-AU-1"]
    # every checkpoint but the empty log's ends with a state.root, and nothing else is one
    for size in sizes[1:]:
        assert entries[size - 1].event.type == STATE_ROOT_TYPE
    assert roots == len(sizes) - 1


def test_a_proof_shows_the_lots_state_as_the_log_defines_it(world: World) -> None:
    world.gold("AU-2", 4000)
    world.request("AU-2")
    state, body = proven(world, "AU-2")
    states, _ = recomputed(world)
    assert state == states.state("AU-2")
    assert state is not None and state.custodian == CENTRE and state.certificate is not None
    assert body["lot"] == "AU-2"
    world.offer_and_accept("OF-2", "AU-2", BANK)
    after, _ = proven(world, "AU-2")
    assert after is not None and after.custodian == BANK and after.owner == BANK


def test_an_unknown_lot_gets_a_proof_of_absence(world: World) -> None:
    world.gold("AU-3", 1000)
    state, body = proven(world, "NO-SUCH-LOT")
    assert state is None and body["state"] is None
    # and that proof cannot be passed off as one of a lot that exists
    real, _ = proven(world, "AU-3")
    assert real is not None
    committed = StateRoot.from_entry(Entry.from_bytes(base64.b64decode(body["root"]["entry"])))
    with pytest.raises(Exception):
        verify(committed.root, lot_key("AU-3"), None, MapProof.from_json(body["map_proof"]))


def test_bounds_on_the_lot_id(world: World) -> None:
    resp = world.c.get("/lots/" + "x" * 65 + "/status-proof")
    assert resp.status_code == 422
    assert resp.headers["content-type"].startswith("application/problem+json")


def test_an_insiders_table_edit_does_not_change_the_proven_status(world: World) -> None:
    world.gold("AU-4", 3000)
    world.request("AU-4")
    cert = world.certificates("AU-4")[0]
    world.api.ok(
        REGULATOR, "certificate.revoked", {"certificate": cert["id"], "reason": "forged assay"}
    )
    before, _ = proven(world, "AU-4")
    assert before is not None and cert["id"] in before.revoked and before.certificate is None
    engine = world.c.app.state.runtime.engine  # type: ignore[attr-defined]
    with engine.begin() as conn:  # the insider
        conn.execute(text("UPDATE certificates SET revoked_index = NULL"))
    after, _ = proven(world, "AU-4")
    assert after == before
    verdict = world.verdict(cert["token"])
    assert verdict["status_proof"]["state"]["revoked"] == [cert["id"]]


def test_a_database_from_before_the_map_gets_it_at_start(tmp_path: Path) -> None:
    """An upgraded database has lots but no map: the service writes it when it starts, and
    the next append commits the root of every lot's state, as the pure projection says."""
    with running_api(tmp_path, public_url=PUBLIC_URL) as api:
        world = populate(api)
        world.gold("AU-5", 2000)
        engine = world.c.app.state.runtime.engine  # type: ignore[attr-defined]
        with engine.begin() as conn:  # as if migrated from 0011: map tables empty
            for table in ("state_values", "state_nodes", "state_tips", "state_head"):
                conn.execute(text(f"DELETE FROM {table}"))
    app = create_app(Settings(data_dir=tmp_path / "data", public_url=PUBLIC_URL))
    with TestClient(app) as client:  # the service starts again on that database
        api = Api(client, world.api.tokens["admin:root"])
        api.tokens.update(world.api.tokens)
        again = World(api)
        again.request("AU-5")
        state, _ = proven(again, "AU-5")
        states, entries = recomputed(again)
        assert state == states.state("AU-5")
        last = StateRoot.from_entry(entries[-1])
        smap = StateMap({lot_key(lot): s.hash() for lot, s in states.states().items()})
        assert last.root == smap.root and last.lots == 2


def test_nobody_can_record_a_state_root(world: World) -> None:
    """The entry is the system's alone: not even an administrator submits one."""
    before = world.size()
    body = {"map": "altan-map-v1", "root": "A" * 43 + "=", "size": before, "lots": 0}
    for actor in ("admin:root", REGULATOR, AUDITOR):
        resp = world.api.post(actor, STATE_ROOT_TYPE, body)
        assert resp.status_code == 404, resp.text
        assert resp.json()["type"].endswith("/unknown-event-type")
    assert world.size() == before


def test_a_refused_atomic_batch_leaves_the_map_as_it_was(world: World) -> None:
    world.gold("AU-6", 1000)
    engine = world.c.app.state.runtime.engine  # type: ignore[attr-defined]
    tables = ("state_values", "state_nodes", "state_tips", "state_head")

    def rows() -> dict[str, list[tuple[object, ...]]]:
        with engine.connect() as conn:
            return {t: sorted(conn.execute(text(f"SELECT * FROM {t}"))) for t in tables}

    before, size = rows(), world.size()
    good = {
        "type": "lot.split",
        "body": {
            "occurred_at": WHEN,
            "lot": "AU-6",
            "into": [{"lot": "AU-6a", "mass_mg": 500}, {"lot": "AU-6b", "mass_mg": 500}],
        },
    }
    bad = {"type": "lot.exported", "body": {"occurred_at": WHEN, "lot": "NO-SUCH"}}
    resp = world.c.post(
        "/events/batch",
        json={"items": [good, bad], "atomic": True},
        headers=world.api.headers(CENTRE),
    )
    assert resp.status_code == 422, resp.text
    assert rows() == before and world.size() == size


def test_two_writers_commit_every_root_right(database: Database, tmp_path: Path) -> None:
    """Two service processes (two engines, two pipelines) appending to one database at once:
    each append's closer runs under the head lock, so every state.root is still the map of
    the states the entries give, on SQLite and PostgreSQL."""
    url, _ = database_url(database)
    runtimes = [
        open_runtime(Settings(data_dir=tmp_path / "data", database_url=url)) for _ in range(2)
    ]
    try:
        first = runtimes[0].events
        assert bootstrap_administrator(first) is not None
        admin = Principal("admin:root", "administrator")
        for actor, role in ((CENTRE, "processing_centre"), (PARTNERSHIP, "partnership")):
            body = {"occurred_at": WHEN, "actor": actor, "role": role}
            first.submit(admin, Submission("actor.registered", body))
        site = {
            "occurred_at": WHEN,
            "site": SITE,
            "owner": PARTNERSHIP,
            "region": {"aimag": "Töv", "soum": "Zaamar"},
            "lat": "48.1",
            "lon": "104.1",
        }
        first.submit(admin, Submission("site.registered", site))
        centre = Principal(CENTRE, "processing_centre")
        errors: list[BaseException] = []

        def deliver(runtime: Runtime, name: str) -> None:
            try:
                for n in range(15):
                    body = {
                        "occurred_at": WHEN,
                        "lot": f"ORE-{name}-{n}",
                        "miner": PARTNERSHIP,
                        "site": SITE,
                        "mass_g": 1000 + n,
                        "mined_on": "2026-09-10",
                    }
                    runtime.events.submit(centre, Submission("ore.delivered", body))
            except BaseException as exc:
                errors.append(exc)

        threads = [
            threading.Thread(target=deliver, args=(r, str(i))) for i, r in enumerate(runtimes)
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert not errors, errors
        entries = log_entries(runtimes[0].engine)
    finally:
        for runtime in runtimes:
            runtime.close()
    states, smap, roots = LotStates(), StateMap(), 0
    for e in entries:
        if e.event.type == STATE_ROOT_TYPE:
            committed = StateRoot.from_entry(e)
            assert (committed.root, committed.lots) == (smap.root, len(smap)), e.index
            roots += 1
        for lot in states.apply(e):
            state = states.state(lot)
            assert state is not None
            smap.set(lot_key(lot), state.hash())
    assert len(states) == 30 and roots >= 30 and entries[-1].event.type == STATE_ROOT_TYPE
