"""A small signed log with a state map, for the browser's status-proof checks (the static
verifier of `altan verifier export` and the `/c/` page) apart from the real service.

Everything in it is real: entries in RFC 8785 form chained by leaf hash (ledger/entry.py),
`state.root` entries holding the root of the map of every lot's state (ledger/statemap.py),
RFC 9162 inclusion and consistency proofs (ledger/merkle.py), checkpoints signed by a log
key and cosigned by witnesses (ledger/checkpoint.py, ledger/cosignature.py), certificate
tokens signed by the log key (ledger/certificate.py). Answers are shaped as
`GET /api/c/{token}` is (schemas/certificates.py VerdictOut, `status_proof` included), and
the verdict in them is the service's (ledger/status.py `judge` of the map's state); a test
may then make the answer lie.
"""

from __future__ import annotations

import base64
import copy
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from ledger.certificate import (
    Certificate,
    CertificateKind,
    MassUnit,
    Origin,
    certificate_id,
    sign_certificate,
)
from ledger.checkpoint import Checkpoint, sign_checkpoint
from ledger.cosignature import WitnessSigner, cosign
from ledger.encoding import b64encode
from ledger.entry import Entry, Event
from ledger.hashing import hash_leaf
from ledger.keys import LogKey, LogSigner
from ledger.merkle import consistency_proof, inclusion_proof, root_hash
from ledger.note import NoteSigner
from ledger.statemap import LotState, StateMap, StateRoot, lot_key
from ledger.status import judge
from schemas.certificates import VerdictOut
from support.certificate_pages import DictReader

LOG_ORIGIN = "ledger.altan.test/log"
PUBLIC_URL = "https://ledger.altan.test"
T0 = datetime(2026, 9, 1, 8, tzinfo=UTC)
SYSTEM = "system:altan"
SYSTEM_ROOT = "state.root"
CUSTODIAN = "Bornuur Gold Partnership"
BUYER = "Erdene Bullion LLC"


def _log_signer(seed: bytes) -> LogSigner:
    private = Ed25519PrivateKey.from_private_bytes(seed)
    public = NoteSigner(private, LOG_ORIGIN).verifier
    key = LogKey(
        LOG_ORIGIN, public.key_id.hex(), public.public_key, "active", T0 - timedelta(days=30)
    )
    return LogSigner(key, private)


@dataclass(frozen=True)
class Issued:
    """A certificate of the synthetic log: its token, id, lot and custodian."""

    token: bytes
    id: str
    certificate: Certificate


