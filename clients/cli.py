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
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from ledger.audit import (
    AuditReport,
    AuditSource,
    DatabaseSource,
    TrustedKey,
    audit,
    keys_from_strings,
)
from ledger.errors import LedgerError, MalformedInput

app = typer.Typer(
    name="altan",
    help="Altan Ledger: a verifiable ledger of artisanal gold lots.",
    no_args_is_help=True,
    add_completion=False,
)
console = Console(stderr=True)


def _source(source: str) -> tuple[AuditSource, object]:
    if source.startswith(("http://", "https://")):
        from clients.remote import RemoteLog

        remote = RemoteLog(source)
        return remote, remote
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    from ledger.storage import make_engine

    try:
        url = make_url(source)
        # Opening a missing SQLite file would create an empty database: refuse instead.
        database = url.database or ""
        on_disk = url.get_backend_name() == "sqlite" and database not in ("", ":memory:")
        if on_disk and not Path(database).is_file():
            raise MalformedInput(f"no SQLite database file at {database}")
        engine = make_engine(source)
    except (ArgumentError, ImportError) as exc:  # not a URL, or no driver for it
        raise MalformedInput(
            "expected a database URL (sqlite:///var/altan.db) or an http(s):// base URL, "
            f"got {source!r}: {exc}"
        ) from exc
    return DatabaseSource(engine), engine


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
            "Without it the source's own key list is trusted.",
        ),
    ] = None,
    origin: Annotated[str | None, typer.Option(help="Expected checkpoint origin")] = None,
    workers: Annotated[
        int | None, typer.Option(help="Processes for signature checks (default: all cores)")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar")] = False,
) -> None:
    """Verify a whole log: every entry, chain link, receipt, checkpoint and the root.

    Exit status 0 only when everything verifies; 1 names the first bad entry; 2 when the
    source cannot be read.
    """
    try:
        trusted = keys_from_strings(key) if key else None
        src, handle = _source(source)
    except LedgerError as exc:
        console.print(f"[red]cannot use {source}: {exc}")
        raise typer.Exit(2) from exc
    try:
        report = _run_audit(src, trusted, origin, workers, show=not quiet and not as_json)
    except Exception as exc:  # the source failed (network, database): not a verdict
        console.print(f"[red]cannot read {source}: {exc}")
        raise typer.Exit(2) from exc
    finally:
        close = getattr(handle, "close", None) or getattr(handle, "dispose", None)
        if close is not None:
            close()
    _print_report(report, as_json)
    raise typer.Exit(0 if report.ok else 1)


def _run_audit(
    src: AuditSource,
    trusted: list[TrustedKey] | None,
    origin: str | None,
    workers: int | None,
    show: bool,
) -> AuditReport:
    if not show:
        return audit(src, trusted_keys=trusted, origin=origin, workers=workers)
    with Progress(
        TextColumn("auditing"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=True,
    ) as bar:
        task = bar.add_task("entries", total=None)

        def progress(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

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


@app.command("verify")
def verify_command(
    source: Annotated[
        str, typer.Argument(help="A photo of the QR (PNG/JPEG), the QR's URL, or the token")
    ],
    key: Annotated[
        list[str],
        typer.Option("--key", help="The log's verifier key to trust (altan keys export); repeat"),
    ],
    as_json: Annotated[bool, typer.Option("--json", help="Print the verdict as JSON")] = False,
) -> None:
    """Verify a certificate offline against pinned log keys.

    Exit status 0: genuine; 1: not genuine (the reason is named); 2: no certificate could
    be read (no QR in the photo, not a token).
    """
    from clients.verify import NoQrCode, describe, verify_offline
    from ledger.certificate import CertificateInvalid

    try:
        cert = verify_offline(source, key)
    except CertificateInvalid as exc:
        _verdict(as_json, False, str(exc.reason), str(exc))
        raise typer.Exit(1) from exc
    except (NoQrCode, LedgerError) as exc:
        _verdict(as_json, False, "unreadable", str(exc))
        raise typer.Exit(2) from exc
    _verdict(as_json, True, "genuine", describe(cert))


def _verdict(as_json: bool, ok: bool, reason: str, message: str) -> None:
    if as_json:
        sys.stdout.write(json.dumps({"genuine": ok, "reason": reason, "message": message}) + "\n")
    elif ok:
        sys.stdout.write(f"GENUINE {message}\n")
    elif reason == "unreadable":
        sys.stdout.write(f"UNREADABLE: {message}\n")
    else:
        sys.stdout.write(f"NOT GENUINE ({reason}): {message}\n")


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
