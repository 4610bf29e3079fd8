"""`altan audit` checks canonical form and the stored tree (issue 10, holes 2 and 3).

Through the real code path: a running app, the CLI (typer's CliRunner) auditing its database
(`sqlite:///...`) or its HTTP API (through `Network`, which can play a lying proxy), and
database edits as an insider or an operator holding the real log key would make them.

- Hole 2: an entry whose bytes are not the RFC 8785 encoding of their own parse (a repeated
  key above all), signed by the operator with receipt, tree and checkpoint to match, is
  refused (``non_canonical``) over the database and over HTTP.
- Hole 3: a changed, missing or stray row of the node table (``tree_node_mismatch``), an
  entry past the latest checkpoint (``entry_unsigned``) and a head that disagrees
  (``head_mismatch``) fail the database audit; a remote audit checks a sample of the served
  inclusion and consistency proofs against its own tree (``proof_invalid``).
"""

from __future__ import annotations

import base64
import dataclasses
import json
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
import typer
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine, text

import support.audit as incremental
from clients.remote import RemoteLog
from ledger.audit import (
    FailureKind,
    ProofServer,
    TreeSource,
    audit,
    audit_entries,
    keys_from_strings,
)
from ledger.checkpoint import Checkpoint, open_checkpoint, sign_checkpoint
from ledger.encoding import canonical_json, parse_canonical_json
from ledger.entry import Entry, Event, receipt_message
from ledger.errors import MalformedInput
from ledger.hashing import hash_leaf
from ledger.lotstate import LotStates
from ledger.merkle import CompactRange
from ledger.sql import source as source_module
from ledger.sql import storage
from ledger.sql.log import Log
from ledger.sql.source import DatabaseSource
from ledger.sql.statemap import MapStore, read_head
from ledger.statemap import STATE_ROOT_TYPE, LotState, lot_key
from services.cli import lot_tables, register
from support.audit import ORIGIN, URL, Network, altan, app_of, grow, vkey
from support.certificates import BANK, CENTRE, REGULATOR, TRADER, populate
from support.certificates import World as CertWorld
from support.db import Clock
from support.domain import Api, running_api
from support.encoding import fast_or_not
from support.lotstates import log_entries

# The fixtures of test_audit_incremental, reused: a running app grown by 20 events, the
# network into it that the CLI's RemoteLog uses (a lying proxy when `edit` is set), and the
# trusted-state directory under tmp_path.
api = incremental.api
network = incremental.network
_state_home = incremental._state_home

# --- helpers ----------------------------------------------------------------------------------


def engine_of(api: Api) -> Engine:
    engine = app_of(api).state.log.engine
    assert isinstance(engine, Engine)
    return engine


def db_url(api: Api) -> str:
    return engine_of(api).url.render_as_string(hide_password=False)


def sql(api: Api, statement: str, **params: object) -> None:
    with engine_of(api).begin() as conn:
        conn.execute(text(statement), params)


def audit_cli(api: Api, source: str, *extra: str) -> tuple[int, dict[str, Any]]:
    """`altan audit SOURCE --key K --json ...`: the exit code and the JSON report."""
    code, out, err = altan("audit", source, "--key", vkey(api), "--json", *extra)
    lines = out.strip().splitlines()
    assert len(lines) == 1, out + err
    return code, json.loads(lines[0])


def failure_kind(report: dict[str, Any]) -> str | None:
    failure = report.get("failure")
    return None if failure is None else str(failure["kind"])


def last_event_index(rows: list[storage.StoredEntry]) -> int:
    """The last entry that is an event, not the state.root closing its append."""
    return max(r.index for r in rows if Entry.from_bytes(r.entry).event.type != STATE_ROOT_TYPE)


