"""The log as an appender and an auditor sees it: receipts, checkpoints, proofs, group commit."""

from __future__ import annotations

import json
import threading

import pytest

from ledger.audit import audit
from ledger.batcher import GroupCommitter
from ledger.checkpoint import open_checkpoint
from ledger.entry import ZERO_HASH, Entry, Event, receipt_message
from ledger.errors import InvalidSignature, MalformedInput, OutOfRange
from ledger.hashing import hash_leaf
from ledger.keystore import KeyStore
from ledger.merkle import verify_consistency, verify_inclusion
from ledger.sql.log import Log
from ledger.sql.source import DatabaseSource
from support.db import ORIGIN, T0, Clock


def ore(i: int, **extra: object) -> Event:
    return Event(
        type="ore.delivered",
        actor="centre:bornuur",
        body={"lot": f"ORE-{i:06d}", "mass_kg": "1200.5", **extra},
    )


def open_cp(log: Log, keystore: KeyStore):  # type: ignore[no-untyped-def]
    cp, _ = open_checkpoint(
        log.checkpoint().note, [k.note_verifier() for k in keystore.keys()], ORIGIN
    )
    return cp


def test_empty_log_publishes_a_signed_size_zero_checkpoint(log: Log, keystore: KeyStore) -> None:
    cp = open_cp(log, keystore)
    assert cp.size == 0
    assert cp.root_hash == bytes.fromhex(
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    )


def test_receipts_are_signed_leaf_hashes_of_chained_canonical_entries(
    log: Log, keystore: KeyStore, clock: Clock
) -> None:
    first = log.append([ore(1)], clock())
    batch = log.append([ore(2), ore(3), ore(4)], clock())
    assert [r.index for r in first.receipts + batch.receipts] == [0, 1, 2, 3]
    key = keystore.active().key
    rows = log.entries(0, 10, limit=100)
    prev = ZERO_HASH
    for row, receipt in zip(rows, first.receipts + batch.receipts, strict=True):
        assert hash_leaf(row.entry) == row.leaf_hash == receipt.leaf_hash
        key.verify(receipt_message(receipt.leaf_hash), receipt.signature)
        entry = Entry.from_bytes(row.entry)
        assert entry.index == row.index
        assert entry.prev == prev
        # the stored bytes are the RFC 8785 form: sorted keys, no spaces
        assert row.entry == Entry(entry.index, entry.prev, entry.time, entry.event).to_bytes()
        assert list(json.loads(row.entry)) == sorted(json.loads(row.entry))
        prev = row.leaf_hash
    with pytest.raises(InvalidSignature):
        key.verify(receipt_message(rows[0].leaf_hash), batch.receipts[0].signature)


def test_one_checkpoint_per_batch_and_proofs_verify_against_it(
    log: Log, keystore: KeyStore, clock: Clock
) -> None:
    roots = {}
    for size in range(1, 40):
        result = log.append([ore(size)], clock())
        cp = open_cp(log, keystore)
        assert cp.size == result.size == size
        roots[size] = cp.root_hash
    leaves = [r.leaf_hash for r in log.entries(0, 39, 100)]
    for n in (1, 2, 3, 7, 8, 9, 31, 39):
        for i in range(n):
            verify_inclusion(leaves[i], i, n, log.inclusion_proof(i, n), roots[n])
        for m in range(1, n + 1):
            verify_consistency(m, n, log.consistency_proof(m, n), roots[m], roots[n])


def test_bad_arguments_are_refused_not_crashed(log: Log, clock: Clock) -> None:
    log.append([ore(1), ore(2)], clock())
    with pytest.raises(OutOfRange):
        log.inclusion_proof(2, 2)
    with pytest.raises(OutOfRange):
        log.inclusion_proof(0, 3)
    with pytest.raises(OutOfRange):
        log.consistency_proof(0, 2)
    with pytest.raises(OutOfRange):
        log.consistency_proof(2, 1)
    with pytest.raises(OutOfRange):
        log.entries(2, 5, 10)
    with pytest.raises(MalformedInput):
        log.append([], clock())


def test_a_failed_batch_records_nothing(log: Log, clock: Clock) -> None:
    log.append([ore(1)], clock())
    huge = ore(2, notes="x" * 70_000)
    with pytest.raises(MalformedInput):
        log.append([ore(3), huge], clock())
    assert log.size() == 1
    assert log.append([ore(4)], clock()).receipts[0].index == 1
    assert audit(DatabaseSource(log.engine), workers=1).ok


def test_events_validate_themselves() -> None:
    with pytest.raises(MalformedInput, match="type"):
        Event(type="Ore Delivered", actor="a", body={})
    with pytest.raises(MalformedInput, match="actor"):
        Event(type="ore.delivered", actor="", body={})
    with pytest.raises(MalformedInput, match="actor_sig"):
        Event(type="ore.delivered", actor="a", body={}, actor_key_id="00000000")
    with pytest.raises(MalformedInput):
        Entry.create(0, ZERO_HASH, T0, Event("x", "a", {"big": 2**60})).to_bytes()


def test_group_commit_batches_concurrent_single_appends(log: Log, clock: Clock) -> None:
    committer = GroupCommitter(log, clock, max_batch=64)
    receipts = []
    lock = threading.Lock()

    def worker(w: int) -> None:
        futures = [committer.submit(ore(w * 1000 + i)) for i in range(100)]
        got = [f.result(timeout=60) for f in futures]
        with lock:
            receipts.extend(got)

    threads = [threading.Thread(target=worker, args=(w,)) for w in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    bad = committer.submit(ore(99, notes="x" * 70_000))
    good = committer.submit(ore(100))
    committer.close()
    with pytest.raises(MalformedInput):
        bad.result(timeout=10)
    assert good.result(timeout=10).index == 800
    assert sorted(r.index for r in receipts) == list(range(800))
    report = audit(DatabaseSource(log.engine), workers=1)
    assert report.ok, report.failure
    # batched: far fewer checkpoints than events
    assert report.checkpoints_verified < 800


def test_rotation_keeps_old_receipts_and_checkpoints_verifiable(
    log: Log, keystore: KeyStore, clock: Clock
) -> None:
    log.append([ore(1), ore(2)], clock())
    old = keystore.active().key
    keystore.rotate(clock())
    log.initialise(keystore.keys(), clock())
    new = log.append([ore(3)], clock())
    assert new.receipts[0].key_id != old.key_id
    assert {k.status for k in log.public_keys()} == {"active", "retired"}
    report = audit(DatabaseSource(log.engine), workers=1)
    assert report.ok, report.failure
    assert report.entries_verified == 3


def test_node_reads_are_primary_key_lookups_not_scans(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """Regression: `(level, idx) IN (VALUES ...)` made SQLite scan log_nodes on every
    proof and append (200 ms per proof at a million entries)."""
    from ledger.merkle import inclusion_proof_plan
    from ledger.sql.storage import _nodes_sql, _placeholder, create_schema, make_engine

    engine = make_engine(f"sqlite:///{tmp_path / 'plan.db'}")
    create_schema(engine)
    ids = [node for group in inclusion_proof_plan(5, 1000) for node in group]
    with engine.connect() as conn:
        sql = _nodes_sql(len(ids), _placeholder(conn))
        plan = conn.exec_driver_sql(
            "EXPLAIN QUERY PLAN " + sql, tuple(x for node in ids for x in node)
        ).all()
    details = " ".join(str(row[-1]) for row in plan)
    assert "SCAN" not in details, details
    assert "PRIMARY KEY" in details or "INDEX" in details, details
    engine.dispose()
