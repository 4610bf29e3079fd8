"""The `altan` command line.

Client commands (audit) live here and need only the core and httpx. Server-side commands
(serve, init, demo, keys) live in `services.cli` and are attached when the service is
installed: the import is by name at start-up so that this module, and a verifier that
installs only the clients, never depends on the service.
"""

from __future__ import annotations

import importlib
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console

from clients.witness import app as witness_app
from ledger.audit import AuditReport, AuditSource, TrustedKey, audit, keys_from_strings
from ledger.errors import LedgerError, MalformedInput

if TYPE_CHECKING:
    import httpx

    from clients.follow import Auditor
    from clients.remote import RemoteLog
    from clients.verify import OnlineVerdict
    from ledger.proof_bundle import VerifiedBundle
    from ledger.trusted import ProofSource

app = typer.Typer(
    name="altan",
    help="Altan Ledger: a verifiable ledger of artisanal gold lots.",
    no_args_is_help=True,
    add_completion=False,
)
app.add_typer(witness_app, name="witness")
app.add_typer(importlib.import_module("clients.report").app, name="report")
app.add_typer(importlib.import_module("clients.verifier_export").app, name="verifier")
app.add_typer(importlib.import_module("clients.tiles").app, name="tiles")
app.command("export-epcis")(importlib.import_module("clients.epcis").export_epcis_command)
console = Console(stderr=True)


def _remote_log(url: str) -> RemoteLog:
    """The log at an http(s) URL (a seam: tests send through the app instead)."""
    from clients.remote import RemoteLog

    return RemoteLog(url)


def _source(source: str) -> tuple[ProofSource, object]:
    if source.startswith(("http://", "https://")):
        remote = _remote_log(source)
        return remote, remote
    # The one place the clients reach the storage side, imported only now: auditing a
    # server must work in a client-only install, without SQLAlchemy.
    try:
        from ledger.sql.source import open_database_source
    except ImportError as exc:
        raise MalformedInput(
            # no square brackets in this text: the CLI prints it through Rich markup
            f"auditing a database ({source!r}) needs the server's packages (the 'server' "
            f"extra of altan-ledger); an http(s):// base URL needs only the clients: {exc}"
        ) from exc
    return open_database_source(source)