def forge_last_entry(api: Api, transform: Callable[[bytes], bytes]) -> int:
    """As the operator, holding the real log key: replace the last event entry's bytes (not
    the state.root that closes its append), sign its receipt, re-chain and re-sign the
    entries after it, rebuild the node table and re-sign the checkpoint that covers it (the
    earlier checkpoints do not cover it and stay as they are). Returns the entry's index."""
    app = app_of(api)
    signer = app.state.runtime.keystore.active()
    with engine_of(api).begin() as conn:
        size = storage.read_size(conn)
        rows = storage.read_entries(conn, 0, size)
        at = last_event_index(rows)
        data = transform(rows[at].entry)
        assert data != rows[at].entry
        forged = [data]
        for row in rows[at + 1 :]:  # the state.root after it: chained to the forged bytes
            entry = Entry.from_bytes(row.entry)
            forged.append(dataclasses.replace(entry, prev=hash_leaf(forged[-1])).to_bytes())
        for index, data in enumerate(forged, start=at):
            leaf = hash_leaf(data)
            conn.execute(
                text(
                    "UPDATE log_entries SET entry = :e, leaf_hash = :h, signature = :s "
                    "WHERE idx = :i"
                ),
                {"e": data, "h": leaf, "s": signer.sign(receipt_message(leaf)), "i": index},
            )
        tree = CompactRange()
        nodes = [n for row in rows[:at] for n in tree.append(row.leaf_hash)]
        for data in forged:
            nodes.extend(tree.append(hash_leaf(data)))
        conn.execute(text("DELETE FROM log_nodes"))
        storage.insert_nodes(conn, nodes)
        note = sign_checkpoint(Checkpoint(ORIGIN, size, tree.root()), signer.note_signer)
        conn.execute(
            text("UPDATE log_checkpoints SET root_hash = :r, note = :n WHERE size = :s"),
            {"r": tree.root(), "n": note, "s": size},
        )
    return at


def repeat_a_key(data: bytes) -> bytes:
    """The review's attack: a repeated key in the body, in its sorted place (so the repeat is
    the only flaw); most parsers keep the last value, some the first."""
    assert b'"occurred_at"' in data
    return data.replace(b'"occurred_at"', b'"mass_mg":1,"mass_mg":999999999,"occurred_at"', 1)


NON_CANONICAL: dict[str, Callable[[bytes], bytes]] = {
    "repeated-key": repeat_a_key,
    "nested-repeated-key": lambda d: d.replace(b'"body":{', b'"body":{"actor":"x",', 1),
    "whitespace": lambda d: d.replace(b'"v":1', b'"v": 1', 1),
    "escaped-ascii": lambda d: d.replace(b'"actor":"admin:root"', b'"actor":"\\u0061dmin:root"', 1),
    "float-version": lambda d: d.replace(b'"v":1}', b'"v":1.0}', 1),
    "unsorted-keys": lambda d: d.replace(b'{"actor":"admin:root",', b"{", 1).replace(
        b',"index":', b',"actor":"admin:root","index":', 1
    ),
}


# --- hole 2: canonical form -------------------------------------------------------------------


def test_a_repeated_key_signed_by_the_operator_fails_the_database_audit(api: Api) -> None:
    index = forge_last_entry(api, repeat_a_key)
    code, report = audit_cli(api, db_url(api))
    assert code == 1, report
    assert failure_kind(report) == "non_canonical"
    assert report["failure"]["index"] == index
    assert "repeats the key 'mass_mg'" in report["failure"]["message"]


@pytest.mark.parametrize("state", ["--no-state", "--state"])
def test_a_repeated_key_signed_by_the_operator_fails_the_remote_audit(
    api: Api, network: Network, tmp_path: Path, state: str
) -> None:
    index = forge_last_entry(api, repeat_a_key)
    extra = [state] if state == "--no-state" else [state, str(tmp_path / "state.json")]
    code, report = audit_cli(api, URL, *extra)
    assert code == 1, report
    assert failure_kind(report) == "non_canonical"
    assert report["failure"]["index"] == index
    assert not (tmp_path / "state.json").exists()  # nothing trusted from a bad audit


@pytest.mark.parametrize("how", sorted(NON_CANONICAL))
def test_every_non_canonical_form_is_named(api: Api, how: str) -> None:
    forge_last_entry(api, NON_CANONICAL[how])
    report = audit(DatabaseSource(engine_of(api)), workers=1)
    assert report.failure is not None
    assert report.failure.kind == FailureKind.NON_CANONICAL, report.failure


