"""`altan witness`: an independent witness of an Altan Ledger (c2sp.org/tlog-witness), pulling
checkpoints from the log (`altan witness run`) or answering the log's pushes
(`altan witness serve`, the spec's `POST /add-checkpoint`), with one state file and lock.

The witness only ever cosigns for the log it pinned: the checkpoint's origin must be the
pinned key's name (ledger.checkpoint.pinned_origin); a checkpoint signed by the real key under
another origin (the name with a trailing "/", a rewritten history) is refused, never filed
under a state of its own.

Cosigning again: an unchanged checkpoint is cosigned anew, with a fresh timestamp, once this
witness's newest cosignature of it is older than `refresh` seconds (REFRESH_SECONDS). A
verifier that demands recent cosignatures (`altan verify --max-age`) thereby learns that the
log showed its witnesses no later checkpoint before then.

The witness keeps its own Ed25519 key (`altan witness keygen`) and its own state: the latest
checkpoint it cosigned, per log origin. Each round, in order:

1. fetch the log's latest checkpoint (`GET /log/checkpoint`);
2. verify the log's signature with the *pinned* log key, and the origin;
3. compare with the state (the latest checkpoint this witness cosigned):
   a smaller tree is a rollback, the same size with another root a fork, a larger tree
   needs an RFC 9162 consistency proof (`GET /log/proof/consistency`) from the old size
   that verifies against both roots; any failure is a refusal (nothing signed, the state
   unchanged, the evidence printed);
4. cosign the checkpoint body (`cosignature/v1`, ledger.cosignature) with the current time;
5. save the new state, *then* release the cosignature (as the spec asks: a witness that
   crashes after signing must not later sign a rollback);
6. hand it in: `POST /log/cosignatures` with the checkpoint, the log's signature line and
   the cosignature line.

The first round against a log trusts its checkpoint as it is (there is nothing to compare
it with): start a witness before its checkpoint matters, or copy a trusted state in.

Key file: the private key as PKCS8 PEM (encrypted when ALTAN_WITNESS_PASSPHRASE is set),
mode 0600, with the witness's name and vkey as explanatory lines before the PEM block
(RFC 7468 §2 lets parsers skip text outside the encapsulation boundaries).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Annotated, Any, Literal

import httpx
import typer
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import (
    BestAvailableEncryption,
    Encoding,
    KeySerializationEncryption,
    NoEncryption,
    PrivateFormat,
    load_pem_private_key,
)
from typer.core import TyperGroup

from ledger.checkpoint import Checkpoint, open_checkpoint, pinned_origin
from ledger.cosignature import (
    TLOG_SIZE_CONTENT_TYPE,
    AddCheckpoint,
    Cosignature,
    WitnessKey,
    WitnessSigner,
    cosignatures_by,
)
from ledger.encoding import b64decode, b64encode
from ledger.errors import KeyProblem, LedgerError, MalformedInput
from ledger.files import read_private_file, write_private_file
from ledger.merkle import verify_consistency
from ledger.note import Note, NoteVerifier, check_key_name

KEY_FILE_HEADER = "altan-witness-key: v1"
STATE_FORMAT = "altan-ledger/witness-state/v1"
PASSPHRASE_ENV = "ALTAN_WITNESS_PASSPHRASE"  # noqa: S105 - a variable name, not a secret
MAX_KEY_FILE_BYTES = 64 * 1024
MAX_STATE_BYTES = 1 << 20
MAX_CHECKPOINT_BYTES = 64 * 1024
"""The largest checkpoint note read from a log (its own line and up to 50 cosignatures)."""
TIMEOUT_SECONDS = 10.0
USER_AGENT = "altan-witness/0.1"
REFRESH_SECONDS = 600
"""Cosign an unchanged checkpoint again once this witness's newest cosignature of it is
older than this (10 minutes: well inside the verifiers' default --max-age of an hour)."""
MAX_ADD_CHECKPOINT_BYTES = 64 * 1024
"""The largest add-checkpoint request read (63 proof lines and a checkpoint note)."""


def now() -> float:
    """The witness's clock (a seam: tests move it)."""
    return time.time()


class Refusal(Exception):
    """The witness will not cosign what the log showed; `evidence` says why (printable)."""

    def __init__(self, reason: str, detail: str, evidence: dict[str, Any]) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail
        self.evidence = {"verdict": "refused", "reason": reason, "detail": detail, **evidence}


class CannotWitness(Exception):
    """A round could not be completed (network, a server answer, the key or state file);
    not a judgement on the log."""


# --- the witness's key ---------------------------------------------------------------------


def _passphrase() -> bytes | None:
    value = os.environ.get(PASSPHRASE_ENV, "")
    return value.encode() if value else None


def generate_key(name: str, out: Path, passphrase: bytes | None = None) -> WitnessKey:
    """Create a new witness key named `name` in the file `out` (mode 0600, never
    overwritten) and return its public key (register `.vkey` through the log)."""
    check_key_name(name)
    private_key = Ed25519PrivateKey.generate()
    signer = WitnessSigner(private_key, name)
    encryption: KeySerializationEncryption = (
        BestAvailableEncryption(passphrase) if passphrase else NoEncryption()
    )
    pem = private_key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, encryption)
    text = f"{KEY_FILE_HEADER}\nname: {name}\nvkey: {signer.key.vkey}\n\n".encode() + pem
    try:
        write_private_file(out, text, replace=False)
    except FileExistsError as exc:
        raise KeyProblem(f"witness key file {out}: expected a new file, found one") from exc
    return signer.key


