"""Synthetic logs with `state.root` entries, built in memory, for status proofs.

`SyntheticLog` appends events as the service does (each append ends with a `state.root`
entry carrying the map root of every lot's state after the entries before it, and gets
one signed checkpoint), keeps an RFC 9162 tree (ledger.merkle), the lot states
(ledger.lotstate) at every root, and makes what a server would serve: status proofs
(ledger.status's JSON), certificate tokens reflecting an entry, and `/api/c` answers with
the inclusion proof, the checkpoint, `witnessed` items and `status_proof`.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import unquote

import httpx
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from ledger.certificate import (
    LEAF_HASH_PREFIX_SIZE,
    Certificate,
    CertificateKind,
    MassUnit,
    Origin,
    certificate_id,
    parse_qr_text,
    qr_text,
    sign_certificate,
    token_text,
    verify_certificate,
)
from ledger.checkpoint import Checkpoint, sign_checkpoint
from ledger.cosignature import WitnessSigner, cosign
from ledger.encoding import b64encode
from ledger.entry import ZERO_HASH, Entry, Event
from ledger.hashing import hash_leaf
from ledger.keys import LogKey, LogSigner
from ledger.lotstate import LotStates
from ledger.merkle import CompactRange, NodeId, consistency_proof, inclusion_proof
from ledger.note import Note, key_id
from ledger.proof_bundle import ProofBundle
from ledger.statemap import STATE_ROOT_TYPE, LotState, StateMap, StateRoot, lot_key
from ledger.status import StatusProof, judge

ORIGIN = "altan.example/log"
SYSTEM = "system:altan"
CENTRE = "centre:bornuur"
MINER = "miner:bat"
BANK = "buyer:khan-bank"
REGULATOR = "regulator:mrpam"
PUBLIC_URL = "https://altan.example"
START = datetime(2026, 5, 1, tzinfo=UTC)


def log_signer(seed: int = 7, name: str = ORIGIN) -> LogSigner:
    """A throwaway log key (deterministic per seed), valid from 2026-01-01."""
    private = Ed25519PrivateKey.from_private_bytes(bytes([seed]) * 32)
    public = private.public_key().public_bytes_raw()
    key = LogKey(
        name, key_id(name, public).hex(), public, "active", datetime(2026, 1, 1, tzinfo=UTC)
    )
    return LogSigner(key, private)


class _Nodes:
    """ledger.merkle's NodeReader over a dict."""

    def __init__(self) -> None:
        self.nodes: dict[NodeId, bytes] = {}

    def get_nodes(self, ids: Sequence[NodeId]) -> Mapping[NodeId, bytes]:
        return {i: self.nodes[i] for i in ids if i in self.nodes}


