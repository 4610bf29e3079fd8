"""Certificates in the service, through real HTTP on the ASGI app: automatic ore receipts,
gold-lot certificates on request, new certificates that supersede old ones, revocation,
and the online verdict of `/c/{token}` for every reason it can give.

Each verdict is checked the way a buyer's phone or an auditor would: the token verifies
offline against the published key, and the inclusion proof in the answer verifies against
the signed checkpoint in the same answer.
"""

from __future__ import annotations

import base64
import hashlib
import io
from pathlib import Path
from typing import Any

import pytest
import zxingcpp
from PIL import Image

import support.certificates as certificates_fixtures
from clients.verify import pinned_keys
from ledger.certificate import (
    Certificate,
    CertificateKind,
    MassUnit,
    parse_qr_text,
    qr_text,
    sign_certificate,
    token_text,
    verify_certificate,
)
from ledger.keystore import KeyStore
from support.certificates import (
    AUDITOR,
    BANK,
    CENTRE,
    LAB,
    PARTNERSHIP,
    PUBLIC_URL,
    REGULATOR,
    SITE,
    TRADER,
    World,
    keystore_of,
    populate,
)
from support.db import Database, database_url
from support.domain import WHEN, running_api

# The fixtures shared through support.certificates, taken by this module's tests.
world = certificates_fixtures.world

# --- ore receipts ------------------------------------------------------------------------


def test_a_delivery_gives_the_miner_a_receipt_that_verifies_offline_and_online(
    world: World,
) -> None:
    before = world.size()
    out = world.deliver("ORE-1", 2_500_000)
    assert [d["type"] for d in out["derived"]] == ["certificate.issued"]
    assert world.size() == before + 3  # the delivery, its receipt, the append's state.root

    receipts = world.certificates("ORE-1", by=PARTNERSHIP)  # the miner may read it
    assert len(receipts) == 1 and receipts[0]["kind"] == "ore_receipt"
    token = parse_qr_text(receipts[0]["qr_text"])
    assert receipts[0]["qr_text"].startswith(PUBLIC_URL + "/c/")

    cert = verify_certificate(token, pinned_keys(world.vkeys()))  # offline, pinned key
    assert cert.kind is CertificateKind.ORE_RECEIPT
    assert (cert.lot_id, cert.mass, cert.unit) == ("ORE-1", 2_500_000, MassUnit.G)
    assert cert.custodian == CENTRE
    assert cert.ledger_index == out["index"]  # it reflects the delivery itself
    assert cert.leaf_hash_prefix == base64.b64decode(out["leaf_hash"])[:16]
    assert cert.origin.region_name("en") == "Töv" and cert.origin.sites == 1

    view = world.verdict(token_text(token))
    assert (view["verdict"], view["reason"]) == ("genuine", None)
    assert [c["ok"] for c in view["checks"]] == [True] * 7
    assert view["certificate"]["mass_text"] == "2,500 kg"
    assert view["proof"]["index"] == out["index"]


def test_a_receipt_is_consumed_once_its_ore_is_processed(world: World) -> None:
    world.gold("AU-1", 25_000)
    view = world.verdict(world.latest_token("ORE-AU-1"))
    assert (view["verdict"], view["reason"]) == ("not_current", "consumed")
    assert view["checks"][6] == {
        "step": 7,
        "name": "current",
        "ok": False,
        "detail": view["checks"][6]["detail"],
    }


def test_a_stranger_may_not_read_a_receipt(world: World) -> None:
    world.deliver("ORE-1", 1_000_000)
    resp = world.c.get("/lots/ORE-1/certificates", headers=world.api.headers(TRADER))
    # the same answer as a lot that does not exist (issue 11)
    assert resp.status_code == 404
    assert resp.json()["type"].endswith("/unknown-lot")


# --- gold lot certificates ---------------------------------------------------------------