@app.command("audit")
def audit_command(
    source: Annotated[
        str, typer.Argument(help="A database URL (sqlite:///var/altan.db) or http(s):// base URL")
    ],
    key: Annotated[
        list[str] | None,
        typer.Option(
            "--key",
            help="Pin a log verifier key (<name>+<id>+<base64>); repeat for rotated keys. "
            "Without it the keys kept in the trusted state are used; on a first audit, "
            "the source's own key list (trust on first use).",
        ),
    ] = None,
    origin: Annotated[str | None, typer.Option(help="Expected checkpoint origin")] = None,
    workers: Annotated[
        int | None, typer.Option(help="Processes for signature checks (default: all cores)")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar")] = False,
    state: Annotated[
        Path | None,
        typer.Option(
            help="The trusted state file of this log (default for an http(s) source: "
            "$XDG_STATE_HOME/altan/logs/<origin>.json, else ~/.local/state/...; "
            "a database is audited whole unless this is given)"
        ),
    ] = None,
    no_state: Annotated[
        bool,
        typer.Option("--no-state", help="Read and write no trusted state: audit the whole log"),
    ] = False,
    full: Annotated[
        bool,
        typer.Option("--full", help="Re-read every entry, even with a trusted state"),
    ] = False,
    follow: Annotated[
        bool,
        typer.Option("--follow", help="Audit every --interval seconds until Ctrl-C"),
    ] = False,
    interval: Annotated[
        float, typer.Option(min=0, help="Seconds between the rounds of --follow")
    ] = 60.0,
    rounds: Annotated[int | None, typer.Option(min=1, hidden=True)] = None,
) -> None:
    """Verify a log: every entry, chain link, receipt, checkpoint and the root.

    The first audit of a server reads the whole log and keeps what it verified in a trusted
    state file; the next ones demand a consistency proof from that checkpoint to the new one
    and read only the new entries (a database is audited whole, unless --state). Exit status:
    0 verified;
    1 names the first bad entry, a checkpoint the trusted keys do not verify or that names
    another log than the pinned key's, or a bad consistency proof from a consistent log;
    2 the source or the state file cannot be read, or an answer is too large (no verdict);
    4 evidence of a rewritten or forked log (checkpoints signed by the log that cannot both
    hold): both saved next to the state, which is not moved; `altan evidence FILE --key K`
    checks them offline.
    """
    from ledger.trusted import expected_origin

    try:
        trusted = keys_from_strings(key) if key else None
        # The origin comes from what was pinned, never from what the server sends.
        origin = expected_origin(trusted, origin)
        src, handle = _source(source)
    except LedgerError as exc:
        console.print(f"[red]cannot use {source}: {exc}")
        raise typer.Exit(2) from exc
    # A database audit re-reads every stored row (what an insider could edit) unless --state
    # is given; a remote one keeps the trusted state by default.
    remote = source.startswith(("http://", "https://"))
    keep_state = not no_state and (remote or state is not None)
    if follow or keep_state:
        from clients.follow import Auditor

        auditor = Auditor(
            src,
            source,
            keys=trusted,
            origin=origin,
            workers=workers,
            state=state,
            keep_state=keep_state,
            full=full,
        )
        try:
            code = _audit_with_state(auditor, follow, interval, rounds, as_json, not quiet)
        finally:
            _close(handle)
        raise typer.Exit(code)
    try:
        report = _run_audit(src, trusted, origin, workers, show=not quiet and not as_json)
    except Exception as exc:  # the source failed (network, database): not a verdict
        console.print(f"[red]cannot read {source}: {exc}")
        raise typer.Exit(2) from exc
    finally:
        _close(handle)
    _print_report(report, as_json)
    raise typer.Exit(0 if report.ok else 1)


def _close(handle: object) -> None:
    close = getattr(handle, "close", None) or getattr(handle, "dispose", None)
    if close is not None:
        close()


def _audit_with_state(
    auditor: Auditor, follow: bool, interval: float, rounds: int | None, as_json: bool, bar: bool
) -> int:
    """`altan audit` from a trusted state (see `clients.follow`); returns the exit status."""
    from clients.follow import progress_bar, report_round, write_line

    def err(text: str) -> None:
        console.print(text, markup=False, highlight=False, soft_wrap=True)

    if follow:
        return auditor.follow(write_line, err, interval=interval, rounds=rounds, as_json=as_json)
    if bar and not as_json:
        with progress_bar(console) as progress:
            result = auditor.run_round(progress)
    else:
        result = auditor.run_round()
    return report_round(result, write_line, err, as_json=as_json)


def _run_audit(
    src: AuditSource,
    trusted: list[TrustedKey] | None,
    origin: str | None,
    workers: int | None,
    show: bool,
) -> AuditReport:
    """A whole audit without trusted state; `origin` is the pinned one (the keys' name)."""
    if not show:
        return audit(src, trusted_keys=trusted, origin=origin, workers=workers)
    from clients.follow import progress_bar

    with progress_bar(console) as progress:
        return audit(src, trusted_keys=trusted, origin=origin, workers=workers, progress=progress)


def _print_report(report: AuditReport, as_json: bool) -> None:
    cp = report.checkpoint
    if as_json:
        out = {
            "ok": report.ok,
            "origin": cp.origin if cp else None,
            "tree_size": cp.size if cp else None,
            "root_hash": cp.root_hash.hex() if cp else None,
            "entries_verified": report.entries_verified,
            "checkpoints_verified": report.checkpoints_verified,
            "failure": None
            if report.failure is None
            else {
                "kind": str(report.failure.kind),
                "index": report.failure.index,
                "message": report.failure.message,
            },
        }
        sys.stdout.write(json.dumps(out) + "\n")
        return
    if report.ok and cp is not None:
        sys.stdout.write(
            f"OK {cp.origin}: {report.entries_verified} entries and "
            f"{report.checkpoints_verified} checkpoints verified; root {cp.root_hash.hex()} "
            f"at size {cp.size}\n"
        )
        return
    f = report.failure
    assert f is not None
    where = f"entry {f.index}" if f.index is not None else "log"
    sys.stdout.write(f"FAIL {f.kind} at {where}: {f.message}\n")


@app.command("evidence")
def evidence_command(
    file: Annotated[Path, typer.Argument(help="An evidence file written by `altan audit`")],
    key: Annotated[
        list[str],
        typer.Option(
            "--key",
            help="The log's verifier key (<name>+<id>+<base64>), as its regulator publishes "
            "it; repeat for rotated keys",
        ),
    ],
    as_json: Annotated[bool, typer.Option("--json", help="Print the finding as JSON")] = False,
) -> None:
    """Check an evidence file offline: does it prove that the log misbehaved?

    Only what the pinned key signed counts (see `ledger.evidence`). Exit status:
    0 it proves the log misbehaved, and says how (fork, inconsistent, origin_changed,
    rollback);
    1 it proves nothing (the signatures, or what they say, do not show it);
    2 the file or the key cannot be read.
    """
    from ledger.evidence import MAX_EVIDENCE_BYTES, check_evidence, load_evidence

    try:
        with file.open("rb") as handle:
            data = handle.read(MAX_EVIDENCE_BYTES + 1)
        finding = check_evidence(load_evidence(data), keys_from_strings(key))
    except (LedgerError, OSError) as exc:
        console.print(f"[red]cannot check {file}: {exc}", highlight=False)
        raise typer.Exit(2) from exc
    if as_json:
        out = {"proves": finding.proves, "kind": finding.kind, "message": finding.message}
        sys.stdout.write(json.dumps(out) + "\n")
    else:
        head = "PROVES" if finding.proves else "DOES NOT PROVE"
        sys.stdout.write(f"{head} {finding.kind}: {finding.message}\n")
    raise typer.Exit(0 if finding.proves else 1)


@app.command("verify")
def verify_command(
    source: Annotated[
        str, typer.Argument(help="A photo of the QR (PNG/JPEG), the QR's URL, or the token")
    ],
    key: Annotated[
        list[str],
        typer.Option("--key", help="The log's verifier key to trust (altan keys export); repeat"),
    ],
    online: Annotated[
        bool,
        typer.Option(
            "--online",
            help="Then ask the ledger whether it is still current (revoked, transferred...); "
            "its answer is checked against the pinned keys",
        ),
    ] = False,
    server: Annotated[
        str | None,
        typer.Option(
            help="The ledger to ask (https://ledger.altan.mn); implies --online. "
            "Default: the server in the QR's URL (a bare token needs it)",
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the verdict as JSON")] = False,
    witness: Annotated[
        list[str] | None,
        typer.Option(
            "--witness",
            help="A witness's vkey (<name>+<id>+<base64(0x04 || key)>) to count; repeat",
        ),
    ] = None,
    min_cosignatures: Annotated[
        int,
        typer.Option(
            min=0,
            help="Online: require this many of the --witness keys to have cosigned the "
            "server's checkpoint (else not_witnessed); implies --online",
        ),
    ] = 0,
    max_age: Annotated[
        int,
        typer.Option(
            "--max-age",
            min=1,
            help="Online with --min-cosignatures: count only cosignatures at most this many "
            "seconds old (else stale); an older witnessed checkpoint could hide later entries",
        ),
    ] = 3600,
    bundle: Annotated[
        bool,
        typer.Option(
            "--bundle",
            help="SOURCE is an offline proof bundle (.tlog-proof, from `altan proof`): check "
            "it with no server (--witness/--min-cosignatures apply to its checkpoint)",
        ),
    ] = False,
) -> None:
    """Verify a certificate against pinned log keys: offline, or online too.

    Offline, only the token is checked (signed by the pinned log key, facts intact): the
    lot may have been sold, transferred or revoked since, and that is said ("genuine token;
    status unknown offline"). --online asks the ledger for the status too.

    Exit status:
    0 genuine token (offline: status not checked; online: genuine and current);
    1 not genuine, the reason named (online also: revoked, not_in_log, proof_invalid,
    not_witnessed, stale);
    2 nothing to verify (no QR in the photo, no token) or, online, no answer to rely on;
    3 online: genuine but no longer current (superseded, consumed, transferred, held).
    """
    from clients.verify import (
        CannotCheckOnline,
        NoQrCode,
        describe,
        verify_offline,
        verify_online,
    )
    from ledger.certificate import CertificateInvalid

    if bundle:
        _verify_bundle_file(Path(source), key, witness or [], min_cosignatures, as_json)
        return
    result: OnlineVerdict | None = None
    try:
        if online or server is not None or min_cosignatures > 0:
            with _http_client() as http:
                result = verify_online(
                    source,
                    key,
                    server,
                    http,
                    witnesses=witness or [],
                    min_cosignatures=min_cosignatures,
                    max_age=max_age,
                )
        else:
            cert = verify_offline(source, key)
    except CertificateInvalid as exc:
        _verdict(as_json, False, str(exc.reason), str(exc))
        raise typer.Exit(1) from exc
    except (NoQrCode, LedgerError) as exc:
        _verdict(as_json, False, "unreadable", str(exc))
        raise typer.Exit(2) from exc
    except CannotCheckOnline as exc:
        _verdict(as_json, False, exc.reason, str(exc), cannot_check=True)
        raise typer.Exit(2) from exc
    if result is None:
        _offline_verdict(as_json, describe(cert))
        return
    _online_verdict(as_json, result)
    if result.exit_code:
        raise typer.Exit(result.exit_code)


def _verify_bundle_file(
    path: Path, vkeys: list[str], witnesses: list[str], min_cosignatures: int, as_json: bool
) -> None:
    from clients.proof import bundle_verdict, describe_bundle, verify_bundle_text

    try:
        text = path.read_bytes()
    except OSError as exc:
        _verdict(as_json, False, "unreadable", f"{path}: {exc}")
        raise typer.Exit(2) from exc
    try:
        verified = verify_bundle_text(text, vkeys, witnesses, min_cosignatures)
    except LedgerError as exc:
        _verdict(as_json, False, _bundle_reason(exc), str(exc))
        raise typer.Exit(1) from exc
    judged = bundle_verdict(verified)
    if judged is not None:
        _bundle_status(as_json, verified, *judged)
        return
    _status_unknown(
        as_json,
        "INCLUDED IN THE LOG; STATUS UNKNOWN OFFLINE",
        "included",
        describe_bundle(verified),
        "status not included: a bundle proves that this entry is in the log, not that a "
        "certificate for it is still current (it may have been revoked, sold or transferred "
        "since): ask the ledger with `altan verify <QR URL> --online --key <log key>`",
    )


def _bundle_status(
    as_json: bool, verified: VerifiedBundle, word: str, reason: str | None, status: str
) -> None:
    """A bundle with a status: the verdict on its certificate as of its checkpoint, exit
    codes as online (0 genuine, 1 not genuine, 3 not current)."""
    from clients.proof import describe_bundle

    assert verified.status is not None
    message = f"{status}; {describe_bundle(verified)}"
    head = {"genuine": "GENUINE", "not_genuine": "NOT GENUINE", "not_current": "NOT CURRENT"}
    if as_json:
        state = verified.status.state
        out = {
            "genuine": word != "not_genuine",
            "current": word == "genuine",
            "verdict": word,
            "reason": reason or "genuine",
            "status": "proven",
            "status_checked": True,
            "status_proof": {
                "proven": True,
                "as_of": verified.status.tree_size,
                "lot": verified.status.lot,
                "state": None if state is None else state.to_json(),
            },
            "certificate": verified.certificate_id,
            "message": message,
        }
        sys.stdout.write(json.dumps(out, ensure_ascii=False) + "\n")
    elif word == "genuine":
        _say("GENUINE", message, "green")
    else:
        _say(f"{head[word]} ({reason})", message, "red" if word == "not_genuine" else "yellow")
    code = {"genuine": 0, "not_genuine": 1, "not_current": 3}[word]
    if code:
        raise typer.Exit(code)


OFFLINE_UNCHECKED = (
    "ownership and status not checked offline: the lot may have been sold, transferred or "
    "processed since, or the certificate revoked or replaced; `--online` asks the ledger"
)


def _offline_verdict(as_json: bool, description: str) -> None:
    """A token that verified offline: genuine, but nothing is known of its status."""
    _status_unknown(
        as_json,
        "GENUINE TOKEN; STATUS UNKNOWN OFFLINE",
        "genuine",
        description,
        OFFLINE_UNCHECKED,
    )


def _status_unknown(as_json: bool, head: str, reason: str, message: str, unchecked: str) -> None:
    """What an offline check proved (`message`) and, as plainly, what it did not
    (`unchecked`): one line for scripts, a yellow panel for a person, or JSON with
    `"status": "unknown_offline"` and `"status_checked": false`."""
    if as_json:
        out = {
            "genuine": True,
            "reason": reason,
            "status": "unknown_offline",
            "status_checked": False,
            "message": f"{message}; {unchecked}",
        }
        sys.stdout.write(json.dumps(out, ensure_ascii=False) + "\n")
    elif not _tty():
        sys.stdout.write(f"{head}: {message}; {unchecked}\n")
    else:
        _panel(head, [message, "", f"Not checked: {unchecked}."], "yellow")


def _bundle_reason(exc: LedgerError) -> str:
    from ledger import errors

    for kind, reason in (
        (errors.StatusProofInvalid, "proof_invalid"),
        (errors.MalformedInput, "malformed"),
        (errors.UnknownKey, "unknown_key"),
        (errors.InvalidSignature, "bad_signature"),
        (errors.OriginMismatch, "other_log"),
        (errors.RootMismatch, "not_in_log"),
        (errors.NotWitnessed, "not_witnessed"),
    ):
        if isinstance(exc, kind):
            return reason
    return "not_verified"


def _http_client() -> httpx.Client:
    """The HTTP client of `verify --online` (a seam: tests send through the app instead)."""
    from clients.verify import new_http_client

    return new_http_client()


def _verdict(
    as_json: bool, ok: bool, reason: str, message: str, *, cannot_check: bool = False
) -> None:
    if as_json:
        sys.stdout.write(json.dumps({"genuine": ok, "reason": reason, "message": message}) + "\n")
    elif ok:
        _say("GENUINE", message, "green")
    elif cannot_check:
        _say(f"CANNOT CHECK ONLINE ({reason})", message, "yellow")
    elif reason == "unreadable":
        _say("UNREADABLE", message, "yellow")
    else:
        _say(f"NOT GENUINE ({reason})", message, "red")


def _say(head: str, message: str, colour: str) -> None:
    """`HEAD: message` on one line for scripts; a panel when a person reads a terminal."""
    if not _tty():
        sep = " " if head == "GENUINE" else ": "
        sys.stdout.write(f"{head}{sep}{message}\n")
        return
    _panel(head, [message], colour)


def _tty() -> bool:
    """A person reads stdout (a terminal): panels; else one stable line for scripts."""
    return sys.stdout.isatty()


def _panel(head: str, lines: list[str], colour: str) -> None:
    from rich.panel import Panel
    from rich.text import Text

    body = Text("\n".join(lines))  # plain text: no markup from a server is interpreted
    Console().print(Panel(body, title=Text(head, style=f"bold {colour}"), border_style=colour))


def _online_verdict(as_json: bool, v: OnlineVerdict) -> None:
    from clients.verify import describe

    if as_json:
        sys.stdout.write(json.dumps(v.to_json(), ensure_ascii=False) + "\n")
        return
    head, colour = {
        "genuine": ("GENUINE", "green"),
        "not_current": (f"NOT CURRENT ({v.reason})", "yellow"),
        "not_genuine": (f"NOT GENUINE ({v.reason})", "red"),
    }[v.verdict]
    if not _tty():
        sep = " " if v.verdict == "genuine" else ": "
        sys.stdout.write(f"{head}{sep}{v.message()}\n")
        return
    lines = [describe(v.certificate), ""]
    if not v.current:
        lines.append(f"Why: {v.detail}")
    if v.revocation is not None:
        r = v.revocation
        lines.append(f"Revoked by {r.by} at entry {r.index} ({r.time}): {r.reason}")
    if v.lot_status is not None:
        lines.append(f"The lot now: {v.lot_status}, with {v.lot_custodian}")
    for s in v.successors:
        mark = "" if s.genuine else " (does not verify against the pinned keys)"
        lines.append(f"Newer certificate for {s.lot}{mark}: see below")
    where = f"Checked online at {v.server}"
    if v.server_from_qr:
        where += " (the server named in the QR; pin one with --server)"
    lines.append(where)
    if v.checkpoint is not None:
        cp = v.checkpoint
        lines.append(f"Signed checkpoint {cp.origin}, tree size {cp.size}")
    said = v.status_text()
    if said:
        lines.append(said[0].upper() + said[1:])
    _panel(head, lines, colour)
    for s in v.successors:  # outside the panel: a long URL copies whole
        sys.stdout.write(f"{s.lot}: {s.url}\n")


@app.command("proof")
def proof_command(
    url: Annotated[str, typer.Argument(help="The Altan Ledger server, e.g. https://altan.mn")],
    index: Annotated[int, typer.Argument(min=0, help="The entry's ledger index")],
    out: Annotated[
        Path | None, typer.Option("--out", "-o", help="Write here (default: stdout)")
    ] = None,
    key: Annotated[
        list[str] | None,
        typer.Option("--key", help="Verify against this log key before writing; repeat"),
    ] = None,
    certificate: Annotated[
        str | None,
        typer.Option(
            "--certificate",
            help="The certificate (QR photo, URL or token) whose entry INDEX is: the bundle "
            "carries its status as of the checkpoint",
        ),
    ] = None,
    status: Annotated[
        bool,
        typer.Option(
            "--status/--no-status",
            help="Include the status of the certificate of entry INDEX (its token given with "
            "--certificate, or a certificate.issued entry)",
        ),
    ] = True,
) -> None:
    """Fetch an offline proof that entry INDEX is in the log (C2SP tlog-proof@v1), to keep or
    to send; `altan verify --bundle FILE --key KEY` checks it with no server. For a
    certificate's entry it also proves the certificate's status as of that checkpoint.

    Exit status 0: written (and verified, with --key); 1: it does not verify; 2: no bundle.
    """
    import httpx

    from clients.proof import (
        add_status,
        bundle_verdict,
        describe_bundle,
        fetch_bundle,
        verify_bundle_text,
    )
    from clients.verify import NoQrCode, read_token

    try:
        text = fetch_bundle(url, index)
        token = None if certificate is None or not status else read_token(certificate)
        if status:
            text, left_out = add_status(text, url, token)
            if left_out is not None and token is not None:
                raise MalformedInput(f"no status for the certificate: {left_out}")
            if left_out is not None:
                console.print(f"status not included: {left_out}")
    except (httpx.HTTPError, LedgerError, NoQrCode) as exc:
        console.print(f"[red]no bundle[/red]: {exc}")
        raise typer.Exit(2) from exc
    if key:
        try:
            verified = verify_bundle_text(text, key)
            judged = bundle_verdict(verified)
            said = "" if judged is None else f"{judged[2]}; "
            console.print(said + describe_bundle(verified))
        except LedgerError as exc:
            console.print(f"[red]NOT VERIFIED[/red]: {exc}")
            raise typer.Exit(1) from exc
    if out is None:
        sys.stdout.write(text)
    else:
        out.write_text(text, encoding="utf-8")


def _attach_server_commands() -> None:
    try:
        server = importlib.import_module("services.cli")
    except ImportError:  # a client-only install: audit and verify still work
        return
    server.register(app)


def main() -> None:
    """Entry point of the `altan` console script."""
    _attach_server_commands()
    app()
