"""Wire models of the auditor endpoints (`/log/*`), exactly as DESIGN.md specifies them.

Hashes and signatures are standard base64 with padding; key ids are 8 lower-case hex digits.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

_B64_HASH_EXAMPLE = "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU="


class LogKeyOut(BaseModel):
    """One log public key; retired keys stay listed so old checkpoints stay verifiable."""

    model_config = ConfigDict(frozen=True)

    key_id: str = Field(pattern=r"^[0-9a-f]{8}$", examples=["3e1c4a7b"])
    verifier_key: str = Field(
        examples=["altan.localhost/ledger+3e1c4a7b+AYh5...base64...="],
        description="C2SP signed-note verifier key: <name>+<hex key id>+<base64(0x01||key)>",
    )
    public_key: str = Field(description="base64 of the raw 32-byte Ed25519 public key")
    algorithm: Literal["Ed25519"] = "Ed25519"
    status: Literal["active", "retired"]
    not_before: str = Field(description="RFC 3339 UTC time from which the key signs")
    not_after: str | None = Field(default=None, description="when the key stopped signing")


class LogKeysOut(BaseModel):
    """`GET /log/keys`."""

    keys: list[LogKeyOut]


class LogEntryOut(BaseModel):
    """One entry with its receipt."""

    index: int = Field(ge=0)
    entry: str = Field(description="base64 of the RFC 8785 canonical entry bytes")
    leaf_hash: str = Field(examples=[_B64_HASH_EXAMPLE])
    key_id: str = Field(pattern=r"^[0-9a-f]{8}$")
    signature: str = Field(
        description="Ed25519 by the log key over 'altan/entry/v1\\n' || leaf hash"
    )


class LogEntriesOut(BaseModel):
    """`GET /log/entries`."""

    entries: list[LogEntryOut]


class InclusionProofOut(BaseModel):
    """`GET /log/proof/inclusion` (RFC 9162 §2.1.3)."""

    index: int = Field(ge=0)
    tree_size: int = Field(ge=1)
    hashes: list[str] = Field(examples=[[_B64_HASH_EXAMPLE]])


class ConsistencyProofOut(BaseModel):
    """`GET /log/proof/consistency` (RFC 9162 §2.1.4)."""

    first: int = Field(ge=1)
    second: int = Field(ge=1)
    hashes: list[str] = Field(examples=[[_B64_HASH_EXAMPLE]])


class Health(BaseModel):
    """`GET /healthz`."""

    status: Literal["ok"]
    tree_size: int


class Problem(BaseModel):
    """RFC 9457 problem details."""

    type: str = Field(examples=["https://altan.example/problems/out-of-range"])
    title: str
    status: int
    detail: str
    field: str | None = Field(default=None, description="the request field at fault")
    errors: list[dict[str, object]] | None = None