class SyntheticLedger:
    """A log of entries closed by `state.root` entries, its map, keys and witnesses."""

    def __init__(self, seed: int = 11) -> None:
        self.signer = _log_signer(bytes([seed]) * 32)
        self.note_signer = self.signer.note_signer
        self.witnesses = [
            WitnessSigner(
                Ed25519PrivateKey.from_private_bytes(bytes([seed + n]) * 32),
                f"witness{n}.altan.test",
            )
            for n in (1, 2, 3)
        ]
        self.entries: list[bytes] = []
        self.states: dict[str, LotState] = {}
        self.snapshots: dict[int, dict[str, LotState]] = {}  # tree size -> states then
        self.issued: dict[str, Issued] = {}

    # -- keys ------------------------------------------------------------------------------

    @property
    def vkey(self) -> str:
        return self.note_signer.verifier.vkey

    def witness_vkeys(self, count: int = 3) -> list[str]:
        return [w.key.vkey for w in self.witnesses[:count]]

    # -- writing -----------------------------------------------------------------------------

    def append(self, type_: str, actor: str, body: dict[str, Any]) -> int:
        prev = hash_leaf(self.entries[-1]) if self.entries else bytes(32)
        index = len(self.entries)
        moment = T0 + timedelta(minutes=index)
        self.entries.append(Entry.create(index, prev, moment, Event(type_, actor, body)).to_bytes())
        return index

    def set_state(self, lot: str, state: LotState | None) -> None:
        if state is None:
            self.states.pop(lot, None)
        else:
            self.states[lot] = state

    def update(self, lot: str, **changes: Any) -> None:
        self.append("lot.updated", SYSTEM, {"lot": lot, **{k: str(v) for k, v in changes.items()}})
        self.states[lot] = replace(self.states[lot], **changes, latest_index=len(self.entries) - 1)

    def close(self) -> int:
        """Append the `state.root` entry of the map of every lot's state; the new size."""
        index = len(self.entries)
        smap = self._map(self.states)
        self.append(SYSTEM_ROOT, SYSTEM, StateRoot(smap.root, index, len(self.states)).body())
        self.snapshots[len(self.entries)] = dict(self.states)
        return len(self.entries)

    def issue(
        self,
        lot: str,
        custodian: str = CUSTODIAN,
        *,
        kind: CertificateKind = CertificateKind.GOLD_LOT,
    ) -> Issued:
        """A certificate of ``lot`` reflecting a new entry; the lot's state names it."""
        index = self.append("certificate.issued", SYSTEM, {"lot": lot, "custodian": custodian})
        cert = Certificate(
            kind=kind,
            lot_id=lot,
            mass=1_234_567,
            unit=MassUnit.MG if kind == CertificateKind.GOLD_LOT else MassUnit.G,
            fineness_ppt=995 if kind == CertificateKind.GOLD_LOT else None,
            origin=Origin(47, 12, 2, mercury_free=True),
            custodian=custodian,
            issued_at=int((T0 + timedelta(minutes=index)).timestamp()),
            ledger_index=index,
            leaf_hash_prefix=hash_leaf(self.entries[index])[:16],
        )
        token = sign_certificate(cert, self.signer)
        issued = Issued(token, certificate_id(token), cert)
        self.issued[lot] = issued
        old = self.states.get(lot)
        self.states[lot] = LotState(
            status="active",
            custodian=custodian,
            owner=custodian,
            certificate=issued.id,
            mass_left=cert.mass,
            latest_index=index,
            holds=old.holds if old else (),
            revoked=old.revoked if old else (),
        )
        return issued

    # -- reading -----------------------------------------------------------------------------

    @staticmethod
    def _map(states: dict[str, LotState]) -> StateMap:
        return StateMap({lot_key(lot): s.hash() for lot, s in states.items()})

    @property
    def size(self) -> int:
        return len(self.entries)

    def root(self, size: int) -> bytes:
        return root_hash(DictReader(self.entries[:size]), size)

    def checkpoint(self, size: int | None = None, cosigned: Sequence[tuple[int, int]] = ()) -> str:
        """The signed note of ``size`` with a cosignature of witness i at time t for each
        (i, t) in ``cosigned``."""
        size = self.size if size is None else size
        checkpoint = Checkpoint(LOG_ORIGIN, size, self.root(size))
        note = sign_checkpoint(checkpoint, self.note_signer)
        body = checkpoint.to_text()
        return note + "".join(cosign(body, t, self.witnesses[i]) for i, t in cosigned)

    def entry_proof(self, index: int, size: int) -> dict[str, Any]:
        reader = DictReader(self.entries[:size])
        return {
            "index": index,
            "tree_size": size,
            "entry": b64encode(self.entries[index]),
            "leaf_hash": hash_leaf(self.entries[index]).hex(),
            "path": [p.hex() for p in inclusion_proof(reader, index, size)],
            "root_hash": self.root(size).hex(),
        }

    def status_proof(
        self, lot: str, size: int | None = None, cosigned: Sequence[tuple[int, int]] = ()
    ) -> dict[str, Any]:
        """The status proof of ``lot`` as the service serves it, at a closed ``size``."""
        size = self.size if size is None else size
        states = self.snapshots[size]
        proof = self._map(states).prove(lot_key(lot))
        index = size - 1
        reader = DictReader(self.entries[:size])
        state = states.get(lot)
        return {
            "lot": lot,
            "state": None if state is None else state.to_json(),
            "map_proof": proof.to_json(),
            "root": {
                "index": index,
                "entry": b64encode(self.entries[index]),
                "inclusion": [b64encode(h) for h in inclusion_proof(reader, index, size)],
            },
            "tree_size": size,
            "checkpoint": self.checkpoint(size, cosigned),
        }

    def witnessed(
        self, issued: Issued, size: int, cosigned: Sequence[tuple[int, int]], latest: int
    ) -> dict[str, Any]:
        """A `witnessed[]` item: an older checkpoint with its cosignatures, the entry's proof
        against it, and the consistency proof from it to ``latest``."""
        reader = DictReader(self.entries[:latest])
        return {
            "checkpoint": self.checkpoint(size, cosigned),
            "proof": self.entry_proof(issued.certificate.ledger_index, size),
            "consistency": [b64encode(h) for h in consistency_proof(reader, size, latest)],
        }

    def answer(
        self,
        issued: Issued,
        size: int | None = None,
        cosigned: Sequence[tuple[int, int]] = (),
        witnessed: Sequence[tuple[int, Sequence[tuple[int, int]]]] = (),
    ) -> dict[str, Any]:
        """`GET /api/c/{token}` as an honest server answers it at ``size`` (a closed size),
        its checkpoint cosigned per ``cosigned``, older ``witnessed`` (size, cosigned)."""
        size = self.size if size is None else size
        cert = issued.certificate
        state = self.snapshots[size].get(cert.lot_id)
        verdict, reason = judge(issued.id, cert.custodian, state)  # the service's function
        answer = {
            "verdict": verdict,
            "reason": reason,
            "detail": "synthetic",
            "checks": [],
            "certificate": {
                "id": issued.id,
                "kind": "gold_lot" if cert.kind == CertificateKind.GOLD_LOT else "ore_receipt",
                "lot": cert.lot_id,
                "mass": cert.mass,
                "unit": "mg" if cert.unit == MassUnit.MG else "g",
                "mass_text": cert.mass_text,
                "fineness_ppt": cert.fineness_ppt,
                "origin": {
                    "aimag": 47,
                    "region_en": "Töv",
                    "region_mn": "Төв",
                    "miners": 12,
                    "sites": 2,
                    "mercury_free": True,
                },
                "custodian": cert.custodian,
                "issued_at": cert.issued_at_datetime.isoformat().replace("+00:00", "Z"),
                "ledger_index": cert.ledger_index,
                "leaf_hash_prefix": cert.leaf_hash_prefix.hex(),
                "key_id": self.signer.key.key_id,
            },
            "proof": self.entry_proof(cert.ledger_index, size),
            "checkpoint": self.checkpoint(size, cosigned),
            "verifier_keys": [self.vkey],
            "witnessed": [self.witnessed(issued, s, c, size) for s, c in witnessed],
            "status_proof": self.status_proof(cert.lot_id, size, cosigned),
        }
        VerdictOut.model_validate(answer)  # the service's own shape
        return answer


