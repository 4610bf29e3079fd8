"""The HTML report page (``GET /reports``): mass balance, charts and red flags in one page.

Rendered on the server with Jinja2 (autoescape on). Nothing runs and nothing is fetched:
no script at all, the style sheet inline and allowed by its hash in :data:`PAGE_CSP`, the
charts inline SVG (:mod:`services.reports.charts`). Every chart has a title and a
description and its data as a table beside it; every table has a caption and header
cells with their scope; severity is shown by a word and a symbol, not colour alone.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any, Final
from urllib.parse import urlencode

from jinja2 import Environment
from markupsafe import Markup

from services import html
from services.html import csp_hash, inline_asset, page_headers
from services.reports import charts
from services.reports.periods import Period

_HERE = Path(__file__).resolve().parent
TEMPLATES_DIR: Final = _HERE / "templates"
STATIC_DIR: Final = _HERE / "static"


REPORT_CSS: Final = inline_asset(STATIC_DIR / "report.css")
PAGE_CSP: Final = "; ".join(
    [
        "default-src 'none'",
        f"style-src {csp_hash(REPORT_CSS)}",
        "base-uri 'none'",
        "form-action 'none'",
        "frame-ancestors 'none'",
    ]
)
PAGE_HEADERS: Final = page_headers(PAGE_CSP)


def format_number(value: Any) -> str:
    """Integers with thousands separators, other numbers as they are, None as a dash."""
    if value is None:
        return "\u2013"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        return f"{value:,.3f}".rstrip("0").rstrip(".")
    return str(value)


@functools.cache
def environment() -> Environment:
    """The Jinja2 environment of the report page (services.html)."""
    return html.environment(TEMPLATES_DIR, filters={"number": format_number})


def _query(period: Period, **more: Any) -> str:
    params = {"from": period.start, "to": period.end, **more}
    return urlencode({k: str(v) for k, v in params.items() if v is not None})


def _links(period: Period, hold_days: int) -> dict[str, str]:
    """The CSV export of every table on the page (same period)."""
    links = {}
    for table in ("centres", "runs", "stock", "losses"):
        links[table] = "/reports/mass-balance?" + _query(period, format="csv", table=table)
    for table in ("flags", "not_computable"):
        links[table] = "/reports/red-flags?" + _query(
            period, hold_days=hold_days, format="csv", table=table
        )
    return links


def report_page(
    mass: dict[str, Any], flags: dict[str, Any], period: Period, bounds: tuple[float, float]
) -> str:
    """The page for a period's mass balance (every centre) and red flags."""
    per_centre = []
    for row in mass["centres"]:
        cid = row["centre"]
        runs = [r for r in mass["runs"] if r["centre"] == cid]
        stock = [r for r in mass["stock"] if r["centre"] == cid]
        per_centre.append(
            {
                "row": row,
                "slug": charts.slug(cid),
                "runs": runs,
                "stock": stock,
                "recovery_svg": Markup(charts.recovery_chart(cid, runs, period, bounds)),  # noqa: S704 - built with escaping
                "stock_svg": Markup(charts.stock_chart(cid, stock, period, row["stock_opening_g"])),  # noqa: S704
            }
        )
    return (
        environment()
        .get_template("report.html")
        .render(
            mass=mass,
            flags=flags,
            centres=per_centre,
            css=REPORT_CSS,
            links=_links(period, flags["hold_days"]),
        )
    )
