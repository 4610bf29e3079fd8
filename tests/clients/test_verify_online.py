"""`altan verify --online`: the offline check, then the ledger's word, checked against the
pinned key. Real HTTP through the ASGI app (the TestClient, or a transport into it that can
lie, fail or stall); the CLI's HTTP client is replaced through its `_http_client` seam.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from typer.testing import CliRunner

import support.verify_online as verify_online_fixtures
from clients import cli
from clients.verify import (
    MAX_ANSWER_BYTES,
    CannotCheckOnline,
    pinned_keys,
    server_of,
    verify_online,
)
from ledger.certificate import (
    Certificate,
    CertificateInvalid,
    parse_qr_text,
    sign_certificate,
    token_text,
    verify_certificate,
)
from ledger.checkpoint import Checkpoint, sign_checkpoint
from ledger.errors import KeyProblem
from ledger.hashing import hash_leaf
from ledger.note import Note, NoteSigner, NoteVerifier
from support.certificate import ACTIVE, realistic
from support.certificates import (
    BANK,
    CENTRE,
    PUBLIC_URL,
    REGULATOR,
    World,
    keystore_of,
)
from support.verify_online import App, Edit

# The fixtures shared through support.verify_online, taken by this module's tests.
world = verify_online_fixtures.world


@pytest.fixture
def network(world: World, monkeypatch: pytest.MonkeyPatch) -> Callable[..., App]:
    """Install a network for the CLI: `network(edit=..., fail=...)`."""

    def install(**kw: Any) -> App:
        app = App(world, **kw)
        monkeypatch.setattr(cli, "_http_client", lambda: httpx.Client(transport=app))
        return app

    install()
    return install


def verify(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli.app, ["verify", *args], catch_exceptions=False)
    return result.exit_code, result.stdout


def certified(world: World, lot: str = "AU-1") -> dict[str, Any]:
    world.gold(lot, 50_000)
    world.request(lot)
    return world.certificates(lot)[0]


def vkey(world: World) -> str:
    [key] = world.vkeys()
    return key


# --- verdicts -----------------------------------------------------------------------------


def test_a_genuine_current_certificate(world: World) -> None:
    record = certified(world)
    v = verify_online(record["qr_text"], [vkey(world)], client=world.c)  # the TestClient
    assert (v.verdict, v.reason, v.exit_code) == ("genuine", None, 0)
    assert (v.server, v.server_from_qr) == (PUBLIC_URL, True)
    assert v.checkpoint is not None and v.checkpoint.size == world.size()
    assert v.certificate.lot_id == "AU-1"


def test_the_cli_says_genuine_on_one_line(world: World, network: Callable[..., App]) -> None:
    record = certified(world)
    app = network()
    code, out = verify(record["qr_text"], "--key", vkey(world), "--online")
    assert code == 0, out
    assert out.startswith("GENUINE gold lot AU-1: 50 g; origin Töv (1 miner, 1 site, ")
    size = world.size()
    assert out.endswith(
        f"; checked online at {PUBLIC_URL} (tree size {size}); status proven as of checkpoint "
        f"{size}\n"
    )
    assert out.count("\n") == 1
    assert app.urls == [f"{PUBLIC_URL}/api/c/{record['token']}"]


def test_after_a_transfer_the_old_one_is_not_current(
    world: World, network: Callable[..., App]
) -> None:
    old = certified(world)
    world.offer_and_accept("OFFER-1", "AU-1", BANK)
    new = world.certificates("AU-1")[0]
    code, out = verify(old["qr_text"], "--key", vkey(world), "--online")
    assert code == 3, out
    assert out.startswith("NOT CURRENT (transferred): the lot has a new custodian")
    assert f"newer: {new['qr_text']};" in out

    code, out = verify(old["qr_text"], "--key", vkey(world), "--online", "--json")
    assert code == 3
    verdict = json.loads(out)
    assert (verdict["genuine"], verdict["current"]) == (True, False)
    assert (verdict["verdict"], verdict["reason"]) == ("not_current", "transferred")
    assert (verdict["status"], verdict["status_checked"]) == ("proven", True)
    assert verdict["status_proof"]["state"]["certificate"] == new["id"]
    assert verdict["successors"] == [
        {"id": new["id"], "lot": "AU-1", "url": new["qr_text"], "genuine": True}
    ]
    assert verdict["lot"] == {"status": "active", "custodian": BANK}
    assert verify(new["qr_text"], "--key", vkey(world), "--online")[0] == 0


def test_a_split_lot_names_its_parts(world: World, network: Callable[..., App]) -> None:
    old = certified(world)
    parts = [{"lot": "AU-1a", "mass_mg": 20_000}, {"lot": "AU-1b", "mass_mg": 30_000}]
    world.api.ok(CENTRE, "lot.split", {"lot": "AU-1", "into": parts})
    code, out = verify(old["qr_text"], "--key", vkey(world), "--online", "--json")
    assert code == 3
    verdict = json.loads(out)
    assert verdict["reason"] == "consumed"
    assert {s["lot"] for s in verdict["successors"]} == {"AU-1a", "AU-1b"}
    assert all(s["genuine"] for s in verdict["successors"])


def test_a_held_lot_is_not_current(world: World, network: Callable[..., App]) -> None:
    record = certified(world)
    world.api.ok(
        "auditor:mrpam",
        "case.opened",
        {
            "case": "HOLD-1",
            "kind": "hold",
            "target": {"kind": "lot", "id": "AU-1"},
            "category": "other",
            "description": "under review",
        },
    )
    code, out = verify(record["qr_text"], "--key", vkey(world), "--online")
    assert code == 3
    assert out.startswith("NOT CURRENT (held): ")


def test_a_revoked_certificate_is_not_genuine(world: World, network: Callable[..., App]) -> None:
    record = certified(world)
    body = {"certificate": record["id"], "reason": "issued on a false assay"}
    world.api.ok(REGULATOR, "certificate.revoked", body)
    code, out = verify(record["qr_text"], "--key", vkey(world), "--online")
    assert code == 1, out
    assert out.startswith("NOT GENUINE (revoked): a regulator revoked this certificate; ")
    assert f"revoked by {REGULATOR} at entry " in out and ": issued on a false assay;" in out


def test_a_token_by_the_log_key_for_no_entry_is_not_in_log(
    world: World, network: Callable[..., App]
) -> None:
    """What a stolen log key could sign: it verifies offline, the ledger never issued it."""
    record = certified(world)
    real = verify_certificate(parse_qr_text(record["qr_text"]), pinned_keys(world.vkeys()))
    signer = keystore_of(world).active()
    beyond = Certificate(**{**real.__dict__, "ledger_index": world.size() + 10})
    forged = token_text(sign_certificate(beyond, signer))
    code, out = verify(forged, "--key", vkey(world), "--server", PUBLIC_URL)
    assert code == 1, out
    assert out.startswith("NOT GENUINE (not_in_log): the ledger has no record")


# --- a server that lies ---------------------------------------------------------------------


def _flip_path(view: dict[str, Any]) -> dict[str, Any]:
    path = list(view["proof"]["path"])
    path[0] = f"{int(path[0][:2], 16) ^ 1:02x}{path[0][2:]}"
    return {**view, "proof": {**view["proof"], "path": path}}


def _other_root(view: dict[str, Any]) -> dict[str, Any]:
    """The checkpoint's text claims another root under the log's own signature line."""
    note = Note.from_text(view["checkpoint"])
    cp = Checkpoint.from_text(note.text)
    lied = Checkpoint(cp.origin, cp.size, bytes(32)).to_text()
    return {**view, "checkpoint": view["checkpoint"].replace(note.text, lied)}


def _impostor(view: dict[str, Any]) -> dict[str, Any]:
    """A tree of its own (this one entry), signed by another key under the log's name."""
    entry = base64.b64decode(view["proof"]["entry"])
    leaf = hash_leaf(entry)
    name = Note.from_text(view["checkpoint"]).signatures[0].name
    signer = NoteSigner(Ed25519PrivateKey.generate(), name)
    note = sign_checkpoint(Checkpoint("altan.mn/log", 1, leaf), signer)
    proof = {**view["proof"], "index": 0, "tree_size": 1, "path": [], "root_hash": leaf.hex()}
    return {**view, "checkpoint": note, "proof": proof}