def load_key(path: Path, passphrase: bytes | None = None) -> WitnessSigner:
    """The witness's signer from its key file (checks: regular file, mode 0600, the header,
    an Ed25519 PKCS8 key, and the vkey line matching the key)."""
    data = read_private_file(path, MAX_KEY_FILE_BYTES, "witness key file", KeyProblem)
    head, _, _ = data.partition(b"-----BEGIN")
    fields: dict[str, str] = {}
    lines = head.decode("utf-8", errors="replace").splitlines()
    if not lines or lines[0] != KEY_FILE_HEADER:
        raise KeyProblem(f"witness key file {path}: expected it to start with {KEY_FILE_HEADER!r}")
    for line in lines[1:]:
        key, sep, value = line.partition(": ")
        if sep:
            fields[key] = value
    if "name" not in fields:
        raise KeyProblem(f"witness key file {path}: expected a 'name: <witness name>' line")
    try:
        private_key = load_pem_private_key(data, password=passphrase)
    except (ValueError, TypeError, UnsupportedAlgorithm):
        # `from None`: nothing of the key or the passphrase goes into a traceback.
        raise KeyProblem(
            f"witness key file {path}: cannot read the key (a wrong or missing "
            f"{PASSPHRASE_ENV}, or a damaged file)"
        ) from None
    if not isinstance(private_key, Ed25519PrivateKey):
        raise KeyProblem(f"witness key file {path}: expected an Ed25519 key")
    try:
        signer = WitnessSigner(private_key, fields["name"])
    except MalformedInput as exc:
        raise KeyProblem(f"witness key file {path}: {exc}") from exc
    if "vkey" in fields and fields["vkey"] != signer.key.vkey:
        raise KeyProblem(f"witness key file {path}: the vkey line does not match the key")
    return signer


# --- the witness's state -------------------------------------------------------------------


@dataclass(frozen=True)
class Trusted:
    """The latest checkpoint this witness cosigned for one log."""

    size: int
    root_hash: bytes
    checkpoint: str  # the signed note as the log served it (kept as evidence)
    cosigned_at: int


def read_state(path: Path, origin: str) -> Trusted | None:
    """The state of `origin` in the state file, or None (no file, or never cosigned)."""
    doc = _read_state_file(path)
    entry = doc["logs"].get(origin)
    if entry is None:
        return None
    try:
        return Trusted(
            size=int(entry["size"]),
            root_hash=b64decode(str(entry["root_hash"]), size=32, what="state root_hash"),
            checkpoint=str(entry["checkpoint"]),
            cosigned_at=int(entry["cosigned_at"]),
        )
    except (KeyError, TypeError, ValueError, LedgerError) as exc:
        raise CannotWitness(f"witness state {path}: the entry for {origin} is damaged") from exc