def test_the_custodian_gets_a_gold_lot_certificate_on_request(world: World) -> None:
    world.gold("AU-1", 1_234_567)
    world.api.ok(LAB, "assay.recorded", {"lot": "AU-1", "fineness_ppt": 995})
    out = world.request("AU-1")
    assert [d["type"] for d in out["derived"]] == ["certificate.issued"]
    [record] = world.certificates("AU-1")
    cert = verify_certificate(parse_qr_text(record["qr_text"]), pinned_keys(world.vkeys()))
    assert cert.kind is CertificateKind.GOLD_LOT
    assert (cert.mass, cert.unit, cert.fineness_ppt) == (1_234_567, MassUnit.MG, 995)
    assert (cert.origin.miners, cert.origin.sites, cert.origin.mercury_free) == (1, 1, True)
    assert cert.ledger_index == out["index"]  # it reflects the request

    view = world.verdict(record["token"])
    assert view["verdict"] == "genuine"
    assert view["certificate"]["mass_text"] == "1,234.567 g"
    assert view["lot"]["custodian"] == CENTRE
    assert [h["type"] for h in view["lot"]["history"]][-3:] == [
        "assay.recorded",
        "certificate.requested",
        "certificate.issued",
    ]
    assert view["lot"]["sites"][0]["site"] == SITE


def test_a_regulator_may_request_a_certificate_too(world: World) -> None:
    world.gold("AU-1", 50_000)
    world.request("AU-1", by=REGULATOR)
    assert world.verdict(world.latest_token("AU-1"))["verdict"] == "genuine"


@pytest.mark.parametrize(
    ("by", "lot", "status", "rule"),
    [
        (BANK, "AU-1", 403, "not-custodian"),
        (CENTRE, "ORE-AU-1", 422, "not-a-gold-lot"),
        (CENTRE, "AU-404", 404, "unknown-lot"),
        (LAB, "AU-1", 403, "role-not-allowed"),
    ],
)
def test_a_request_that_breaks_a_rule_records_nothing(
    world: World, by: str, lot: str, status: int, rule: str
) -> None:
    world.gold("AU-1", 50_000)
    before = world.size()
    resp = world.api.post(by, "certificate.requested", {"lot": lot})
    assert resp.status_code == status, resp.text
    assert resp.json()["type"].endswith("/" + rule)
    assert world.size() == before
    assert len(world.certificates("AU-1")) == 0


def test_nobody_may_submit_certificate_issued(world: World) -> None:
    world.gold("AU-1", 50_000)
    resp = world.api.post(
        REGULATOR,
        "certificate.issued",
        {"certificate": "0" * 32, "lot": "AU-1", "kind": "gold_lot", "entry": 1, "token": "A" * 20},
    )
    assert resp.status_code == 403
    assert resp.json()["type"].endswith("/role-not-allowed")


def test_a_held_lot_gets_no_certificate_and_its_certificate_says_held(world: World) -> None:
    world.gold("AU-1", 50_000)
    world.request("AU-1")
    token = world.latest_token("AU-1")
    world.api.ok(
        AUDITOR,
        "case.opened",
        {
            "case": "HOLD-1",
            "kind": "hold",
            "target": {"kind": "lot", "id": "AU-1"},
            "category": "other",
            "description": "under review",
        },
    )
    view = world.verdict(token)
    assert (view["verdict"], view["reason"]) == ("not_current", "held")
    assert view["lot"]["holds"] == ["HOLD-1"]
    resp = world.api.post(CENTRE, "certificate.requested", {"lot": "AU-1"})
    assert resp.status_code == 422 and resp.json()["type"].endswith("/held")


# --- a lot that changes: new certificates supersede old ones -----------------------------