@dataclass
class Story:
    """One synthetic ledger with a certificate in every state a verdict can take."""

    ledger: SyntheticLedger
    certs: dict[str, Issued]
    sizes: dict[str, int]  # closed sizes: "genuine" (the revoked one still genuine), "latest"

    def answer(self, name: str, **kw: Any) -> dict[str, Any]:
        return self.ledger.answer(self.certs[name], **kw)


def story() -> Story:
    """Lots in each state: genuine, revoked, superseded, transferred, consumed, held, and a
    certificate whose lot the map does not hold (not_in_log)."""
    ledger = SyntheticLedger()
    ledger.append("ore.delivered", "centre:bornuur", {"lot": "ORE-1", "grams": 2500})
    certs: dict[str, Issued] = {}
    for name in ("genuine", "revoked", "superseded", "transferred", "consumed", "held"):
        certs[name] = ledger.issue(f"AU-2026-{name.upper()}")
    ghost = ledger.issue("AU-2026-GHOST")
    ledger.set_state("AU-2026-GHOST", None)  # issued, but the map holds no such lot
    certs["not_in_log"] = ghost
    first = ledger.close()
    ledger.append("witness.ping", SYSTEM, {"n": 1})
    middle = ledger.close()
    # then the lots move on
    lot = "AU-2026-REVOKED"
    ledger.append("certificate.revoked", "regulator:mrpam", {"lot": lot})
    ledger.states[lot] = replace(
        ledger.states[lot], certificate=None, revoked=(certs["revoked"].id,)
    )
    newer = ledger.issue("AU-2026-SUPERSEDED")  # a newer certificate of the same lot
    certs["superseded_newer"] = newer
    ledger.update("AU-2026-TRANSFERRED", custodian=BUYER, owner=BUYER)
    ledger.update("AU-2026-CONSUMED", status="closed", mass_left=0)
    ledger.append("case.opened", "regulator:mrpam", {"lot": "AU-2026-HELD"})
    ledger.states["AU-2026-HELD"] = replace(ledger.states["AU-2026-HELD"], holds=("CASE-1",))
    latest = ledger.close()
    return Story(ledger, certs, {"first": first, "middle": middle, "latest": latest})


