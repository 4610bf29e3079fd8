"""`altan tiles export DIR`: a static copy of the log's tiles, from the database or a URL.

Through the real CLI (typer's runner) and a real app: the copy holds exactly what the
server serves under `/log/`, byte for byte; a second run writes only what the tree grew by
(full tiles once, the superseded partial tiles removed, the checkpoint last); nothing a
source cannot prove is written (a flipped byte in a bundle or a tile, another log's tree,
a tree behind the copy's, a checkpoint signed by another key: exit 1, the copy untouched).
"""

from __future__ import annotations

import base64
import json
import os
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from typer.testing import CliRunner

import clients.tiles as tiles_client
import support.witnesses as witnesses
from clients import cli
from clients.tiles import DirectoryTiles, HttpTiles
from ledger.checkpoint import Checkpoint
from ledger.note import Note, NoteSigner
from ledger.sql import tiles as sql_tiles
from ledger.tiles import TileReader, tiles_for_tree, verified_entries
from services.cli import cosigned_note
from support.domain import Api, running_api
from support.independent import _altan, _env
from support.liars import Edit, LyingServer
from support.tiles import WHEN, app_log, grow, oversized_event

PREFIX = "http://ledger.test/log"


def altan(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli.app, list(args), catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


def files(directory: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(directory)): p.read_bytes()
        for p in sorted(directory.rglob("*"))
        if p.is_file()
    }


def db_url(api: Api) -> str:
    url: str = api.client.app.state.settings.resolved_database_url  # type: ignore[attr-defined]
    return url


def served(api: Api, path: str) -> bytes:
    resp = api.client.get(f"/log/{path}", headers={"Accept-Encoding": "identity"})
    assert resp.status_code == 200, (path, resp.text)
    content: bytes = resp.content
    return content


@pytest.fixture
def api(tmp_path: Path) -> Iterator[Api]:
    with running_api(tmp_path / "server") as api:
        yield api


@pytest.fixture
def proxy(api: Api, monkeypatch: pytest.MonkeyPatch) -> LyingServer:
    """`--from` reads through the app; a test may set `proxy.edit` to lie."""
    server = LyingServer(api.client)
    monkeypatch.setattr(tiles_client, "_http_tiles", lambda p: HttpTiles(p, transport=server))
    return server


def test_a_database_export_is_what_the_server_serves(api: Api, tmp_path: Path) -> None:
    w = witnesses.witness("witness.example.mn/tiles")
    witnesses.register(api, w)
    size = grow(api.client, 600 - app_log(api.client).size())
    assert witnesses.cosign_latest(api.client, w).status_code == 201
    sql_tiles.read_notes_with(cosigned_note)  # as `altan`'s server commands register it
    try:
        code, out, err = altan("tiles", "export", str(tmp_path / "copy"), "--db", db_url(api))
    finally:
        sql_tiles.read_notes_with(None)
    assert code == 0, err
    assert out.startswith(f"EXPORTED altan.localhost/ledger tree of size {size}")
    copy = files(tmp_path / "copy")
    expected = {t.path for t in tiles_for_tree(size)}
    expected |= {t.bundle().path for t in tiles_for_tree(size) if t.level == 0}
    assert set(copy) == expected | {"checkpoint"}
    for path, data in copy.items():
        assert data == served(api, path), path
    assert "\u2014 witness.example.mn/tiles " in copy["checkpoint"].decode()
    # an auditor reads the copy back: every entry, proved against the copy's checkpoint
    local = DirectoryTiles(tmp_path / "copy")
    checkpoint = Checkpoint.from_text(Note.from_text(local.checkpoint()).text)
    got = list(verified_entries(TileReader(local, checkpoint.size), checkpoint.root_hash))
    entries = api.client.get("/log/entries", params={"start": 0, "end": size}).json()["entries"]
    assert [e for _, e in got] == [base64.b64decode(r["entry"]) for r in entries]
    for p in (tmp_path / "copy").rglob("*"):
        assert not p.name.startswith(".tmp-")
        if p.is_file():
            assert p.stat().st_mode & 0o777 == 0o644


def test_a_second_run_writes_only_what_the_tree_grew_by(api: Api, tmp_path: Path) -> None:
    copy = tmp_path / "copy"
    grow(api.client, 300 - app_log(api.client).size())
    assert altan("tiles", "export", str(copy), "--db", db_url(api))[0] == 0
    first = copy / "tile/0/000"
    before = first.stat().st_mtime_ns, first.stat().st_ino
    assert (copy / "tile/0/001.p/44").is_file()
    code, out, _ = altan("tiles", "export", str(copy), "--db", db_url(api), "--json")
    assert code == 0 and json.loads(out)["bytes_written"] == 0  # nothing new: nothing written
    grow(api.client, 530 - 300)
    code, out, _ = altan("tiles", "export", str(copy), "--db", db_url(api), "--json")
    assert code == 0, out
    summary = json.loads(out)
    assert (summary["previous_size"], summary["tree_size"]) == (300, 530)
    # tile 1 became full (its .p/ gone), tile 2 partial, level 1 .p/2; tile 0 left alone
    assert (summary["tiles_written"], summary["bundles_written"]) == (3, 2)
    assert summary["partial_dirs_removed"] == 2  # tile/0/001.p and tile/entries/001.p
    assert (first.stat().st_mtime_ns, first.stat().st_ino) == before
    assert not (copy / "tile/0/001.p").exists() and not (copy / "tile/entries/001.p").exists()
    assert (copy / "tile/0/002.p/18").is_file()
    assert (copy / "tile/1/000.p/1").is_file() and (copy / "tile/1/000.p/2").is_file()
    assert set(files(copy)) >= {t.path for t in tiles_for_tree(530)}
    assert (copy / "checkpoint").read_text().split("\n")[1] == "530"