def test_a_transfer_issues_a_new_certificate_and_the_old_one_says_transferred(
    world: World,
) -> None:
    world.gold("AU-1", 50_000)
    world.request("AU-1")
    old = world.latest_token("AU-1")
    world.offer_and_accept("OFFER-1", "AU-1", BANK)

    [new, first] = world.certificates("AU-1")
    assert first["token"] == old and first["superseded_by"] == new["id"]
    cert = verify_certificate(parse_qr_text(new["qr_text"]), pinned_keys(world.vkeys()))
    assert cert.custodian == BANK

    view = world.verdict(old)
    assert (view["verdict"], view["reason"]) == ("not_current", "transferred")
    assert [s["url"] for s in view["successors"]] == [new["qr_text"]]
    assert world.verdict(new["token"])["verdict"] == "genuine"


def test_an_assay_supersedes_and_states_the_new_fineness(world: World) -> None:
    world.gold("AU-1", 50_000)
    world.request("AU-1")
    old = world.latest_token("AU-1")
    world.api.ok(LAB, "assay.recorded", {"lot": "AU-1", "fineness_ppt": 912})
    new = world.latest_token("AU-1")
    assert new != old
    assert world.verdict(old)["reason"] == "superseded"
    assert world.verdict(new)["certificate"]["fineness_ppt"] == 912


def test_a_lot_without_a_certificate_gets_none_when_it_moves(world: World) -> None:
    world.gold("AU-1", 50_000)
    world.offer_and_accept("OFFER-1", "AU-1", BANK)
    assert world.certificates("AU-1") == []


def test_a_split_consumes_the_lot_and_its_parts_get_certificates(world: World) -> None:
    world.gold("AU-1", 50_000)
    world.request("AU-1")
    old = world.latest_token("AU-1")
    parts = [{"lot": "AU-1a", "mass_mg": 20_000}, {"lot": "AU-1b", "mass_mg": 30_000}]
    out = world.api.ok(CENTRE, "lot.split", {"lot": "AU-1", "into": parts})
    assert [d["type"] for d in out["derived"]] == ["certificate.issued"] * 2

    view = world.verdict(old)
    assert (view["verdict"], view["reason"]) == ("not_current", "consumed")
    urls = {s["lot"]: s["url"] for s in view["successors"]}
    assert set(urls) == {"AU-1a", "AU-1b"}
    part = world.verdict(token_text(parse_qr_text(urls["AU-1a"])))
    assert part["verdict"] == "genuine" and part["certificate"]["mass"] == 20_000


# --- revocation -------------------------------------------------------------------------


def test_a_regulator_revokes_with_a_reason(world: World) -> None:
    world.gold("AU-1", 50_000)
    world.request("AU-1")
    [record] = world.certificates("AU-1")
    body = {"certificate": record["id"], "reason": "issued on a false assay"}

    resp = world.api.post(CENTRE, "certificate.revoked", body)
    assert resp.status_code == 403
    world.api.ok(REGULATOR, "certificate.revoked", body)
    view = world.verdict(record["token"])
    assert (view["verdict"], view["reason"]) == ("not_genuine", "revoked")
    assert view["revocation"]["reason"] == "issued on a false assay"
    assert view["revocation"]["by"] == REGULATOR

    again = world.api.post(REGULATOR, "certificate.revoked", body)
    assert again.status_code == 409 and again.json()["type"].endswith("/already-revoked")
    unknown = world.api.post(REGULATOR, "certificate.revoked", {**body, "certificate": "f" * 32})
    assert unknown.status_code == 404


# --- tokens that are not genuine ----------------------------------------------------------


def test_a_flipped_byte_is_a_bad_signature_or_malformed(world: World) -> None:
    world.gold("AU-1", 50_000)
    world.request("AU-1")
    token = parse_qr_text(world.latest_token("AU-1"))
    sig = bytearray(token)
    sig[-1] ^= 1
    assert world.verdict(token_text(bytes(sig)))["reason"] == "bad_signature"
    payload = bytearray(token)
    payload[30] ^= 1
    view = world.verdict(token_text(bytes(payload)))
    assert view["verdict"] == "not_genuine"
    assert view["reason"] in ("bad_signature", "malformed")
    assert view["certificate"] is None and view["proof"] is None


