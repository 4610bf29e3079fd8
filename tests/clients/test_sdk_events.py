"""Every event method of the SDK, through real HTTP into the app (no network).

The SDK promises one method per event type (`clients.sdk.EventMethods`, shown in the
README with `add_key` and `deliver_ore`): here each of them records its event in one
season of a lot's life, signed by the actor that may send it, and the log holds exactly
the type and body the method built. A method missing from the season fails the last test.
"""

from __future__ import annotations

import inspect
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from clients.sdk import ActorSigner, AltanClient, EventMethods
from ledger.audit import audit
from ledger.cosignature import WitnessSigner
from schemas.api import RecordedOut
from schemas.events import Region
from schemas.roles import RoleName
from support.domain import Api, running_api

URL = "http://testserver"
REGION = Region(aimag="Töv", soum="Bornuur")
DAY = date.today() - timedelta(days=3)
BANK = "central_bank:mongolbank"


@pytest.fixture
def api(tmp_path: Path) -> Iterator[Api]:
    with running_api(tmp_path) as a:
        yield a


class Season:
    """The actors of one season, each with its own signing key and token."""

    def __init__(self, api: Api) -> None:
        self.api = api
        self.admin = AltanClient(URL, api.tokens["admin:root"], http=api.client, backoff=0)
        self.recorded: dict[str, RecordedOut] = {}  # event type -> its receipt

    def actor(self, actor: str, role: RoleName, **fields: Any) -> AltanClient:
        signer = ActorSigner.generate(actor)
        self.admin.register_actor(actor=actor, role=role, keys=[signer.public_key], **fields)
        token = self.admin.issue_token(actor, "sdk events").token
        return AltanClient(
            URL,
            token,
            actor=actor,
            signing_key=signer.private_key,
            http=self.api.client,
            backoff=0,
        )

    def check(self, type_: str, receipt: RecordedOut, **expected: Any) -> None:
        """The entry the receipt names is `type_`, with these values in its body."""
        event = self.admin.entry(receipt.index).event
        assert event.type == type_
        for name, value in expected.items():
            assert event.body[name] == value, name
        self.recorded[type_] = receipt


