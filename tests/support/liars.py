"""A lying server for the adversarial tests (tests/test_adversarial.py).

`LyingServer` is an httpx transport in front of the REAL server (a TestClient on the ASGI
app). It holds what a dishonest operator holds: the real log key. Left alone it passes every
request through. Given a `LogView` it answers the auditor endpoints (`/log/checkpoint`,
`/log/keys`, `/log/entries`, `/log/proof/*`) and the certificate verdict (`/api/c/{token}`:
its checkpoint and inclusion proof) from that view instead: a whole log (entries, receipts,
Merkle tree, signed checkpoint) built in memory from whatever entries the lie chose, and
signed with whatever key the lie chose. Every answer of a view is therefore internally
consistent and signed where a real attacker could sign: the only thing that differs from
the honest log is the lie itself. An `edit` can then rewrite single answers (a page of
entries, a flipped bit, a body that never ends).

A view built from the real entries reproduces the real server's answers byte for byte
(`test_an_honest_view_is_the_real_server`), so a verifier that tells a view from the real
log can only be seeing the lie.

Witnesses hand their cosignatures in with `POST /log/cosignatures`; the proxy keeps them in
`cosignatures` and acknowledges them itself, so that the real server (shared by many tests)
never changes and a test can say exactly what a witness signed.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

import httpx
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from ledger.checkpoint import Checkpoint
from ledger.encoding import b64encode
from ledger.entry import Entry, receipt_message
from ledger.errors import LedgerError
from ledger.hashing import hash_leaf
from ledger.lotstate import LotStates
from ledger.merkle import CompactRange, NodeId, consistency_proof, inclusion_proof
from ledger.note import Note, NoteSigner
from ledger.proof_bundle import ProofBundle
from ledger.statemap import StateMap, StateRoot, lot_key

if TYPE_CHECKING:
    from fastapi.testclient import TestClient

# --- keys -------------------------------------------------------------------------------------


class Signer(Protocol):
    """What signs a view: checkpoints as signed notes, receipts as raw Ed25519."""

    @property
    def note_signer(self) -> NoteSigner: ...

    def sign(self, message: bytes) -> bytes: ...


@dataclass(frozen=True)
class Attacker:
    """An Ed25519 key of the attacker's, named `name` (which may be the log's own name)."""

    name: str
    private_key: Ed25519PrivateKey = field(default_factory=Ed25519PrivateKey.generate)

    @property
    def note_signer(self) -> NoteSigner:
        return NoteSigner(self.private_key, self.name)

    def sign(self, message: bytes) -> bytes:
        return self.private_key.sign(message)

    def listing(self) -> dict[str, Any]:
        """This key as `/log/keys` would list it."""
        v = self.note_signer.verifier
        return {
            "key_id": v.key_id.hex(),
            "verifier_key": v.vkey,
            "public_key": b64encode(v.public_key),
            "algorithm": "Ed25519",
            "status": "active",
            "not_before": "2026-09-01T08:00:00.000000Z",
            "not_after": None,
        }


def key_id_of(signer: Signer) -> str:
    """The receipt key id of a signer: the 4-byte note key id, hex (as the log names it)."""
    return signer.note_signer.verifier.key_id.hex()


# --- rewriting entries --------------------------------------------------------------------------


def rechain(entries: Sequence[bytes], index: int, change: Callable[[bytes], bytes]) -> list[bytes]:
    """`entries` with entry `index` replaced by `change(entry)` and every later entry's `prev`
    re-linked to the new chain (their other fields unchanged): what an operator who rewrites
    one entry must do so that the chain still verifies."""
    out = list(entries[:index])
    out.append(change(entries[index]))
    prev = hash_leaf(out[-1])
    for data in entries[index + 1 :]:
        entry = dataclasses.replace(Entry.from_bytes(data), prev=prev)
        out.append(entry.to_bytes())
        prev = hash_leaf(out[-1])
    return out


def with_note(data: bytes, note: str = "rewritten") -> bytes:
    """The entry with `note` added to its body (canonical bytes)."""
    entry = Entry.from_bytes(data)
    event = dataclasses.replace(entry.event, body={**entry.event.body, "note": note})
    return dataclasses.replace(entry, event=event).to_bytes()


def duplicate_key(data: bytes) -> bytes:
    """The entry's bytes with one body member repeated under the same name with another value
    (`"role":"auditor","role":"administrator"`): JSON parsers disagree on which one counts
    (Python's keeps the last, others the first or refuse), so the bytes are not canonical."""
    entry = Entry.from_bytes(data)
    name, value = sorted(entry.event.body.items())[0]
    member = json.dumps({name: value}, ensure_ascii=False, separators=(",", ":"))[1:-1].encode()
    other = json.dumps({name: "administrator"}, separators=(",", ":"))[1:-1].encode()
    assert data.count(member) >= 1, (member, data)
    return data.replace(member, member + b"," + other, 1)


# --- a whole log in memory -----------------------------------------------------------------------


class _Nodes:
    """A NodeReader over a dict (ledger.merkle's proofs read perfect subtrees from it)."""

    def __init__(self) -> None:
        self.nodes: dict[NodeId, bytes] = {}

    def get_nodes(self, ids: Sequence[NodeId]) -> Mapping[NodeId, bytes]:
        return {i: self.nodes[i] for i in ids if i in self.nodes}


class LogView:
    """A log as a (lying) server shows it: `entries` re-receipted and re-hashed, a tree over
    them, and a checkpoint of the whole of it signed by `signer` under `origin`.

    `extensions` are checkpoint extension lines (signed); `note_edit` changes the signed
    note after signing (so the signature no longer covers it); `size` overrides the size the
    checkpoint states (a tree the view cannot back); `flip_inclusion` / `flip_consistency`
    flip one bit in every proof of that kind that the view serves; `keys` is the `/log/keys`
    listing (default: the real one); `consistency` overrides the consistency proofs served.
    """

    def __init__(
        self,
        entries: Sequence[bytes],
        signer: Signer,
        origin: str,
        keys: dict[str, Any],
        *,
        extensions: tuple[str, ...] = (),
        note_edit: Callable[[str], str] | None = None,
        size: int | None = None,
        flip_inclusion: bool = False,
        flip_consistency: bool = False,
        consistency: Callable[[int, int], list[bytes]] | None = None,
    ) -> None:
        self.entries = list(entries)
        self.keys = keys
        self.flip_inclusion = flip_inclusion
        self.flip_consistency = flip_consistency
        self._consistency = consistency
        self.leaves = [hash_leaf(e) for e in self.entries]
        kid = key_id_of(signer)
        self.receipts = [(kid, signer.sign(receipt_message(leaf))) for leaf in self.leaves]
        self._tree = _Nodes()
        compact = CompactRange()
        for leaf in self.leaves:
            self._tree.nodes.update(compact.append(leaf))
        self.root = compact.root()
        self.size = len(self.entries)
        stated = Checkpoint(origin, self.size if size is None else size, self.root, extensions)
        self.checkpoint = stated
        note = signer.note_signer.sign(stated.to_text())
        self.note = note_edit(note) if note_edit is not None else note

    # -- what the server computes ---------------------------------------------------------------

    def inclusion(self, index: int, size: int | None = None) -> list[bytes]:
        proof = inclusion_proof(self._tree, index, self.size if size is None else size)
        return _flip(proof) if self.flip_inclusion else proof

    def consistency(self, first: int, second: int) -> list[bytes]:
        if self._consistency is not None:
            proof = self._consistency(first, second)
        else:
            proof = consistency_proof(self._tree, first, second)
        return _flip(proof) if self.flip_consistency else proof

    def bundle(self, index: int) -> str:
        proof = tuple(self.inclusion(index))
        return ProofBundle(index, proof, self.note, self.entries[index]).to_text()

    # -- HTTP -------------------------------------------------------------------------------------

    def answer(self, request: httpx.Request, real: Callable[[], httpx.Response]) -> httpx.Response:
        """The view's answer to `request`; `real()` asks the real server (for what the view
        does not change)."""
        path = request.url.path
        q = {k: v for k, v in request.url.params.items()}
        try:
            if path == "/log/checkpoint":
                return httpx.Response(200, text=self.note)
            if path == "/log/keys":
                return httpx.Response(200, json=self.keys)
            if path == "/log/entries":
                start, end = int(q["start"]), int(q["end"])
                rows = range(start, min(end, self.size, start + 1000))
                return httpx.Response(200, json={"entries": [self._entry(i) for i in rows]})
            if path == "/log/proof/inclusion":
                index, size = int(q["index"]), int(q["tree_size"])
                _below(index, size, self.size)
                hashes = [b64encode(h) for h in self.inclusion(index, size)]
                return httpx.Response(
                    200, json={"index": index, "tree_size": size, "hashes": hashes}
                )
            if path == "/log/proof/consistency":
                first, second = int(q["first"]), int(q["second"])
                _below(first - 1, second, self.size)
                hashes = [b64encode(h) for h in self.consistency(first, second)]
                return httpx.Response(
                    200, json={"first": first, "second": second, "hashes": hashes}
                )
            if path == "/log/proof/bundle":
                index = int(q["index"])
                _below(index, self.size, self.size)
                return httpx.Response(200, text=self.bundle(index))
        except _OutOfRange as exc:
            return httpx.Response(
                400, json={"type": "about:blank", "title": "Bad Request", "detail": str(exc)}
            )
        if path.startswith("/api/c/"):
            resp = real()
            if resp.status_code != 200:
                return resp
            return httpx.Response(200, json=self.verdict(resp.json()))
        return real()

    def _entry(self, i: int) -> dict[str, Any]:
        kid, sig = self.receipts[i]
        return {
            "index": i,
            "entry": b64encode(self.entries[i]),
            "leaf_hash": b64encode(self.leaves[i]),
            "key_id": kid,
            "signature": b64encode(sig),
        }

    def verdict(self, doc: dict[str, Any]) -> dict[str, Any]:
        """The server's verdict on a certificate, its checkpoint and proof from this view."""
        out = {**doc, "checkpoint": self.note}
        proof = doc.get("proof")
        if proof is not None:
            index = int(proof["index"])
            if index >= self.size:
                out["proof"] = None
            else:
                out["proof"] = {
                    **proof,
                    "tree_size": self.checkpoint.size,
                    "entry": b64encode(self.entries[index]),
                    "leaf_hash": self.leaves[index].hex(),
                    "path": [h.hex() for h in self.inclusion(index)],
                    "root_hash": self.root.hex(),
                }
        if doc.get("status_proof") is not None:
            out["status_proof"] = self.status_proof(doc["status_proof"]["lot"])
        return out

    def status_proof(self, lot: str) -> dict[str, Any] | None:
        """The lot's state as this view's own last entry commits to it (a liar showing an
        older tree shows the older, true state), or None when that entry is no state.root
        (then the answer carries no status proof, as a server from before the map)."""
        try:
            last = Entry.from_bytes(self.entries[self.size - 1]) if self.size else None
            committed = StateRoot.from_entry(last) if last is not None else None
        except LedgerError:
            return None
        if committed is None:
            return None
        states = LotStates()
        for data in self.entries[: self.size - 1]:
            states.apply(Entry.from_bytes(data))
        smap = StateMap({lot_key(i): st.hash() for i, st in states.states().items()})
        if smap.root != committed.root:
            return None  # a re-chained view: its state.root no longer matches
        state = states.state(lot)
        return {
            "lot": lot,
            "state": None if state is None else state.to_json(),
            "map_proof": smap.prove(lot_key(lot)).to_json(),
            "root": {
                "index": self.size - 1,
                "entry": b64encode(self.entries[self.size - 1]),
                "inclusion": [b64encode(h) for h in self.inclusion(self.size - 1)],
            },
            "tree_size": self.checkpoint.size,
            "checkpoint": self.note,
        }


class _OutOfRange(Exception):
    pass


def _below(index: int, size: int, have: int) -> None:
    if not 0 <= index < size or size > have:
        raise _OutOfRange(f"index {index} / size {size}: this log has {have} entries")


def _flip(proof: list[bytes]) -> list[bytes]:
    """One bit flipped in the first hash (a broken cache, a man in the middle)."""
    if not proof:
        return proof
    return [bytes([proof[0][0] ^ 1]) + proof[0][1:], *proof[1:]]


def insert_body_line(note: str, line: str) -> str:
    """The signed note with `line` added to its text after signing: the signature no longer
    covers the text."""
    parsed = Note.from_text(note)
    text = parsed.text + line + "\n"
    sigs = "".join(s.to_line() for s in parsed.signatures)
    return text + "\n" + sigs


# --- a body that never ends ---------------------------------------------------------------------


HUGE_LIMIT = 128 << 20
"""The most a huge answer ever produces: far past any sane bound, and a stop for a client
that has none (it then reads it all and fails on it, and the test says so)."""


class Endless(httpx.SyncByteStream):
    """A body generated lazily, 1 MiB at a time, up to HUGE_LIMIT; counts what was read."""

    def __init__(self, head: bytes, filler: bytes, counter: list[int]) -> None:
        self.head = head
        self.chunk = (filler * ((1 << 20) // len(filler) + 1))[: 1 << 20]
        self.counter = counter

    def __iter__(self) -> Iterator[bytes]:
        self.counter[0] += len(self.head)
        yield self.head
        while self.counter[0] < HUGE_LIMIT:
            self.counter[0] += len(self.chunk)
            yield self.chunk


# --- the proxy -----------------------------------------------------------------------------------


Edit = Callable[[httpx.Request, httpx.Response], httpx.Response]


class LyingServer(httpx.BaseTransport):
    """The network between the verifiers and the real server (module docstring)."""

    def __init__(self, client: TestClient) -> None:
        self.client = client
        self.view: LogView | None = None
        self.edit: Edit | None = None
        self.paths: list[str] = []
        self.cosignatures: list[str] = []
        self.pulled = [0]  # bytes of Endless bodies read

    def honest(self) -> None:
        """No lie: the real server answers everything."""
        self.view, self.edit = None, None

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        request.read()
        path = request.url.path
        self.paths.append(path)
        if request.method == "POST" and path == "/log/cosignatures":
            return self._cosigned(request.content.decode())

        def real() -> httpx.Response:
            return self._real(request)

        resp = self.view.answer(request, real) if self.view is not None else real()
        return self.edit(request, resp) if self.edit is not None else resp

    def _real(self, request: httpx.Request) -> httpx.Response:
        got = self.client.request(
            request.method,
            request.url.raw_path.decode(),
            content=request.content or None,
            headers={k: v for k, v in request.headers.items() if k.lower() != "host"},
        )
        return httpx.Response(
            got.status_code,
            headers={"content-type": got.headers.get("content-type", "text/plain")},
            content=got.content,
        )

    def _cosigned(self, submission: str) -> httpx.Response:
        self.cosignatures.append(submission)
        note = Note.from_text(submission)
        size = Checkpoint.from_text(note.text).size
        return httpx.Response(201, json={"tree_size": size, "cosignatures": []})

    def endless(self, head: bytes, filler: bytes, content_type: str) -> httpx.Response:
        """An answer whose body never ends (until HUGE_LIMIT), never held in memory here."""
        return httpx.Response(
            200, headers={"content-type": content_type}, stream=Endless(head, filler, self.pulled)
        )