def now() -> int:
    return int(time.time())


def lying(answer: dict[str, Any], **changes: Any) -> dict[str, Any]:
    """A deep copy of ``answer`` with top-level members replaced."""
    out = copy.deepcopy(answer)
    out.update(changes)
    return out


# -- lies -------------------------------------------------------------------------------------


def flip_b64(text: str, at: int = 0) -> str:
    raw = bytearray(base64.b64decode(text))
    raw[at] ^= 0x01
    return b64encode(bytes(raw))


def _status(answer: dict[str, Any], **changes: Any) -> dict[str, Any]:
    out = copy.deepcopy(answer)
    out["status_proof"].update(changes)
    return out


def _not_a_state_root(tale: Story) -> dict[str, Any]:
    """A ledger whose latest checkpoint does not end with a state.root: an entry appended
    after the close, and the status proof pointing at that last entry."""
    ledger: SyntheticLedger = copy.deepcopy(tale.ledger)
    issued = tale.certs["revoked"]
    closed = ledger.size
    honest = ledger.answer(issued)
    ledger.append("lot.note", "centre:bornuur", {"lot": issued.certificate.lot_id})
    size = ledger.size
    reader = DictReader(ledger.entries)
    out = copy.deepcopy(honest)
    out["proof"] = ledger.entry_proof(issued.certificate.ledger_index, size)
    out["checkpoint"] = ledger.checkpoint(size)
    sp = out["status_proof"]
    sp.update(tree_size=size, checkpoint=out["checkpoint"])
    sp["root"] = {
        "index": size - 1,
        "entry": b64encode(ledger.entries[size - 1]),
        "inclusion": [b64encode(h) for h in inclusion_proof(reader, size - 1, size)],
    }
    assert closed == size - 1
    return out


def _other_key_checkpoint(tale: Story, answer: dict[str, Any]) -> dict[str, Any]:
    impostor = SyntheticLedger(seed=77)  # the same origin, another key
    impostor.entries = tale.ledger.entries
    return lying(answer, checkpoint=impostor.checkpoint(tale.sizes["latest"]))


def _wrong_lot_state(answer: dict[str, Any], issued_id: str) -> dict[str, Any]:
    state = dict(answer["status_proof"]["state"])
    state.update(revoked=[], certificate=issued_id)  # "not revoked", but the map says so
    return _status(answer, state=state)


