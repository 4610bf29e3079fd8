"""Outside readers of our C2SP tlog-tiles (issue 15): Go's x/mod tlog and tlog-scales.

A real server's log grows past one full level-1 tile (65,536 entries), publishing a few
checkpoints on the way. `altan tiles export` copies it (from the database, and from the
server's `/log/` prefix); then code the project did not write reads the copy:

- Go's `golang.org/x/mod/sumdb/tlog` (tests/outside/go/tiles/main.go): its tree code gets
  the checkpoint's root from the entries of the bundles and computes every tile the copy
  holds; its `TileHashReader` reads the tiles for the tree hash, record proofs
  (`ProveRecord`, `CheckRecord`) and tree proofs from each older checkpoint (`ProveTree`,
  `CheckTree`); and it refuses the copy once a byte of a tile or a bundle is flipped;
- tlog-scales' `TilesReader`, over the directory and over the server's HTTP answers: its
  checkpoint parser and Ed25519 check, its root, inclusion and consistency proofs from
  tiles, and its entries.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from typer.testing import CliRunner

import clients.tiles as tiles_client
import support.go_tiles as go_helpers
from clients import cli
from clients.tiles import HttpTiles
from ledger.checkpoint import Checkpoint
from ledger.hashing import hash_leaf
from ledger.note import Note, NoteSigner
from ledger.sql import storage
from ledger.tiles import tiles_for_tree
from support.domain import Api, running_api
from support.go_tiles import GoTiles
from support.liars import LyingServer
from support.tiles import app_log, grow

go_tiles = go_helpers.go_tiles

ORIGIN = "altan.localhost/ledger"
STEPS = (7, 256, 300, 65_536, 66_000 + 37)  # the sizes the log publishes on its way
SIZE = STEPS[-1]
RECORDS = [0, 1, 255, 256, 299, 65_535, 65_536, SIZE - 1]

pytestmark = pytest.mark.slow


@dataclass
class Exported:
    api: Api
    vkey: str
    directory: Path  # altan tiles export --db
    mirror: Path  # altan tiles export --from <the server's /log>
    older: dict[int, str]  # size -> the note the log published then
    entries: dict[int, bytes]  # RECORDS -> entry


def _altan(*args: str) -> None:
    result = CliRunner().invoke(cli.app, list(args), catch_exceptions=False)
    assert result.exit_code == 0, result.stdout + result.stderr


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Exported]:
    root = tmp_path_factory.mktemp("tiles-outside")
    with running_api(root / "server") as api:
        log = app_log(api.client)
        for step in STEPS:
            grow(api.client, step - log.size(), batch=10_000)
        assert log.size() == SIZE
        with storage.read_transaction(log.engine) as conn:
            older = {s: storage.checkpoint_at(conn, s).note for s in STEPS[:-1]}  # type: ignore[union-attr]
            entries = {i: storage.read_entries(conn, i, i + 1)[0].entry for i in RECORDS}
        url = api.client.app.state.settings.resolved_database_url  # type: ignore[attr-defined]
        _altan("tiles", "export", str(root / "copy"), "--db", url)
        proxy = LyingServer(api.client)
        patch = pytest.MonkeyPatch()
        patch.setattr(tiles_client, "_http_tiles", lambda p: HttpTiles(p, transport=proxy))
        try:
            _altan("tiles", "export", str(root / "mirror"), "--from", "http://ledger.test/log")
        finally:
            patch.undo()
        vkey = api.client.get("/log/keys").json()["keys"][0]["verifier_key"]
        yield Exported(api, vkey, root / "copy", root / "mirror", older, entries)


# --- Go: golang.org/x/mod/sumdb/tlog --------------------------------------------------------------


def test_go_reads_and_proves_from_our_tiles(exported: Exported, go_tiles: GoTiles) -> None:
    for directory in (exported.directory, exported.mirror):
        verdict = go_tiles.check(
            directory,
            [exported.vkey],
            origin=ORIGIN,
            records=RECORDS,
            older=list(exported.older.values()),
        )
        assert verdict.ok, verdict.output
        assert "ok   tree hash" in verdict.output
        assert f"ok   entries: the {SIZE} entries of the bundles give" in verdict.output
        assert f"ok   tiles: all {len(tiles_for_tree(SIZE))} tiles are what x/mod" in verdict.output
        assert verdict.output.count("ok   record ") == len(RECORDS)
        assert verdict.output.count("ok   older ") == len(exported.older)


@pytest.mark.parametrize(
    ("path", "offset", "named"),
    [
        ("tile/0/100", 32 * 17 + 3, "FAIL tile/0/100: not what tlog.ReadTileData"),
        ("tile/1/000", 32 * 255, "FAIL tile/1/000: not what tlog.ReadTileData"),
        (
            f"tile/0/{SIZE // 256}.p/{SIZE % 256}",  # the right border
            0,
            "tlog.TreeHash(66037) from the tiles: AAAA",
        ),
        ("tile/entries/010", 40, "FAIL entries: tlog.TreeHash over the 66037 entries"),
    ],
)
def test_go_refuses_a_copy_with_one_flipped_byte(
    exported: Exported, go_tiles: GoTiles, tmp_path: Path, path: str, offset: int, named: str
) -> None:
    copy = tmp_path / "copy"
    shutil.copytree(exported.directory, copy)
    raw = bytearray((copy / path).read_bytes())
    raw[offset] ^= 1
    (copy / path).write_bytes(bytes(raw))
    verdict = go_tiles.check(copy, [exported.vkey], records=[2560, SIZE - 1])
    assert verdict.code == 1, verdict.output
    assert named in verdict.output, verdict.output


def test_go_refuses_a_checkpoint_of_another_key(
    exported: Exported, go_tiles: GoTiles, tmp_path: Path
) -> None:
    copy = tmp_path / "copy"
    shutil.copytree(exported.directory, copy)
    note = Note.from_text((copy / "checkpoint").read_text())
    forged = NoteSigner(Ed25519PrivateKey.generate(), ORIGIN).sign(note.text)
    (copy / "checkpoint").write_text(forged)
    verdict = go_tiles.check(copy, [exported.vkey])
    assert verdict.code == 1 and "note.Open" in verdict.output, verdict.output


# --- tlog-scales ----------------------------------------------------------------------------------


@pytest.fixture
def scales() -> None:
    """tlog-scales is in the development lock (the bench extra); skip where it is absent."""
    pytest.importorskip("tlog_scales", reason="tlog-scales (pip install -e '.[bench]')")


class AppBackend:
    """A tlog-scales TilesBackend over the server's HTTP answers under `/log/`."""

    def __init__(self, api: Api) -> None:
        self.api = api
        self.paths: list[str] = []

    def get(self, *path: str) -> bytes | None:
        self.paths.append("/".join(path))
        resp = self.api.client.get("/log/" + "/".join(path))
        if resp.status_code != 200:
            return None
        content: bytes = resp.content
        return content


