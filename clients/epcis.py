"""`altan export-epcis`: fetch a GS1 EPCIS 2.0 JSON-LD export and write it out.

Thin on purpose: the server maps the ledger to EPCIS; this follows the `Link: rel="next"`
pages of `/epcis/events` and joins their event lists into one EPCISDocument.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote

import httpx
import typer

USER_AGENT = "altan-ledger-client/0.1"
MAX_PAGES = 10_000  # a server that never stops paging is not followed forever


class ExportFailed(Exception):
    """The server refused or failed; the message says why."""


def new_http_client() -> httpx.Client:
    """The HTTP client of the export (a seam: tests send through the app instead)."""
    return httpx.Client(timeout=httpx.Timeout(60.0), headers={"User-Agent": USER_AGENT})


def _get(http: httpx.Client, url: str, token: str) -> httpx.Response:
    resp = http.get(url, headers={"Authorization": f"Bearer {token}"})
    if resp.status_code != 200:
        try:
            problem = resp.json()
            detail = f"{problem.get('title', '')}: {problem.get('detail', resp.text)}"
        except ValueError:
            detail = resp.text[:500]
        raise ExportFailed(f"{url} answered {resp.status_code} {detail}")
    return resp


def export(
    http: httpx.Client,
    base_url: str,
    token: str,
    *,
    lot: str | None = None,
    since: str | None = None,
    until: str | None = None,
    start: int | None = None,
    end: int | None = None,
) -> dict[str, Any]:
    """One EPCISDocument: a lot's export, or every page of a range of the log."""
    base = base_url.rstrip("/")
    if lot is not None:
        document: dict[str, Any] = _get(
            http, f"{base}/epcis/lots/{quote(lot, safe='')}", token
        ).json()
        return document
    params = {
        k: v
        for k, v in {"from": since, "to": until, "start": start, "end": end}.items()
        if v is not None
    }
    url: str | None = str(httpx.URL(f"{base}/epcis/events", params=params))
    document = {}
    events: list[Any] = []
    for _ in range(MAX_PAGES):
        if url is None:
            break
        resp = _get(http, url, token)
        page = resp.json()
        document = document or page
        events.extend(page["epcisBody"]["eventList"])
        nxt = resp.links.get("next", {}).get("url")
        url = None if nxt is None else str(resp.url.join(nxt))
    else:
        raise ExportFailed(f"more than {MAX_PAGES} pages: narrow the range with --start/--end")
    document["epcisBody"] = {"eventList": events}
    return document


def export_epcis_command(
    url: Annotated[str, typer.Argument(help="The ledger's base URL (https://ledger.altan.mn)")],
    token: Annotated[
        str, typer.Option(envvar="ALTAN_TOKEN", help="Bearer token of an auditor, regulator...")
    ],
    lot: Annotated[
        str | None, typer.Option(help="Export this lot and every lot upstream of it")
    ] = None,
    since: Annotated[
        str | None,
        typer.Option("--from", help="Events that occurred at or after (2026-08-01T00:00+08:00)"),
    ] = None,
    until: Annotated[
        str | None, typer.Option("--to", help="Events that occurred before this moment")
    ] = None,
    start: Annotated[int | None, typer.Option(help="First ledger index to export")] = None,
    end: Annotated[int | None, typer.Option(help="Ledger index to stop before")] = None,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write here instead of stdout")
    ] = None,
) -> None:
    """Export events as GS1 EPCIS 2.0 JSON-LD, for a lot or a period.

    A lot with every lot upstream of it (--lot), or a range of the log: --from/--to on when
    the events occurred (with the UTC offset), --start/--end on ledger indices; the pages
    are joined into one EPCISDocument (application/ld+json). Exit status 1 when the server
    refuses, 2 when it cannot be reached.
    """
    if lot is not None and any(x is not None for x in (since, until, start, end)):
        raise typer.BadParameter("--lot exports a whole lot: no --from/--to/--start/--end")
    try:
        with _http_client() as http:
            document = export(
                http, url, token, lot=lot, since=since, until=until, start=start, end=end
            )
    except ExportFailed as exc:
        typer.echo(f"export failed: {exc}", err=True)
        raise typer.Exit(1) from exc
    except httpx.HTTPError as exc:
        typer.echo(f"cannot reach {url}: {exc}", err=True)
        raise typer.Exit(2) from exc
    text = json.dumps(document, ensure_ascii=False, indent=2) + "\n"
    if output is None:
        sys.stdout.write(text)
    else:
        output.write_text(text, encoding="utf-8")
    count = len(document["epcisBody"]["eventList"])
    typer.echo(f"{count} EPCIS events", err=True)


def _http_client() -> httpx.Client:
    return new_http_client()