def test_entry_from_bytes_refuses_non_canonical_bytes(api: Api) -> None:
    # the parse the service, the SDK and bundles use refuses them too
    with storage.read_transaction(engine_of(api)) as conn:
        good = storage_entry(api, last_event_index(storage.read_entries(conn, 0, size_of(api))))
    assert Entry.from_bytes(good).to_bytes() == good
    for transform in NON_CANONICAL.values():
        bad = transform(good)
        assert bad != good
        with pytest.raises(MalformedInput, match="canonical form"):
            Entry.from_bytes(bad)


@settings(max_examples=300, deadline=None)
@given(fast_or_not)
def test_canonical_bytes_of_any_value_are_accepted(value: object) -> None:
    # An honest log is never accused: whatever the service can encode (floats, non-ASCII
    # keys in UTF-16 order, escapes) parses back with no problem, in an entry too.
    try:
        data = canonical_json(value)
    except MalformedInput:
        assume(False)  # not representable: the service could not have written it
    parsed, problem = parse_canonical_json(data)
    assert problem is None and canonical_json(parsed) == data
    moment = datetime(2026, 9, 14, tzinfo=UTC)
    entry = Entry.create(5, bytes(32), moment, Event("x.y", "a:b", {"v": value}))
    assert Entry.from_bytes(entry.to_bytes()).to_bytes() == entry.to_bytes()


@settings(max_examples=300, deadline=None)
@given(fast_or_not, st.booleans(), st.booleans())
def test_the_canonical_check_agrees_with_encoding_the_parse(
    value: object, sort_keys: bool, ensure_ascii: bool
) -> None:
    # json.dumps bytes, canonical or not: the verdict is exactly "the RFC 8785 encoding of
    # the parse gives these bytes back" (the check's shortcut for simple values included)
    try:
        data = json.dumps(
            value, sort_keys=sort_keys, ensure_ascii=ensure_ascii, separators=(",", ":")
        ).encode("utf-8")
    except UnicodeEncodeError:
        assume(False)  # a lone surrogate with ensure_ascii off: not UTF-8
    parsed, problem = parse_canonical_json(data)
    try:
        expected = canonical_json(parsed) == data
    except MalformedInput:
        expected = False
    assert (problem is None) == expected, (data, problem)


def storage_entry(api: Api, index: int) -> bytes:
    with storage.read_transaction(engine_of(api)) as conn:
        return storage.read_entries(conn, index, index + 1)[0].entry


# --- hole 3, the database: the node table, the head, what lies past the checkpoint ------------


def size_of(api: Api) -> int:
    with storage.read_transaction(engine_of(api)) as conn:
        return storage.read_size(conn)


def test_a_changed_node_row_is_named(api: Api) -> None:
    sql(api, "UPDATE log_nodes SET hash = :h WHERE level = 1 AND idx = 2", h=bytes(32))
    code, report = audit_cli(api, db_url(api))
    assert code == 1, report
    assert failure_kind(report) == "tree_node_mismatch"
    assert "(level 1, index 2)" in report["failure"]["message"]
    assert "entries 4..5" in report["failure"]["message"]


def test_a_changed_leaf_row_is_named(api: Api) -> None:
    # level 0 holds the leaf hashes proofs start from; the entry's own leaf_hash column is
    # another copy, so the entries alone still verify
    sql(api, "UPDATE log_nodes SET hash = :h WHERE level = 0 AND idx = 13", h=b"\x01" * 32)
    code, report = audit_cli(api, db_url(api))
    assert (code, failure_kind(report)) == (1, "tree_node_mismatch"), report
    assert "(level 0, index 13)" in report["failure"]["message"]


def test_a_missing_node_row_is_named(api: Api) -> None:
    sql(api, "DELETE FROM log_nodes WHERE level = 2 AND idx = 1")
    code, report = audit_cli(api, db_url(api))
    assert (code, failure_kind(report)) == (1, "tree_node_mismatch"), report
    assert "(level 2, index 1)" in report["failure"]["message"]
    assert "missing" in report["failure"]["message"]


def test_a_stray_node_row_is_named(api: Api) -> None:
    size = size_of(api)
    sql(api, "INSERT INTO log_nodes (level, idx, hash) VALUES (0, :i, :h)", i=size, h=bytes(32))
    code, report = audit_cli(api, db_url(api))
    assert (code, failure_kind(report)) == (1, "tree_node_mismatch"), report
    assert f"(level 0, index {size}) is stored but is no node" in report["failure"]["message"]


