"""The README's examples run as written: the Python one against a real server, the shell
ones (every event they post, in order) through the real HTTP app."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from clients.outbox import Outbox
from clients.sdk import AltanClient
from support.domain import running_api
from support.independent import _altan, _env, _server
from support.openapi import Player

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


# --- the shell examples: every event the README posts, posted in order ------------------------

# `post "$V" '<json>'` (the README's helper), or `curl ... -H "$V" ... /events \ -d '<json>'`,
# each maybe followed by `-H '<header>'` lines; `V=$(bearer <actor> <label>)` names a token.
_EVENT_POST = re.compile(
    r"""(?:post\ "\$(?P<var>\w+)"
       |curl\ -s\ -H\ "\$(?P<curl_var>\w+)"[^\n]*?/events(?:\ \\\n\s*)?\s*-d)
       \ '(?P<json>[^']*)'
       (?P<extra>(?:\ \\\n\s*-H\ '[^']*')*)""",
    re.X,
)
_TOKEN_VAR = re.compile(r"^(\w+)=\$\(bearer (\S+) ", re.M)
_ADMIN_VAR = re.compile(r'^(\w+)="Authorization: Bearer altan_…"', re.M)


def shell_blocks(*sections: str) -> list[str]:
    """The shell blocks of the README's sections (`## <title...>`, up to the next one)."""
    text = README.read_text(encoding="utf-8")
    parts = re.split(r"^## ", text, flags=re.M)
    chosen = [p for p in parts if p.split("\n", 1)[0].startswith(sections)]
    assert len(chosen) == len(sections), sections
    return [b for p in chosen for b in re.findall(r"```sh\n(.*?)```", p, re.S)]


def readme_event_posts() -> list[tuple[str, dict[str, object], dict[str, str]]]:
    """Every event the README's shell examples post, in order: (the actor whose token the
    command uses, the request, extra headers)."""
    text = "\n".join(shell_blocks("Recording the supply chain", "Certificates and receipts"))
    actors = {var: actor for var, actor in _TOKEN_VAR.findall(text)}
    actors.update({var: "admin:root" for var in _ADMIN_VAR.findall(text)})
    actors.setdefault("C", "centre:bornuur-2")  # the centre's operator, in every section
    out = []
    for m in _EVENT_POST.finditer(text):
        var = m["var"] or m["curl_var"]
        headers = dict(h.split(": ", 1) for h in re.findall(r"-H '([^']*)'", m["extra"] or ""))
        out.append((actors[var], json.loads(m["json"]), headers))
    return out


def test_the_shell_examples_cover_every_event_family() -> None:
    types = {request["type"] for _, request, _ in readme_event_posts()}
    families = {
        "actor.registered", "site.registered", "ore.delivered", "processing.recorded",
        "assay.recorded", "lot.split", "lots.merged", "transfer.offered",
        "transfer.accepted", "case.opened", "case.responded", "certificate.requested",
        "witness.registered",
    }  # fmt: skip
    assert families <= types, families - types
    # prices and personal data with their commitment and salt
    private = [r for _, r, _ in readme_event_posts() if "private" in r]
    assert {r["type"] for r in private} == {"actor.registered", "transfer.offered"}


def test_the_shell_examples_are_accepted_in_order(tmp_path: Path) -> None:
    """Each event the README posts (its "Recording the supply chain" section, then the
    certificate request of "Certificates and receipts") is recorded, in README order, on a
    fresh log; so the certificate example certifies a lot the README created."""
    with running_api(tmp_path) as api:
        player = Player(api)
        created: set[str] = set()
        for actor, request, headers in readme_event_posts():
            body = request["body"]
            assert isinstance(body, dict)
            if request["type"] == "certificate.requested":
                assert body["lot"] in created, f"the README certifies {body['lot']} it never made"
            receipt = player.post(actor, request, **headers)
            if request["type"] == "certificate.requested":
                assert [d["type"] for d in receipt["derived"]] == ["certificate.issued"]
            created.update(o["lot"] for o in body.get("outputs", []))
            created.update(p["lot"] for p in body.get("into", []) if isinstance(p, dict))
            if isinstance(body.get("into"), str):
                created.add(body["into"])
        # the delivery's retry (same Idempotency-Key) records nothing new
        delivery = [(a, r, h) for a, r, h in readme_event_posts() if h]
        assert delivery
        for actor, request, headers in delivery:
            resp = api.client.post(
                "/events", json=request, headers=player.headers(actor, **headers)
            )
            assert resp.status_code == 200 and resp.headers["Idempotent-Replayed"] == "true"
        certified = [
            r["body"] for _, r, _ in readme_event_posts() if r["type"] == "certificate.requested"
        ]
        assert {"lot": "AU-TUUL-0001", "occurred_at": "2026-09-20T11:00:00+08:00"} in certified
