"""`altan tiles export DIR`: the log as static C2SP tlog-tiles files, for any static host.

    altan tiles export /srv/tiles --db postgresql://altan@db/altan       # on the log's host
    altan tiles export /srv/tiles --from https://ledger.example/log --key "$VKEY"   # a mirror

DIR gets the layout a server serves under its tlog-tiles prefix (`/log`): `checkpoint`,
`tile/<L>/<N>[.p/<W>]` and `tile/entries/<N>[.p/<W>]` (ledger.tiles). Serve DIR from any
static host, or copy it to an S3-compatible bucket (README: "Serving the read side from a
CDN or object storage"); run the command again (from cron, or after appends) to bring it
up to date.

Every file is written to a temporary name and renamed into place, so a reader never sees
half a file; the checkpoint is replaced last, after every tile it needs. A run writes only
what the tree grew by since the checkpoint already in DIR: the full tiles that do not lie
wholly below it (each written once) and the partial tiles of the new size; the partial
tiles of a place whose full tile now exists are removed (C2SP allows it; readers fall
back to the full tile).

Nothing is written that is not verified against the checkpoint: the partial tiles (the
tree's right border) must hash to its root, every full tile to the hash its parent tile
holds for it, every bundle's entries to its level-0 tile; and the new tree must extend
the one in DIR (its root at the old size is recomputed from the new tiles), or nothing is
written. With `--key` the checkpoint's signature is checked too (else only its shape).

Exit 0 exported; 1 the source's tiles do not verify, or do not extend DIR's tree (named);
2 the export could not run (no such database, network, a full disk).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Annotated

import httpx
import typer

from ledger.checkpoint import Checkpoint, open_checkpoint
from ledger.errors import LedgerError, MalformedInput, RootMismatch, VerificationError
from ledger.hashing import hash_leaf
from ledger.merkle import root_hash
from ledger.note import Note, NoteVerifier
from ledger.tiles import (
    MAX_BUNDLE_ENTRY_BYTES,
    TILE_HEIGHT,
    TILE_WIDTH,
    Tile,
    TileFetch,
    TileReader,
    decode_bundle,
    decode_hashes,
    subtree_root,
    tiles_for_tree,
    tree_levels,
)

USER_AGENT = "altan-ledger-client/0.1"
MAX_CHECKPOINT_BYTES = 64 * 1024
MAX_HASH_TILE_BYTES = TILE_WIDTH * 32
MAX_BUNDLE_BYTES = TILE_WIDTH * (2 + MAX_BUNDLE_ENTRY_BYTES)
CHECKPOINT = "checkpoint"

app = typer.Typer(
    name="tiles",
    help="The log as static C2SP tlog-tiles files (for a static host, a CDN, a bucket).",
    no_args_is_help=True,
    add_completion=False,
)


class AnswerTooLarge(Exception):
    """A server answer past the cap for its kind (not read further): no verdict, exit 2."""


class HttpTiles:
    """The tiles under a tlog-tiles prefix URL (`https://ledger.example/log`, or a CDN's):
    a ``ledger.tiles.TileFetch`` (None for a 404) with the checkpoint beside it.

    Answers are read with a cap for their kind (a hash tile 8 KiB, a bundle 256 times the
    longest entry, a checkpoint 64 KiB), after content decoding, so a compressed bomb is
    capped too. It counts `requests` and `bytes_fetched` (as received, before decoding).
    """

    def __init__(
        self, prefix: str, *, transport: httpx.BaseTransport | None = None, timeout: float = 30.0
    ) -> None:
        """Read from `prefix` (pass `transport` to read without a network)."""
        self._client = httpx.Client(
            base_url=prefix.rstrip("/"),
            transport=transport,
            timeout=timeout,
            headers={"User-Agent": USER_AGENT, "Accept-Encoding": "gzip, identity"},
        )
        self.requests = 0
        self.bytes_fetched = 0

    def close(self) -> None:
        """Close the connection pool."""
        self._client.close()

    def __enter__(self) -> HttpTiles:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def _get(self, path: str, cap: int) -> bytes | None:
        self.requests += 1
        body = bytearray()
        with self._client.stream("GET", "/" + path) as resp:
            try:
                if resp.status_code == 404:
                    return None
                resp.raise_for_status()
                for chunk in resp.iter_bytes():
                    body += chunk
                    if len(body) > cap:
                        raise AnswerTooLarge(f"{path}: the answer is larger than {cap:,} bytes")
                return bytes(body)
            finally:
                self.bytes_fetched += resp.num_bytes_downloaded

    def checkpoint(self) -> str:
        """The signed checkpoint note (`<prefix>/checkpoint`)."""
        data = self._get(CHECKPOINT, MAX_CHECKPOINT_BYTES)
        if data is None:
            raise MalformedInput(f"{self._client.base_url}/{CHECKPOINT}: not found")
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise MalformedInput(f"{CHECKPOINT}: expected UTF-8 text ({exc})") from exc

    def __call__(self, tile: Tile) -> bytes | None:
        """The bytes of `tile`, None when the server answers 404."""
        return self._get(tile.path, MAX_BUNDLE_BYTES if tile.entries else MAX_HASH_TILE_BYTES)


class DirectoryTiles:
    """The tiles of an exported directory: a ``ledger.tiles.TileFetch``."""

    def __init__(self, directory: Path) -> None:
        """Read from `directory` (as `altan tiles export` wrote it)."""
        self.directory = directory

    def checkpoint(self) -> str:
        """The checkpoint note in the directory."""
        return (self.directory / CHECKPOINT).read_text(encoding="utf-8")

    def __call__(self, tile: Tile) -> bytes | None:
        """The file's bytes, None when there is no such file."""
        try:
            return (self.directory / tile.path).read_bytes()
        except FileNotFoundError:
            return None


@dataclass
class ExportSummary:
    """What a run did (`--json` prints it)."""

    directory: str
    origin: str
    tree_size: int
    previous_size: int | None
    tiles_written: int = 0
    bundles_written: int = 0
    bytes_written: int = 0
    partial_dirs_removed: int = 0
    signature_checked: bool = False

    def describe(self) -> str:
        """One line for a person."""
        since = "" if self.previous_size is None else f" (was {self.previous_size})"
        signed = "signature checked" if self.signature_checked else "signature NOT checked"
        return (
            f"EXPORTED {self.origin} tree of size {self.tree_size}{since} to {self.directory}: "
            f"{self.tiles_written} tiles and {self.bundles_written} entry bundles written "
            f"({self.bytes_written:,} bytes), every one verified against the checkpoint; "
            f"{signed}\n"
        )


def write_atomically(path: Path, data: bytes) -> None:
    """Write `data` to `path` through a temporary file in the same directory, renamed into
    place: a reader (or a copy to a bucket) sees the old file or the new one, never half."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=".part")
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.chmod(temporary, 0o644)  # a static file server reads it as another user
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
        raise


def _parse(note: str, keys: list[NoteVerifier] | None) -> Checkpoint:
    if keys:
        checkpoint, _ = open_checkpoint(note, keys)
        return checkpoint
    return Checkpoint.from_text(Note.from_text(note).text)


def _previous(directory: Path) -> Checkpoint | None:
    path = directory / CHECKPOINT
    if not path.exists():
        return None
    try:
        return Checkpoint.from_text(Note.from_text(path.read_text(encoding="utf-8")).text)
    except (LedgerError, UnicodeDecodeError) as exc:
        raise MalformedInput(f"{path} is not a checkpoint note: {exc}") from exc


class _Remembered:
    """A fetch that keeps what it read until taken, so the tiles checked up front (the
    borders of the old and the new tree) are the very bytes later written."""

    def __init__(self, fetch: TileFetch) -> None:
        self._fetch = fetch
        self.kept: dict[Tile, bytes | None] = {}

    def __call__(self, tile: Tile) -> bytes | None:
        if tile not in self.kept:
            self.kept[tile] = self._fetch(tile)
        return self.kept[tile]

    def take(self, tile: Tile) -> bytes | None:
        if tile in self.kept:
            return self.kept.pop(tile)
        return self._fetch(tile)


def export_tiles(
    directory: Path,
    fetch: TileFetch,
    note: str,
    *,
    keys: list[NoteVerifier] | None = None,
) -> ExportSummary:
    """Bring `directory` up to the tree of the checkpoint `note`, reading tiles through
    `fetch` (module docstring: what is written, in which order, and what is verified).

    Raises VerificationError (RootMismatch, ConsistencyError, InvalidSignature...) when the
    source's tiles do not verify or do not extend the directory's tree, MalformedInput for
    unreadable input, StorageError for a tile the source does not serve, OSError for the disk.
    """
    checkpoint = _parse(note, keys)
    previous = _previous(directory)
    size = checkpoint.size
    summary = ExportSummary(
        str(directory), checkpoint.origin, size, None if previous is None else previous.size
    )
    summary.signature_checked = bool(keys)
    since = 0
    if previous is not None:
        if previous.origin != checkpoint.origin:
            raise VerificationError(
                f"{directory} holds the log {previous.origin!r}, the source is "
                f"{checkpoint.origin!r}: refusing to mix two logs"
            )
        if previous.size > size:
            raise VerificationError(
                f"{directory} holds a tree of {previous.size} entries, the source's checkpoint "
                f"only {size}: refusing to go back (is the source behind, or another log?)"
            )
        since = previous.size
    source = _Remembered(fetch)
    reader = TileReader(source, size)
    # 1. The right border of the new tree (its partial tiles) gives the signed root.
    calculated = root_hash(reader, size)
    if calculated != checkpoint.root_hash:
        raise RootMismatch(checkpoint.root_hash, calculated, what="the tiles' tree root")
    # 2. The new tree extends the directory's: its root at the old size, from the new tiles
    #    along the old border (which all lie in tiles this run writes), is the old root.
    if previous is not None and previous.size:
        old_root = root_hash(reader, previous.size)
        if old_root != previous.root_hash:
            raise RootMismatch(
                previous.root_hash,
                old_root,
                what=f"the root at {directory}'s size {previous.size}, from the source's tiles "
                "(the source does not extend the exported tree)",
            )
    # 3. Top level first: each full tile against its parent's hash, each bundle against its
    #    level-0 tile; written as soon as verified.
    tiles = tiles_for_tree(size, since)
    above: dict[int, list[bytes]] = {}
    current: dict[int, list[bytes]] = {}
    level = tree_levels(size) - 1
    for tile in tiles:
        if tile.level != level:
            above, current, level = current, {}, tile.level
        data = _need(source.take(tile), tile)
        hashes = decode_hashes(data, tile)
        if not tile.is_partial:
            parent = _parent_hash(above, tile)
            found = subtree_root(hashes)
            if found != parent:
                raise RootMismatch(parent, found, what=f"{tile.path} against its parent tile")
        if tile.level > 0:
            current[tile.index] = hashes
        else:
            _write_bundle(directory, source, tile, hashes, summary)
        if _write(directory, tile, data, summary):
            summary.tiles_written += 1
    _write_checkpoint(directory, note, summary)
    return summary


def _parent_hash(above: dict[int, list[bytes]], tile: Tile) -> bytes:
    """The hash the tile one level up holds for full tile `tile` (that parent is written in
    the same run: it reaches past the old size too, so it is in `above`)."""
    parent = above.get(tile.index >> TILE_HEIGHT)
    if parent is None or len(parent) <= tile.index % TILE_WIDTH:
        raise MalformedInput(f"{tile.path}: no hash for it in the tile one level up")
    return parent[tile.index % TILE_WIDTH]


def _need(data: bytes | None, tile: Tile) -> bytes:
    if data is None:
        raise MalformedInput(f"the source does not serve {tile.path}, which its tree holds")
    return data


def _write_bundle(
    directory: Path, source: _Remembered, tile: Tile, hashes: list[bytes], summary: ExportSummary
) -> None:
    bundle = tile.bundle()
    data = _need(source.take(bundle), bundle)
    for offset, entry in enumerate(decode_bundle(data, bundle)):
        if hash_leaf(entry) != hashes[offset]:
            raise RootMismatch(
                hashes[offset],
                hash_leaf(entry),
                what=f"entry {bundle.start + offset} in {bundle.path} against {tile.path}",
            )
    if _write(directory, bundle, data, summary):
        summary.bundles_written += 1


def _write(directory: Path, tile: Tile, data: bytes, summary: ExportSummary) -> bool:
    """Write one tile or bundle; False for a partial one already there with these bytes."""
    path = directory / tile.path
    if tile.is_partial and path.is_file() and path.read_bytes() == data:
        return False  # the same partial tile as last time: leave it (and its time) alone
    write_atomically(path, data)
    summary.bytes_written += len(data)
    if not tile.is_partial:
        stale = directory / (tile.path + ".p")
        if stale.is_dir():
            shutil.rmtree(stale)
            summary.partial_dirs_removed += 1
    return True


def _write_checkpoint(directory: Path, note: str, summary: ExportSummary) -> None:
    path = directory / CHECKPOINT
    data = note.encode("utf-8")
    if path.is_file() and path.read_bytes() == data:
        return
    write_atomically(path, data)
    summary.bytes_written += len(data)


# --- the command ----------------------------------------------------------------------------------


@contextlib.contextmanager
def _database(url: str) -> Iterator[tuple[TileFetch, str]]:
    # The one way from the clients into the storage side, imported only now: a client-only
    # install exports from a URL without SQLAlchemy.
    try:
        from ledger.sql.tiles import database_tiles
    except ImportError as exc:
        raise MalformedInput(
            f"exporting from a database needs the server's packages (the 'server' extra of "
            f"altan-ledger); --from URL needs only the clients: {exc}"
        ) from exc
    with database_tiles(url) as tiles:
        yield tiles, tiles.note


@contextlib.contextmanager
def _remote(prefix: str) -> Iterator[tuple[TileFetch, str]]:
    with _http_tiles(prefix) as tiles:
        yield tiles, tiles.checkpoint()


def _http_tiles(prefix: str) -> HttpTiles:
    """The tiles at `prefix` (a seam: tests read through the app instead)."""
    return HttpTiles(prefix)


@app.command("export")
def export_command(
    directory: Annotated[Path, typer.Argument(help="The directory to bring up to date")],
    db: Annotated[
        str | None,
        typer.Option(
            "--db", help="Read the log's database (sqlite:///var/altan.db, postgresql://...)"
        ),
    ] = None,
    from_url: Annotated[
        str | None,
        typer.Option(
            "--from", help="Read a tlog-tiles prefix (https://ledger.example/log, or another copy)"
        ),
    ] = None,
    key: Annotated[
        list[str] | None,
        typer.Option(
            "--key",
            help="Check the checkpoint's signature with this log verifier "
            "key (<name>+<id>+<base64>); repeat for rotated keys",
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the summary as JSON")] = False,
) -> None:
    """Write (or bring up to date) a static copy of the log's tiles, entry bundles and
    checkpoint in DIRECTORY, each verified against the checkpoint. Exit 0 exported, 1 the
    source does not verify or does not extend the copy, 2 the export could not run."""
    if (db is None) == (from_url is None):
        sys.stderr.write("name one source: --db DATABASE_URL or --from PREFIX_URL\n")
        raise typer.Exit(2)
    try:
        keys = [NoteVerifier.from_vkey(k) for k in key] if key else None
        opened = _database(db) if db is not None else _remote(str(from_url))
        with opened as (fetch, note):
            summary = export_tiles(directory, fetch, note, keys=keys)
    except VerificationError as exc:
        sys.stderr.write(f"REFUSED {exc}\nthe checkpoint in {directory} was left as it was\n")
        raise typer.Exit(1) from exc
    except (LedgerError, OSError, httpx.HTTPError, AnswerTooLarge) as exc:
        sys.stderr.write(f"cannot export the tiles: {exc}\n")
        raise typer.Exit(2) from exc
    sys.stdout.write(json.dumps(asdict(summary)) + "\n" if as_json else summary.describe())
