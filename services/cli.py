"""Server-side `altan` commands: serve, init, demo, keys, db,
export, import. Attached by `clients.cli.main`, which then also audits a database's
projection tables (`altan audit sqlite:///...`: `lot_tables`)."""

from __future__ import annotations

import os
import sys
from contextlib import nullcontext
from pathlib import Path
from typing import Annotated

import typer
from sqlalchemy import Connection, inspect
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from ledger.audit import keys_from_strings
from ledger.entry import format_time
from ledger.errors import BackupInvalid, LedgerError, NotEmpty
from ledger.keystore import KeyStore
from ledger.sql import source, storage
from ledger.sql import tiles as sql_tiles
from ledger.statemap import LotState
from services import backup
from services.actors.bootstrap import (
    FIRST_ADMIN,
    Recovery,
    administrators,
    bootstrap_administrator,
    recover_administrator,
    revoke_administrator,
)
from services.certificates.status import table_states
from services.clock import utc_now
from services.database import current_revision, head_revision, migrate
from services.demo import fill_demo
from services.domains import rebuild as replay_log
from services.errors import DomainError
from services.identity import SYSTEM_ACTOR
from services.identity.auth import issue_token
from services.observability import uvicorn_log_config
from services.pipeline.service import EventService
from services.runtime import open_runtime
from services.settings import get_settings
from services.witnesses.queries import checkpoint_note

keys_app = typer.Typer(help="The log's signing keys.", no_args_is_help=True)
db_app = typer.Typer(help="The database schema (Alembic migrations).", no_args_is_help=True)
admin_app = typer.Typer(
    help="Recover a lost or compromised administrator (the server's operator only).",
    no_args_is_help=True,
)


def serve(
    host: Annotated[str | None, typer.Option(help="Bind address (ALTAN_HOST)")] = None,
    port: Annotated[int | None, typer.Option(help="Port (ALTAN_PORT)")] = None,
    workers: Annotated[
        int | None,
        typer.Option(min=1, max=64, help="Worker processes (ALTAN_WORKERS, default 1)"),
    ] = None,
) -> None:
    """Run the service (uvicorn) on the configured database; migrations run at start-up."""
    import uvicorn

    settings = get_settings()
    processes = workers or settings.workers
    if processes == 1:
        from services.app import create_app

        uvicorn.run(
            create_app(settings),
            host=host or settings.host,
            port=port or settings.port,
            log_level="info",
            log_config=uvicorn_log_config(settings),
            access_log=False,  # our own access line (services.observability) replaces it
            proxy_headers=False,
        )
        return
    # uvicorn's process manager: each worker imports the factory and reads its settings from
    # the environment. Migrate and load (or create) the key here once first, so that a bad
    # configuration fails once, not in a loop of restarted workers.
    open_runtime(settings).close()
    uvicorn.run(
        "services.app:create_app",
        factory=True,
        workers=processes,
        host=host or settings.host,
        port=port or settings.port,
        log_level="info",
        log_config=uvicorn_log_config(settings),
        access_log=False,
        proxy_headers=False,
    )


def init() -> None:
    """Create the data directory, migrate the database, create the log key and, on a new
    log, the first administrator, whose token is printed once."""
    runtime = open_runtime(get_settings())
    try:
        token = bootstrap_administrator(runtime.events)
        key = runtime.keystore.active().key
        sys.stdout.write(
            f"log {runtime.log.origin} ready at {runtime.settings.display_database_url}\n"
            f"size {runtime.log.size()}; verifier key {key.verifier_key}\n"
        )
        if token is not None:
            sys.stdout.write(
                f"first administrator {FIRST_ADMIN}; its token (shown once, keep it safe):\n"
                f"{token}\n"
            )
        else:
            _report_administrators(runtime.events)
    finally:
        runtime.close()


def _report_administrators(events: EventService) -> None:
    """`altan init` on a log that has administrators: say which are active, and how to
    recover when none is."""
    admins = administrators(events)
    for a in admins:
        reason = f" ({a.reason})" if a.reason else ""
        sys.stdout.write(f"administrator {a.actor}: {a.status}{reason}\n")
    if any(a.status == "active" for a in admins):
        sys.stdout.write("an active administrator exists; no token issued\n")
    else:
        sys.stdout.write(
            "no active administrator; no token issued. The operator recovers one with "
            "`altan admin recover --actor <id> --reason <why>`\n"
        )


def _print_recovery(out: Recovery) -> None:
    for index, type_, what in out.appended:
        sys.stdout.write(f"{what}: entry {index} ({type_} by {SYSTEM_ACTOR})\n")
    if not out.appended:
        sys.stdout.write(f"{out.actor} is already an active administrator; nothing appended\n")
    if out.revoked_tokens:
        sys.stdout.write(f"revoked {out.revoked_tokens} earlier token(s) of {out.actor}\n")
    if out.token is not None:
        sys.stdout.write(f"new token of {out.actor} (shown once, keep it safe):\n{out.token}\n")