def test_a_token_signed_by_another_key_is_unknown_key(world: World, tmp_path: Path) -> None:
    world.gold("AU-1", 50_000)
    world.request("AU-1")
    real = verify_certificate(parse_qr_text(world.latest_token("AU-1")), pinned_keys(world.vkeys()))
    other = KeyStore(tmp_path / "other", "another.example/log")
    other.load_or_create(real.issued_at_datetime)
    forged = sign_certificate(real, other.active())
    view = world.verdict(token_text(forged))
    assert (view["verdict"], view["reason"]) == ("not_genuine", "unknown_key")
    assert [c["ok"] for c in view["checks"]][:2] == [True, False]


def test_a_token_by_the_log_key_for_an_entry_not_in_the_log_is_not_in_log(
    world: World,
) -> None:
    """What a stolen key could sign: genuine signature, no such entry."""
    world.gold("AU-1", 50_000)
    world.request("AU-1")
    real = verify_certificate(parse_qr_text(world.latest_token("AU-1")), pinned_keys(world.vkeys()))
    signer = keystore_of(world).active()
    beyond = Certificate(**{**real.__dict__, "ledger_index": world.size() + 10})
    wrong_leaf = Certificate(**{**real.__dict__, "leaf_hash_prefix": bytes(16)})
    unrecorded = Certificate(**{**real.__dict__, "mass": real.mass + 1})  # same entry
    for cert in (beyond, wrong_leaf, unrecorded):
        view = world.verdict(token_text(sign_certificate(cert, signer)))
        assert (view["verdict"], view["reason"]) == ("not_genuine", "not_in_log"), cert
        assert view["checks"][4]["ok"] is False


def test_garbage_is_malformed_not_an_error(world: World) -> None:
    for text in ["HELLO", "0000", "A" * 2000, "not base32!"]:
        resp = world.c.get(f"/c/{text}", headers={"Accept": "application/json"})
        assert resp.status_code == 200
        assert (resp.json()["verdict"], resp.json()["reason"]) == ("not_genuine", "malformed")


# --- images, the page, the JSON twin -------------------------------------------------------


def test_png_svg_and_print_page(world: World) -> None:
    world.gold("AU-1", 50_000)
    world.request("AU-1")
    [record] = world.certificates("AU-1")
    headers = world.api.headers(CENTRE)

    png = world.c.get(record["links"]["png"], headers=headers)
    assert png.status_code == 200 and png.headers["content-type"] == "image/png"
    [found] = zxingcpp.read_barcodes(Image.open(io.BytesIO(png.content)))
    assert found.text == record["qr_text"]

    svg = world.c.get(record["links"]["svg"], headers=headers)
    assert svg.headers["content-type"].startswith("image/svg+xml")
    assert svg.text.lstrip().startswith(("<svg", "<?xml"))

    page = world.c.get(record["links"]["print"] + "?size=A5&lang=en", headers=headers)
    assert page.status_code == 200 and "A5" in page.text and "AU-1" in page.text
    assert world.c.get(record["links"]["png"]).status_code == 401


def test_html_page_and_json_twin_agree(world: World) -> None:
    world.gold("AU-1", 50_000)
    world.request("AU-1")
    token = world.latest_token("AU-1")
    html = world.c.get(f"/c/{token}")
    assert html.headers["content-type"].startswith("text/html")
    assert 'lang="mn"' in html.text
    english = world.c.get(f"/c/{token}?lang=en")
    assert 'lang="en"' in english.text and "AU-1" in english.text
    twin = world.c.get(f"/api/c/{token}").json()
    assert twin == world.verdict(token)


