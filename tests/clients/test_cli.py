"""The `altan` command line: help, demo, audit (text and JSON, pinned keys), keys export.

Most commands run in-process through Typer's CliRunner (fast); `altan --help` also runs the
installed console script once, as a user would.
"""

from __future__ import annotations

import json
import os
import socket
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from typer.testing import CliRunner

from clients import cli
from ledger.note import NoteSigner, NoteVerifier
from services.settings import get_settings

ALTAN = str(Path(sys.executable).parent / "altan")
EVENTS = 50
ORIGIN = "altan.localhost/ledger"  # the default origin: what `altan demo` signs with
COMMANDS = ("serve", "demo", "audit", "keys", "init")


@pytest.fixture(scope="module", autouse=True)
def _server_commands() -> None:
    """What `clients.cli.main` does before running the app (once per process)."""
    if not any(c.name == "serve" for c in cli.app.registered_commands):
        cli._attach_server_commands()


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """ALTAN_DATA_DIR for in-process commands; settings are re-read for each test."""
    for name in list(os.environ):
        if name.startswith("ALTAN_"):
            monkeypatch.delenv(name)
    path = tmp_path / "data"
    monkeypatch.setenv("ALTAN_DATA_DIR", str(path))
    # `altan audit` keeps a trusted state per log: under the test's folder, never in $HOME
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    get_settings.cache_clear()
    yield path
    get_settings.cache_clear()


def altan(*args: str) -> tuple[int, str, str]:
    """Run `altan ARGS` in-process; return (exit code, stdout, stderr)."""
    result = CliRunner().invoke(cli.app, list(args), catch_exceptions=False)
    # Rich wraps stderr messages at the terminal width: undo that for matching.
    return result.exit_code, result.stdout, " ".join(result.stderr.split())


@pytest.fixture
def demo_log(data_dir: Path) -> str:
    """A data directory with EVENTS demo events; returns its SQLite URL."""
    code, out, err = altan("demo", "--events", str(EVENTS))
    assert code == 0, out + err
    # the first administrator, the events, and any red flag the rules raised on the way
    url = f"sqlite:///{data_dir / 'altan.db'}"
    assert f"the log now holds {log_size(url)} entries" in out
    assert log_size(url) >= EVENTS + 1
    return url


def log_size(url: str) -> int:
    """The tree size as the database's head row says."""
    with sqlite3.connect(url.removeprefix("sqlite:///")) as db:
        return int(db.execute("SELECT size FROM log_head").fetchone()[0])


def other_vkey(name: str = ORIGIN) -> str:
    return NoteSigner(Ed25519PrivateKey.generate(), name).verifier.vkey