def _previous_entry(view: dict[str, Any]) -> dict[str, Any]:
    """A true proof, of the wrong entry."""
    return {**view, "proof": {**view["proof"], "entry": base64.b64encode(b"other").decode()}}


def _root_in_proof(view: dict[str, Any]) -> dict[str, Any]:
    return {**view, "proof": {**view["proof"], "root_hash": "00" * 32}}


def _no_proof(view: dict[str, Any]) -> dict[str, Any]:
    return {**view, "proof": None}


def _revoked_said_genuine_of_another(view: dict[str, Any]) -> dict[str, Any]:
    return {**view, "certificate": {**view["certificate"], "id": "0" * 32}}


@pytest.mark.parametrize(
    ("lie", "why"),
    [
        (_flip_path, "inclusion proof"),
        (_other_root, "checkpoint"),
        (_impostor, "checkpoint"),
        (_previous_entry, "leaf hash"),
        (_root_in_proof, "not against the signed checkpoint"),
        (_no_proof, "no checkpoint and inclusion proof"),
        (_revoked_said_genuine_of_another, "another certificate"),
    ],
)
def test_a_server_whose_proof_does_not_hold_up(
    world: World, network: Callable[..., App], lie: Edit, why: str
) -> None:
    record = certified(world)
    network(edit=lie)
    code, out = verify(record["qr_text"], "--key", vkey(world), "--online")
    assert code == 1, out
    assert out.startswith("NOT GENUINE (proof_invalid): the server's answer does not hold up")
    assert why in out

    v = verify_online(
        record["qr_text"], [vkey(world)], client=httpx.Client(transport=App(world, lie))
    )
    assert (v.verdict, v.reason, v.exit_code) == ("not_genuine", "proof_invalid", 1)


