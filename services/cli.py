"""Server-side `altan` commands: serve, init, demo, keys. Attached by `clients.cli.main`."""

from __future__ import annotations

import sys
from typing import Annotated

import typer
from sqlalchemy.orm import Session

from ledger import storage
from ledger.entry import format_time
from services.actors.bootstrap import FIRST_ADMIN, bootstrap_administrator
from services.auth import issue_token
from services.demo import fill_demo
from services.errors import DomainError
from services.projection import rebuild as replay_log
from services.runtime import open_runtime, utc_now
from services.settings import get_settings

keys_app = typer.Typer(help="The log's signing keys.", no_args_is_help=True)


def serve(
    host: Annotated[str | None, typer.Option(help="Bind address (ALTAN_HOST)")] = None,
    port: Annotated[int | None, typer.Option(help="Port (ALTAN_PORT)")] = None,
) -> None:
    """Run the service (uvicorn) on the configured database."""
    import uvicorn

    from services.app import create_app

    settings = get_settings()
    uvicorn.run(
        create_app(settings),
        host=host or settings.host,
        port=port or settings.port,
        log_level="info",
        access_log=settings.access_log,
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
            f"log {runtime.log.origin} ready at {runtime.settings.resolved_database_url}\n"
            f"size {runtime.log.size()}; verifier key {key.verifier_key}\n"
        )
        if token is not None:
            sys.stdout.write(
                f"first administrator {FIRST_ADMIN}; its token (shown once, keep it safe):\n"
                f"{token}\n"
            )
        else:
            sys.stdout.write("an administrator exists already; no token issued\n")
    finally:
        runtime.close()


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
        f"{runtime.settings.resolved_database_url}; the log now holds {size} entries\n"
    )


def keys_export() -> None:
    """Print the active verifier key, to pin in apps and audits."""
    runtime = open_runtime(get_settings())
    sys.stdout.write(runtime.keystore.active().key.verifier_key + "\n")
    runtime.close()


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


def register(app: typer.Typer) -> None:
    """Attach the server-side commands to the `altan` app."""
    app.command("serve")(serve)
    app.command("init")(init)
    app.command("demo")(demo)
    app.command("rebuild")(rebuild)
    app.command("token")(token_issue)
    keys_app.command("export")(keys_export)
    keys_app.command("list")(keys_list)
    keys_app.command("rotate")(keys_rotate)
    app.add_typer(keys_app, name="keys")
