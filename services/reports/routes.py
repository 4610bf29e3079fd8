"""`/reports`: mass balance, chain of custody, red flags (JSON or CSV), charts and a page.

Readable by auditors, regulators and administrators; a processing centre reads its own
mass balance (and its charts). Every JSON table is also CSV: `?format=csv&table=<name>`
(the first table when `table` is omitted; see `services.reports.tables.TABLES`).
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response

from services.clock import utc_now
from services.deps import SettingsDep
from services.errors import Forbidden
from services.identity import Principal
from services.identity.auth import PrincipalDep
from services.reads import read_session
from services.reports import charts, pages, tables
from services.reports.custody import custody
from services.reports.mass_balance import mass_balance
from services.reports.periods import Period
from services.reports.red_flags import red_flags
from services.roles import OFFICERS, PROCESSING_CENTRE

router = APIRouter(prefix="/reports", tags=["reports"])

From = Annotated[
    date | None, Query(alias="from", description="First day (YYYY-MM-DD, UTC+8), inclusive")
]
To = Annotated[
    date | None, Query(alias="to", description="Last day (YYYY-MM-DD, UTC+8), inclusive")
]
Format = Annotated[Literal["json", "csv"], Query(description="json, or csv for one table")]
Table = Annotated[
    str | None, Query(max_length=40, description="With format=csv: which table (default: first)")
]
HoldDays = Annotated[
    int | None,
    Query(ge=1, le=3650, description="A hold longer than this is a red flag (default: setting)"),
]
CentreParam = Annotated[
    str | None, Query(max_length=80, description="One processing centre (default: every one)")
]


def require_reader(principal: Principal, centre: str | None = None) -> None:
    """Auditors, regulators and administrators read every report; a processing centre
    reads the reports about itself only (`centre` = its own id)."""
    if principal.role in OFFICERS:
        return
    if principal.role == PROCESSING_CENTRE and centre == principal.actor_id:
        return
    raise Forbidden(
        "not-a-report-reader",
        "reports are for auditors, regulators and administrators; a processing centre "
        "reads only its own mass balance",
    )


def _answer(report: str, data: dict[str, Any], fmt: str, table: str | None) -> Response:
    if fmt == "json":
        return JSONResponse(data)
    rows = tables.table_of(report, data, table)
    name = table or next(iter(tables.TABLES[report]))
    return Response(
        tables.to_csv(rows),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{report}-{name}.csv"'},
    )


def _own_centre(principal: Principal, centre: str | None) -> str | None:
    if centre is None and principal.role == PROCESSING_CENTRE:
        return principal.actor_id
    return centre


@router.get(
    "/mass-balance",
    summary="Mass balance per processing centre: ore in and processed, gold out, recovery, stock",
    responses={
        200: {"content": {"application/json": {}, "text/csv": {}}},
        404: {"description": "No processing centre `centre`"},
    },
)
def get_mass_balance(
    principal: PrincipalDep,
    request: Request,
    settings: SettingsDep,
    centre: CentreParam = None,
    start: From = None,
    end: To = None,
    format: Format = "json",
    table: Table = None,
) -> Response:
    """Per centre (a centre's own token: itself): ore received and processed (g), gold
    produced and fine gold (mg; unassayed mass apart), recovery per run (g/t) with min,
    quartiles, max and outliers (configured bounds; beyond Q3 + 3·IQR), and the stock at
    the end both as receipts minus consumption and as the lots hold it, with their
    difference (must be 0). Days by `occurred_at` in UTC+8. Tables: centres, runs, stock."""
    centre = _own_centre(principal, centre)
    require_reader(principal, centre)
    period = Period.of(start, end)
    with read_session(request) as s:
        data = mass_balance(s, period, settings, centre)
    return _answer("mass-balance", data, format, table)


@router.get(
    "/custody/{lot_id}",
    summary="Chain of custody of a lot back to its sites and miners, every step provable",
    responses={200: {"content": {"application/json": {}, "text/csv": {}}}},
)
def get_custody(
    lot_id: str,
    principal: PrincipalDep,
    request: Request,
    format: Format = "json",
    table: Table = None,
) -> Response:
    """The provenance tree of the lot; each lot's steps with ledger index, event type,
    actor, times and a link to `/log/proof/inclusion?index=I&tree_size=N` (N: the latest
    checkpoint's size). Tables: steps, origins."""
    require_reader(principal)
    with read_session(request) as s:
        data = custody(s, lot_id)
    return _answer("custody", data, format, table)


@router.get(
    "/red-flags",
    summary="Red flags (OECD Annex II style), each with its ledger indices as evidence",
    responses={200: {"content": {"application/json": {}, "text/csv": {}}}},
)
def get_red_flags(
    principal: PrincipalDep,
    request: Request,
    settings: SettingsDep,
    start: From = None,
    end: To = None,
    hold_days: HoldDays = None,
    format: Format = "json",
    table: Table = None,
) -> Response:
    """Suspended or revoked suppliers, disputed or suspended sites, yields out of bounds or
    far out, long holds, custody gaps, mercury use, volumes above a site's capacity,
    unbalanced stock, and red flags recorded by officers; what the record cannot show is
    listed under `not_computable`. Tables: flags, not_computable, rules."""
    require_reader(principal)
    period = Period.of(start, end)
    with read_session(request) as s:
        data = red_flags(s, period, settings, utc_now(), hold_days)
    return _answer("red-flags", data, format, table)


@router.get(
    "/charts/{chart}.svg",
    summary="A centre's recovery scatter or stock step line as SVG",
    response_class=Response,
    responses={200: {"content": {"image/svg+xml": {}}}},
)
def get_chart(
    chart: Literal["recovery", "stock"],
    principal: PrincipalDep,
    request: Request,
    settings: SettingsDep,
    centre: Annotated[str, Query(max_length=80)],
    start: From = None,
    end: To = None,
) -> Response:
    require_reader(principal, centre)
    period = Period.of(start, end)
    with read_session(request) as s:
        data = mass_balance(s, period, settings, centre)
    if chart == "recovery":
        bounds = (settings.yield_min_g_per_t, settings.yield_max_g_per_t)
        svg = charts.recovery_chart(centre, data["runs"], period, bounds)
    else:
        opening = data["centres"][0]["stock_opening_g"]
        svg = charts.stock_chart(centre, data["stock"], period, opening)
    return Response(svg, media_type="image/svg+xml", headers=pages.PAGE_HEADERS)


@router.get(
    "",
    summary="The report page (HTML): mass balance, charts and red flags of a period",
    response_class=HTMLResponse,
)
def get_report_page(
    principal: PrincipalDep,
    request: Request,
    settings: SettingsDep,
    start: From = None,
    end: To = None,
    hold_days: HoldDays = None,
) -> HTMLResponse:
    """Self-contained: no script, no external resource, a strict Content-Security-Policy;
    every chart has its data as a table, every table its CSV link."""
    require_reader(principal)
    period = Period.of(start, end)
    with read_session(request) as s:
        mass = mass_balance(s, period, settings)
        flags = red_flags(s, period, settings, utc_now(), hold_days)
    bounds = (settings.yield_min_g_per_t, settings.yield_max_g_per_t)
    return HTMLResponse(pages.report_page(mass, flags, period, bounds), headers=pages.PAGE_HEADERS)