def test_a_moved_head_is_named(api: Api) -> None:
    size = size_of(api)
    sql(api, "UPDATE log_head SET size = :s", s=size - 3)
    code, report = audit_cli(api, db_url(api))
    assert (code, failure_kind(report)) == (1, "head_mismatch"), report
    assert f"says {size - 3} entries" in report["failure"]["message"]


def test_an_entry_past_the_latest_checkpoint_is_named(api: Api) -> None:
    # An operator with the key can sign a receipt; without a checkpoint in the same
    # transaction, the entry was not appended by the log.
    signer = app_of(api).state.runtime.keystore.active()
    size = size_of(api)
    with storage.read_transaction(engine_of(api)) as conn:
        last = storage.read_entries(conn, size - 1, size)[0]
    entry = Entry.from_bytes(last.entry)
    data = Entry(size, last.leaf_hash, entry.time, entry.event).to_bytes()
    leaf = hash_leaf(data)
    with engine_of(api).begin() as conn:
        storage.insert_entries(
            conn,
            [
                storage.StoredEntry(
                    size, data, leaf, signer.key.key_id, signer.sign(receipt_message(leaf))
                )
            ],
        )
    code, report = audit_cli(api, db_url(api))
    assert (code, failure_kind(report)) == (1, "entry_unsigned"), report
    assert report["failure"]["index"] == size


def test_a_database_audit_from_a_frontier_checks_the_nodes_after_it(api: Api) -> None:
    engine = engine_of(api)
    source = DatabaseSource(engine, page=3)
    keys = keys_from_strings([vkey(api)])
    with storage.read_transaction(engine) as conn:
        first = storage.checkpoint_at(conn, 8)
    assert first is not None
    cp8, _ = open_checkpoint(first.note, [k.note_verifier() for k in keys], ORIGIN)
    base = audit_entries(source, cp8, keys)
    assert base.ok, base.failure
    latest, _ = open_checkpoint(source.checkpoint(), [k.note_verifier() for k in keys], ORIGIN)
    frontier = CompactRange(8, base.frontier)

    def incremental() -> Any:
        return audit_entries(source, latest, keys, frontier=frontier, last_leaf=base.last_leaf)

    assert incremental().ok
    # a node below the frontier is not this audit's to read; one past it is
    sql(api, "UPDATE log_nodes SET hash = :h WHERE level = 0 AND idx = 3", h=bytes(32))
    assert incremental().ok
    sql(api, "UPDATE log_nodes SET hash = :h WHERE level = 3 AND idx = 1", h=bytes(32))
    report = incremental()
    assert report.failure is not None
    assert report.failure.kind == FailureKind.TREE_NODE_MISMATCH
    assert "(level 3, index 1)" in report.failure.message


# --- hole 3, over HTTP: served proofs checked against the audit's own tree --------------------


def flip_bit_in_proof(path: str, times: int = 1) -> Callable[[httpx.Request, httpx.Response], Any]:
    """A proxy that flips one bit of the first hash of the first `times` proofs at `path`."""
    left = [times]

    def edit(request: httpx.Request, resp: httpx.Response) -> httpx.Response:
        if request.url.path != path or left[0] == 0:
            return resp
        body = json.loads(resp.content)
        if not body["hashes"]:
            return resp
        left[0] -= 1
        first = bytearray(base64.b64decode(body["hashes"][0]))
        first[7] ^= 0x10
        body["hashes"][0] = base64.b64encode(bytes(first)).decode()
        return httpx.Response(
            resp.status_code, headers=resp.headers, content=json.dumps(body).encode()
        )

    return edit


@pytest.mark.parametrize("state", ["--no-state", "--state"])
def test_one_flipped_bit_in_one_served_inclusion_proof_fails_the_remote_audit(
    api: Api, network: Network, tmp_path: Path, state: str
) -> None:
    network.edit = flip_bit_in_proof("/log/proof/inclusion")
    extra = [state] if state == "--no-state" else [state, str(tmp_path / "state.json")]
    code, report = audit_cli(api, URL, *extra)
    assert code == 1, report
    assert failure_kind(report) == "proof_invalid"
    assert "inclusion proof of entry" in report["failure"]["message"]
    assert not (tmp_path / "state.json").exists()