Lie = tuple[str, dict[str, Any] | bytes | int, tuple[str, str, str]]


def lies(tale: Story) -> dict[str, Lie]:
    """What a lying ledger (or a proxy in front of it) may answer, by name: (the
    certificate asked about, the answer (JSON, raw bytes or an HTTP status), what the
    static verifier concludes: (verdict, named reason, the check that fails))."""
    revoked = tale.answer("revoked")
    genuine = tale.answer("genuine")
    first = tale.sizes["first"]
    old = tale.ledger.status_proof("AU-2026-REVOKED", first)
    sibling = copy.deepcopy(revoked["status_proof"]["map_proof"])
    sibling["siblings"][0] = flip_b64(sibling["siblings"][0])
    inclusion = list(revoked["status_proof"]["root"]["inclusion"])
    inclusion[0] = flip_b64(inclusion[0])
    root = dict(revoked["status_proof"]["root"], inclusion=inclusion)
    other_entry = copy.deepcopy(revoked)
    other_entry["proof"] = tale.ledger.entry_proof(3, tale.sizes["latest"])
    return {
        # the review's attack: a proxy says "genuine" for a revoked certificate
        "verdict-flipped": (
            "revoked",
            lying(revoked, verdict="genuine", reason=None, revocation=None),
            ("not_genuine", "revoked", "revoked"),
        ),
        # an old status proof, from when the certificate was still good
        "old-status-proof": (
            "revoked",
            lying(revoked, status_proof=old),
            ("not_genuine", "not_latest_root", "status_proof"),
        ),
        "old-status-proof-as-latest": (
            "revoked",
            lying(revoked, status_proof=dict(old, checkpoint=revoked["checkpoint"])),
            ("not_genuine", "not_latest_root", "status_proof"),
        ),
        "state-edited": (
            "revoked",
            _wrong_lot_state(revoked, tale.certs["revoked"].id),
            ("not_genuine", "map_proof", "status_proof"),
        ),
        "map-sibling-flipped": (
            "revoked",
            _status(revoked, map_proof=sibling),
            ("not_genuine", "map_proof", "status_proof"),
        ),
        "absence-claimed": (
            "genuine",
            _status(genuine, state=None),
            ("not_genuine", "map_proof", "status_proof"),
        ),
        "another-lots-proof": (
            "revoked",
            lying(revoked, status_proof=genuine["status_proof"]),
            ("not_genuine", "map_proof", "status_proof"),
        ),
        "root-inclusion-flipped": (
            "revoked",
            _status(revoked, root=root),
            ("not_genuine", "root_not_in_log", "status_proof"),
        ),
        "root-not-the-last-entry": (
            "revoked",
            _status(revoked, root=dict(root, index=tale.sizes["latest"] - 2)),
            ("not_genuine", "not_latest_root", "status_proof"),
        ),
        "not-a-state-root": (
            "revoked",
            _not_a_state_root(tale),
            ("not_genuine", "not_a_state_root", "status_proof"),
        ),
        "no-status-proof": (
            "revoked",
            lying(revoked, status_proof=None),
            ("not_genuine", "no_status_proof", "status_proof"),
        ),
        "checkpoint-by-another-key": (
            "revoked",
            _other_key_checkpoint(tale, revoked),
            ("not_genuine", "bad_checkpoint", "checkpoint"),
        ),
        "proof-of-another-entry": (
            "revoked",
            other_entry,
            ("not_genuine", "proof_invalid", "in_log"),
        ),
        "no-entry-proof": (
            "genuine",
            lying(genuine, proof=None, verdict="not_genuine", reason="not_in_log"),
            ("not_genuine", "not_in_log", "in_log"),
        ),
        "not-json": (
            "genuine",
            b"<html>maintenance</html>",
            ("not_genuine", "bad_answer", "answer"),
        ),
        "http-500": ("genuine", 500, ("not_genuine", "bad_answer", "answer")),
    }
