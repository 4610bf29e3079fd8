"""Go's golang.org/x/mod/sumdb/tlog as an outside reader of our tlog-tiles (issue 15).

tests/outside/go/tiles/ holds `tlogtiles`, a second command of the Go module that
tests/support/go_tlog.py builds: it reads a directory written by `altan tiles export`,
recomputes the tree from the entry bundles with x/mod's own code (the checkpoint's root,
and every tile's bytes), and proves records and older trees through `tlog.TileHashReader`
with `tlog.ProveRecord`/`CheckRecord` and `tlog.ProveTree`/`CheckTree`.
Built the same way, offline from Debian's golang-golang-x-mod-dev; skipped (or failed under
CI=true) where Go is missing.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from support import go_tlog
from support.go_tlog import TIMEOUT_SECONDS, Verdict, require_go


def build(out_dir: Path) -> Path:
    """Build tests/outside/go/tiles into `out_dir` offline; return the executable."""
    return go_tlog.build(out_dir, "./tiles", "tlogtiles")


@dataclass(frozen=True)
class GoTiles:
    """The built tlogtiles program."""

    binary: Path

    def check(
        self,
        directory: Path,
        vkeys: list[str],
        *,
        origin: str = "",
        records: list[int] | None = None,
        older: list[str] | None = None,
    ) -> Verdict:
        doc = {
            "dir": str(directory),
            "vkeys": vkeys,
            "origin": origin,
            "records": records or [],
            "older": older or [],
        }
        done = subprocess.run(
            [str(self.binary)],
            input=json.dumps(doc),
            capture_output=True,
            text=True,
            timeout=TIMEOUT_SECONDS,
            check=False,
        )
        return Verdict(done.returncode, done.stdout + done.stderr)


@pytest.fixture(scope="session")
def go_tiles(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GoTiles]:
    """tlogtiles, built once per session (import it into the test module as a name)."""
    require_go()
    yield GoTiles(build(tmp_path_factory.mktemp("go-tiles")))
