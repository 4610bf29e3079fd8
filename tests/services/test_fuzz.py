"""Fuzzing every operation of the OpenAPI document with schemathesis (issue 6).

The app runs in-process (ASGI) over a log filled with a believable season (`altan demo`'s
generator: actors, sites, deliveries, runs, offers, cases, certificates), and every request
carries an administrator's token. For each operation schemathesis generates requests from
the declared parameters and bodies; half the time a path parameter is swapped for an id
that exists, so the 200 answers are exercised as well as the 404s. Every answer must be:

- no 5xx (not_a_server_error);
- a declared status code, with a declared media type (every error is declared as
  ``application/problem+json``), and a body valid against its declared schema.

Not checked: "a schema-valid request must be accepted" (positive_data_acceptance): the
rules refuse many schema-valid requests by design (``end`` must exceed ``start``, an
unknown centre, a lot that is not the caller's).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select
from sqlalchemy.orm import Session

from ledger.sql import storage
from services.actors.bootstrap import bootstrap_administrator
from services.app import create_app
from services.settings import Settings

try:
    import schemathesis
    from schemathesis.checks import not_a_server_error
    from schemathesis.python.asgi import shutdown_lifespans
    from schemathesis.specs.openapi.checks import (
        content_type_conformance,
        response_headers_conformance,
        response_schema_conformance,
        status_code_conformance,
    )
except ImportError:  # pragma: no cover - the test extra installs it
    if os.environ.get("CI") == "true":
        raise
    pytest.skip("schemathesis is not installed (pip install -e '.[test]')", allow_module_level=True)

EXAMPLES = int(os.environ.get("ALTAN_FUZZ_EXAMPLES", "20"))
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]


def _operations() -> list[str]:
    """Every operation of the document, as "METHOD /path" (building the app opens nothing)."""
    spec = create_app(Settings(data_dir=Path("unused"))).openapi()
    return sorted(f"{m.upper()} {p}" for p, ops in spec["paths"].items() for m in ops)


class World:
    def __init__(self, schema: Any, token: str, known: dict[str, list[str]]) -> None:
        self.schema = schema
        self.token = token
        self.known = known


def _known_ids(engine: Any) -> dict[str, list[str]]:
    """Ids that exist, by the path parameter that names them."""
    from services.actors.models import Actor, Site
    from services.cases.models import Case
    from services.certificates.models import CertificateRecord
    from services.lots.models import Lot, Offer

    with storage.read_transaction(engine) as conn:
        s = Session(bind=conn)

        def ids(column: Any) -> list[str]:
            return sorted(str(v) for v in s.scalars(select(column)).all())

        return {
            "actor_id": ids(Actor.id),
            "site_id": ids(Site.id),
            "lot_id": ids(Lot.id),
            "offer_id": ids(Offer.id),
            "case_id": ids(Case.id),
            "certificate_id": ids(CertificateRecord.id),
            "token": ids(CertificateRecord.token),
        }


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    from services.demo import fill_demo
    from services.runtime import open_runtime

    cfg = Settings(data_dir=tmp_path_factory.mktemp("fuzz") / "data", access_log=False)
    runtime = open_runtime(cfg)
    try:
        token = bootstrap_administrator(runtime.events)
        assert token is not None
        fill_demo(runtime.events, 150, seed=2009)
        known = _known_ids(runtime.engine)
    finally:
        runtime.close()
    assert all(known.values()), known
    app = create_app(cfg)
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)  # starts the app
    try:
        yield World(schema, token, known)
    finally:
        shutdown_lifespans()


@pytest.mark.slow
@pytest.mark.parametrize("label", _operations())
def test_every_operation_answers_as_declared(world: World, label: str) -> None:
    operation = world.schema.find_operation_by_label(label)
    assert operation is not None, label
    auth = {"Authorization": f"Bearer {world.token}"}

    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(case=operation.as_strategy(), data=st.data())
    def fuzz(case: Any, data: st.DataObject) -> None:
        for name in list(case.path_parameters or {}):
            existing = world.known.get(name)
            if existing and data.draw(st.booleans(), label=f"existing {name}"):
                case.path_parameters[name] = data.draw(st.sampled_from(existing), label=name)
        case.call_and_validate(headers=auth, checks=CHECKS)

    fuzz()


def test_every_route_is_fuzzed() -> None:
    """The document lists every route the app serves (none hidden from the fuzzer)."""
    from fastapi.routing import iter_route_contexts

    app = create_app(Settings(data_dir=Path("unused")))
    served = {
        f"{m} {r.path_format}"
        for r in iter_route_contexts(app.routes)
        if getattr(r, "include_in_schema", False)
        for m in r.methods or ()
    }
    assert served == set(_operations())
