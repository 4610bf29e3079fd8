"""`/log/tile/*`: the log as C2SP tlog-tiles (c2sp.org/tlog-tiles), under the prefix `/log`.

The tlog-tiles prefix of a server is `<public URL>/log`: `<prefix>/checkpoint` is the signed
note `/log/checkpoint` already serves (services/log/routes.py: text/plain; charset=utf-8,
with the witnesses' cosignature lines, never cached), and this router serves
`<prefix>/tile/<L>/<N>[.p/<W>]` and `<prefix>/tile/entries/<N>[.p/<W>]` (ledger.tiles says
what they hold). Under `/log/`, the tiles share the public proofs' CORS and rate limits.
`altan tiles export DIR` writes the same layout as files, for a static host or a bucket.

Tiles are cut for the tree of the latest checkpoint, never past it (404, not cached), so a
client that follows a checkpoint always finds its tiles. Caching:

- a full tile or bundle never changes: `public, max-age=31536000, immutable`;
- a partial one (`.p/<W>`) is short-lived (`PARTIAL_CACHE`): a newer checkpoint needs a
  wider one, and the log need not keep it once the full tile exists.

Entry bundles are gzip-compressed when the client accepts gzip (C2SP: they SHOULD be
compressed at the HTTP layer); hash tiles are random bytes and are sent as they are.
"""

from __future__ import annotations

import gzip

from fastapi import APIRouter, Request, Response

from ledger.errors import MalformedInput
from ledger.sql import storage
from ledger.sql import tiles as sql_tiles
from ledger.tiles import in_tree, parse_tile_path
from services.errors import Conflict, NotFound
from services.reads import read_engine

router = APIRouter(prefix="/log", tags=["log (auditors)"])

IMMUTABLE = "public, max-age=31536000, immutable"
PARTIAL_CACHE = "public, max-age=5"
MISSING_CACHE = "no-store"  # the tile of a later checkpoint: ask again then
OCTET_STREAM = "application/octet-stream"
_GZIP_LEVEL = 6


class TileNotInTree(NotFound):
    """A well-formed tile the latest checkpoint's tree does not (yet) hold."""

    headers = {"Cache-Control": MISSING_CACHE}  # noqa: RUF012 - read only, as in DomainError


class EntryTooLargeForBundle(Conflict):
    """A bundle holding an entry over 65,535 bytes, which tlog-tiles cannot carry."""


def _accepts_gzip(request: Request) -> bool:
    for item in request.headers.get("accept-encoding", "").split(","):
        name, _, params = item.strip().partition(";")
        if name.strip().lower() != "gzip":
            continue
        quality = params.strip().lower().removeprefix("q=")
        try:
            return not params or float(quality) > 0
        except ValueError:
            return False
    return False


@router.get(
    "/tile/{path:path}",
    response_class=Response,
    summary="A tile or entry bundle of the latest checkpoint's tree (C2SP tlog-tiles)",
    responses={
        200: {
            "description": "The tile's hashes (32 bytes each) or the bundle's entries (each a "
            "big-endian uint16 length, then its bytes)",
            "content": {OCTET_STREAM: {"schema": {"type": "string", "format": "binary"}}},
        },
        400: {"description": "Not a tile path in its one canonical form"},
        404: {"description": "A tile the latest checkpoint's tree does not hold"},
        409: {
            "description": "A bundle holding an entry over 65,535 bytes: read it at /log/entries"
        },
    },
)
def get_tile(path: str, request: Request) -> Response:
    """`<L>/<N>[.p/<W>]`: the W (256 when full) hashes at tree level 8L,
    MTH(D[(N*256 + i) * 256**L : (N*256 + i + 1) * 256**L]) for i < W, concatenated;
    `entries/<N>[.p/<W>]`: entries N*256 to N*256 + W - 1. N is written in groups of three
    digits, all but the last prefixed by `x` (1234067: `x001/x234/067`). Full tiles are
    cacheable forever; partial ones for a few seconds. Verify what you read against a
    checkpoint from `/log/checkpoint` (the tiles' prefix is `/log`)."""
    try:
        tile = parse_tile_path("tile/" + path)
    except MalformedInput as exc:  # 400, naming what is wrong
        raise MalformedInput(str(exc), field="path") from exc
    with storage.read_transaction(read_engine(request)) as conn:
        size = sql_tiles.latest_tree(conn).size
        if not in_tree(tile, size):
            raise TileNotInTree(
                "tile-not-in-tree",
                f"{tile.path} is beyond the latest checkpoint's tree of {size} entries",
                field="path",
            )
        try:
            data = sql_tiles.read_tile(conn, tile, size)
        except MalformedInput as exc:  # an entry the uint16 length cannot express
            raise EntryTooLargeForBundle(
                "entry-too-large-for-bundle",
                f"{exc}; read the entries of this bundle at /log/entries?start={tile.start}"
                f"&end={tile.end}",
                field="path",
            ) from exc
    headers = {"Cache-Control": PARTIAL_CACHE if tile.is_partial else IMMUTABLE}
    if tile.entries:
        headers["Vary"] = "Accept-Encoding"
        if _accepts_gzip(request):
            data = gzip.compress(data, compresslevel=_GZIP_LEVEL, mtime=0)
            headers["Content-Encoding"] = "gzip"
    return Response(data, media_type=OCTET_STREAM, headers=headers)
