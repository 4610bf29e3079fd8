"""A running API on SQLite or PostgreSQL with one actor per role, a site, lots and a case.

Shared by several test modules (moved from tests/services/test_input_strict.py).
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from support.db import postgres_base
from support.domain import Api, running_api
from support.roles import ROLES

CENTRE, MINER, LAB, BANK = (
    ROLES["processing_centre"],
    "partnership:tuul",
    "lab:darkhan",
    (ROLES["buyer"]),
)


SITE = "SITE-1"


class World:
    """A running API with one actor per role, a site, an ore lot, a gold lot and a case."""

    def __init__(self, api: Api) -> None:
        self.api = api
        self.n = 0

    def next(self, prefix: str) -> str:
        self.n += 1
        return f"{prefix}-N{self.n}"

    def refused(self, resp: Any, status: int, rule: str, field: str | None = None) -> None:
        """The answer is the 4xx problem expected; the log did not grow."""
        assert resp.status_code == status, resp.text
        assert resp.headers["content-type"].startswith("application/problem+json"), resp.text
        problem = resp.json()
        assert problem["type"].endswith("/" + rule), problem
        if field is not None:
            assert problem.get("field") == field, problem


def _schema_url(base: str) -> tuple[str, str]:
    schema = "t_" + secrets.token_hex(6)
    admin = create_engine(base)
    with admin.begin() as conn:
        conn.execute(text(f"CREATE SCHEMA {schema}"))
    admin.dispose()
    url = make_url(base).update_query_dict({"options": f"-csearch_path={schema}"})
    return url.render_as_string(hide_password=False), schema


DATABASES = ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]


@contextmanager
def populated(tmp: Path, database: str) -> Iterator[World]:
    """A running API on `database` (a fresh PostgreSQL schema, dropped after) with one
    actor per role, a site, an ore lot, a gold lot and a red flag case."""
    extra: dict[str, Any] = {}
    schema = None
    if database == "postgresql":
        base = postgres_base()
        if base is None:
            pytest.skip("PostgreSQL not reachable")
        extra["database_url"], schema = _schema_url(base)
    try:
        with running_api(tmp, **extra) as api:
            for role, actor in ROLES.items():
                if role != "administrator":
                    api.register(actor, role)
            api.ok(
                ROLES["regulator"],
                "site.registered",
                {
                    "site": SITE,
                    "owner": MINER,
                    "region": {"aimag": "Töv", "soum": "Bornuur"},
                    "lat": "48.5",
                    "lon": "106.2",
                },
            )
            ore_to_gold(api)
            api.ok(
                ROLES["regulator"],
                "case.opened",
                {
                    "case": "CASE-1",
                    "kind": "red_flag",
                    "target": {"kind": "lot", "id": "AU-1"},
                    "category": "other",
                    "description": "a dispute",
                },
            )
            yield World(api)
    finally:
        if schema is not None:
            base = postgres_base()
            assert base is not None
            admin = create_engine(base)
            with admin.begin() as conn:
                conn.execute(text(f"DROP SCHEMA {schema} CASCADE"))
            admin.dispose()


def ore_to_gold(api: Api) -> None:
    """ORE-1 (2 t of the partnership's ore from SITE-1) delivered to the centre, which
    processes it (RUN-1) into the gold lot AU-1 (30 g of doré) that it then holds."""
    api.ok(CENTRE, "ore.delivered", delivery("ORE-1"))
    api.ok(
        CENTRE,
        "processing.recorded",
        {
            "run": "RUN-1",
            "inputs": [{"lot": "ORE-1", "mass_g": 2_000_000}],
            "outputs": [{"lot": "AU-1", "form": "dore", "mass_mg": 30_000}],
            "method": "gravity",
            "mercury_free": True,
            "started_on": "2026-09-02",
            "finished_on": "2026-09-02",
        },
    )


def delivery(lot: str, **over: Any) -> dict[str, Any]:
    body = {"lot": lot, "miner": MINER, "site": SITE, "mass_g": 2_000_000}
    return {**body, "mined_on": "2026-09-01", **over}