def admin_recover(
    actor: Annotated[str, typer.Option(help="The administrator to make active (new or suspended)")],
    reason: Annotated[str, typer.Option(help="Why, as the log will say")] = "lost administrator",
) -> None:
    """Make ACTOR an active administrator through the log (registered, or made active
    again, by the system principal), revoke its earlier tokens and print a new one.
    Twice appends once. Exit 0 done, 2 refused (a revoked or non-administrator id)."""
    runtime = open_runtime(get_settings())
    try:
        out = recover_administrator(runtime.events, actor, reason)
    except DomainError as exc:
        sys.stderr.write(f"REFUSED {exc.rule}: {exc.detail}\nnothing was changed\n")
        raise typer.Exit(2) from exc
    finally:
        runtime.close()
    _print_recovery(out)


def admin_revoke(
    actor: Annotated[str, typer.Argument(help="The administrator to revoke")],
    reason: Annotated[str, typer.Option(help="Why, as the log will say")],
    suspend: Annotated[
        bool, typer.Option(help="Suspend instead (undone by `altan admin recover`)")
    ] = False,
) -> None:
    """Revoke a lost or compromised administrator through the log (by the system
    principal); its tokens stop at once. The last active administrator cannot be revoked:
    recover another first. Exit 0 done, 2 refused."""
    runtime = open_runtime(get_settings())
    status = "suspended" if suspend else "revoked"
    try:
        out = revoke_administrator(runtime.events, actor, reason, status=status)
    except DomainError as exc:
        sys.stderr.write(f"REFUSED {exc.rule}: {exc.detail}\nnothing was changed\n")
        raise typer.Exit(2) from exc
    finally:
        runtime.close()
    _print_recovery(out)


def rebuild() -> None:
    """Replay the whole log into fresh state tables (current state is a projection)."""
    runtime = open_runtime(get_settings())
    try:
        with storage.write_transaction(runtime.engine) as conn:
            n = replay_log(conn)
    finally:
        runtime.close()
    sys.stdout.write(f"rebuilt the state from {n} log entries\n")


def token_issue(
    actor: Annotated[str, typer.Argument(help="The actor the token acts for")],
    label: Annotated[str, typer.Option(help="Who uses it")] = "issued with altan token issue",
) -> None:
    """Issue a bearer token for an actor from the server side (recovery); printed once."""
    runtime = open_runtime(get_settings())
    try:
        with storage.write_transaction(runtime.engine) as conn:
            s = Session(bind=conn)
            _, token = issue_token(s, actor, label, format_time(utc_now()))
            s.flush()
    except DomainError as exc:
        sys.stderr.write(f"{exc.detail}\n")
        raise typer.Exit(2) from exc
    finally:
        runtime.close()
    sys.stdout.write(token + "\n")


def demo(
    events: Annotated[int, typer.Option(min=1, max=5_000_000, help="How many events")] = 300,
    seed: Annotated[int, typer.Option(help="Random seed, for repeatable data")] = 2009,
) -> None:
    """Fill the configured log with a believable season, through the real domain."""
    runtime = open_runtime(get_settings())
    try:
        bootstrap_administrator(runtime.events)
        recorded, refused = fill_demo(runtime.events, events, seed=seed)
        size = runtime.log.size()
    finally:
        runtime.close()
    sys.stdout.write(
        f"recorded {recorded} events ({refused} refused by the rules) in "
        f"{runtime.settings.display_database_url}; the log now holds {size} entries\n"
    )


def keys_export() -> None:
    """Print the active verifier key, to pin in apps and audits."""
    runtime = open_runtime(get_settings())
    sys.stdout.write(runtime.keystore.active().key.verifier_key + "\n")
    runtime.close()


def keys_create() -> None:
    """Create the log key in ALTAN_DATA_DIR/keys/ without a database, on a trusted machine,
    to load into a Kubernetes Secret that every replica mounts; an existing key is kept.
    Prints the verifier key."""
    settings = get_settings()
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    os.chmod(settings.data_dir, 0o700)
    store = KeyStore(settings.data_dir, settings.log_origin, settings.passphrase_bytes)
    existed = (store.path / "keys.json").exists()
    store.load_or_create(utc_now())
    state = "kept the existing key" if existed else "created a new key"
    sys.stderr.write(f"{state} in {store.path}\n")
    sys.stdout.write(store.active().key.verifier_key + "\n")


def keys_list() -> None:
    """List every log key with its status."""
    runtime = open_runtime(get_settings())
    for k in runtime.keystore.keys():
        sys.stdout.write(f"{k.key_id} {k.status:8} {k.verifier_key}\n")
    runtime.close()


