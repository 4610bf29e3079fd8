"""Wire models of the witness endpoints (`POST /log/cosignatures`, `GET /log/witnesses`)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class CosignatureOut(BaseModel):
    """One cosignature of an accepted submission."""

    model_config = ConfigDict(frozen=True)

    witness: str = Field(description="the witness's key name")
    key_id: str = Field(pattern=r"^[0-9a-f]{8}$", description="its cosignature/v1 key id")
    timestamp: int = Field(ge=0, description="POSIX seconds, by the witness's clock")
    stored: bool = Field(
        description="false when a cosignature by this key of this checkpoint was already kept"
    )


class CosignaturesOut(BaseModel):
    """`POST /log/cosignatures`: what was accepted (201 when something new was stored)."""

    tree_size: int = Field(ge=0)
    cosignatures: list[CosignatureOut]


class WitnessOut(BaseModel):
    """A witness key registered through the log (`witness.registered`)."""

    model_config = ConfigDict(frozen=True)

    name: str
    key_id: str = Field(pattern=r"^[0-9a-f]{8}$")
    vkey: str = Field(description="<name>+<8 hex key id>+<base64(0x04 || Ed25519 public key)>")
    status: Literal["active", "removed"]
    registered_index: int = Field(ge=0, description="the log entry that registered it")
    removed_index: int | None = Field(default=None, description="the entry that removed it")
    removed_reason: str | None = None


class WitnessesOut(BaseModel):
    """`GET /log/witnesses`."""

    witnesses: list[WitnessOut]