def _origin_switch(world: World) -> Edit:
    """A proxy holding the real log key: the real checkpoint re-signed by that key under
    another origin (the log's name with a trailing "/"), as a rewritten history would be."""
    signer = keystore_of(world).active().note_signer

    def lie(view: dict[str, Any]) -> dict[str, Any]:
        cp = Checkpoint.from_text(Note.from_text(view["checkpoint"]).text)
        other = Checkpoint(cp.origin + "/", cp.size, cp.root_hash, cp.extensions)
        return {**view, "checkpoint": sign_checkpoint(other, signer)}

    return lie


def test_a_checkpoint_signed_by_the_real_key_under_another_origin_is_refused(
    world: World, network: Callable[..., App]
) -> None:
    """Hole 1 of issue 10, online: the origin expected is the pinned key's name, not the
    note's first line, so the real key's signature on another origin proves nothing here."""
    record = certified(world)
    lie = _origin_switch(world)
    network(edit=lie)
    code, out = verify(record["qr_text"], "--key", vkey(world), "--online", "--json")
    assert code == 1, out
    verdict = json.loads(out)
    assert (verdict["verdict"], verdict["reason"]) == ("not_genuine", "proof_invalid")
    name = NoteVerifier.from_vkey(vkey(world)).name
    assert f"checkpoint origin: expected {name!r}, found {name + '/'!r}" in verdict["detail"]
    v = verify_online(
        record["qr_text"], [vkey(world)], client=httpx.Client(transport=App(world, lie))
    )
    assert (v.verdict, v.reason, v.checkpoint) == ("not_genuine", "proof_invalid", None)
    network()  # the same answer, honest: genuine (it is the origin alone that is refused)
    assert verify(record["qr_text"], "--key", vkey(world), "--online")[0] == 0


def test_the_keys_of_two_logs_cannot_be_pinned_together(world: World) -> None:
    record = certified(world)
    other = NoteSigner(Ed25519PrivateKey.generate(), "other.example/log").verifier.vkey
    with pytest.raises(KeyProblem, match="name different logs"):
        verify_online(record["qr_text"], [vkey(world), other], client=world.c)


