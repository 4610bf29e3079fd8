"""Go's golang.org/x/mod/sumdb/{note,tlog} as an outside reader of our checkpoints and proofs.

tests/outside/go/ holds a small Go program (`tlogcheck`) that verifies signed checkpoint
notes with `note.Open`, parses the C2SP checkpoint text by hand (x/mod has no C2SP parser;
extension lines are ignored, as c2sp.org/tlog-checkpoint says), and checks inclusion and
consistency proofs with `tlog.CheckRecord` and `tlog.CheckTree`. It is built offline once
per session from Debian's packages (golang-go, golang-golang-x-mod-dev, whose sources are
in /usr/share/gocode/src): the go.mod replaces golang.org/x/mod with that directory, and
GOPROXY=off, GOFLAGS=-mod=mod keep the build from reaching any network.

Where Go or x/mod is missing, the tests skip with a message, except under ``CI=true``,
where they fail: .ci/run installs both.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

GO_SOURCE = Path(__file__).resolve().parents[1] / "outside" / "go"
X_MOD = Path("/usr/share/gocode/src/golang.org/x/mod")
PACKAGES = "apt-get install golang-go golang-golang-x-mod-dev"
TIMEOUT_SECONDS = 120


def require_go() -> str:
    """The `go` executable; skip (or fail under CI=true) when Go or x/mod is missing."""
    go = shutil.which("go")
    if go is not None and (X_MOD / "sumdb" / "tlog").is_dir():
        return go
    missing = "go" if go is None else f"golang.org/x/mod at {X_MOD}"
    message = f"the outside-reader tests need {missing} ({PACKAGES})"
    if os.environ.get("CI") == "true":
        pytest.fail(f"CI must run the Go outside-reader tests, but {message}", pytrace=False)
    pytest.skip(message)


def build(out_dir: Path, package: str = ".", name: str = "tlogcheck") -> Path:
    """Build a command of the Go module tests/outside/go (`package`, relative to it) into
    `out_dir/name` offline; return the executable."""
    go = require_go()
    binary = out_dir / name
    env = {
        **os.environ,
        "GOFLAGS": "-mod=mod",
        "GOPROXY": "off",
        "GOSUMDB": "off",
        "GOTOOLCHAIN": "local",
        "GO111MODULE": "on",
        "GOPATH": str(out_dir / "gopath"),
        "GOCACHE": str(out_dir / "gocache"),
        "CGO_ENABLED": "0",
    }
    done = subprocess.run(
        [go, "build", "-o", str(binary), package],
        cwd=GO_SOURCE,
        env=env,
        capture_output=True,
        text=True,
        timeout=TIMEOUT_SECONDS,
        check=False,
    )
    assert done.returncode == 0, f"go build failed:\n{done.stdout}{done.stderr}"
    return binary


@dataclass(frozen=True)
class Verdict:
    """What tlogcheck said: exit code 0 (all verified), 1 (a check failed), 2 (bad input)."""

    code: int
    output: str

    @property
    def ok(self) -> bool:
        return self.code == 0

    def failures(self) -> list[str]:
        return [line for line in self.output.splitlines() if line.startswith("FAIL")]


@dataclass(frozen=True)
class GoTlog:
    """The built tlogcheck program."""

    binary: Path

    def check(
        self,
        vkeys: list[str],
        checkpoints: list[str],
        *,
        origin: str = "",
        inclusion: list[dict[str, Any]] | None = None,
        consistency: list[dict[str, Any]] | None = None,
    ) -> Verdict:
        doc = {
            "vkeys": vkeys,
            "origin": origin,
            "checkpoints": checkpoints,
            "inclusion": inclusion or [],
            "consistency": consistency or [],
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
def go_tlog(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GoTlog]:
    """tlogcheck, built once per session (import it into the test module as a name)."""
    require_go()
    yield GoTlog(build(tmp_path_factory.mktemp("go-tlog")))
