"""Someone with write access to the database changes the record: the audit names it.

Each case edits the database with plain SQL, as an insider would, then audits from the
database alone and expects the right failure kind at the right index.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import Engine, text

from ledger.audit import FailureKind, audit
from ledger.checkpoint import Checkpoint, sign_checkpoint
from ledger.entry import Event
from ledger.keystore import KeyStore
from ledger.sql.log import Log
from ledger.sql.source import DatabaseSource
from support.db import ORIGIN, T0, Clock

N = 40


@pytest.fixture
def filled(log: Log, clock: Clock) -> Log:
    for start in range(0, N, 8):  # five batches, five checkpoints
        log.append(
            [
                Event("ore.delivered", "centre:mandal", {"lot": f"ORE-{i:04d}", "mass_kg": "900"})
                for i in range(start, start + 8)
            ],
            clock(),
        )
    return log


def run(engine: Engine):  # type: ignore[no-untyped-def]
    return audit(DatabaseSource(engine), workers=1)


def sql(engine: Engine, statement: str, **params: object) -> None:
    with engine.begin() as conn:
        conn.execute(text(statement), params)


def test_untouched_log_verifies(filled: Log) -> None:
    report = run(filled.engine)
    assert report.ok, report.failure
    assert report.entries_verified == N
    assert report.checkpoints_verified == 6  # size 0 and five batches


def test_edited_entry_is_named(filled: Log) -> None:
    with filled.engine.connect() as conn:
        data = conn.execute(text("SELECT entry FROM log_entries WHERE idx = 17")).scalar_one()
    sql(
        filled.engine,
        "UPDATE log_entries SET entry = :e WHERE idx = 17",
        e=bytes(data).replace(b'"900"', b'"9000"'),
    )
    report = run(filled.engine)
    assert report.failure is not None
    assert (report.failure.kind, report.failure.index) == (FailureKind.CONTENT_CHANGED, 17)


def test_edited_entry_with_recomputed_leaf_hash_fails_its_receipt(filled: Log) -> None:
    import hashlib

    with filled.engine.connect() as conn:
        data = bytes(conn.execute(text("SELECT entry FROM log_entries WHERE idx = 5")).scalar_one())
    forged = data.replace(b'"900"', b'"9000"')
    sql(
        filled.engine,
        "UPDATE log_entries SET entry = :e, leaf_hash = :h WHERE idx = 5",
        e=forged,
        h=hashlib.sha256(b"\x00" + forged).digest(),
    )
    report = run(filled.engine)
    assert report.failure is not None
    assert (report.failure.kind, report.failure.index) == (FailureKind.RECEIPT_INVALID, 5)


def test_deleted_entry_is_named(filled: Log) -> None:
    sql(filled.engine, "DELETE FROM log_entries WHERE idx = 23")
    report = run(filled.engine)
    assert report.failure is not None
    assert (report.failure.kind, report.failure.index) == (FailureKind.ENTRY_MISSING, 23)


def test_swapped_entries_are_named(filled: Log) -> None:
    sql(filled.engine, "UPDATE log_entries SET idx = -1 WHERE idx = 11")
    sql(filled.engine, "UPDATE log_entries SET idx = 11 WHERE idx = 12")
    sql(filled.engine, "UPDATE log_entries SET idx = 12 WHERE idx = -1")
    report = run(filled.engine)
    assert report.failure is not None
    assert (report.failure.kind, report.failure.index) == (FailureKind.ORDER_BROKEN, 11)


def test_truncated_tail_is_named(filled: Log) -> None:
    sql(filled.engine, "DELETE FROM log_entries WHERE idx >= 35")
    sql(filled.engine, "UPDATE log_head SET size = 35")
    report = run(filled.engine)
    assert report.failure is not None
    assert (report.failure.kind, report.failure.index) == (FailureKind.ENTRY_MISSING, 35)


def test_checkpoint_signed_by_another_key_is_refused(filled: Log, tmp_path: Path) -> None:
    intruder = KeyStore(tmp_path / "intruder", ORIGIN)
    intruder.load_or_create(T0)
    with filled.engine.connect() as conn:
        root = bytes(
            conn.execute(
                text("SELECT root_hash FROM log_checkpoints WHERE size = :n"), {"n": N}
            ).scalar_one()
        )
    forged = sign_checkpoint(Checkpoint(ORIGIN, N, root), intruder.active().note_signer)
    sql(filled.engine, "UPDATE log_checkpoints SET note = :n WHERE size = :s", n=forged, s=N)
    report = run(filled.engine)
    assert report.failure is not None
    assert report.failure.kind == FailureKind.CHECKPOINT_SIGNATURE_INVALID


def test_forked_checkpoint_signed_by_the_log_key_is_caught(filled: Log, keystore: KeyStore) -> None:
    # The operator signs a second checkpoint at a size it already published, with another
    # root (showing some parties a different history): the entries give it away.
    fork_root = bytes(32)
    note = sign_checkpoint(Checkpoint(ORIGIN, 20, fork_root), keystore.active().note_signer)
    sql(
        filled.engine,
        "INSERT INTO log_checkpoints (size, root_hash, key_id, published_at, note) "
        "VALUES (20, :r, :k, '2026-09-01T00:00:00.000000Z', :n)",
        r=fork_root,
        k=keystore.active().key.key_id,
        n=note,
    )
    report = run(filled.engine)
    assert report.failure is not None
    assert (report.failure.kind, report.failure.index) == (FailureKind.CHECKPOINT_FORK, 19)


def test_rewritten_history_under_a_valid_latest_checkpoint_is_caught(
    filled: Log, keystore: KeyStore
) -> None:
    # Latest checkpoint replaced by one with another root, correctly signed.
    note = sign_checkpoint(Checkpoint(ORIGIN, N, bytes(32)), keystore.active().note_signer)
    sql(
        filled.engine,
        "UPDATE log_checkpoints SET note = :n, root_hash = :r WHERE size = :s",
        n=note,
        r=bytes(32),
        s=N,
    )
    report = run(filled.engine)
    assert report.failure is not None
    assert report.failure.kind in (FailureKind.CHECKPOINT_FORK, FailureKind.ROOT_MISMATCH)


def test_parallel_audit_finds_the_same_first_failure(filled: Log, clock: Clock) -> None:
    for start in range(N, 5000, 1000):
        filled.append(
            [
                Event("ore.delivered", "centre:mandal", {"lot": f"L{i}"})
                for i in range(start, start + 1000)
            ],
            clock(),
        )
    sql(filled.engine, "DELETE FROM log_entries WHERE idx = 3210")
    report = audit(DatabaseSource(filled.engine, page=700), workers=2)
    assert report.failure is not None
    assert (report.failure.kind, report.failure.index) == (FailureKind.ENTRY_MISSING, 3210)


# --- the stored tree, the head and what lies past the checkpoint (issue 10, hole 3) ----------


def test_changed_node_row_is_named(filled: Log) -> None:
    # Entries, receipts and checkpoints all verify; only the proofs served from it are wrong.
    sql(filled.engine, "UPDATE log_nodes SET hash = :h WHERE level = 3 AND idx = 2", h=bytes(32))
    report = run(filled.engine)
    assert report.failure is not None
    assert report.failure.kind == FailureKind.TREE_NODE_MISMATCH
    assert "(level 3, index 2)" in report.failure.message


def test_deleted_node_row_is_named(filled: Log) -> None:
    sql(filled.engine, "DELETE FROM log_nodes WHERE level = 0 AND idx = 39")
    report = run(filled.engine)
    assert report.failure is not None
    assert report.failure.kind == FailureKind.TREE_NODE_MISMATCH
    assert "(level 0, index 39)" in report.failure.message and "missing" in report.failure.message


def test_moved_head_is_named(filled: Log) -> None:
    sql(filled.engine, "UPDATE log_head SET size = :s", s=N + 5)
    report = run(filled.engine)
    assert report.failure is not None
    assert report.failure.kind == FailureKind.HEAD_MISMATCH


def test_entry_past_the_latest_checkpoint_is_named(filled: Log) -> None:
    sql(
        filled.engine,
        "INSERT INTO log_entries (idx, entry, leaf_hash, key_id, signature) "
        "SELECT :n, entry, leaf_hash, key_id, signature FROM log_entries WHERE idx = 0",
        n=N,
    )
    report = run(filled.engine)
    assert report.failure is not None
    assert (report.failure.kind, report.failure.index) == (FailureKind.ENTRY_UNSIGNED, N)


def test_non_canonical_entry_signed_with_the_log_key_is_named(
    filled: Log, keystore: KeyStore
) -> None:
    # The operator holds the key: the last entry gets a repeated key, a new receipt, and the
    # latest checkpoint is re-signed over the recomputed root. Only canonical form is broken.
    import hashlib

    from ledger.entry import receipt_message
    from ledger.merkle import CompactRange

    signer = keystore.active()
    with filled.engine.connect() as conn:
        rows = conn.execute(text("SELECT entry, leaf_hash FROM log_entries ORDER BY idx")).all()
    forged = bytes(rows[-1][0]).replace(b'"lot":', b'"lot":"X","lot":', 1)
    leaf = hashlib.sha256(b"\x00" + forged).digest()
    tree = CompactRange()
    nodes = [n for _, h in rows[:-1] for n in tree.append(bytes(h))] + tree.append(leaf)
    note = sign_checkpoint(Checkpoint(ORIGIN, N, tree.root()), signer.note_signer)
    sql(
        filled.engine,
        "UPDATE log_entries SET entry = :e, leaf_hash = :h, signature = :s WHERE idx = :i",
        e=forged,
        h=leaf,
        s=signer.sign(receipt_message(leaf)),
        i=N - 1,
    )
    for (level, idx), value in nodes:
        sql(
            filled.engine,
            "UPDATE log_nodes SET hash = :h WHERE level = :l AND idx = :i",
            h=value,
            l=level,
            i=idx,
        )
    sql(
        filled.engine,
        "UPDATE log_checkpoints SET note = :n, root_hash = :r WHERE size = :s",
        n=note,
        r=tree.root(),
        s=N,
    )
    report = run(filled.engine)
    assert report.failure is not None
    assert (report.failure.kind, report.failure.index) == (FailureKind.NON_CANONICAL, N - 1)
    assert "repeats the key 'lot'" in report.failure.message