def test_offline_a_sold_lot_is_a_genuine_token_of_unknown_status(
    world: World, network: Callable[..., App]
) -> None:
    """Hole 8 of issue 10: the lot changed hands; offline cannot know, and says so."""
    old = certified(world)
    world.offer_and_accept("OFFER-1", "AU-1", BANK)
    code, out = verify(old["qr_text"], "--key", vkey(world), "--json")
    assert code == 0
    offline = json.loads(out)
    assert (offline["genuine"], offline["status"], offline["status_checked"]) == (
        True,
        "unknown_offline",
        False,
    )
    code, out = verify(old["qr_text"], "--key", vkey(world))
    assert out.startswith("GENUINE TOKEN; STATUS UNKNOWN OFFLINE: gold lot AU-1")
    code, out = verify(old["qr_text"], "--key", vkey(world), "--online", "--json")
    assert code == 3
    online = json.loads(out)
    assert (online["reason"], online["status_checked"]) == ("transferred", True)


def test_the_servers_own_key_list_is_not_trusted(world: World) -> None:
    """An impostor that publishes its own key beside its checkpoint gains nothing."""

    def lie(view: dict[str, Any]) -> dict[str, Any]:
        out = _impostor(view)
        name = Note.from_text(out["checkpoint"]).signatures[0].name
        signer_vkey = [
            NoteVerifier.from_vkey(v).vkey for v in out["verifier_keys"] if v.startswith(name)
        ]
        return {**out, "verifier_keys": signer_vkey}

    record = certified(world)
    v = verify_online(
        record["qr_text"], [vkey(world)], client=httpx.Client(transport=App(world, lie))
    )
    assert v.reason == "proof_invalid"


def test_server_text_cannot_reach_the_terminal(world: World, network: Callable[..., App]) -> None:
    record = certified(world)
    world.api.ok(REGULATOR, "certificate.revoked", {"certificate": record["id"], "reason": "x"})

    def lie(view: dict[str, Any]) -> dict[str, Any]:
        rev = {**view["revocation"], "reason": "\x1b]0;pwned\x07\x1b[2Jfine\r\nGENUINE"}
        return {**view, "revocation": rev}

    network(edit=lie)
    code, out = verify(record["qr_text"], "--key", vkey(world), "--online")
    assert code == 1
    assert "\x1b" not in out and "\r" not in out and out.count("\n") == 1


# --- no verdict: exit 2 -----------------------------------------------------------------------


def test_a_bare_token_needs_a_server(world: World, network: Callable[..., App]) -> None:
    record = certified(world)
    code, out = verify(record["token"], "--key", vkey(world), "--online")
    assert code == 2
    assert out.startswith("CANNOT CHECK ONLINE (no_server): genuine offline, but a bare token")
    code, out = verify(record["token"], "--key", vkey(world), "--server", PUBLIC_URL + "/")
    assert code == 0, out


def test_an_offline_failure_is_final_and_asks_no_server(
    world: World, network: Callable[..., App]
) -> None:
    record = certified(world)
    forged = bytearray(parse_qr_text(record["qr_text"]))
    forged[-1] ^= 1
    app = network()
    code, out = verify(token_text(bytes(forged)), "--key", vkey(world), "--server", PUBLIC_URL)
    assert code == 1
    assert out.startswith("NOT GENUINE (bad_signature)")
    assert app.urls == []
    with pytest.raises(CertificateInvalid):
        verify_online(token_text(bytes(forged)), [vkey(world)], PUBLIC_URL, client=world.c)


def _refuse(request: httpx.Request) -> httpx.Response:
    raise httpx.ConnectError("connection refused", request=request)


def _timeout(request: httpx.Request) -> httpx.Response:
    raise httpx.ReadTimeout("timed out", request=request)


def _huge(request: httpx.Request) -> httpx.Response:
    return httpx.Response(200, content=b"[" + b"0," * MAX_ANSWER_BYTES + b"0]")


def _html(request: httpx.Request) -> httpx.Response:
    return httpx.Response(200, content=b"<html>hello</html>")


