"""A running API with one actor per role and lots ready for certificates (`populate`, `World`).

Shared by several test modules (moved from
tests/services/certificates/test_certificates_service.py).
"""

from __future__ import annotations

import base64
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ledger.checkpoint import open_checkpoint
from ledger.hashing import hash_leaf
from ledger.keystore import KeyStore
from ledger.merkle import verify_inclusion
from ledger.note import NoteVerifier
from support.domain import Api, running_api

PUBLIC_URL = "https://altan.mn"


REGULATOR = "regulator:tov"


AUDITOR = "auditor:mrpam"


PARTNERSHIP = "partnership:tuul"


CENTRE = "centre:bornuur"


BANK = "buyer:mongolbank"


TRADER = "buyer:altan-trade"


LAB = "lab:darkhan"


SITE = "SITE-TUUL-1"


class World:
    def __init__(self, api: Api) -> None:
        self.api = api
        self.c = api.client

    def deliver(self, lot: str, mass_g: int) -> dict[str, Any]:
        body = {"lot": lot, "miner": PARTNERSHIP, "site": SITE, "mass_g": mass_g}
        return self.api.ok(CENTRE, "ore.delivered", {"mined_on": "2026-09-10", **body})

    def gold(self, lot: str, mass_mg: int) -> None:
        self.deliver(f"ORE-{lot}", mass_mg * 100)
        body = {
            "run": f"RUN-{lot}",
            "inputs": [{"lot": f"ORE-{lot}", "mass_g": mass_mg * 100}],
            "outputs": [{"lot": lot, "form": "dore", "mass_mg": mass_mg}],
            "method": "gravity",
            "mercury_free": True,
            "started_on": "2026-09-12",
            "finished_on": "2026-09-13",
        }
        self.api.ok(CENTRE, "processing.recorded", body)

    def request(self, lot: str, by: str = CENTRE) -> dict[str, Any]:
        return self.api.ok(by, "certificate.requested", {"lot": lot})

    def certificates(self, lot: str, by: str = AUDITOR) -> list[dict[str, Any]]:
        resp = self.c.get(f"/lots/{lot}/certificates", headers=self.api.headers(by))
        assert resp.status_code == 200, resp.text
        out: list[dict[str, Any]] = resp.json()["certificates"]
        return out

    def latest_token(self, lot: str) -> str:
        return str(self.certificates(lot)[0]["token"])

    def verdict(self, token: str) -> dict[str, Any]:
        resp = self.c.get(f"/c/{token}", headers={"Accept": "application/json"})
        assert resp.status_code == 200, resp.text
        out: dict[str, Any] = resp.json()
        check_proof(out)
        return out

    def vkeys(self) -> list[str]:
        return [k["verifier_key"] for k in self.c.get("/log/keys").json()["keys"]]

    def offer_and_accept(self, offer: str, lot: str, to: str, by: str = CENTRE) -> None:
        self.api.ok(by, "transfer.offered", {"offer": offer, "lot": lot, "to": to})
        self.api.ok(to, "transfer.accepted", {"offer": offer})

    def size(self) -> int:
        return self.api.size()


def check_proof(view: dict[str, Any]) -> None:
    """What a client does with the answer: the proof against the answer's own checkpoint,
    whose signature it checks with the answer's keys."""
    proof = view.get("proof")
    if proof is None:
        return
    note = view["checkpoint"]
    verifiers = [NoteVerifier.from_vkey(v) for v in view["verifier_keys"]]
    cp, _ = open_checkpoint(note, verifiers)
    assert cp.size == proof["tree_size"]
    assert cp.root_hash.hex() == proof["root_hash"]
    entry = base64.b64decode(proof["entry"])
    leaf = hash_leaf(entry)
    assert leaf.hex() == proof["leaf_hash"]
    assert leaf.hex().startswith(view["certificate"]["leaf_hash_prefix"])
    verify_inclusion(
        leaf,
        proof["index"],
        proof["tree_size"],
        [bytes.fromhex(p) for p in proof["path"]],
        cp.root_hash,
    )


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    with running_api(tmp_path, public_url=PUBLIC_URL) as api:
        yield populate(api)


def populate(api: Api) -> World:
    for actor, role in [
        (REGULATOR, "regulator"),
        (AUDITOR, "auditor"),
        (PARTNERSHIP, "partnership"),
        (CENTRE, "processing_centre"),
        (BANK, "buyer"),
        (TRADER, "buyer"),
        (LAB, "laboratory"),
    ]:
        api.register(actor, role)
    api.ok(
        REGULATOR,
        "site.registered",
        {
            "site": SITE,
            "owner": PARTNERSHIP,
            "region": {"aimag": "Töv", "soum": "Zaamar"},
            "lat": "48.23",
            "lon": "104.78",
        },
    )
    return World(api)


def keystore_of(world: World) -> KeyStore:
    store: KeyStore = world.c.app.state.runtime.keystore  # type: ignore[attr-defined]
    return store