def test_every_event_method_records_its_event_through_http(api: Api) -> None:
    s = Season(api)
    regulator = s.actor("regulator:mrpam", "regulator")
    auditor = s.actor("auditor:ubaudit", "auditor")
    lab = s.actor("laboratory:centrallab", "laboratory")
    miner = s.actor("partnership:tuul", "partnership", region=REGION, members=5)
    centre = s.actor("processing_centre:bornuur", "processing_centre", region=REGION)
    bank = s.actor(BANK, "buyer", buyer_kind="central_bank")

    # actors, keys and sites
    s.check("actor.registered", s.admin.register_actor(actor="miner:bat", role="miner"))
    spare = ActorSigner.generate("miner:bat")
    s.check("actor.key_added", s.admin.add_key(actor="miner:bat", key=spare.public_key))
    s.check(
        "actor.key_revoked",
        s.admin.revoke_key(actor="miner:bat", key_id=spare.key_id, reason="phone lost"),
        key_id=spare.key_id,
    )
    s.check(
        "actor.status_changed",
        regulator.change_actor_status(actor="miner:bat", status="suspended", reason="licence"),
    )
    s.check(
        "site.registered",
        regulator.register_site(
            site="SITE-TUUL-1", owner="partnership:tuul", region=REGION, lat="47.9", lon="106.9"
        ),
    )

    # ore in, gold out, assayed, split and merged
    s.check(
        "ore.delivered",
        centre.deliver_ore(
            lot="ORE-1",
            miner="partnership:tuul",
            site="SITE-TUUL-1",
            mass_g=1_000_000,
            mined_on=DAY,
        ),
    )
    s.check(
        "processing.recorded",
        centre.record_processing(
            run="RUN-1",
            inputs=[{"lot": "ORE-1", "mass_g": 1_000_000}],
            outputs=[
                {"lot": "DORE-1", "form": "dore", "mass_mg": 30_000},
                {"lot": "DORE-2", "form": "dore", "mass_mg": 20_000},
                {"lot": "DORE-3", "form": "dore", "mass_mg": 10_000},
            ],
            tailings_g=1_000_000 - 60,
            method="gravity",
            mercury_free=True,
            started_on=DAY,
            finished_on=DAY,
        ),
        run="RUN-1",
    )
    s.check("assay.recorded", lab.record_assay(lot="DORE-1", fineness_ppt=870), fineness_ppt=870)
    s.check(
        "lot.split",
        centre.split_lot(
            lot="DORE-1",
            into=[{"lot": "D-1a", "mass_mg": 10_000}, {"lot": "D-1b", "mass_mg": 20_000}],
        ),
    )
    s.check("lots.merged", centre.merge_lots(lots=["D-1a", "DORE-2"], into="BAR-1"), into="BAR-1")

    # offers: rejected, cancelled, accepted; then the lots leave
    s.check("transfer.offered", centre.offer_lot(offer="OFFER-1", lot="BAR-1", to=BANK))
    s.check("transfer.rejected", bank.reject_offer(offer="OFFER-1", reason="fineness"))
    centre.offer_lot(offer="OFFER-2", lot="BAR-1", to=BANK)
    s.check("transfer.cancelled", centre.cancel_offer(offer="OFFER-2", reason="sold elsewhere"))
    centre.offer_lot(offer="OFFER-3", lot="BAR-1", to=BANK)
    s.check("transfer.accepted", bank.accept_offer(offer="OFFER-3"), offer="OFFER-3")
    s.check(
        "lot.exported",
        bank.export_lot(lot="BAR-1", destination={"country": "CH", "party": "Valcambi"}),
        destination={"country": "CH", "party": "Valcambi"},
    )
    centre.offer_lot(offer="OFFER-4", lot="D-1b", to=BANK)
    bank.accept_offer(offer="OFFER-4")
    s.check(
        "lot.refined",
        bank.refine_lot(lot="D-1b", refinery="Mongolbank refinery"),
        refinery="Mongolbank refinery",
    )

    # a certificate asked for and revoked
    s.check("certificate.requested", centre.request_certificate("DORE-3"), lot="DORE-3")
    issued = centre.lot_certificates("DORE-3")[0]
    s.check(
        "certificate.revoked",
        regulator.revoke_certificate(issued["id"], "issued in error"),
        certificate=issued["id"],
    )

    # a hold: opened, answered, escalated, resolved; then a mistaken entry corrected
    s.check(
        "case.opened",
        auditor.open_case(
            case="HOLD-1",
            kind="hold",
            target={"kind": "actor", "id": "partnership:tuul"},
            category="capacity_inconsistent",
            description="deliveries above the site's known capacity",
        ),
    )
    answer = miner.respond_case(case="HOLD-1", response="a second pit opened")
    s.check("case.responded", answer, response="a second pit opened")
    s.check(
        "case.escalated",
        regulator.escalate_case(case="HOLD-1", to="MRPAM", reason="needs a site visit"),
        to="MRPAM",
    )
    s.check("case.resolved", auditor.resolve_case(case="HOLD-1", resolution="pit registered"))
    s.check(
        "correction.recorded",
        miner.record_correction(corrects=answer.index, reason="the pit is the third"),
        corrects=answer.index,
    )

    s.check(
        "site.status_changed",
        regulator.change_site_status(site="SITE-TUUL-1", status="closed", reason="worked out"),
        status="closed",
    )

    # witnesses (an administrator or regulator)
    w = WitnessSigner(Ed25519PrivateKey.generate(), "witness.example.mn/w1")
    added = regulator.register_witness(witness=w.name, key=w.key.vkey)
    s.check("witness.registered", added, witness=w.name, key=w.key.vkey)
    gone = s.admin.remove_witness(w.name, "retired")
    s.check("witness.removed", gone, witness=w.name, reason="retired")

    assert audit(s.admin.log, workers=1).ok
    methods = {
        name
        for name, _ in inspect.getmembers(EventMethods, inspect.isfunction)
        if not name.startswith("_")
    }
    # one method per event type, each one called above
    assert len(s.recorded) == len(methods), sorted(methods)


def test_witness_methods_register_and_remove_a_witness_through_http(api: Api) -> None:
    admin = AltanClient(URL, api.tokens["admin:root"], http=api.client, backoff=0)
    w = WitnessSigner(Ed25519PrivateKey.generate(), "witness.example.mn/w2")
    url = "https://witness.example.mn"
    added = admin.register_witness(witness=w.name, key=w.key.vkey, url=url)
    body = admin.entry(added.index).event.body
    assert body == {
        "occurred_at": body["occurred_at"],
        "witness": w.name,
        "key": w.key.vkey,
        "url": url,
    }
    removed = admin.remove_witness(w.name, "key rotated")
    event = admin.entry(removed.index).event
    assert event.type == "witness.removed"
    assert event.body["witness"] == w.name and event.body["reason"] == "key rotated"
    assert removed.index == added.index + 2  # after the first append's state.root