@dataclass
class SyntheticLog:
    """A log as the service keeps it, in memory (see the module docstring)."""

    signer: LogSigner = field(default_factory=log_signer)
    entries: list[Entry] = field(default_factory=list)
    raw: list[bytes] = field(default_factory=list)
    notes: dict[int, str] = field(default_factory=dict)
    """Tree size -> its signed checkpoint note (one per append)."""
    states_at: dict[int, dict[str, LotState]] = field(default_factory=dict)
    """Index of each state.root entry -> every lot's state it commits to."""
    tokens: dict[str, bytes] = field(default_factory=dict)
    """Certificate id -> token."""

    def __post_init__(self) -> None:
        self.lots = LotStates()
        self._tree = CompactRange()
        self._nodes = _Nodes()
        self._clock = START

    # --- building -------------------------------------------------------------------------

    @property
    def size(self) -> int:
        return len(self.entries)

    @property
    def vkey(self) -> str:
        """The log's verifier key, to pin."""
        return self.signer.key.verifier_key

    def _add(self, event: Event) -> Entry:
        self._clock += timedelta(seconds=1)
        prev = hash_leaf(self.raw[-1]) if self.raw else ZERO_HASH
        entry = Entry.create(len(self.entries), prev, self._clock, event)
        data = entry.to_bytes()
        self.lots.apply(entry)
        for node, value in self._tree.append(hash_leaf(data)):
            self._nodes.nodes[node] = value
        self.entries.append(entry)
        self.raw.append(data)
        return entry

    def _close(self) -> int:
        """The state.root entry and the checkpoint that end every append."""
        index = self.size
        states = self.lots.states()
        self.states_at[index] = states
        root = StateMap({lot_key(lot): s.hash() for lot, s in states.items()}).root
        self._add(Event(STATE_ROOT_TYPE, SYSTEM, StateRoot(root, index, len(states)).body()))
        cp = Checkpoint(self.signer.key.name, self.size, self._tree.root())
        self.notes[self.size] = sign_checkpoint(cp, self.signer.note_signer)
        return self.size

    def append(self, *events: Event) -> int:
        """Append ``events`` and a state.root in one append; return the new tree size."""
        for event in events:
            self._add(event)
        return self._close()

    def deliver(self, lot: str, mass_g: int = 1000, centre: str = CENTRE) -> int:
        return self.append(
            Event("ore.delivered", centre, {"lot": lot, "miner": MINER, "mass_g": mass_g})
        )

    def gold(self, lot: str, mass_mg: int = 50_000, centre: str = CENTRE) -> int:
        """A gold lot made from a new ore lot."""
        ore = f"ORE-{lot}"
        self.deliver(ore, 1000, centre)
        body = {
            "inputs": [{"lot": ore, "mass_g": 1000}],
            "outputs": [{"lot": lot, "mass_mg": mass_mg}],
        }
        return self.append(Event("processing.recorded", centre, body))

    def certify(self, lot: str, *, kind: str = "gold_lot") -> bytes:
        """A certificate for ``lot``'s custodian, as the service issues one: a request
        entry, the token reflecting it, the certificate.issued entry, in one append."""
        state = self.lots.state(lot)
        assert state is not None, lot
        reflected = self._add(Event("certificate.requested", state.custodian, {"lot": lot}))
        leaf = hash_leaf(self.raw[-1])
        ore = kind == "ore_receipt"
        cert = Certificate(
            kind=CertificateKind.ORE_RECEIPT if ore else CertificateKind.GOLD_LOT,
            lot_id=lot,
            mass=state.mass_left,
            unit=MassUnit.G if ore else MassUnit.MG,
            fineness_ppt=None if ore else 995,
            origin=Origin(aimag=55, miners=1, sites=1),
            custodian=state.custodian,
            issued_at=int(self._clock.timestamp()),
            ledger_index=reflected.index,
            leaf_hash_prefix=leaf[:LEAF_HASH_PREFIX_SIZE],
        )
        token = sign_certificate(cert, self.signer)
        cid = certificate_id(token)
        body = {
            "certificate": cid,
            "lot": lot,
            "kind": kind,
            "entry": reflected.index,
            "token": token_text(token),
        }
        self._add(Event("certificate.issued", SYSTEM, body))
        self._close()
        self.tokens[cid] = token
        return token

    def revoke(self, token: bytes, reason: str = "issued on a false assay") -> int:
        body = {"certificate": certificate_id(token), "reason": reason}
        return self.append(Event("certificate.revoked", REGULATOR, body))

    def transfer(self, lot: str, to: str = BANK, offer: str | None = None) -> int:
        state = self.lots.state(lot)
        assert state is not None
        offer = offer or f"OFFER-{lot}-{self.size}"
        self.append(
            Event("transfer.offered", state.custodian, {"lot": lot, "offer": offer, "to": to})
        )
        return self.append(Event("transfer.accepted", to, {"offer": offer}))

    def hold(self, lot: str, case: str = "HOLD-1") -> int:
        body = {"case": case, "kind": "hold", "target": {"kind": "lot", "id": lot}}
        return self.append(Event("case.opened", REGULATOR, body))

    def split(self, lot: str, parts: Sequence[tuple[str, int]]) -> int:
        state = self.lots.state(lot)
        assert state is not None
        into = [{"lot": p, "mass_mg": m} for p, m in parts]
        return self.append(Event("lot.split", state.custodian, {"lot": lot, "into": into}))

    # --- what a server serves --------------------------------------------------------------

    def checkpoint(self, size: int | None = None) -> Checkpoint:
        note = self.notes[self.size if size is None else size]
        return Checkpoint.from_text(Note.from_text(note).text)

    def inclusion(self, index: int, size: int | None = None) -> list[bytes]:
        return inclusion_proof(self._nodes, index, self.size if size is None else size)

    def consistency(self, first: int, second: int | None = None) -> list[bytes]:
        return consistency_proof(self._nodes, first, self.size if second is None else second)

    def cosigned(self, size: int, *witnesses: WitnessSigner, at: int) -> str:
        """The checkpoint of ``size`` with each witness's cosignature timestamped ``at``."""
        note = self.notes[size]
        text = Note.from_text(note).text
        return note + "".join(cosign(text, at, w) for w in witnesses)

    def status_proof(
        self, lot: str, *, size: int | None = None, root: int | None = None
    ) -> dict[str, Any]:
        """The status proof of ``lot`` (ledger.status's JSON) against the checkpoint of
        ``size`` (the latest by default), from the state.root entry ``root`` (by default
        the last of that tree: an honest proof)."""
        size = self.size if size is None else size
        root = size - 1 if root is None else root
        states = self.states_at[root]
        smap = StateMap({lot_key(k): s.hash() for k, s in states.items()})
        state = states.get(lot)
        return {
            "lot": lot,
            "state": None if state is None else state.to_json(),
            "map_proof": smap.prove(lot_key(lot)).to_json(),
            "root": {
                "index": root,
                "entry": b64encode(self.raw[root]),
                "inclusion": [b64encode(h) for h in self.inclusion(root, size)],
            },
            "tree_size": size,
            "checkpoint": self.notes[size],
        }

    def entry_proof(self, index: int, size: int | None = None) -> dict[str, Any]:
        """The /api/c `proof` member: entry ``index`` against the checkpoint of ``size``."""
        size = self.size if size is None else size
        return {
            "index": index,
            "tree_size": size,
            "entry": b64encode(self.raw[index]),
            "leaf_hash": hash_leaf(self.raw[index]).hex(),
            "path": [h.hex() for h in self.inclusion(index, size)],
            "root_hash": self.checkpoint(size).root_hash.hex(),
        }

    def answer(self, token: bytes, *, status: bool = True) -> dict[str, Any]:
        """An honest `GET /api/c/{token}` answer as of the latest checkpoint: the verdict
        the proven state gives, the reflected entry's proof, the checkpoint and (unless
        ``status`` is False: an older server) the status proof of the token's lot."""
        cid = certificate_id(token)
        cert = self.facts(token)
        state = self.lots.state(cert.lot_id)
        verdict, reason = judge(cid, cert.custodian, state)
        out: dict[str, Any] = {
            "verdict": verdict,
            "reason": reason,
            "certificate": {"id": cid, "lot": cert.lot_id},
            "revocation": None,
            "successors": [],
            "lot": None
            if state is None
            else {"status": state.status, "custodian": state.custodian},
            "proof": self.entry_proof(cert.ledger_index),
            "checkpoint": self.notes[self.size],
            "witnessed": [],
        }
        if status:
            out["status_proof"] = self.status_proof(cert.lot_id)
        return out

    def witnessed(self, token: bytes, size: int, note: str) -> dict[str, Any]:
        """A `witnessed` item: the cosigned checkpoint of ``size``, the token's entry proven
        against it, and the consistency proof from it to the latest."""
        cert = self.facts(token)
        return {
            "checkpoint": note,
            "proof": self.entry_proof(cert.ledger_index, size),
            "consistency": [b64encode(h) for h in self.consistency(size)],
        }

    def bundle(
        self,
        index: int,
        *,
        token: bytes | None = None,
        lot: str | None = None,
        status: bool = True,
        size: int | None = None,
        root: int | None = None,
    ) -> str:
        """A proof bundle (ledger.proof_bundle) of entry ``index`` against the checkpoint of
        ``size``, carrying ``token`` and (unless ``status`` is False) the status proof of
        ``lot`` (by default the token's, else the certificate.issued entry's)."""
        size = self.size if size is None else size
        proof: StatusProof | None = None
        if status:
            if lot is None:
                body = self.entries[index].event.body
                lot = self.facts(token).lot_id if token is not None else str(body["lot"])
            json_proof = self.status_proof(lot, size=size, root=root)
            del json_proof["checkpoint"]
            proof = StatusProof.from_json(json_proof)
        return ProofBundle(
            index,
            tuple(self.inclusion(index, size)),
            self.notes[size],
            self.raw[index],
            status=proof,
            certificate=None if token is None else token_text(token),
        ).to_text()

    def facts(self, token: bytes) -> Certificate:
        """The facts of a token this log signed."""
        return verify_certificate(token, [self.signer.key])

    def qr(self, token: bytes) -> str:
        return qr_text(PUBLIC_URL, token)


Answer = Callable[[bytes], dict[str, Any]]


def serving(answer: Answer, log: SyntheticLog | None = None) -> httpx.Client:
    """An httpx client whose server answers `GET /api/c/{token}` with ``answer(token)`` and,
    given ``log``, `GET /lots/{lot}/status-proof` with its honest status proof."""

    def handle(request: httpx.Request) -> httpx.Response:
        path = request.url.path
        if path.startswith("/api/c/"):
            token = parse_qr_text(unquote(path.removeprefix("/api/c/")))
            return httpx.Response(200, content=json.dumps(answer(token)).encode())
        if log is not None and path.startswith("/lots/") and path.endswith("/status-proof"):
            lot = unquote(path.removeprefix("/lots/").removesuffix("/status-proof"))
            return httpx.Response(200, json=log.status_proof(lot))
        return httpx.Response(404, json={"title": "Not Found"})

    return httpx.Client(transport=httpx.MockTransport(handle))