def _read_state_file(path: Path) -> dict[str, Any]:
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return {"format": STATE_FORMAT, "logs": {}}
    except OSError as exc:
        raise CannotWitness(f"witness state {path}: cannot be read ({exc.strerror})") from exc
    if len(data) > MAX_STATE_BYTES:
        raise CannotWitness(f"witness state {path}: larger than {MAX_STATE_BYTES} bytes")
    try:
        doc = json.loads(data)
    except ValueError as exc:
        raise CannotWitness(f"witness state {path}: not JSON") from exc
    if not isinstance(doc, dict) or doc.get("format") != STATE_FORMAT:
        raise CannotWitness(f"witness state {path}: expected format {STATE_FORMAT}")
    if not isinstance(doc.get("logs"), dict):
        raise CannotWitness(f"witness state {path}: expected a 'logs' object")
    return doc


def write_state(path: Path, origin: str, trusted: Trusted) -> None:
    """Record `trusted` for `origin`, atomically and privately (ledger.files: mode 0600,
    fsync, rename, folder fsync)."""
    doc = _read_state_file(path)
    doc["logs"][origin] = {
        "size": trusted.size,
        "root_hash": b64encode(trusted.root_hash),
        "checkpoint": trusted.checkpoint,
        "cosigned_at": trusted.cosigned_at,
    }
    text = json.dumps(doc, indent=2, sort_keys=True) + "\n"
    write_private_file(path, text.encode("utf-8"))