def test_a_bad_served_consistency_proof_fails_a_whole_log_remote_audit(
    api: Api, network: Network
) -> None:
    network.edit = flip_bit_in_proof("/log/proof/consistency")
    code, report = audit_cli(api, URL, "--no-state")
    assert (code, failure_kind(report)) == (1, "proof_invalid"), report
    assert "consistency proof from size" in report["failure"]["message"]


def test_a_corrupted_node_row_fails_the_remote_audit_too(api: Api, network: Network) -> None:
    size = size_of(api)
    level = (size - 1).bit_length() - 1  # the largest perfect subtree on the left, (level, 0)
    assert 2**level < size  # so the last leaf's inclusion proof starts from it
    sql(api, "UPDATE log_nodes SET hash = :h WHERE level = :l AND idx = 0", h=bytes(32), l=level)
    code, report = audit_cli(api, URL, "--no-state")
    assert (code, failure_kind(report)) == (1, "proof_invalid"), report
    # the first sampled leaf whose proof needs that node: the last one at the latest
    assert 2**level <= report["failure"]["index"] <= size - 1


def test_an_incremental_remote_audit_samples_only_the_new_entries(
    api: Api, network: Network, tmp_path: Path
) -> None:
    state = tmp_path / "state.json"
    code, report = audit_cli(api, URL, "--state", str(state))
    assert code == 0, report
    old = size_of(api)
    grow(api, 5)
    new = size_of(api)
    network.paths.clear()
    asked: list[int] = []
    network.before = lambda r: (
        asked.append(int(r.url.params["index"])) if r.url.path == "/log/proof/inclusion" else None
    )
    code, report = audit_cli(api, URL, "--state", str(state))
    assert code == 0, report
    assert asked and all(old <= i < new for i in asked)
    assert network.paths.count("/log/proof/consistency") == 1  # trusted -> new, only
    # and a bad proof for a new entry is caught
    grow(api, 3)
    network.edit = flip_bit_in_proof("/log/proof/inclusion")
    code, report = audit_cli(api, URL, "--state", str(state))
    assert (code, failure_kind(report)) == (1, "proof_invalid"), report


def test_the_sample_is_small_and_hits_first_and_last(api: Api, network: Network) -> None:
    asked: list[tuple[str, dict[str, str]]] = []
    network.before = lambda r: asked.append((r.url.path, dict(r.url.params)))
    code, report = audit_cli(api, URL, "--no-state")
    assert code == 0, report
    size = size_of(api)
    inclusion = [int(p["index"]) for path, p in asked if path == "/log/proof/inclusion"]
    consistency = [int(p["first"]) for path, p in asked if path == "/log/proof/consistency"]
    assert {0, size - 1} <= set(inclusion) and len(inclusion) == 16 == len(set(inclusion))
    assert 1 in consistency and len(consistency) == 4


# --- an honest log is never accused ------------------------------------------------------------


@pytest.mark.parametrize("size", [1, 2, 3, 7, 8, 9, 100])
def test_honest_logs_of_every_shape_audit_ok(log: Log, clock: Clock, size: int) -> None:
    done = 0
    batch = 1
    while done < size:  # batches of 1, 2, 3, ...: checkpoints at uneven sizes
        n = min(batch, size - done)
        log.append(
            [Event("ore.delivered", "centre:a", {"lot": f"L{done + i}"}) for i in range(n)], clock()
        )
        done += n
        batch += 1
    source = DatabaseSource(log.engine, page=4)
    assert isinstance(source, TreeSource) and not isinstance(source, ProofServer)
    report = audit(source, workers=1)
    assert report.ok, report.failure
    assert report.entries_verified == size
    # and one changed node at any level of it is found
    with log.engine.begin() as conn:
        level, idx = conn.execute(
            text("SELECT level, idx FROM log_nodes ORDER BY level DESC, idx DESC LIMIT 1")
        ).one()
        conn.execute(
            text("UPDATE log_nodes SET hash = :h WHERE level = :l AND idx = :i"),
            {"h": bytes(32), "l": level, "i": idx},
        )
    report = audit(source, workers=1)
    assert report.failure is not None
    assert report.failure.kind == FailureKind.TREE_NODE_MISMATCH
    assert f"(level {level}, index {idx})" in report.failure.message


