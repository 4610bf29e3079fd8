"""The SDK's certificate methods against the real app, in-process: requesting (signed by the
actor's key like any event), listing, reading, the QR as PNG and SVG, the printable page,
revoking, and the public verdict."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path

import pytest
import zxingcpp
from PIL import Image

from clients.sdk import (
    ActorSigner,
    AltanClient,
    Forbidden,
    NotFound,
    RuleViolation,
    Unauthenticated,
)
from ledger.errors import MalformedInput
from schemas.certificates import VerdictOut
from support.certificates import BANK, CENTRE, PUBLIC_URL, World, populate
from support.domain import running_api

URL = "http://testserver"


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    with running_api(tmp_path, public_url=PUBLIC_URL) as api:
        yield populate(api)


def client(world: World, actor: str) -> AltanClient:
    return AltanClient(URL, world.api.tokens[actor], http=world.c, backoff=0)


@pytest.fixture
def regulator(world: World) -> AltanClient:
    """A regulator with its own key: its events are signed by it."""
    signer = ActorSigner.generate("regulator:mrpam")
    admin = client(world, "admin:root")
    admin.register_actor(actor=signer.actor, role="regulator", keys=[signer.public_key])
    token = admin.issue_token(signer.actor, "sdk test").token
    return AltanClient(
        URL, token, actor=signer.actor, signing_key=signer.private_key, http=world.c, backoff=0
    )


def test_request_list_and_read_a_certificate(world: World) -> None:
    world.gold("AU-1", 50_000)
    centre = client(world, CENTRE)
    receipt = centre.request_certificate("AU-1")
    assert [d.type for d in receipt.derived] == ["certificate.issued"]
    assert centre.entry(receipt.index).event.type == "certificate.requested"

    [record] = centre.lot_certificates("AU-1")
    assert record["kind"] == "gold_lot" and record["revoked"] is False
    assert record["qr_text"] == f"{PUBLIC_URL}/c/{record['token']}"
    assert centre.get_certificate(record["id"]) == record


def test_a_request_is_signed_by_the_actors_key(world: World, regulator: AltanClient) -> None:
    world.gold("AU-1", 50_000)
    receipt = regulator.request_certificate(lot="AU-1")
    entry = regulator.entry(receipt.index).event
    assert entry.actor == "regulator:mrpam"
    assert regulator.signer is not None
    assert entry.actor_key_id == regulator.signer.key_id and entry.actor_signature is not None


def test_png_svg_and_print(world: World) -> None:
    world.gold("AU-1", 50_000)
    centre = client(world, CENTRE)
    centre.request_certificate("AU-1")
    [record] = centre.lot_certificates("AU-1")

    png = centre.certificate_png(record["id"])
    [found] = zxingcpp.read_barcodes(Image.open(io.BytesIO(png)))
    assert found.text == record["qr_text"]

    svg = centre.certificate_svg(record["id"])
    assert svg.lstrip().startswith(("<svg", "<?xml"))

    page = centre.certificate_print(record["id"], size="A5", lang="en")
    assert "A5" in page and "AU-1" in page and 'lang="en"' in page
    assert 'lang="mn"' in centre.certificate_print(record["id"])


def test_revoke_and_the_public_verdict(world: World, regulator: AltanClient) -> None:
    world.gold("AU-1", 50_000)
    client(world, CENTRE).request_certificate("AU-1")
    [record] = regulator.lot_certificates("AU-1")

    anyone = AltanClient(URL, None, http=world.c)  # no token: the verdict is public
    for source in (record["qr_text"], record["token"], record["token"].lower()):
        view = anyone.check_certificate(source)
        assert (view["verdict"], view["reason"]) == ("genuine", None)
    VerdictOut.model_validate(view)  # the wire model, whole

    receipt = regulator.revoke_certificate(record["id"], "issued on a false assay")
    assert regulator.entry(receipt.index).event.type == "certificate.revoked"
    view = regulator.check_certificate(record["qr_text"])
    assert (view["verdict"], view["reason"]) == ("not_genuine", "revoked")
    assert view["revocation"]["reason"] == "issued on a false assay"
    assert regulator.get_certificate(record["id"])["revoked"] is True


def test_a_transfer_shows_in_the_list_newest_first(world: World) -> None:
    world.gold("AU-1", 50_000)
    centre = client(world, CENTRE)
    centre.request_certificate("AU-1")
    world.offer_and_accept("OFFER-1", "AU-1", BANK)
    [new, old] = client(world, BANK).lot_certificates("AU-1")
    assert old["superseded_by"] == new["id"]
    assert centre.check_certificate(old["qr_text"])["reason"] == "transferred"
    assert centre.check_certificate(new["qr_text"])["verdict"] == "genuine"


def test_errors_are_the_sdks(world: World, regulator: AltanClient) -> None:
    world.gold("AU-1", 50_000)
    world.deliver("ORE-2", 1_000)
    centre = client(world, CENTRE)
    with pytest.raises(Forbidden) as caught:
        client(world, BANK).request_certificate("AU-1")
    assert caught.value.rule == "not-custodian"
    with pytest.raises(RuleViolation) as violation:
        centre.request_certificate("ORE-2")
    assert violation.value.rule == "not-a-gold-lot"
    with pytest.raises(RuleViolation):  # checked before sending: an empty reason
        regulator.revoke_certificate("0" * 32, "")
    with pytest.raises(NotFound):
        regulator.revoke_certificate("f" * 32, "no such certificate")
    with pytest.raises(NotFound):
        centre.get_certificate("f" * 32)
    with pytest.raises(NotFound):
        centre.certificate_png("f" * 32)
    with pytest.raises(Unauthenticated):
        AltanClient(URL, None, http=world.c).lot_certificates("AU-1")
    with pytest.raises(MalformedInput):
        centre.check_certificate("not a token!")