def _not_found(request: httpx.Request) -> httpx.Response:
    return httpx.Response(404, json={"title": "Not Found"})


def _not_a_verdict(request: httpx.Request) -> httpx.Response:
    return httpx.Response(200, json={"verdict": "maybe"})


@pytest.mark.parametrize(
    ("fail", "reason"),
    [
        (_refuse, "unreachable"),
        (_timeout, "unreachable"),
        (_huge, "bad_answer"),
        (_html, "bad_answer"),
        (_not_found, "bad_answer"),
        (_not_a_verdict, "bad_answer"),
    ],
)
def test_no_answer_is_not_a_verdict(
    world: World, network: Callable[..., App], fail: Any, reason: str
) -> None:
    record = certified(world)
    network(fail=fail)
    code, out = verify(record["qr_text"], "--key", vkey(world), "--online", "--json")
    assert code == 2, out
    assert json.loads(out)["reason"] == reason


def test_the_default_client_reports_a_closed_port() -> None:
    """No app here: the real httpx client, its timeout, a port nobody listens on."""
    token = sign_certificate(realistic(), ACTIVE)
    with pytest.raises(CannotCheckOnline) as caught:
        verify_online(token_text(token), [ACTIVE.key.verifier_key], server="http://127.0.0.1:9")
    assert caught.value.reason == "unreachable"
    assert str(caught.value).startswith("cannot reach http://127.0.0.1:9: ConnectError")


def test_a_bad_server_option(world: World, network: Callable[..., App]) -> None:
    record = certified(world)
    code, out = verify(record["token"], "--key", vkey(world), "--server", "ftp://altan.mn")
    assert code == 2
    assert out.startswith("CANNOT CHECK ONLINE (no_server): --server: expected an http(s)://")
    with pytest.raises(CannotCheckOnline):
        verify_online(record["token"], [vkey(world)], client=world.c)


@pytest.mark.parametrize(
    ("text", "server"),
    [
        ("https://altan.mn/c/ABCD", "https://altan.mn"),
        ("HTTPS://Ledger.Altan.mn:8443/c/ABCD", "https://Ledger.Altan.mn:8443"),
        ("https://example.org/altan/c/ABCD", "https://example.org/altan"),
        ("https://example.org/altan/C/ABCD", "https://example.org/altan"),
        ("ABCD", None),
        ("ftp://altan.mn/c/ABCD", None),
        ("https:///c/ABCD", None),
    ],
)
def test_the_server_in_a_qr_url(text: str, server: str | None) -> None:
    assert server_of(text) == server


# --- for people -------------------------------------------------------------------------------


def test_a_terminal_gets_a_panel(
    world: World, network: Callable[..., App], monkeypatch: pytest.MonkeyPatch
) -> None:
    old = certified(world)
    world.offer_and_accept("OFFER-1", "AU-1", BANK)
    new = world.certificates("AU-1")[0]
    monkeypatch.setattr(cli, "_tty", lambda: True)
    code, out = verify(old["qr_text"], "--key", vkey(world), "--online")
    assert code == 3
    assert "NOT CURRENT (transferred)" in out.splitlines()[0]
    assert out.count("\n") > 5
    text = " ".join(out.replace("│", " ").split())
    assert f"The lot now: active, with {BANK}" in text
    assert "Newer certificate for AU-1: see below" in text
    assert "pin one with --server" in text
    assert f"Status proven as of checkpoint {world.size()}" in text
    assert out.endswith(f"\nAU-1: {new['qr_text']}\n")  # whole, to copy


def test_a_photo_of_the_qr_names_the_server(
    world: World, network: Callable[..., App], tmp_path: Path
) -> None:
    record = certified(world)
    photo = tmp_path / "qr.png"
    photo.write_bytes(
        world.c.get(record["links"]["png"], headers=world.api.headers(CENTRE)).content
    )
    app = network()
    code, out = verify(str(photo), "--key", vkey(world), "--online")
    assert code == 0, out
    assert app.urls[0].startswith(f"{PUBLIC_URL}/api/c/")
