"""The console's own JSON bodies (not in the public API): a device key to register and an
event recorded offline, sent from the browser's outbox (services/console/offline.py)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["DeviceKeyIn", "DeviceKeyOut", "OutboxItem", "OutboxOut", "OutboxSignature"]

_STRICT = ConfigDict(strict=True, extra="forbid", frozen=True)


class DeviceKeyIn(BaseModel):
    """The public half of a browser's Ed25519 device key (32 bytes, base64)."""

    model_config = _STRICT

    public_key: Annotated[str, Field(pattern=r"^[A-Za-z0-9+/]{43}=$")]


class DeviceKeyOut(BaseModel):
    actor: str
    key_id: str
    registered: bool
    """False when the key was registered before (nothing new recorded)."""


class OutboxSignature(BaseModel):
    model_config = _STRICT

    key_id: Annotated[str, Field(pattern=r"^[0-9a-f]{8}$")]
    signature: Annotated[str, Field(max_length=100)]


class OutboxItem(BaseModel):
    """One event recorded offline: signed in the browser with the device key, sent once
    with the key the browser gave it (the event's Idempotency-Key)."""

    model_config = _STRICT

    type: Literal["ore.delivered"]
    body: dict[str, Any]
    signature: OutboxSignature
    idempotency_key: Annotated[str, Field(pattern=r"^offline-[0-9a-f]{32}$")]


class OutboxOut(BaseModel):
    """The answer to an outbox item: recorded (`index`; `replayed` when it was recorded
    before under the same key) or refused (`rule` and its sentence in both languages)."""

    outcome: Literal["recorded", "refused"]
    index: int | None = None
    replayed: bool = False
    rule: str | None = None
    words: dict[str, str] = Field(default_factory=dict)