def keys_rotate() -> None:
    """Make a new active key; the old one is retired but stays listed for verification."""
    runtime = open_runtime(get_settings())
    signer = runtime.keystore.rotate(utc_now())
    runtime.log.initialise(runtime.keystore.keys(), utc_now())
    sys.stdout.write(f"new active key {signer.key.verifier_key}\n")
    runtime.close()


def _sqlite_file_missing(url: str) -> bool:
    parsed = make_url(url)
    database = parsed.database or ""
    return (
        parsed.get_backend_name() == "sqlite"
        and database not in ("", ":memory:")
        and not Path(database).is_file()
    )


def db_upgrade() -> None:
    """Apply the migrations up to the newest revision (what `altan serve` does at start-up,
    under the same lock); print the revision before and after. Twice is a no-op."""
    settings = get_settings()
    if settings.database_url is None:  # the SQLite file in the data directory
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        os.chmod(settings.data_dir, 0o700)
    engine = storage.make_engine(settings.resolved_database_url)
    try:
        before = current_revision(engine)
        migrate(engine)
        after = current_revision(engine)
    finally:
        engine.dispose()
    head = head_revision()
    done = "nothing to do" if before == after else f"upgraded from {before or 'none'}"
    sys.stdout.write(
        f"database: {settings.display_database_url}\ncurrent: {after}\nhead: {head}\n{done}\n"
    )


def db_current(
    check: Annotated[
        bool, typer.Option("--check", help="Exit 1 unless the database is at the head revision")
    ] = False,
) -> None:
    """Print the database's revision and the newest one; creates and changes nothing."""
    settings = get_settings()
    url = settings.resolved_database_url
    current = None
    if not _sqlite_file_missing(url):
        engine = storage.make_engine(url)
        try:
            current = current_revision(engine)
        finally:
            engine.dispose()
    head = head_revision()
    sys.stdout.write(
        f"database: {settings.display_database_url}\ncurrent: {current or 'none'}\nhead: {head}\n"
    )
    if check and current != head:
        sys.stderr.write("the database is not at the head revision: run `altan db upgrade`\n")
        raise typer.Exit(1)


def export_command(
    file: Annotated[str, typer.Argument(help="The backup file to write; - for stdout")],
    database_url: Annotated[
        str | None, typer.Option(help="The database to read (default: ALTAN_DATABASE_URL)")
    ] = None,
    force: Annotated[bool, typer.Option(help="Replace FILE if it exists")] = False,
) -> None:
    """Back up the log: entries, receipts, checkpoints and public keys, as gzip JSON Lines,
    while the server runs. Off-log data (personal data, prices, tokens) and the private
    keys are not in it: back them up separately. Exit 0 written, 2 not."""
    url = database_url or get_settings().resolved_database_url
    if _sqlite_file_missing(url):
        sys.stderr.write(f"no database at {backup.shown_url(url)}\n")
        raise typer.Exit(2)
    engine = storage.make_engine(url)
    try:
        if file == "-":
            summary = backup.export_to_stream(engine, sys.stdout.buffer, utc_now())
        else:
            summary = backup.export_to_file(engine, Path(file), utc_now(), force=force)
    except (OSError, LedgerError, SQLAlchemyError) as exc:
        sys.stderr.write(f"cannot export the log of {backup.shown_url(url)}: {exc}\n")
        raise typer.Exit(2) from exc
    finally:
        engine.dispose()
    (sys.stderr if file == "-" else sys.stdout).write(backup.describe_export(summary, file))


def import_command(
    file: Annotated[str, typer.Argument(help="The backup file to read; - for stdin")],
    database_url: Annotated[
        str | None,
        typer.Option(help="The empty database to restore into (default: ALTAN_DATABASE_URL)"),
    ] = None,
    key: Annotated[
        list[str] | None,
        typer.Option(
            "--key",
            help="Pin a log verifier key (<name>+<id>+<base64>); repeat for rotated keys. "
            "Without it the file's own key records are used.",
        ),
    ] = None,
    workers: Annotated[
        int | None, typer.Option(help="Processes for signature checks (default: all cores)")
    ] = None,
) -> None:
    """Restore a backup into an EMPTY database: load, audit and rebuild the state in one
    transaction, so a refused or interrupted import leaves nothing. Exit 0 restored; 1 the
    file is refused (truncated, changed, or its log does not verify), named; 2 the
    database is not empty or cannot be used."""
    settings = get_settings()
    url = database_url or settings.resolved_database_url
    if database_url is None and settings.database_url is None:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        os.chmod(settings.data_dir, 0o700)
    engine = storage.make_engine(url)
    try:
        trusted = keys_from_strings(key) if key else None
        with open(file, "rb") if file != "-" else nullcontext(sys.stdin.buffer) as stream:
            summary, replayed = backup.import_backup(
                engine,
                url,
                stream,
                trusted_keys=trusted,
                workers=workers,
                progress=backup.progress_printer(sys.stderr),
            )
    except BackupInvalid as exc:
        sys.stderr.write(f"REFUSED {exc}\nnothing was imported\n")
        raise typer.Exit(1) from exc
    except NotEmpty as exc:
        sys.stderr.write(f"REFUSED {exc}\n")
        raise typer.Exit(2) from exc
    except (OSError, LedgerError, SQLAlchemyError) as exc:
        sys.stderr.write(f"cannot import into {backup.shown_url(url)}: {exc}\n")
        raise typer.Exit(2) from exc
    finally:
        engine.dispose()
    sys.stdout.write(backup.describe_import(summary, replayed, url, pinned=bool(key)))
    for warning in backup.restore_warnings(settings, summary):
        sys.stderr.write(f"warning: {warning}\n")


