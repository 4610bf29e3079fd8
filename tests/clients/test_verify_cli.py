"""`altan verify`: a buyer or customs officer checks a certificate with no connection,
from a photo of its QR, its URL or the bare token, against a pinned log key."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest
from PIL import Image
from typer.testing import CliRunner

from clients import cli
from clients.verify import describe
from ledger.certificate import (
    CertificateKind,
    MassUnit,
    Origin,
    qr_text,
    sign_certificate,
    token_text,
)
from support.certificate import ACTIVE, STRANGER, make_qr, realistic, render

TOKEN = sign_certificate(realistic(), ACTIVE)
VKEY = ACTIVE.key.verifier_key
URL = qr_text("https://ledger.altan.mn", TOKEN)
SHORT_URL = qr_text("https://altan.mn", TOKEN)


def verify(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli.app, ["verify", *args], catch_exceptions=False)
    return result.exit_code, result.stdout


@pytest.mark.parametrize("source", [URL, SHORT_URL, token_text(TOKEN), token_text(TOKEN).lower()])
def test_genuine_from_the_url_or_the_token(source: str) -> None:
    code, out = verify(source, "--key", VKEY)
    assert code == 0, out
    assert out == (
        "GENUINE TOKEN; STATUS UNKNOWN OFFLINE: gold lot AU-2026-000123: 1,234.567 g, 995‰ "
        "fine; origin Övörkhangai (37 miners, 4 sites, mercury-free); custodian "
        "centre:bornuur; ledger entry 123456; issued 2026-05-20 09:30 UTC; "
        f"{cli.OFFLINE_UNCHECKED}\n"
    )


def test_offline_says_the_status_was_not_checked() -> None:
    """Hole 8 of issue 10: a certificate of a lot sold since still verifies offline; the
    output must not read as a plain GENUINE, in JSON or for a person."""
    code, out = verify(URL, "--key", VKEY, "--json")
    assert code == 0
    verdict = json.loads(out)
    assert verdict["genuine"] is True
    assert (verdict["status"], verdict["status_checked"]) == ("unknown_offline", False)
    assert "ownership and status not checked" in verdict["message"]
    assert "GENUINE " not in verify(URL, "--key", VKEY)[1].replace("GENUINE TOKEN;", "")


def test_offline_in_a_terminal_is_a_yellow_panel_that_says_what_it_did_not_check(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(cli, "_tty", lambda: True)
    code, out = verify(URL, "--key", VKEY)
    assert code == 0
    assert "GENUINE TOKEN; STATUS UNKNOWN OFFLINE" in out.splitlines()[0]
    text = " ".join(out.replace("│", " ").split())
    assert "Not checked: ownership and status not checked offline" in text
    assert "--online asks the ledger" in text.replace("`", "")


def test_describe_an_ore_receipt_with_nothing_optional() -> None:
    ore = realistic(
        kind=CertificateKind.ORE_RECEIPT,
        mass=2_500_000,
        unit=MassUnit.G,
        fineness_ppt=None,
        origin=Origin(aimag=0, miners=3, sites=1),
    )
    line = describe(ore)
    assert line.startswith("ore receipt AU-2026-000123: 2,500 kg; origin not stated ")
    assert "(3 miners, 1 site)" in line and "\n" not in line
    used = describe(realistic(origin=Origin(47, 12, 2, mercury_free=False)))
    assert "origin Töv (12 miners, 2 sites, mercury used)" in used


def test_genuine_from_a_photo_of_the_qr(tmp_path: Path) -> None:
    photo = tmp_path / "qr.png"
    img = render(make_qr(TOKEN))
    img.resize((img.width * 6 // 10, img.height * 6 // 10), Image.Resampling.BILINEAR).save(photo)
    code, out = verify(str(photo), "--key", VKEY, "--json")
    assert code == 0, out
    verdict = json.loads(out)
    assert verdict["genuine"] is True and verdict["reason"] == "genuine"


def test_a_key_it_does_not_trust_is_named() -> None:
    code, out = verify(URL, "--key", STRANGER.key.verifier_key)
    assert code == 1
    assert out.startswith("NOT GENUINE (unknown_key)")


def test_a_forged_certificate_is_named() -> None:
    forged = bytearray(TOKEN)
    forged[40] ^= 1  # inside the payload
    code, out = verify(token_text(bytes(forged)), "--key", VKEY, "--json")
    assert code == 1
    assert json.loads(out)["reason"] == "bad_signature"


def test_a_resigned_certificate_with_other_facts_is_refused() -> None:
    other = sign_certificate(dataclasses.replace(realistic(), mass=12_500), STRANGER)
    code, out = verify(token_text(other), "--key", VKEY)
    assert code == 1
    assert "unknown_key" in out


@pytest.mark.parametrize("source", ["hello", "https://ledger.altan.mn/c/!!!", ""])
def test_unreadable_input_is_not_a_verdict(source: str) -> None:
    code, out = verify(source, "--key", VKEY)
    assert code in (1, 2), out
    assert out.startswith("NOT GENUINE (malformed)" if code == 1 else "UNREADABLE: ")


def test_a_photo_without_a_qr_code(tmp_path: Path) -> None:
    blank = tmp_path / "blank.png"
    Image.new("L", (200, 200), 255).save(blank)
    code, out = verify(str(blank), "--key", VKEY)
    assert code == 2
    assert out.startswith("UNREADABLE: ") and "no QR code found" in out
