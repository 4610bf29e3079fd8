"""The review's three status attacks (issue 14), through the real service and
`altan verify --online`: each fails with a named reason, because the status comes from the
status proof the service serves (the map the log commits to), never from its words or its
projection tables. Then the witness policy's step from a cosigned checkpoint to the latest.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import text
from typer.testing import CliRunner

import support.verify_online as verify_online_fixtures
from clients import cli
from clients.verify import verify_online
from ledger.cosignature import WitnessSigner
from support.certificates import BANK, REGULATOR, World
from support.verify_online import App, Edit
from support.witnesses import cosign_latest, register

world = verify_online_fixtures.world


def certified(world: World, lot: str = "AU-1") -> dict[str, Any]:
    world.gold(lot, 50_000)
    world.request(lot)
    return world.certificates(lot)[0]


def verify(
    world: World, monkeypatch: pytest.MonkeyPatch, qr: str, *args: str, edit: Edit | None = None
) -> tuple[int, dict[str, Any]]:
    """`altan verify QR --key K --online --json ARGS` through the app (a proxy: ``edit``)."""
    monkeypatch.setattr(cli, "_http_client", lambda: httpx.Client(transport=App(world, edit)))
    [vkey] = world.vkeys()
    result = CliRunner().invoke(
        cli.app, ["verify", qr, "--key", vkey, "--online", "--json", *args], catch_exceptions=False
    )
    return result.exit_code, json.loads(result.stdout)


def says_genuine(view: dict[str, Any]) -> dict[str, Any]:
    """A proxy in front of the real server: the real answer, proofs and all, but its words
    say genuine and current, and what would betray it is left out."""
    return {
        **view,
        "verdict": "genuine",
        "reason": None,
        "detail": "Genuine: issued by this ledger and current.",
        "revocation": None,
        "successors": [],
        "lot": None,
    }


def test_a_proxy_saying_genuine_for_a_revoked_certificate(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Attack 1: status flipped by a proxy over the real (witnessed) history."""
    record = certified(world)
    body = {"certificate": record["id"], "reason": "issued on a false assay"}
    world.api.ok(REGULATOR, "certificate.revoked", body)
    code, verdict = verify(world, monkeypatch, record["qr_text"], edit=says_genuine)
    assert code == 1, verdict
    assert (verdict["verdict"], verdict["reason"]) == ("not_genuine", "revoked")
    assert (verdict["status"], verdict["status_proof"]["as_of"]) == ("proven", world.size())
    assert verdict["status_proof"]["state"]["revoked"] == [record["id"]]
    assert verdict["message"].startswith("a regulator revoked this certificate; ")


def test_an_insiders_update_of_the_certificates_table(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Attack 2: `UPDATE certificates SET revoked_index = NULL` by a database insider."""
    record = certified(world)
    body = {"certificate": record["id"], "reason": "issued on a false assay"}
    world.api.ok(REGULATOR, "certificate.revoked", body)
    engine = world.c.app.state.runtime.engine  # type: ignore[attr-defined]
    with engine.begin() as conn:
        conn.execute(text("UPDATE certificates SET revoked_index = NULL"))
    # the server's own verdict comes from the map too (services/certificates/verdict.py)
    assert world.verdict(record["token"])["reason"] == "revoked"
    assert world.certificates("AU-1")[0]["revoked"] is False  # the edited table says
    code, verdict = verify(world, monkeypatch, record["qr_text"])
    assert code == 1, verdict
    assert (verdict["verdict"], verdict["reason"]) == ("not_genuine", "revoked")
    assert verdict["status"] == "proven"


def test_an_old_certificate_of_a_lot_sold_since(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Attack 3: the seller's certificate, shown after the lot was sold (a proxy calling it
    genuine, or not)."""
    old = certified(world)
    world.offer_and_accept("OFFER-1", "AU-1", BANK)
    new = world.certificates("AU-1")[0]
    for edit in (None, says_genuine):
        code, verdict = verify(world, monkeypatch, old["qr_text"], edit=edit)
        assert code == 3, verdict
        assert verdict["verdict"] == "not_current"
        assert verdict["reason"] == "transferred"
        state = verdict["status_proof"]["state"]
        assert (state["custodian"], state["certificate"]) == (BANK, new["id"])
    assert verify(world, monkeypatch, new["qr_text"])[0] == 0


def test_a_cosigned_checkpoint_and_a_later_revocation(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A verifier requiring a witness's cosignature: the latest checkpoint (with the
    revocation) is not cosigned yet; the server proves it extends the cosigned one, and the
    status is proven at the latest. A proxy that drops that proof is refused."""
    w = WitnessSigner(Ed25519PrivateKey.generate(), "witness.example.mn/w1")
    register(world.api, w)
    record = certified(world)
    assert cosign_latest(world.c, w, int(time.time())).status_code == 201
    cosigned = world.size()
    world.api.ok(REGULATOR, "certificate.revoked", {"certificate": record["id"], "reason": "x"})
    assert world.size() > cosigned
    policy = ("--witness", w.key.vkey, "--min-cosignatures", "1")
    code, verdict = verify(world, monkeypatch, record["qr_text"], *policy, edit=says_genuine)
    assert code == 1, verdict
    assert (verdict["reason"], verdict["checkpoint"]["tree_size"]) == ("revoked", cosigned)
    assert verdict["status_proof"]["as_of"] == world.size()
    assert f"which extends the cosigned checkpoint {cosigned}" in verdict["message"]

    def drop(view: dict[str, Any]) -> dict[str, Any]:
        out = says_genuine(view)
        out["witnessed"] = [
            {k: v for k, v in i.items() if k != "consistency"} for i in view["witnessed"]
        ]
        return out

    code, verdict = verify(world, monkeypatch, record["qr_text"], *policy, edit=drop)
    assert code == 1, verdict
    assert verdict["reason"] == "proof_invalid"


def test_the_python_api_agrees(world: World) -> None:
    record = certified(world)
    world.api.ok(REGULATOR, "certificate.revoked", {"certificate": record["id"], "reason": "x"})
    lie: Callable[[dict[str, Any]], dict[str, Any]] = says_genuine
    v = verify_online(
        record["qr_text"], world.vkeys(), client=httpx.Client(transport=App(world, lie))
    )
    assert (v.verdict, v.reason, v.status_source) == ("not_genuine", "revoked", "proof")
    assert v.status is not None and v.status.state is not None
    assert v.status.state.revoked == (record["id"],)
