"""`altan witness`: an independent witness of an Altan Ledger (c2sp.org/tlog-witness logic,
pulled rather than pushed).

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

from ledger.checkpoint import Checkpoint, open_checkpoint
from ledger.cosignature import WitnessKey, WitnessSigner, count_valid_cosignatures
from ledger.encoding import b64decode, b64encode
from ledger.errors import KeyProblem, LedgerError, MalformedInput
from ledger.files import read_private_file
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
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
    try:
        fd = os.open(out, flags, 0o600)
    except FileExistsError as exc:
        raise KeyProblem(f"witness key file {out}: expected a new file, found one") from exc
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            out.unlink()
        raise
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
    """Record `trusted` for `origin`, atomically (write, fsync, rename)."""
    doc = _read_state_file(path)
    doc["logs"][origin] = {
        "size": trusted.size,
        "root_hash": b64encode(trusted.root_hash),
        "checkpoint": trusted.checkpoint,
        "cosigned_at": trusted.cosigned_at,
    }
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with contextlib.suppress(FileNotFoundError):
        tmp.unlink()
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(doc, handle, indent=2, sort_keys=True)
            handle.write("\n")
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        raise


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


Outcome = Literal["cosigned", "already_cosigned"]


@dataclass(frozen=True)
class Round:
    """What one round did: `cosigned` (and handed in), or `already_cosigned` (the log
    already shows this witness's cosignature of its latest checkpoint)."""

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
        since = "first checkpoint" if self.previous_size is None else f"from {self.previous_size}"
        return f"COSIGNED {cp.origin}: size {cp.size} ({since}), root {root}"


def new_http_client(base_url: str) -> httpx.Client:
    """The witness's HTTP client (a seam: tests send through the ASGI app instead)."""
    return httpx.Client(
        base_url=base_url.rstrip("/"),
        timeout=httpx.Timeout(TIMEOUT_SECONDS),
        headers={"User-Agent": USER_AGENT},
    )


class Witness:
    """A witness of one log: its key, the log's pinned key, its state file, an HTTP client."""

    def __init__(
        self,
        client: httpx.Client,
        log_keys: NoteVerifier | list[NoteVerifier],
        signer: WitnessSigner,
        state_path: Path,
        *,
        origin: str | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.client = client
        self.log_keys = [log_keys] if isinstance(log_keys, NoteVerifier) else list(log_keys)
        if not self.log_keys:
            raise KeyProblem("a witness needs at least one pinned log key")
        self.signer = signer
        self.state_path = state_path
        self.origin = origin if origin is not None else self.log_keys[0].name
        self.clock = clock

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
            if trusted is not None:
                if (
                    checkpoint.size == trusted.size
                    and checkpoint.root_hash == trusted.root_hash
                    and self.signer.key in count_valid_cosignatures(note, [self.signer.key])
                ):
                    return Round("already_cosigned", checkpoint, trusted.size)
                self._check_consistent(trusted, checkpoint, note_text)
            # 4. cosign
            timestamp = int(self.clock())
            cosignature = self.signer.cosign(note.text, timestamp)
            # 5. remember it before anyone sees it
            write_state(
                self.state_path,
                self.origin,
                Trusted(checkpoint.size, checkpoint.root_hash, note_text, timestamp),
            )
        # 6. hand it in, with the log's own signature line
        mine = {(v.name, v.key_id) for v in signed_by}
        own = [s for s in note.signatures if (s.name, s.key_id) in mine]
        submission = Note(note.text, (*own, cosignature.to_note_signature())).to_text()
        answer = self._post("/log/cosignatures", submission)
        return Round(
            "cosigned",
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


@app.command("run")
def run_command(
    url: Annotated[str, typer.Argument(help="The log's base URL (https://ledger.altan.mn)")],
    key: Annotated[
        list[str],
        typer.Option("--key", help="The log's verifier key to pin; repeat for rotated keys"),
    ],
    witness_key: Annotated[
        Path, typer.Option("--witness-key", help="This witness's key file (altan witness keygen)")
    ],
    state: Annotated[
        Path | None,
        typer.Option(help="The witness's state file (default: <witness key>.state.json)"),
    ] = None,
    origin: Annotated[
        str | None, typer.Option(help="Expected checkpoint origin (default: the key's name)")
    ] = None,
    follow_log: Annotated[
        bool, typer.Option("--follow", help="Keep witnessing every --interval seconds")
    ] = False,
    interval: Annotated[float, typer.Option(help="Seconds between rounds with --follow")] = 30.0,
    rounds: Annotated[
        int | None, typer.Option(help="With --follow, stop after this many rounds")
    ] = None,
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
    try:
        log_keys = [NoteVerifier.from_vkey(k) for k in key]
        signer = load_key(witness_key, _passphrase())
    except LedgerError as exc:
        _err(f"cannot witness: {exc}")
        raise typer.Exit(2) from exc
    state_path = state if state is not None else default_state_path(witness_key)
    with new_http_client(url) as client:
        witness = Witness(client, log_keys, signer, state_path, origin=origin)
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


def _report(result: Round | CannotWitness) -> None:
    if isinstance(result, CannotWitness):
        _err(f"CANNOT WITNESS: {result}")
        return
    sys.stdout.write(result.message() + "\n")
    sys.stdout.flush()