def test_an_export_from_a_url_equals_the_database_export(
    api: Api, proxy: LyingServer, tmp_path: Path
) -> None:
    grow(api.client, 700 - app_log(api.client).size())
    vkey = api.client.get("/log/keys").json()["keys"][0]["verifier_key"]
    assert altan("tiles", "export", str(tmp_path / "a"), "--db", db_url(api))[0] == 0
    code, out, err = altan("tiles", "export", str(tmp_path / "b"), "--from", PREFIX, "--key", vkey)
    assert code == 0, err
    assert "signature checked" in out and "NOT" not in out
    assert files(tmp_path / "a") == files(tmp_path / "b")
    assert {"/log/checkpoint", "/log/tile/0/000", "/log/tile/entries/002.p/188"} <= set(proxy.paths)


def _flip(path: str, offset: int) -> Edit:
    def edit(request: httpx.Request, resp: httpx.Response) -> httpx.Response:
        if request.url.path != path:
            return resp
        raw = bytearray(resp.content)
        raw[offset] ^= 1
        return httpx.Response(resp.status_code, headers=resp.headers, content=bytes(raw))

    return edit


@pytest.mark.parametrize(
    ("path", "offset", "named"),
    [
        ("/log/tile/entries/001", 50, "entry 256"),  # inside entry 256's bytes
        ("/log/tile/0/001", 32 * 200 + 5, "tile/0/001 against its parent tile"),
        ("/log/tile/1/000.p/2", 3, "tree root"),
        ("/log/tile/0/002.p/188", 32 * 187, "tree root"),
    ],
)
def test_a_source_that_lies_is_refused_and_the_copy_left_as_it_was(
    api: Api, proxy: LyingServer, tmp_path: Path, path: str, offset: int, named: str
) -> None:
    copy = tmp_path / "copy"
    grow(api.client, 100 - app_log(api.client).size())
    assert altan("tiles", "export", str(copy), "--from", PREFIX)[0] == 0
    before = files(copy)
    grow(api.client, 700 - 100)
    proxy.edit = _flip(path, offset)
    code, _, err = altan("tiles", "export", str(copy), "--from", PREFIX)
    assert code == 1, err
    assert "\nREFUSED " in "\n" + err and named in err
    after = files(copy)
    assert after["checkpoint"] == before["checkpoint"]
    assert path.removeprefix("/log/") not in after  # the lie was not written


def test_a_tree_that_does_not_extend_the_copy_is_refused(api: Api, tmp_path: Path) -> None:
    """Another server with the same origin (another log: a fork), and a source behind."""
    copy = tmp_path / "copy"
    grow(api.client, 300 - app_log(api.client).size())
    assert altan("tiles", "export", str(copy), "--db", db_url(api))[0] == 0
    before = files(copy)
    with running_api(tmp_path / "other") as other:
        grow(other.client, 900 - app_log(other.client).size())
        code, _, err = altan("tiles", "export", str(copy), "--db", db_url(other))
        assert code == 1 and "does not extend the exported tree" in err, err
        assert files(copy) == before
    grow(api.client, 500)
    assert altan("tiles", "export", str(copy), "--db", db_url(api))[0] == 0
    behind = tmp_path / "behind"
    with running_api(behind) as small:
        grow(small.client, 10)
        code, _, err = altan("tiles", "export", str(copy), "--db", db_url(small))
        assert code == 1 and "refusing to go back" in err, err


def test_a_checkpoint_not_signed_by_the_pinned_key_is_refused(
    api: Api, proxy: LyingServer, tmp_path: Path
) -> None:
    grow(api.client, 10)
    other = NoteSigner(Ed25519PrivateKey.generate(), "altan.localhost/ledger")  # not the log's
    code, _, err = altan(
        "tiles", "export", str(tmp_path / "copy"), "--from", PREFIX, "--key", other.verifier.vkey
    )
    assert code == 1 and "\nREFUSED " in "\n" + err, err
    assert not (tmp_path / "copy").exists()


def test_an_entry_no_bundle_can_carry_stops_the_export_by_name(api: Api, tmp_path: Path) -> None:
    log = app_log(api.client)
    log.append([oversized_event(log.size())], WHEN)
    code, _, err = altan("tiles", "export", str(tmp_path / "copy"), "--db", db_url(api))
    assert code == 2 and "has 65536 bytes" in err, err
    assert not (tmp_path / "copy" / "checkpoint").exists()


def test_one_source_must_be_named(tmp_path: Path) -> None:
    assert altan("tiles", "export", str(tmp_path))[0] == 2
    assert altan("tiles", "export", str(tmp_path), "--db", "x", "--from", "y")[0] == 2
    code, _, err = altan("tiles", "export", str(tmp_path), "--db", f"sqlite:///{tmp_path}/no.db")
    assert code == 2 and "no SQLite database file" in err
    assert not os.path.exists(tmp_path / "no.db")


def test_the_installed_command_exports_a_fresh_log(tmp_path: Path) -> None:
    """The console script (server commands attached, the database read lazily)."""
    env = _env(tmp_path / "data")
    assert _altan(env, "init").returncode == 0
    db = f"sqlite:///{tmp_path / 'data' / 'altan.db'}"
    done = _altan(env, "tiles", "export", str(tmp_path / "copy"), "--db", db, "--json")
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    size = summary["tree_size"]
    assert size > 0 and summary["tiles_written"] == len(tiles_for_tree(size))
    assert (tmp_path / "copy" / "checkpoint").read_text().split("\n")[1] == str(size)
