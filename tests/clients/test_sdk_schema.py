"""The SDK's event methods are driven by the event schemas (`schemas.events.EVENT_BODIES`).

Each method of `clients.sdk.EventMethods` is a typed stub bound to one event type by
`clients.sdk._event`, which builds the body from the schema's fields. These tests hold that
binding: one method per event type a client sends, a stub that drifts from its schema is
refused at import, and bodies follow the schema (its field order, defaults left out).
Through HTTP, every method is exercised by tests/clients/test_sdk_events.py.
"""

from __future__ import annotations

import inspect
from typing import Any

import pytest

from clients.sdk import EventMethods, RuleViolation, _event
from schemas.events import EVENT_BODIES

WHEN = "2026-09-10T10:00:00+08:00"

# Derived by the log itself (in the receipt of certificate.requested): no client sends it.
NOT_IN_SDK = {"certificate.issued"}


class Capture(EventMethods[tuple[str, dict[str, Any], dict[str, Any] | None]]):
    """Event methods that return what they would send, instead of sending it."""

    def _emit(
        self,
        type: str,
        body: dict[str, Any],
        private: dict[str, Any] | None,
        idempotency_key: str | None,
    ) -> tuple[str, dict[str, Any], dict[str, Any] | None]:
        return type, body, private


def _methods() -> dict[str, str]:
    return {
        name: getattr(fn, "event_type", "")
        for name, fn in inspect.getmembers(EventMethods, inspect.isfunction)
        if not name.startswith("_")
    }


def test_one_method_per_event_type_a_client_sends() -> None:
    types = list(_methods().values())
    assert "" not in types  # every public method is bound to a schema
    assert len(types) == len(set(types))
    assert set(types) == set(EVENT_BODIES) - NOT_IN_SDK


def test_a_stub_that_drifts_from_its_schema_is_refused() -> None:
    def unknown_field(
        self: Any, *, offer: str, price: int, occurred_at: Any = None, idempotency_key: Any = None
    ) -> None:
        """`price` is not a field of transfer.accepted."""

    def missing_field(self: Any, *, occurred_at: Any = None, idempotency_key: Any = None) -> None:
        """transfer.accepted requires `offer`."""

    with pytest.raises(TypeError, match=r"\['price'\] are not fields"):
        _event("transfer.accepted")(unknown_field)
    with pytest.raises(TypeError, match=r"fields \['offer'\] have no parameter"):
        _event("transfer.accepted")(missing_field)


def test_bodies_follow_the_schema() -> None:
    events = Capture()
    # keyword order differs from the schema's; the body follows the schema
    type_, body, private = events.record_processing(
        tailings_g=0,
        finished_on="2026-09-02",
        started_on="2026-09-01",
        mercury_free=True,
        method="gravity",
        outputs=({"lot": "G-1", "form": "dore", "mass_mg": 3},),
        inputs=[{"lot": "ORE-1", "mass_g": 1}],
        run="RUN-1",
        occurred_at=WHEN,
    )
    assert (type_, private) == ("processing.recorded", None)
    assert list(body) == [
        name for name in EVENT_BODIES["processing.recorded"].model_fields if name in body
    ]
    assert body["outputs"] == [{"lot": "G-1", "form": "dore", "mass_mg": 3}]
    # None and an empty optional list are left out (the schema's defaults apply) ...
    _, body, _ = events.open_case(
        case="C-1",
        kind="hold",
        target={"kind": "lot", "id": "G-1"},
        category="other",
        description="d",
        occurred_at=WHEN,
    )
    assert "parties" not in body
    _, body, _ = events.record_assay(lot="G-1", fineness_ppt=900, occurred_at=WHEN)
    assert body == {"occurred_at": WHEN, "lot": "G-1", "fineness_ppt": 900}
    # ... while an empty required list is sent, and refused with the schema's own error
    with pytest.raises(RuleViolation) as refused:
        events.merge_lots(lots=[], into="G-2", occurred_at=WHEN)
    assert (refused.value.rule, refused.value.field) == ("invalid-too-short", "body.lots")


def test_off_log_data_becomes_a_commitment_and_private_data() -> None:
    _, body, private = Capture().offer_lot(
        offer="OFFER-1",
        lot="G-1",
        to="bank:khan",
        price={"amount": "1000", "currency": "MNT"},
        occurred_at=WHEN,
    )
    assert "price" not in body and len(body["price_commitment"]) == 64
    assert private is not None and private["price"] == {"amount": "1000", "currency": "MNT"}