def test_an_honest_server_audits_ok_at_every_size_both_ways(tmp_path: Path) -> None:
    with running_api(tmp_path) as server:
        net = Network(server)
        keys = keys_from_strings([vkey(server)])
        for target in (1, 2, 3, 7, 8, 9, 100):  # about those sizes: an append adds 2 entries
            while size_of(server) < target:
                grow(server, 1)
            size = size_of(server)
            with RemoteLog(URL, transport=net, page=7) as remote:
                assert isinstance(remote, ProofServer) and not isinstance(remote, TreeSource)
                report = audit(remote, trusted_keys=keys, workers=1)
                assert report.ok, (size, report.failure)
            source = DatabaseSource(engine_of(server), page=5)
            report = audit(source, trusted_keys=keys, workers=1)
            assert report.ok, (size, report.failure)
        code, report_json = audit_cli(server, db_url(server))
        assert code == 0 and report_json["ok"], report_json


# --- issue 14: the state map and the service's projection tables -------------------------------


@pytest.fixture
def service_tables(client_only: None) -> None:
    """What `altan` does at start-up when the service is installed: its database audits
    compare the service's projection tables too (`services.cli.register`)."""
    register(typer.Typer())


@pytest.fixture
def client_only(monkeypatch: pytest.MonkeyPatch) -> None:
    """No reader of the service's tables, whatever a test before in this process attached
    (`altan`'s start-up attaches one for the rest of the process); restored afterwards."""
    monkeypatch.setattr(source_module, "_table_reader", [None])


@pytest.fixture
def lots(tmp_path: Path) -> Iterator[CertWorld]:
    """A running service with lots: one revoked certificate, one sold lot, one ore lot."""
    with running_api(tmp_path) as server:
        world = populate(server)
        world.gold("AU-1", 5000)
        world.request("AU-1")
        cert = world.certificates("AU-1")[0]["id"]
        world.api.ok(REGULATOR, "certificate.revoked", {"certificate": cert, "reason": "assay"})
        world.gold("AU-2", 3000)
        world.request("AU-2")
        world.offer_and_accept("OF-2", "AU-2", BANK)
        world.deliver("ORE-3", 1000)
        yield world


def state_of(world: CertWorld, lot: str) -> LotState:
    entries = log_entries(engine_of(world.api))
    states = LotStates()
    states.apply_all(entries)
    state = states.state(lot)
    assert state is not None
    return state


def test_honest_tables_and_state_roots_audit_ok(lots: CertWorld, service_tables: None) -> None:
    code, report = audit_cli(lots.api, db_url(lots.api))
    assert code == 0 and report["ok"], report
    entries = log_entries(engine_of(lots.api))
    assert entries[-1].event.type == STATE_ROOT_TYPE  # the map is committed and was checked


def test_an_erased_revocation_in_the_certificates_table_is_named(
    lots: CertWorld, service_tables: None
) -> None:
    # the review's attack: the certificate shows as current again on every table read
    state = state_of(lots, "AU-1")
    [revoked] = state.revoked
    sql(lots.api, "UPDATE certificates SET revoked_index = NULL")
    code, report = audit_cli(lots.api, db_url(lots.api))
    assert (code, failure_kind(report)) == (1, "state_table_mismatch"), report
    message = report["failure"]["message"]
    assert f"lot AU-1 revoked: the entries give ['{revoked}'], the tables say []" in message
    assert f"lot AU-1 certificate: the entries give None, the tables say '{revoked}'" in message
    assert report["failure"]["index"] == state.latest_index
    # the log itself is sound: a remote audit (no tables) passes
    with RemoteLog(URL, transport=Network(lots.api), page=50) as remote:
        assert audit(remote, trusted_keys=keys_from_strings([vkey(lots.api)]), workers=1).ok


def test_a_sale_undone_in_the_lots_table_is_named(lots: CertWorld, service_tables: None) -> None:
    state = state_of(lots, "AU-2")
    assert state.custodian == BANK
    sql(lots.api, "UPDATE lots SET custodian_id = :c, owner_id = :c WHERE id = 'AU-2'", c=CENTRE)
    report = audit(
        DatabaseSource(engine_of(lots.api), tables=lot_tables),
        trusted_keys=keys_from_strings([vkey(lots.api)]),
        workers=1,
    )
    assert report.failure is not None
    assert report.failure.kind == FailureKind.STATE_TABLE_MISMATCH
    assert {(d.lot, d.field, d.entries, d.tables) for d in report.failure.differences} == {
        ("AU-2", "custodian", BANK, CENTRE),
        ("AU-2", "owner", BANK, CENTRE),
    }


