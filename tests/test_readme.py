"""The README's Python example runs as written against a real server."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from test_independent import _altan, _env, _server

from clients.outbox import Outbox
from clients.sdk import AltanClient

README = Path(__file__).resolve().parent.parent / "README.md"


def python_blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", README.read_text(encoding="utf-8"), re.S)


def test_the_readme_has_its_sdk_example() -> None:
    (block,) = python_blocks()
    assert "AltanClient" in block and "Outbox" in block


def test_the_sdk_example_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    env = _env(tmp_path / "data")
    init = _altan(env, "init")
    assert init.returncode == 0, init.stderr
    admin_token = re.findall(r"^altan_\S+$", init.stdout, re.M)[0]
    with _server(env, tmp_path / "server.log") as base:
        admin = AltanClient(base, admin_token)
        admin.register_actor(actor="centre:bornuur-2", role="processing_centre")
        admin.register_actor(actor="partnership:tuul", role="partnership", members=6)
        admin.register_site(
            site="SITE-TUUL-1",
            owner="partnership:tuul",
            region={"aimag": "Töv", "soum": "Bornuur"},
            lat="48.51234",
            lon="106.27123",
        )
        token = admin.issue_token("centre:bornuur-2", "operator").token
        monkeypatch.chdir(tmp_path)
        (block,) = python_blocks()
        scope: dict[str, object] = {"token": token}
        exec(block.replace("http://127.0.0.1:8000", base), scope)
        for value in scope.values():  # what the example opened
            if isinstance(value, AltanClient | Outbox):
                value.close()
        report = scope["report"]
        assert report.recorded and not report.rejected  # type: ignore[attr-defined]
        assert admin.get_lot("ORE-TUUL-0003")["mass"] == 700_000
        assert admin.get_lot("ORE-TUUL-0002")["custodian"] == "centre:bornuur-2"
        admin.close()
