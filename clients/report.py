"""`altan report`: a ledger's reports from the command line, through the SDK.

    altan report mass-balance https://ledger.example --token $T --from 2026-08-01 --to 2026-10-31
    altan report custody https://ledger.example AU-2026-000017 --token $T
    altan report red-flags https://ledger.example --token $T --csv > flags.csv
    altan report page https://ledger.example --token $T --out report.html

JSON (indented) on stdout by default; `--csv` prints one table (`--table`, default the
report's first). The token may come from ALTAN_TOKEN. Exit status 0 on success, 1 when the
server refuses (the problem on stderr), 2 when it cannot be reached.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import httpx
import typer
from rich.console import Console

from clients.sdk import AltanClient, AltanError, ConnectionFailed

app = typer.Typer(
    name="report",
    help="Reports of a ledger: mass balance, chain of custody, red flags, the HTML page "
    "(auditors, regulators, administrators; a centre reads its own mass balance).",
    no_args_is_help=True,
    add_completion=False,
)
console = Console(stderr=True)

Url = Annotated[str, typer.Argument(help="The ledger's base URL (https://ledger.example)")]
Token = Annotated[
    str, typer.Option("--token", envvar="ALTAN_TOKEN", help="A bearer token (or ALTAN_TOKEN)")
]
Csv = Annotated[bool, typer.Option("--csv", help="Print one table as CSV instead of JSON")]
TableOpt = Annotated[
    str | None, typer.Option("--table", help="With --csv: which table (default: the first)")
]
Start = Annotated[
    str | None, typer.Option("--from", help="First day, YYYY-MM-DD (UTC+8), inclusive")
]
End = Annotated[str | None, typer.Option("--to", help="Last day, YYYY-MM-DD (UTC+8), inclusive")]
HoldDays = Annotated[
    int | None, typer.Option("--hold-days", help="A hold longer than this is a red flag")
]


def _http_client() -> httpx.Client | None:
    """The HTTP client to send through (a seam: tests send into the app; None: the SDK's)."""
    return None


def _client(url: str, token: str) -> AltanClient:
    return AltanClient(url, token, http=_http_client())


def _run(url: str, token: str, fetch: Any) -> Any:
    try:
        with _client(url, token) as altan:
            return fetch(altan)
    except ConnectionFailed as exc:
        _say(f"cannot reach {url}: {exc.detail}")
        raise typer.Exit(2) from exc
    except AltanError as exc:
        _say(f"refused ({exc.status} {exc.rule}): {exc.detail}")
        raise typer.Exit(1) from exc


def _say(text: str) -> None:
    console.print(text, markup=False, highlight=False, soft_wrap=True)


def _print(data: Any) -> None:
    if isinstance(data, str):
        sys.stdout.write(data)
    else:
        sys.stdout.write(json.dumps(data, indent=2, ensure_ascii=False) + "\n")


@app.command("mass-balance")
def mass_balance(
    url: Url,
    token: Token,
    centre: Annotated[
        str | None, typer.Option(help="One processing centre (default: every one, or your own)")
    ] = None,
    start: Start = None,
    end: End = None,
    csv: Csv = False,
    table: TableOpt = None,
) -> None:
    """Ore in and processed, gold out and fine gold, recovery per run, stock per centre.

    Tables: centres, runs, stock."""
    if csv:
        _print(
            _run(
                url,
                token,
                lambda a: a.report_csv(
                    "mass-balance", table=table, centre=centre, start=start, end=end
                ),
            )
        )
    else:
        _print(
            _run(url, token, lambda a: a.report_mass_balance(centre=centre, start=start, end=end))
        )


@app.command("custody")
def custody(
    url: Url,
    lot: Annotated[str, typer.Argument(help="The lot (ORE-2026-000123, AU-2026-000017)")],
    token: Token,
    csv: Csv = False,
    table: TableOpt = None,
) -> None:
    """A lot's chain of custody back to its sites and miners, each step provable.

    Tables: steps, origins."""
    if csv:
        _print(_run(url, token, lambda a: a.report_csv("custody", table=table, lot=lot)))
    else:
        _print(_run(url, token, lambda a: a.report_custody(lot)))


@app.command("red-flags")
def red_flags(
    url: Url,
    token: Token,
    start: Start = None,
    end: End = None,
    hold_days: HoldDays = None,
    csv: Csv = False,
    table: TableOpt = None,
) -> None:
    """Red flags (OECD Annex II style) with their evidence indices.

    Tables: flags, not_computable, rules."""
    if csv:
        _print(
            _run(
                url,
                token,
                lambda a: a.report_csv(
                    "red-flags", table=table, start=start, end=end, hold_days=hold_days
                ),
            )
        )
    else:
        _print(
            _run(
                url,
                token,
                lambda a: a.report_red_flags(start=start, end=end, hold_days=hold_days),
            )
        )


@app.command("page")
def page(
    url: Url,
    token: Token,
    out: Annotated[Path, typer.Option(help="Where to write the HTML page")],
    start: Start = None,
    end: End = None,
    hold_days: HoldDays = None,
) -> None:
    """Save the HTML report page (self-contained: open it in any browser, offline)."""
    html = _run(url, token, lambda a: a.report_page(start=start, end=end, hold_days=hold_days))
    out.write_text(html, encoding="utf-8")
    _say(f"wrote {out}")