def test_help_of_the_installed_script_lists_every_command(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ALTAN_")}
    env.update(ALTAN_DATA_DIR=str(tmp_path / "data"), COLUMNS="120", NO_COLOR="1")
    proc = subprocess.run(
        [ALTAN, "--help"], env=env, capture_output=True, text=True, timeout=60, check=False
    )
    assert proc.returncode == 0, proc.stderr
    for command in COMMANDS:
        assert f" {command} " in proc.stdout, command
    assert not (tmp_path / "data").exists(), "--help must not create anything"


def test_help_in_process(data_dir: Path) -> None:
    code, out, _ = altan("--help")
    assert code == 0
    for command in COMMANDS:
        assert command in out


def test_audit_help(data_dir: Path) -> None:
    code, out, _ = altan("audit", "--help")
    assert code == 0
    for option in ("--key", "--origin", "--json", "--quiet", "--workers"):
        assert option in out
    assert "source" in out.lower()


def test_keys_help_lists_subcommands(data_dir: Path) -> None:
    code, out, _ = altan("keys", "--help")
    assert code == 0
    for sub in ("export", "list", "rotate"):
        assert sub in out


def test_init_then_audit_of_an_empty_log(data_dir: Path) -> None:
    code, out, _ = altan("init")
    assert code == 0
    assert "size 2" in out  # the first administrator's registration and its state.root
    assert "its token (shown once" in out
    code, out, _ = altan("audit", f"sqlite:///{data_dir / 'altan.db'}", "--quiet")
    assert code == 0, out
    assert out.startswith("OK ")


def test_demo_then_audit_prints_ok(demo_log: str) -> None:
    code, out, err = altan("audit", demo_log)
    assert code == 0, out + err
    size = log_size(demo_log)
    assert out.startswith(f"OK {ORIGIN}: {size} entries")
    assert f"at size {size}" in out


def test_audit_json_is_parseable(demo_log: str) -> None:
    code, out, _ = altan("audit", demo_log, "--json")
    assert code == 0
    report = json.loads(out)
    assert report["ok"] is True
    assert report["origin"] == ORIGIN
    size = log_size(demo_log)
    assert report["tree_size"] == size
    assert report["entries_verified"] == size
    assert report["checkpoints_verified"] >= 1
    assert len(bytes.fromhex(report["root_hash"])) == 32
    assert report["failure"] is None


def test_keys_export_pins_the_audit(demo_log: str) -> None:
    code, out, _ = altan("keys", "export")
    assert code == 0
    vkey = out.strip()
    verifier = NoteVerifier.from_vkey(vkey)
    assert verifier.name == ORIGIN

    code, out, _ = altan("audit", demo_log, "--key", vkey, "--quiet")
    assert code == 0, out
    assert out.startswith("OK ")

    # The same name with another key, or another log's key: the checkpoint does not verify.
    for wrong in (other_vkey(), other_vkey("elsewhere.example/log")):
        code, out, _ = altan("audit", demo_log, "--key", wrong, "--json")
        assert code == 1, out
        report = json.loads(out)
        assert report["ok"] is False
        assert report["failure"]["kind"] == "checkpoint_signature_invalid"

    # A wrong key next to the right one is fine (several pinned keys: rotation).
    code, out, _ = altan("audit", demo_log, "--key", other_vkey(), "--key", vkey, "--quiet")
    assert code == 0, out


def test_audit_with_expected_origin(demo_log: str) -> None:
    assert altan("audit", demo_log, "--origin", ORIGIN, "-q")[0] == 0
    code, out, _ = altan("audit", demo_log, "--origin", "another.example/log", "-q")
    assert code == 1
    assert out.startswith("FAIL checkpoint_signature_invalid")


def test_a_malformed_key_is_a_usage_error(demo_log: str) -> None:
    code, _, err = altan("audit", demo_log, "--key", "not-a-key")
    assert code == 2
    assert "not-a-key" in err


def test_tampered_entry_fails_and_is_named(demo_log: str, data_dir: Path) -> None:
    conn = sqlite3.connect(data_dir / "altan.db")
    try:
        (data,) = conn.execute("SELECT entry FROM log_entries WHERE idx = 17").fetchone()
        changed = data.replace(b'"v":1', b'"v":2')
        assert changed != data
        conn.execute("UPDATE log_entries SET entry = ? WHERE idx = 17", (changed,))
        conn.commit()
    finally:
        conn.close()
    code, out, _ = altan("audit", demo_log, "--quiet")
    assert code == 1
    assert out.startswith("FAIL content_changed at entry 17:")
    code, out, _ = altan("audit", demo_log, "--json")
    assert code == 1
    assert json.loads(out)["failure"]["index"] == 17


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_unreachable_url_exits_2(data_dir: Path) -> None:
    code, out, err = altan("audit", f"http://127.0.0.1:{_closed_port()}", "--quiet")
    assert code == 2
    assert out == ""
    assert "cannot read" in err


def test_missing_database_exits_2_and_creates_nothing(data_dir: Path, tmp_path: Path) -> None:
    missing = tmp_path / "nothing-here.db"
    code, out, err = altan("audit", f"sqlite:///{missing}", "--quiet")
    assert code == 2, out + err
    assert "no SQLite database file" in err
    assert not missing.exists()


@pytest.mark.parametrize("source", ["not-a-url", "nosuchdialect://x/y", "ftp://example.org/log"])
def test_a_source_that_is_not_a_log_url_exits_2(data_dir: Path, source: str) -> None:
    code, out, err = altan("audit", source, "--quiet")
    assert code == 2, out + err
    assert out == ""
    assert "cannot use" in err


def test_rebuild_replays_the_log_into_the_same_state(demo_log: str) -> None:
    url = demo_log.removeprefix("sqlite:///")
    query = "SELECT id, remaining, custodian_id, status FROM lots ORDER BY id"
    with sqlite3.connect(url) as db:
        before = db.execute(query).fetchall()
    assert before  # the demo made lots
    code, out, _ = altan("rebuild")
    assert code == 0
    assert f"rebuilt the state from {log_size(demo_log)} log entries" in out
    with sqlite3.connect(url) as db:
        assert db.execute(query).fetchall() == before


def test_token_issues_for_a_known_actor_only(demo_log: str) -> None:
    code, out, _ = altan("token", "buyer:bank-of-mongolia", "--label", "teller 3")
    assert code == 0
    assert out.strip().startswith("altan_")
    code, _, err = altan("token", "buyer:nobody")
    assert code == 2
    assert "buyer:nobody" in err