def test_receipt_id_is_the_hash_of_the_token(world: World) -> None:
    world.deliver("ORE-1", 1_000_000)
    [record] = world.certificates("ORE-1")
    token = parse_qr_text(record["qr_text"])
    assert record["id"] == hashlib.sha256(token).digest()[:16].hex()
    assert qr_text(PUBLIC_URL, token) == record["qr_text"]


def test_on_every_database(database: Database, tmp_path: Path) -> None:
    url, _ = database_url(database)
    with running_api(tmp_path, public_url=PUBLIC_URL, database_url=url) as api:
        w = populate(api)
        w.gold("AU-1", 50_000)
        w.request("AU-1")
        old = w.latest_token("AU-1")
        w.offer_and_accept("OFFER-1", "AU-1", BANK)
        assert w.verdict(old)["reason"] == "transferred"
        assert w.verdict(w.latest_token("AU-1"))["verdict"] == "genuine"
        assert w.verdict(w.latest_token("ORE-AU-1"))["reason"] == "consumed"


# --- receipts inside batches: the follower path's error cases ------------------------------


def delivery_item(lot: str, mass_g: int = 1_000_000) -> dict[str, Any]:
    body = {"occurred_at": WHEN, "lot": lot, "miner": PARTNERSHIP, "site": SITE}
    return {"type": "ore.delivered", "body": {**body, "mass_g": mass_g, "mined_on": "2026-09-10"}}


def batch(world: World, items: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    resp = world.c.post(
        "/events/batch", json={"items": items, **extra}, headers=world.api.headers(CENTRE)
    )
    assert resp.status_code == 200, resp.text
    out: dict[str, Any] = resp.json()
    return out


def test_a_batch_gets_one_receipt_per_valid_delivery_after_all_its_entries(world: World) -> None:
    before = world.size()
    out = batch(world, [delivery_item("ORE-1"), delivery_item("ORE-1"), delivery_item("ORE-2")])
    assert [r["status"] for r in out["results"]] == [201, 409, 201]
    first, second = out["results"][0]["recorded"], out["results"][2]["recorded"]
    # the two deliveries first, then the two receipts, each named by its own delivery
    assert (first["index"], second["index"]) == (before, before + 1)
    assert [d["index"] for d in first["derived"]] == [before + 2]
    assert [d["index"] for d in second["derived"]] == [before + 3]
    assert world.size() == before + 5  # and the append's state.root last
    for lot, result in (("ORE-1", first), ("ORE-2", second)):
        [receipt] = world.certificates(lot)
        assert receipt["entry"] == result["index"]
        assert world.verdict(receipt["token"])["verdict"] == "genuine"


def test_an_atomic_batch_that_fails_records_no_delivery_and_no_receipt(world: World) -> None:
    world.deliver("ORE-TAKEN", 1_000_000)
    before = world.size()
    # a failed atomic batch is a 422 problem (issue 11, finding 10) listing each item
    resp = world.c.post(
        "/events/batch",
        json={"items": [delivery_item("ORE-NEW"), delivery_item("ORE-TAKEN")], "atomic": True},
        headers=world.api.headers(CENTRE),
    )
    assert resp.status_code == 422, resp.text
    out = resp.json()
    assert out["type"].endswith("/batch-failed")
    assert [r["status"] for r in out["results"]] == [422, 409]
    assert world.size() == before
    resp = world.c.get("/lots/ORE-NEW/certificates", headers=world.api.headers(AUDITOR))
    assert resp.status_code == 404


def test_a_retried_delivery_returns_its_first_receipt_and_issues_no_second(world: World) -> None:
    headers = {**world.api.headers(CENTRE), "Idempotency-Key": "delivery-0001"}
    item = delivery_item("ORE-1")
    first = world.c.post("/events", json=item, headers=headers)
    again = world.c.post("/events", json=item, headers=headers)
    assert first.status_code == 201, first.text
    assert again.json() == first.json()  # the same derived receipt index
    assert len(world.certificates("ORE-1")) == 1
