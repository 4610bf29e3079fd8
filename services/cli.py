"""Server-side `altan` commands: serve, init, demo, keys. Attached by `clients.cli.main`."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from services.demo import fill_demo
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
        proxy_headers=False,
    )


def init() -> None:
    """Create the data directory, migrate the database, create the log key."""
    runtime = open_runtime(get_settings())
    key = runtime.keystore.active().key
    sys.stdout.write(
        f"log {runtime.log.origin} ready at {runtime.settings.resolved_database_url}\n"
        f"size {runtime.log.size()}; verifier key {key.verifier_key}\n"
    )
    runtime.close()


def demo(
    events: Annotated[int, typer.Option(min=1, max=5_000_000, help="How many events")] = 300,
    seed: Annotated[int, typer.Option(help="Random seed, for repeatable data")] = 2009,
) -> None:
    """Fill the configured log with realistic supply-chain events."""
    runtime = open_runtime(get_settings())
    try:
        size = fill_demo(runtime.log, events, seed=seed, clock=utc_now)
    finally:
        runtime.close()
    sys.stdout.write(
        f"appended {events} events to {runtime.settings.resolved_database_url}; "
        f"the log now holds {size} entries\n"
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
    keys_app.command("export")(keys_export)
    keys_app.command("list")(keys_list)
    keys_app.command("rotate")(keys_rotate)
    app.add_typer(keys_app, name="keys")
