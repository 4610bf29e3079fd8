"""`/log/tile/*` and `/log/checkpoint`: the log as C2SP tlog-tiles, over real HTTP (issue 15).

A real app (ASGI, TestClient) whose log grows past a few full tiles. What a client sees:
full tiles cacheable forever, partial tiles and the checkpoint short-lived; a tile's bytes
are the node table's hashes and a bundle's the entries `/log/entries` serves; nothing past
the latest checkpoint (404, not cached); non-canonical paths refused as problem+json; and a
client holding only the checkpoint and a pinned key gets, from tiles alone, the entries and
the very proofs `/log/proof/*` serves.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from ledger import merkle
from ledger.checkpoint import open_checkpoint
from ledger.note import NoteVerifier
from ledger.sql import storage
from ledger.tiles import Tile, TileReader, encode_bundle, parse_tile_path, verified_entries
from support.domain import Api, running_api
from support.tiles import WHEN, ClientTiles, app_log, grow, oversized_event

SIZE = 3 * 256 + 45  # three full level-0 tiles, a partial one of 45; level 1: .p/3
MAX_SHORT = 10  # "a few seconds"


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    with running_api(tmp_path_factory.mktemp("tiles")) as api:
        size = grow(api.client, SIZE - app_log(api.client).size())
        assert size == SIZE
        yield api


def _nodes(api: Api, level: int, start: int, end: int) -> bytes:
    with storage.read_transaction(app_log(api.client).engine) as conn:
        return b"".join(h for _, h in storage.read_nodes(conn, level, start, end, end - start))


def _max_age(cache_control: str) -> int:
    found = re.search(r"max-age=(\d+)", cache_control)
    return int(found.group(1)) if found else 0


def _entries(api: Api, start: int, end: int) -> list[bytes]:
    rows = api.client.get("/log/entries", params={"start": start, "end": end}).json()["entries"]
    return [base64.b64decode(r["entry"]) for r in rows]


def test_a_full_tile_is_the_node_tables_hashes_and_cacheable_forever(api: Api) -> None:
    for n in range(3):
        resp = api.client.get(f"/log/tile/0/{n:03d}")
        assert resp.status_code == 200
        assert resp.headers["content-type"] == "application/octet-stream"
        assert resp.headers["cache-control"] == "public, max-age=31536000, immutable"
        assert len(resp.content) == 8192
        assert resp.content == _nodes(api, 0, 256 * n, 256 * (n + 1))


def test_a_partial_tile_is_short_lived(api: Api) -> None:
    resp = api.client.get("/log/tile/0/003.p/45")
    assert resp.status_code == 200
    assert resp.content == _nodes(api, 0, 768, SIZE)
    cache = resp.headers["cache-control"]
    assert "immutable" not in cache and 0 < _max_age(cache) <= MAX_SHORT
    level1 = api.client.get("/log/tile/1/000.p/3")
    assert level1.status_code == 200 and level1.content == _nodes(api, 8, 0, 3)
    # a narrower width of the same tile (an older checkpoint's) is served as well
    older = api.client.get("/log/tile/0/003.p/7")
    assert older.status_code == 200 and older.content == resp.content[: 7 * 32]


def test_the_checkpoint_is_the_c2sp_one_and_short_lived(api: Api) -> None:
    resp = api.client.get("/log/checkpoint")
    assert resp.status_code == 200
    assert resp.headers["content-type"] == "text/plain; charset=utf-8"
    cache = resp.headers["cache-control"]
    assert "immutable" not in cache
    assert "no-cache" in cache or "no-store" in cache or _max_age(cache) <= MAX_SHORT
    assert resp.text.split("\n")[1] == str(SIZE)


def test_entry_bundles_are_the_entries_and_compressed_when_asked(api: Api) -> None:
    full = api.client.get("/log/tile/entries/001", headers={"Accept-Encoding": "gzip"})
    assert full.status_code == 200
    assert full.headers["content-encoding"] == "gzip"
    assert "Accept-Encoding" in full.headers["vary"]
    assert full.headers["cache-control"] == "public, max-age=31536000, immutable"
    assert full.content == encode_bundle(_entries(api, 256, 512))  # decoded by the client
    assert full.num_bytes_downloaded < len(full.content)
    plain = api.client.get("/log/tile/entries/003.p/45", headers={"Accept-Encoding": "identity"})
    assert "content-encoding" not in plain.headers
    assert plain.content == encode_bundle(_entries(api, 768, SIZE))
    assert "immutable" not in plain.headers["cache-control"]
    refused = api.client.get("/log/tile/entries/000", headers={"Accept-Encoding": "gzip;q=0"})
    assert "content-encoding" not in refused.headers


@pytest.mark.parametrize(
    "path",
    [
        "tile/0/004",  # a full tile the tree has not reached
        "tile/0/003",  # the partial tile's full form
        "tile/0/003.p/46",  # one hash past the tree
        "tile/entries/003.p/46",
        "tile/entries/004.p/1",
        "tile/1/000",
        "tile/2/000.p/1",
        "tile/0/x001/000",
    ],
)
def test_tiles_beyond_the_latest_checkpoint_are_404_and_not_cached(api: Api, path: str) -> None:
    resp = api.client.get(f"/log/{path}")
    assert resp.status_code == 404
    assert resp.headers["content-type"] == "application/problem+json"
    assert resp.json()["type"].endswith("/tile-not-in-tree")
    assert resp.headers["cache-control"] == "no-store"


@pytest.mark.parametrize(
    "path",
    [
        "tile/0/0",
        "tile/0/0001",
        "tile/0/x000/001",
        "tile/00/000",
        "tile/64/000",
        "tile/0/000.p/0",
        "tile/0/000.p/256",
        "tile/0/000.p/045",
        "tile/data/000",
        "tile/0/000/",
        "tile/",
        "tile/0/%E0%A5%A6%E0%A5%A6%E0%A5%A6",  # DEVANAGARI DIGIT ZERO x3
    ],
)
def test_non_canonical_paths_are_400_problems(api: Api, path: str) -> None:
    resp = api.client.get(f"/log/{path}")
    assert resp.status_code == 400, resp.text
    assert resp.headers["content-type"] == "application/problem+json"
    problem = resp.json()
    assert problem["status"] == 400 and "tile path" in problem["detail"]


def test_a_client_with_a_pinned_key_reads_and_proves_from_tiles_alone(api: Api) -> None:
    vkey = api.client.get("/log/keys").json()["keys"][0]["verifier_key"]
    note = api.client.get("/log/checkpoint").text
    checkpoint, _ = open_checkpoint(note, [NoteVerifier.from_vkey(vkey)])
    fetch = ClientTiles(api.client)
    reader = TileReader(fetch, checkpoint.size)
    assert merkle.root_hash(reader, checkpoint.size) == checkpoint.root_hash
    got = list(verified_entries(reader, checkpoint.root_hash))
    assert [e for _, e in got] == _entries(api, 0, SIZE)
    assert fetch.requests <= 4 + 2  # four bundles, the right border's two partial tiles
    for index in (0, 255, 256, 700, SIZE - 1):
        served = api.client.get(
            "/log/proof/inclusion", params={"index": index, "tree_size": SIZE}
        ).json()["hashes"]
        ours = merkle.inclusion_proof(reader, index, SIZE)
        assert [base64.b64encode(h).decode() for h in ours] == served
    for first in (1, 256, 300, 512, SIZE):
        served = api.client.get(
            "/log/proof/consistency", params={"first": first, "second": SIZE}
        ).json()["hashes"]
        ours = merkle.consistency_proof(reader, first, SIZE)
        assert [base64.b64encode(h).decode() for h in ours] == served


def test_the_openapi_document_describes_the_route(api: Api) -> None:
    operation = api.client.get("/openapi.json").json()["paths"]["/log/tile/{path}"]["get"]
    assert set(operation["responses"]) >= {"200", "400", "404", "409"}
    assert "application/octet-stream" in operation["responses"]["200"]["content"]
    assert parse_tile_path("tile/0/x001/x234/067") == Tile(0, 1234067)


# --- a tree that grows, and an entry no bundle can carry ----------------------------------------


def test_growing_fills_the_partial_tile_and_keeps_every_full_one(tmp_path: Path) -> None:
    with running_api(tmp_path) as api:
        grow(api.client, 300 - app_log(api.client).size())
        partial = api.client.get("/log/tile/0/001.p/44").content
        first = api.client.get("/log/tile/0/000").content
        assert api.client.get("/log/tile/0/001").status_code == 404
        grow(api.client, 212)  # 512: tile 1 is full now
        full = api.client.get("/log/tile/0/001")
        assert full.status_code == 200 and full.content[: 44 * 32] == partial
        assert api.client.get("/log/tile/0/000").content == first
        assert api.client.get("/log/tile/0/001.p/44").content == partial  # still served
        assert api.client.get("/log/tile/1/000.p/2").content == _nodes(api, 8, 0, 2)


def test_an_entry_of_65536_bytes_is_named_not_truncated(tmp_path: Path) -> None:
    """MAX_ENTRY_BYTES is 65,536; a bundle's uint16 length stops at 65,535. The bundle is
    refused (409, naming the entry and where to read it); its hash tile is still served."""
    with running_api(tmp_path) as api:
        log = app_log(api.client)
        index = log.size()
        log.append([oversized_event(index)], WHEN)
        size = log.size()
        resp = api.client.get(f"/log/tile/entries/000.p/{size}")
        assert resp.status_code == 409
        assert resp.headers["content-type"] == "application/problem+json"
        detail = resp.json()["detail"]
        assert f"entry {index} has 65536 bytes" in detail and "/log/entries?start=0" in detail
        assert api.client.get(f"/log/tile/0/000.p/{size}").status_code == 200