def witness_push(
    every: Annotated[
        float | None,
        typer.Option(
            min=5,
            help="Push again every this many seconds (fresh cosignatures even when nothing "
            "was appended; keep it well under the verifiers' --max-age)",
        ),
    ] = None,
    rounds: Annotated[int | None, typer.Option(min=1, help="With --every, stop after N")] = None,
) -> None:
    """Submit the log's latest checkpoint, with a consistency proof, to every registered
    witness that has a URL (c2sp.org/tlog-witness add-checkpoint) and keep their
    cosignatures. Exit 0 every witness cosigned (or none has a URL); 1 a witness has seen a
    larger tree of this log (a rollback or split view); 2 a witness refused, was
    unreachable or answered badly (of the last round, with --every)."""
    import time

    from services.witnesses.push import push_checkpoint

    url = get_settings().resolved_database_url
    if _sqlite_file_missing(url):
        sys.stderr.write(f"no database at {backup.shown_url(url)}\n")
        raise typer.Exit(2)
    engine = storage.make_engine(url)
    done, code = 0, 0
    try:
        while True:
            results = push_checkpoint(engine, utc_now())
            if not results:
                sys.stdout.write("no registered witness has a url: nothing to push\n")
            for r in results:
                sys.stdout.write(f"{r.outcome.upper()} {r.witness} ({r.url}): {r.detail}\n")
            sys.stdout.flush()
            outcomes = {r.outcome for r in results}
            code = 1 if "conflict" in outcomes else 2 if outcomes - {"cosigned"} else 0
            done += 1
            if every is None or (rounds is not None and done >= rounds):
                break
            time.sleep(every)
    except KeyboardInterrupt:
        pass
    finally:
        engine.dispose()
    raise typer.Exit(code)


def _witness_group(app: typer.Typer) -> typer.Typer | None:
    """The `altan witness` sub-app the clients attached (found by name: the service never
    imports the clients)."""
    for group in app.registered_groups:
        if group.name == "witness" and group.typer_instance is not None:
            return group.typer_instance
    return None


def lot_tables(session: Session) -> dict[str, LotState] | None:
    """Every lot's state as the service's tables say, for `altan audit` of a database to
    compare with the entries (`ledger.sql.source.read_tables_with`); None for a database
    that holds the log alone."""
    if not inspect(session.connection()).has_table("lots"):
        return None
    return table_states(session)


def cosigned_note(conn: Connection) -> str:
    """The latest checkpoint note as `/log/checkpoint` serves it, with the witnesses'
    cosignatures (the stored note alone for a database that holds the log alone)."""
    if not inspect(conn).has_table("log_cosignatures"):
        return sql_tiles.latest_tree(conn).note
    return checkpoint_note(conn)


def register(app: typer.Typer) -> None:
    """Attach the server-side commands to the `altan` app (and the projection tables to
    its database audits)."""
    source.read_tables_with(lot_tables)
    sql_tiles.read_notes_with(cosigned_note)  # `altan tiles export --db`
    witness_app = _witness_group(app)
    if witness_app is not None:
        witness_app.command("push")(witness_push)
    app.command("serve")(serve)
    app.command("init")(init)
    app.command("demo")(demo)
    app.command("rebuild")(rebuild)
    app.command("token")(token_issue)
    app.command("export")(export_command)
    app.command("import")(import_command)
    keys_app.command("export")(keys_export)
    keys_app.command("create")(keys_create)
    keys_app.command("list")(keys_list)
    keys_app.command("rotate")(keys_rotate)
    app.add_typer(keys_app, name="keys")
    db_app.command("upgrade")(db_upgrade)
    db_app.command("current")(db_current)
    app.add_typer(db_app, name="db")
    admin_app.command("recover")(admin_recover)
    admin_app.command("revoke")(admin_revoke)
    app.add_typer(admin_app, name="admin")