def test_a_lot_deleted_from_the_tables_is_named(lots: CertWorld, service_tables: None) -> None:
    sql(lots.api, "DELETE FROM lot_events WHERE lot_id = 'ORE-3'")
    sql(lots.api, "DELETE FROM lots WHERE id = 'ORE-3'")
    code, report = audit_cli(lots.api, db_url(lots.api))
    assert (code, failure_kind(report)) == (1, "state_table_mismatch"), report
    assert (
        "lot ORE-3: the entries create it, the tables do not hold it"
        in report["failure"]["message"]
    )


def test_a_client_only_audit_reads_no_tables(lots: CertWorld, client_only: None) -> None:
    # without the service installed, `altan audit sqlite:///` checks the log alone
    sql(lots.api, "UPDATE certificates SET revoked_index = NULL")
    code, report = audit_cli(lots.api, db_url(lots.api))
    assert code == 0, report


def test_a_log_only_database_has_no_tables_to_compare(log: Log, clock: Clock) -> None:
    log.append(
        [Event("ore.delivered", "centre:a", {"lot": "L1", "miner": "m", "mass_g": 5})], clock()
    )
    report = audit(DatabaseSource(log.engine, tables=lot_tables), workers=1)
    assert report.ok, report.failure


def map_root_entries(world: CertWorld) -> list[int]:
    return [e.index for e in log_entries(engine_of(world.api)) if e.event.type == STATE_ROOT_TYPE]


def test_a_rewritten_map_count_makes_the_next_state_root_wrong(lots: CertWorld) -> None:
    # an insider edits the map's head row: the service commits the next root with it
    sql(lots.api, "UPDATE state_head SET lots = lots + 1")
    lots.deliver("ORE-4", 2000)
    wrong = map_root_entries(lots)[-1]
    for source in (db_url(lots.api), "--remote"):
        if source == "--remote":
            with RemoteLog(URL, transport=Network(lots.api), page=50) as remote:
                keys = keys_from_strings([vkey(lots.api)])
                failure = audit(remote, trusted_keys=keys, workers=1).failure
            assert failure is not None
            kind, index, message = failure.kind, failure.index, failure.message
        else:
            code, report = audit_cli(lots.api, source)
            assert code == 1, report
            kind, index, message = (
                report["failure"]["kind"],
                report["failure"]["index"],
                report["failure"]["message"],
            )
        assert (kind, index) == ("state_root_mismatch", wrong)
        assert f"the state root at entry {wrong} differs from the recomputed map" in message
        assert "lots, the entries create" in message


def test_a_rewritten_map_node_makes_the_next_state_root_wrong(lots: CertWorld) -> None:
    # an insider rewrites a node of the map that the next update hashes through (a sibling
    # on the path of the lot the next event touches): the root it commits is wrong
    engine = engine_of(lots.api)
    key = lot_key("AU-2")
    with engine.begin() as conn:
        head = read_head(conn)
        smap = MapStore(conn).load([key], head.lots)
    k = int.from_bytes(key, "big")
    path = [(1 << d) | (k >> (256 - d)) for d in range(1, 257)]
    sibling = next(node ^ 1 for node in path if node ^ 1 in smap.interior)
    node_bytes = sibling.to_bytes((sibling.bit_length() + 7) // 8, "big")
    sql(lots.api, "UPDATE state_nodes SET hash = :h WHERE node = :n", h=b"\x05" * 32, n=node_bytes)
    lots.api.ok(BANK, "transfer.offered", {"offer": "OF-9", "lot": "AU-2", "to": TRADER})
    wrong = map_root_entries(lots)[-1]
    code, report = audit_cli(lots.api, db_url(lots.api))
    assert (code, failure_kind(report)) == (1, "state_root_mismatch"), report
    assert report["failure"]["index"] == wrong
    assert "commits to root" in report["failure"]["message"]
