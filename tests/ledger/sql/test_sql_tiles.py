"""Tiles read from the log's tables (ledger/sql/tiles.py), on SQLite and PostgreSQL.

A hash tile is a run of node rows at tree level 8L and a bundle a run of entries, cut for
the latest checkpoint's tree: the bytes are the tables' own, a TileReader over them proves
what the node table proves, nothing past the checkpoint is served, and a missing row is
named rather than papered over.
"""

from __future__ import annotations

import pytest
from sqlalchemy import Engine, text

from ledger import merkle
from ledger.errors import OutOfRange, StorageError
from ledger.sql import storage
from ledger.sql.log import Log
from ledger.sql.tiles import TableTiles, database_tiles, read_tile
from ledger.tiles import Tile, TileReader, decode_bundle, decode_hashes, tiles_for_tree
from support.db import T0, Database, database_url
from support.log import event

SIZE = 2 * 256 + 77


@pytest.fixture
def grown(log: Log) -> Log:
    log.append([event(i) for i in range(SIZE)], T0)
    return log


def test_every_tile_is_the_tables_rows(grown: Log) -> None:
    with storage.read_transaction(grown.engine) as conn:
        tiles = TableTiles(conn)
        assert tiles.size == SIZE and tiles.note == tiles.checkpoint.note
        nodes = storage.NodeTable(conn)
        for tile in tiles_for_tree(SIZE):
            hashes = decode_hashes(tiles(tile) or b"", tile)
            found = nodes.get_nodes(tile.node_ids())
            assert hashes == [found[i] for i in tile.node_ids()], tile.path
            if tile.level == 0:
                bundle = tile.bundle()
                rows = storage.read_entries(conn, tile.start, tile.end)
                assert decode_bundle(tiles(bundle) or b"", bundle) == [r.entry for r in rows]
        reader = TileReader(tiles, SIZE)
        for index in (0, 256, SIZE - 1):
            assert merkle.inclusion_proof(reader, index, SIZE) == merkle.inclusion_proof(
                nodes, index, SIZE
            )
        assert merkle.consistency_proof(reader, 300, SIZE) == merkle.consistency_proof(
            nodes, 300, SIZE
        )


def test_nothing_past_the_latest_checkpoint(grown: Log) -> None:
    with storage.write_transaction(grown.engine) as conn:  # appended, not yet published
        grown.append_in(conn, [event(SIZE)], T0, publish=False)
    with storage.read_transaction(grown.engine) as conn:
        tiles = TableTiles(conn)
        assert tiles.size == SIZE
        assert tiles(Tile(0, 2, 78)) is None and tiles(Tile(0, 2, 78, entries=True)) is None
        assert tiles(Tile(0, 2, 77)) is not None
        with pytest.raises(OutOfRange):
            read_tile(conn, Tile(0, 2, 78), SIZE)


def test_a_missing_row_is_named(grown: Log, engine: Engine) -> None:
    with engine.begin() as conn:  # an insider deletes a node (the code never does)
        conn.execute(text("DELETE FROM log_nodes WHERE level = 0 AND idx = 300"))
    with storage.read_transaction(engine) as conn, pytest.raises(StorageError, match="300"):
        read_tile(conn, Tile(0, 1), SIZE)


def test_database_tiles_reads_one_snapshot_by_url(grown: Log, database: Database) -> None:
    url, _ = database_url(database)
    with database_tiles(url) as tiles:
        before = tiles(Tile(0, 2, 77))
        grown.append([event(SIZE + i) for i in range(10)], T0)  # appended meanwhile
        assert tiles.size == SIZE
        assert tiles(Tile(0, 2, 87)) is None  # the snapshot does not see it
        assert tiles(Tile(0, 2, 77)) == before
