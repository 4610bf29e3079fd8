"""Report tables as CSV (RFC 4180, UTF-8, a header row).

A table is a list of flat rows (dicts); its columns are the union of the rows' keys in the
order they first appear. Lists are written space-separated (ledger indices), None as an
empty cell, booleans as true/false. A text cell that a spreadsheet would run as a formula
(starting with =, +, -, @, tab or carriage return) is prefixed with an apostrophe; numbers
are written as they are.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from typing import Any, Final

from services.errors import RuleViolation

FORMULA_STARTS: Final = ("=", "+", "-", "@", "\t", "\r")

# report -> table name -> key of the report's JSON holding that table; the first is the default
TABLES: Final[dict[str, dict[str, str]]] = {
    "mass-balance": {"centres": "centres", "runs": "runs", "stock": "stock", "losses": "losses"},
    "custody": {"steps": "steps", "origins": "origin_rows"},
    "red-flags": {"flags": "flags", "not_computable": "not_computable", "rules": "rules"},
}


def table_of(report: str, data: dict[str, Any], name: str | None) -> list[dict[str, Any]]:
    """The rows of one table of a report (its first table when `name` is None)."""
    tables = TABLES[report]
    key = tables[next(iter(tables))] if name is None else tables.get(name)
    if key is None:
        raise RuleViolation(
            "unknown-table",
            f"report {report} has the tables {', '.join(tables)}; not {name!r}",
            field="table",
        )
    rows: list[dict[str, Any]] = data[key]
    return rows


def cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, list | tuple):
        return " ".join(cell(v) for v in value)
    text = str(value)
    if text.startswith(FORMULA_STARTS):
        return "'" + text
    return text


def columns(rows: Sequence[dict[str, Any]]) -> list[str]:
    seen: dict[str, None] = {}
    for row in rows:
        for key in row:
            seen.setdefault(key, None)
    return list(seen)


def to_csv(rows: Sequence[dict[str, Any]]) -> str:
    """The rows as CSV text."""
    out = io.StringIO()
    names = columns(rows)
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(names)
    for row in rows:
        writer.writerow([cell(row.get(name)) for name in names])
    return out.getvalue()