@contextlib.contextmanager
def _locked(state_path: Path) -> Iterator[None]:
    """An advisory lock (flock) on `<state file>.lock` for one round."""
    fd = os.open(state_path.with_name(state_path.name + ".lock"), os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing releases the lock


def default_state_path(key_path: Path) -> Path:
    """Beside the key file: `<key file>.state.json`."""
    return key_path.with_name(key_path.name + ".state.json")


# --- one round -------------------------------------------------------------------------------


Outcome = Literal["cosigned", "recosigned", "already_cosigned"]


@dataclass(frozen=True)
class Round:
    """What one round did: `cosigned` (and handed in), `recosigned` (the same checkpoint
    again with a fresh timestamp, the newest shown being older than the refresh interval),
    or `already_cosigned` (the log shows a recent cosignature of its latest checkpoint)."""

    outcome: Outcome
    checkpoint: Checkpoint
    previous_size: int | None
    line: str | None = None
    answer: dict[str, Any] = field(default_factory=dict)

    def message(self) -> str:
        cp = self.checkpoint
        root = b64encode(cp.root_hash)
        if self.outcome == "already_cosigned":
            return f"UNCHANGED {cp.origin}: size {cp.size}, root {root}, already cosigned"
        if self.outcome == "recosigned":
            return f"RECOSIGNED {cp.origin}: size {cp.size} (unchanged), root {root}"
        since = "first checkpoint" if self.previous_size is None else f"from {self.previous_size}"
        return f"COSIGNED {cp.origin}: size {cp.size} ({since}), root {root}"


def new_http_client(base_url: str) -> httpx.Client:
    """The witness's HTTP client (a seam: tests send through the ASGI app instead)."""
    return httpx.Client(
        base_url=base_url.rstrip("/"),
        timeout=httpx.Timeout(TIMEOUT_SECONDS),
        headers={"User-Agent": USER_AGENT},
    )


@dataclass(frozen=True)
class Answer:
    """An HTTP answer of the witness protocol: status, media type, body."""

    status: int
    content_type: str
    body: bytes

    @classmethod
    def text(cls, status: int, message: str) -> Answer:
        return cls(status, "text/plain; charset=utf-8", (message.rstrip("\n") + "\n").encode())


class LogWitness:
    """A witness of one log: its key, the log's pinned keys, its state file and clock.

    The origin is the pinned keys' name (pinned_origin); another `origin` is refused
    (KeyProblem), so that no state is ever kept under a name a server chose.
    """

    def __init__(
        self,
        log_keys: NoteVerifier | list[NoteVerifier],
        signer: WitnessSigner,
        state_path: Path,
        *,
        origin: str | None = None,
        clock: Callable[[], float] | None = None,
        refresh: float = REFRESH_SECONDS,
    ) -> None:
        self.log_keys = [log_keys] if isinstance(log_keys, NoteVerifier) else list(log_keys)
        if not self.log_keys:
            raise KeyProblem("a witness needs at least one pinned log key")
        pinned = pinned_origin(v.name for v in self.log_keys)
        if origin is not None and origin != pinned:
            raise KeyProblem(
                f"origin {origin[:200]!r}: a witness only cosigns checkpoints under the pinned "
                f"log key's name {pinned!r}"
            )
        self.signer = signer
        self.state_path = state_path
        self.origin = pinned
        self.clock: Callable[[], float] = clock if clock is not None else now
        self.refresh = refresh

    def add_checkpoint(self, body: bytes) -> Answer:
        """Answer a c2sp.org/tlog-witness `add-checkpoint` request, in the spec's order:

        1. 400 the body is not `old <size>`, proof lines, a blank line, a checkpoint note;
        2. 404 the checkpoint's origin is not the pinned log's;
        3. 403 no signature on it verifies with a pinned log key;
        4. 400 the old size is larger than the checkpoint's;
        5. 409 (`text/x.tlog.size`: this witness's size) the old size is not the size this
           witness last cosigned (0 if never), or the same size with another root;
        6. 422 the consistency proof does not lead from the cosigned tree to the new one
           (a proof must be empty from size 0 and between equal sizes);
        7. 200 the cosignature line, after the new state is saved (under the lock, so that
           two requests cannot both pass step 5 and the smaller be saved last).
        """
        try:
            request = AddCheckpoint.from_bytes(body)
            checkpoint = Checkpoint.from_text(Note.from_text(request.note).text)
        except LedgerError as exc:
            return Answer.text(400, f"malformed add-checkpoint request: {exc}")
        if checkpoint.origin != self.origin:
            return Answer.text(404, "unknown log origin: this witness witnesses " + self.origin)
        try:
            open_checkpoint(request.note, self.log_keys, self.origin)
        except LedgerError:
            return Answer.text(403, "no signature on the checkpoint verifies with the log's key")
        if request.old_size > checkpoint.size:
            return Answer.text(
                400,
                f"old size {request.old_size} is larger than the checkpoint's {checkpoint.size}",
            )
        note = Note.from_text(request.note)
        with _locked(self.state_path):
            trusted = read_state(self.state_path, self.origin)
            size = 0 if trusted is None else trusted.size
            if request.old_size != size or (
                trusted is not None
                and checkpoint.size == size
                and checkpoint.root_hash != trusted.root_hash
            ):
                return Answer(409, TLOG_SIZE_CONTENT_TYPE, f"{size}\n".encode())
            problem = _proof_problem(trusted, checkpoint, list(request.proof))
            if problem is not None:
                return Answer.text(422, f"consistency proof: {problem}")
            cosignature = self._cosign_and_save(note, checkpoint, request.note)
        return Answer(200, "text/plain; charset=utf-8", cosignature.to_line().encode())

    def _cosign_and_save(self, note: Note, checkpoint: Checkpoint, served: str) -> Cosignature:
        """Cosign now and save the state before the cosignature leaves (the caller holds
        the lock)."""
        timestamp = int(self.clock())
        cosignature = self.signer.cosign(note.text, timestamp)
        write_state(
            self.state_path,
            self.origin,
            Trusted(checkpoint.size, checkpoint.root_hash, served, timestamp),
        )
        return cosignature

    def _newest_own(self, note: Note) -> int | None:
        """The timestamp of this witness's newest valid cosignature on `note`, or None."""
        newest: int | None = None
        for _, cosignature in cosignatures_by(note, [self.signer.key]):
            if isinstance(cosignature, Cosignature):
                try:
                    self.signer.key.verify(note.text, cosignature)
                except LedgerError:
                    continue
                if newest is None or cosignature.timestamp > newest:
                    newest = cosignature.timestamp
        return newest


def _proof_problem(
    trusted: Trusted | None, checkpoint: Checkpoint, proof: list[bytes]
) -> str | None:
    """Why `proof` does not show that `checkpoint` extends the trusted tree, or None."""
    if trusted is None or trusted.size == 0 or trusted.size == checkpoint.size:
        return None if not proof else "expected an empty proof"
    try:
        verify_consistency(
            trusted.size, checkpoint.size, proof, trusted.root_hash, checkpoint.root_hash
        )
    except LedgerError as exc:
        return f"{type(exc).__name__}: {exc}"
    return None


class Witness(LogWitness):
    """A witness that pulls: each round fetches the log's latest checkpoint over `client`."""

    def __init__(
        self,
        client: httpx.Client,
        log_keys: NoteVerifier | list[NoteVerifier],
        signer: WitnessSigner,
        state_path: Path,
        *,
        origin: str | None = None,
        clock: Callable[[], float] | None = None,
        refresh: float = REFRESH_SECONDS,
    ) -> None:
        super().__init__(log_keys, signer, state_path, origin=origin, clock=clock, refresh=refresh)
        self.client = client

    def round(self) -> Round:
        """One round (module docstring). Raises Refusal or CannotWitness."""
        # 1-2. the log's latest checkpoint, signed by the pinned key
        note_text = self._get_text("/log/checkpoint")
        try:
            checkpoint, signed_by = open_checkpoint(note_text, self.log_keys, self.origin)
            note = Note.from_text(note_text)
        except LedgerError as exc:
            raise Refusal(
                "bad_checkpoint",
                f"the checkpoint does not verify with the pinned log key: {exc}",
                {"origin": self.origin, "presented": {"checkpoint": note_text}},
            ) from exc
        # Steps 3-5 under a lock: two rounds at once could otherwise both check against the
        # same state and the smaller one be saved last (a rollback of the witness itself).
        with _locked(self.state_path):
            # 3. consistent with what this witness cosigned before
            trusted = read_state(self.state_path, self.origin)
            unchanged = (
                trusted is not None
                and checkpoint.size == trusted.size
                and checkpoint.root_hash == trusted.root_hash
            )
            if unchanged:
                # Shown with a recent cosignature of ours: nothing to do. Shown with none, or
                # only old ones: cosign again, so verifiers see the log is still at this size.
                newest = self._newest_own(note)
                if newest is not None and newest >= self.clock() - self.refresh:
                    return Round("already_cosigned", checkpoint, checkpoint.size)
            elif trusted is not None:
                self._check_consistent(trusted, checkpoint, note_text)
            # 4-5. cosign, and remember it before anyone sees it
            cosignature = self._cosign_and_save(note, checkpoint, note_text)
        # 6. hand it in, with the log's own signature line
        mine = {(v.name, v.key_id) for v in signed_by}
        own = [s for s in note.signatures if (s.name, s.key_id) in mine]
        submission = Note(note.text, (*own, cosignature.to_note_signature())).to_text()
        answer = self._post("/log/cosignatures", submission)
        return Round(
            "recosigned" if unchanged else "cosigned",
            checkpoint,
            None if trusted is None else trusted.size,
            cosignature.to_line(),
            answer,
        )

    def _check_consistent(self, trusted: Trusted, checkpoint: Checkpoint, note: str) -> None:
        evidence: dict[str, Any] = {
            "origin": self.origin,
            "trusted": {
                "size": trusted.size,
                "root_hash": b64encode(trusted.root_hash),
                "checkpoint": trusted.checkpoint,
                "cosigned_at": trusted.cosigned_at,
            },
            "presented": {
                "size": checkpoint.size,
                "root_hash": b64encode(checkpoint.root_hash),
                "checkpoint": note,
            },
        }
        if checkpoint.size < trusted.size:
            raise Refusal(
                "rollback",
                f"the log shows tree size {checkpoint.size}, smaller than the size "
                f"{trusted.size} this witness cosigned",
                evidence,
            )
        if checkpoint.size == trusted.size:
            if checkpoint.root_hash != trusted.root_hash:
                raise Refusal(
                    "fork",
                    f"two different roots for tree size {checkpoint.size}: the log shows "
                    "another tree than the one this witness cosigned",
                    evidence,
                )
            return
        if trusted.size == 0:
            return  # everything extends the empty tree
        body = self._get_json("/log/proof/consistency", first=trusted.size, second=checkpoint.size)
        try:
            hashes = body["hashes"]
            if not isinstance(hashes, list) or len(hashes) > 64:
                raise MalformedInput("consistency proof: expected a list of at most 64 hashes")
            proof = [b64decode(str(h), size=32, what="proof hash") for h in hashes]
            evidence["proof"] = [str(h) for h in hashes]
            verify_consistency(
                trusted.size, checkpoint.size, proof, trusted.root_hash, checkpoint.root_hash
            )
        except (KeyError, TypeError, LedgerError) as exc:
            raise Refusal(
                "inconsistent",
                f"the log's tree of size {checkpoint.size} does not extend the tree of size "
                f"{trusted.size} this witness cosigned ({type(exc).__name__}: {exc})",
                evidence,
            ) from exc

    # -- HTTP ------------------------------------------------------------------------------

    def _send(self, method: str, path: str, **kw: Any) -> tuple[int, bytes]:
        """Status and body (at most MAX_CHECKPOINT_BYTES, decoded) of one request."""
        try:
            with self.client.stream(method, path, **kw) as resp:
                body = bytearray()
                for chunk in resp.iter_bytes():
                    body += chunk
                    if len(body) > MAX_CHECKPOINT_BYTES:
                        raise CannotWitness(f"{path}: answer larger than {MAX_CHECKPOINT_BYTES}")
                return resp.status_code, bytes(body)
        except httpx.HTTPError as exc:
            raise CannotWitness(f"{path}: {type(exc).__name__}: {exc}") from exc

    def _get_text(self, path: str) -> str:
        status, body = self._send("GET", path)
        if status != 200:
            raise CannotWitness(f"GET {path}: HTTP {status}")
        try:
            return body.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise CannotWitness(f"GET {path}: not UTF-8 text") from exc

    def _get_json(self, path: str, **params: int) -> dict[str, Any]:
        status, body = self._send("GET", path, params=params)
        if status != 200:
            raise CannotWitness(f"GET {path}: HTTP {status} {_printable(body)}")
        try:
            doc = json.loads(body)
        except ValueError as exc:
            raise CannotWitness(f"GET {path}: not JSON") from exc
        if not isinstance(doc, dict):
            raise CannotWitness(f"GET {path}: expected a JSON object")
        return doc

    def _post(self, path: str, text: str) -> dict[str, Any]:
        status, body = self._send(
            "POST",
            path,
            content=text.encode("utf-8"),
            headers={"Content-Type": "text/plain; charset=utf-8"},
        )
        try:
            doc = json.loads(body)
        except ValueError:
            doc = None
        if status not in (200, 201):
            detail = doc.get("detail", "") if isinstance(doc, dict) else _printable(body)
            raise CannotWitness(
                f"POST {path}: the log refused the cosignature: HTTP {status} {detail}"
            )
        return doc if isinstance(doc, dict) else {}


def _printable(body: bytes, limit: int = 300) -> str:
    """A server's words made safe to print (no control characters, bounded)."""
    text = body[:limit].decode("utf-8", errors="replace")
    return "".join(c if c.isprintable() else " " for c in text)


def follow(
    witness: Witness,
    interval: float,
    *,
    rounds: int | None = None,
    report: Callable[[Round | CannotWitness], None] = lambda _: None,
    sleep: Callable[[float], None] = time.sleep,
) -> None:
    """Rounds every `interval` seconds (at most `rounds` when given). A Refusal ends it (it
    is raised); a round that cannot be completed is reported and retried next time."""
    done = 0
    while rounds is None or done < rounds:
        try:
            report(witness.round())
        except CannotWitness as exc:
            report(exc)
        done += 1
        if rounds is None or done < rounds:
            sleep(interval)


# --- add-checkpoint over HTTP (c2sp.org/tlog-witness) -----------------------------------------


class _AddCheckpointHandler(BaseHTTPRequestHandler):
    """`POST /add-checkpoint` and nothing else; bodies are bounded and read with a timeout."""

    server: WitnessHTTPServer
    timeout = TIMEOUT_SECONDS  # a slow client cannot hold a thread forever
    protocol_version = "HTTP/1.1"  # keep-alive, as the spec suggests
    server_version = USER_AGENT

    def do_POST(self) -> None:
        if self.path.split("?", 1)[0] != "/add-checkpoint":
            self._answer(Answer.text(404, "not found: POST /add-checkpoint"))
            return
        length = self.headers.get("Content-Length", "")
        if not length.isdigit():
            self._answer(Answer.text(411, "expected a Content-Length"), close=True)
            return
        if int(length) > MAX_ADD_CHECKPOINT_BYTES:
            self._answer(
                Answer.text(413, f"expected at most {MAX_ADD_CHECKPOINT_BYTES} bytes"), close=True
            )
            return
        body = self.rfile.read(int(length))
        try:
            answer = self.server.witness.add_checkpoint(body)
        except CannotWitness as exc:  # the state file: not the log's fault
            answer = Answer.text(500, f"the witness cannot work: {exc}")
        self._answer(answer)

    def do_GET(self) -> None:
        self._answer(Answer.text(405 if self.path == "/add-checkpoint" else 404, "use POST"))

    def _answer(self, answer: Answer, *, close: bool = False) -> None:
        self.send_response(answer.status)
        self.send_header("Content-Type", answer.content_type)
        self.send_header("Content-Length", str(len(answer.body)))
        if close:
            self.send_header("Connection", "close")
            self.close_connection = True
        self.end_headers()
        self.wfile.write(answer.body)

    def log_message(self, format: str, *args: Any) -> None:
        _err(f"{self.address_string()} {format % args}")


class WitnessHTTPServer(ThreadingHTTPServer):
    """A witness answering `POST /add-checkpoint` (serve_forever; shutdown from another
    thread). Requests are handled in threads; the state file's lock orders them."""

    daemon_threads = True

    def __init__(self, witness: LogWitness, host: str, port: int) -> None:
        self.witness = witness
        super().__init__((host, port), _AddCheckpointHandler)


# --- the command line (registered in clients.cli as `altan witness`) ---------------------------


class _RunByDefault(TyperGroup):
    """`altan witness URL ...` runs the witness; `altan witness keygen ...` makes a key."""

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:  # typer's own click Context
        if args and not args[0].startswith("-") and args[0] not in self.commands:
            args = ["run", *args]
        return super().parse_args(ctx, args)


app = typer.Typer(
    cls=_RunByDefault,
    help="Witness a log: check each new checkpoint is consistent with the last one you "
    "cosigned, then cosign it. `altan witness URL --key LOG_VKEY --witness-key PATH`.",
    no_args_is_help=True,
)


def _err(message: str) -> None:
    sys.stderr.write(message.rstrip("\n") + "\n")


@app.command("keygen")
def keygen_command(
    name: Annotated[str, typer.Argument(help="The witness's name, e.g. witness.example.mn/w1")],
    out: Annotated[Path, typer.Option("--out", help="The key file to create (mode 0600)")],
) -> None:
    """Create a witness key and print its vkey (register it: event witness.registered).

    The key is encrypted with ALTAN_WITNESS_PASSPHRASE when that is set."""
    try:
        key = generate_key(name, out, _passphrase())
    except LedgerError as exc:
        _err(f"cannot create the key: {exc}")
        raise typer.Exit(2) from exc
    sys.stdout.write(key.vkey + "\n")
    _err(
        f"wrote {out}; an administrator or regulator registers it with the event "
        f'witness.registered {{"witness": "{key.name}", "key": "{key.vkey}"}}'
    )


# Options shared by `run` and `serve`, declared once.
LogKeysOption = Annotated[
    list[str],
    typer.Option("--key", help="The log's verifier key to pin; repeat for rotated keys"),
]
WitnessKeyOption = Annotated[
    Path, typer.Option("--witness-key", help="This witness's key file (altan witness keygen)")
]
StateOption = Annotated[
    Path | None,
    typer.Option("--state", help="The witness's state file (default: <witness key>.state.json)"),
]


@app.command("run")
def run_command(
    url: Annotated[str, typer.Argument(help="The log's base URL (https://ledger.altan.mn)")],
    key: LogKeysOption,
    witness_key: WitnessKeyOption,
    state: StateOption = None,
    origin: Annotated[
        str | None,
        typer.Option(help="The checkpoint origin: must be the pinned key's name (the default)"),
    ] = None,
    follow_log: Annotated[
        bool, typer.Option("--follow", help="Keep witnessing every --interval seconds")
    ] = False,
    interval: Annotated[float, typer.Option(help="Seconds between rounds with --follow")] = 30.0,
    rounds: Annotated[
        int | None, typer.Option(help="With --follow, stop after this many rounds")
    ] = None,
    refresh: Annotated[
        float,
        typer.Option(
            min=0,
            help="Cosign an unchanged checkpoint again once our newest cosignature of it is "
            "older than this many seconds",
        ),
    ] = REFRESH_SECONDS,
) -> None:
    """Check the log's latest checkpoint, cosign it and hand the cosignature in.

    One round (with --follow, one every --interval seconds): the checkpoint must verify with
    the pinned log key and extend, by a consistency proof, the last checkpoint this witness
    cosigned.

    Exit status: 0 cosigned (or already cosigned); 1 refused: the log showed a checkpoint
    inconsistent with what this witness cosigned (rollback, fork, bad proof) or not signed
    by the pinned key, evidence printed as JSON; 2 the round could not be done (key, state,
    network, or the log refused the cosignature).
    """
    log_keys, signer = _keys(key, witness_key, origin)
    state_path = state if state is not None else default_state_path(witness_key)
    with new_http_client(url) as client:
        witness = Witness(client, log_keys, signer, state_path, refresh=refresh)
        try:
            if follow_log:
                follow(witness, interval, rounds=rounds, report=_report)
            else:
                _report(witness.round())
        except Refusal as exc:
            sys.stdout.write(json.dumps(exc.evidence, indent=2) + "\n")
            _err(f"REFUSED ({exc.reason}): {exc.detail}")
            raise typer.Exit(1) from exc
        except CannotWitness as exc:
            _err(f"CANNOT WITNESS: {exc}")
            raise typer.Exit(2) from exc
        except KeyboardInterrupt:
            return


def _keys(
    key: list[str], witness_key: Path, origin: str | None
) -> tuple[list[NoteVerifier], WitnessSigner]:
    """The pinned log keys and this witness's signer; exit 2 on a bad key, file or origin."""
    try:
        log_keys = [NoteVerifier.from_vkey(k) for k in key]
        pinned = pinned_origin(v.name for v in log_keys)
        if origin is not None and origin != pinned:
            raise KeyProblem(
                f"--origin {origin[:200]!r}: expected the pinned key's name {pinned!r} (a "
                "checkpoint under any other origin is another log's, or a rewritten history)"
            )
        signer = load_key(witness_key, _passphrase())
    except LedgerError as exc:
        _err(f"cannot witness: {exc}")
        raise typer.Exit(2) from exc
    return log_keys, signer


@app.command("serve")
def serve_command(
    key: LogKeysOption,
    witness_key: WitnessKeyOption,
    state: StateOption = None,
    host: Annotated[str, typer.Option(help="Address to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=0, max=65535, help="Port to listen on")] = 7380,
) -> None:
    """Answer the log's `POST /add-checkpoint` (c2sp.org/tlog-witness) until interrupted.

    Each request carries the log's new checkpoint and a consistency proof from the size this
    witness last cosigned; it is cosigned only when signed by the pinned key under its name
    and consistent with that size (same state file and lock as `altan witness run`).
    Answers: 200 cosignature, 400 malformed, 403 not signed by the pinned key, 404 another
    origin, 409 another old size (body: this witness's size), 422 a bad proof.
    """
    log_keys, signer = _keys(key, witness_key, None)
    state_path = state if state is not None else default_state_path(witness_key)
    witness = LogWitness(log_keys, signer, state_path)
    try:
        server = WitnessHTTPServer(witness, host, port)
    except OSError as exc:
        _err(f"cannot listen on {host}:{port}: {exc.strerror}")
        raise typer.Exit(2) from exc
    _err(
        f"witness {signer.name} of {witness.origin} listening on http://{host}:{port}/add-checkpoint"
    )
    with server:
        try:
            server.serve_forever()
        except KeyboardInterrupt:
            return


def _report(result: Round | CannotWitness) -> None:
    if isinstance(result, CannotWitness):
        _err(f"CANNOT WITNESS: {result}")
        return
    sys.stdout.write(result.message() + "\n")
    sys.stdout.flush()