def _scales_readers(exported: Exported) -> list[tuple[str, object]]:
    from tlog_scales.backend import LocalBackend
    from tlog_scales.reader import TilesReader

    return [
        ("directory", TilesReader(LocalBackend(exported.directory))),
        ("http", TilesReader(AppBackend(exported.api))),
    ]


def test_tlog_scales_reads_our_tiles_and_proofs(exported: Exported, scales: None) -> None:
    from tlog_scales.signing import Vkey

    ours = Checkpoint.from_text(
        Note.from_text((exported.directory / "checkpoint").read_text()).text
    )
    for where, reader in _scales_readers(exported):
        cp = reader.get_checkpoint()  # type: ignore[attr-defined]
        cp.verify(Vkey.from_string(exported.vkey))  # raises unless our log key signed it
        assert (cp.origin, cp.size, cp.root_hash) == (ORIGIN, SIZE, ours.root_hash), where
        assert reader.calculate_root_hash() == ours.root_hash, where  # type: ignore[attr-defined]
        for index, entry in exported.entries.items():
            assert reader.get_entry(index) == entry, (where, index)  # type: ignore[attr-defined]
            proof = reader.get_inclusion_proof(index, SIZE)  # type: ignore[attr-defined]
            proof.check(hash_leaf(entry), ours.root_hash)
        for size, note in exported.older.items():
            old = Checkpoint.from_text(Note.from_text(note).text)
            proof = reader.get_consistency_proof(size, SIZE)  # type: ignore[attr-defined]
            proof.check(old.root_hash, ours.root_hash)


def test_tlog_scales_refuses_a_proof_from_a_flipped_tile(
    exported: Exported, tmp_path: Path, scales: None
) -> None:
    from tlog_scales.backend import LocalBackend
    from tlog_scales.reader import TilesReader
    from tlog_scales.tlog import InclusionProofInvalid

    copy = tmp_path / "copy"
    shutil.copytree(exported.directory, copy)
    path = copy / "tile/1/000"
    raw = bytearray(path.read_bytes())
    raw[32 * 3] ^= 1  # the hash of level-0 tile 3: in node (9, 1), on entry 1's path
    path.write_bytes(bytes(raw))
    reader = TilesReader(LocalBackend(copy))
    cp = reader.get_checkpoint()
    with pytest.raises(InclusionProofInvalid):
        reader.get_inclusion_proof(1, SIZE).check(hash_leaf(exported.entries[1]), cp.root_hash)
