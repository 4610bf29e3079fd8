"""`/epcis/*`: the ledger's events as a GS1 EPCIS 2.0 JSON-LD document."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response

from schemas.log import Problem
from services.epcis import queries
from services.epcis.mapping import MEDIA_TYPE
from services.identity.auth import PrincipalDep, require_reader_of
from services.lots.routes import readable_lot
from services.reads import read_session

router = APIRouter(prefix="/epcis", tags=["epcis (export)"])

_EXAMPLE = {
    "@context": [
        "https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld",
        {"altan": "https://altan-ledger.org/epcis/"},
    ],
    "type": "EPCISDocument",
    "schemaVersion": "2.0",
    "creationDate": "2026-09-30T04:00:00.000000Z",
    "epcisBody": {
        "eventList": [
            {
                "type": "ObjectEvent",
                "eventID": "urn:altan:event:5480...",
                "eventTime": "2026-09-14T10:12:00+08:00",
                "eventTimeZoneOffset": "+08:00",
                "recordTime": "2026-09-14T02:12:01.000000Z",
                "action": "ADD",
                "quantityList": [
                    {"epcClass": "urn:altan:lot:ORE-2026-000123", "quantity": 1200000, "uom": "GRM"}
                ],
                "bizStep": "commissioning",
                "disposition": "active",
                "readPoint": {"id": "urn:altan:location:centre:bornuur"},
                "bizLocation": {"id": "urn:altan:location:centre:bornuur"},
                "altan:ledgerIndex": 7,
                "altan:leafHash": "VIBGoKYaA8bM7X5ji18rX76Wr/GRPWu5VIDmsBFHTug=",
                "altan:eventType": "ore.delivered",
                "altan:recordedBy": "urn:altan:actor:centre:bornuur",
            }
        ]
    },
}
_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"content": {MEDIA_TYPE: {"example": _EXAMPLE}}, "description": "An EPCISDocument"},
    400: {"model": Problem, "description": "A bad range, or a time without its UTC offset"},
    403: {"model": Problem, "description": "Not a reader of these events"},
    422: {"model": Problem, "description": "Parameters invalid, or the export too large"},
}


def _ld_json(document: dict[str, Any], headers: dict[str, str] | None = None) -> Response:
    body = json.dumps(document, ensure_ascii=False, separators=(",", ":")).encode()
    return Response(body, media_type=MEDIA_TYPE, headers=headers)


@router.get(
    "/events",
    response_class=Response,
    responses=_RESPONSES,
    summary="The events of a range of the log, as EPCIS 2.0 JSON-LD (one page)",
)
def get_events(
    principal: PrincipalDep,
    request: Request,
    start: Annotated[int, Query(ge=0, description="First ledger index to scan")] = 0,
    end: Annotated[
        int | None, Query(ge=1, description="Ledger index to stop before (default: log size)")
    ] = None,
    since: Annotated[
        datetime | None,
        Query(alias="from", description="Only events that occurred at or after this (with offset)"),
    ] = None,
    until: Annotated[
        datetime | None,
        Query(alias="to", description="Only events that occurred before this (with offset)"),
    ] = None,
    limit: Annotated[
        int, Query(ge=1, le=queries.PAGE_MAX, description="Events in this page at most")
    ] = queries.PAGE_MAX,
) -> Response:
    """For auditors, regulators and administrators. One page scans at most
    5,000 entries from `start` and holds at most `limit` events; when entries remain
    before `end`, a `Link: <...>; rel="next"` header gives the next page. `from` and `to`
    filter on the time each event occurred (`occurred_at`, the EPCIS eventTime).
    Entries that are not exported (registrations, red flags, ...) are skipped."""
    require_reader_of(principal, set())
    with read_session(request) as s:
        page = queries.export_range(
            s,
            start=start,
            end=end,
            since=since,
            until=until,
            limit=limit,
            now=datetime.now(UTC),
        )
    headers = {}
    if page.next_start is not None:
        following = request.url.include_query_params(start=page.next_start, end=page.end)
        headers["Link"] = f'<{following}>; rel="next"'
    return _ld_json(page.document, headers)


@router.get(
    "/lots/{lot_id}",
    response_class=Response,
    responses={**_RESPONSES, 404: {"model": Problem, "description": "No such lot"}},
    summary="A lot's events and those of every lot upstream of it, as EPCIS 2.0 JSON-LD",
)
def get_lot_events(lot_id: str, principal: PrincipalDep, request: Request) -> Response:
    """Readable by the lot's parties (custodian, owner, miner, offer parties), auditors,
    regulators and administrators. At most 5,000 ledger entries (else `epcis-too-large`)."""
    with read_session(request) as s:
        readable_lot(s, principal, lot_id)
        document = queries.export_lot(s, lot_id, datetime.now(UTC))
    return _ld_json(document)
