"""Request and response models of the supply-chain API (event bodies are in schemas.events)."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field
from pydantic_core import PydanticCustomError

from schemas.types import Identifier, ShortText, StrictBool, Text, check_json_strings

# RFC 9457 `type` URIs are this base + the rule's slug; stable, shared by server and SDK.
PROBLEM_BASE = "https://altan-ledger.org/problems/"


def _check_private(value: dict[str, Any]) -> dict[str, Any]:
    check_json_strings(value)
    salt = value.get("salt")
    if salt is not None and not (
        isinstance(salt, str) and len(salt) == 64 and all(c in "0123456789abcdef" for c in salt)
    ):
        # bytes.fromhex also takes spaces and capitals; the stored salt is exactly 64 hex.
        raise PydanticCustomError(
            "salt", "salt: expected 64 lowercase hex digits (32 bytes), nothing else", {}
        )
    return value


PrivateData = Annotated[
    dict[str, Any],
    AfterValidator(_check_private),
    Field(
        description="Kept off the log, opening a commitment in the body: "
        '{"personal" or "price": {...}, "salt": "<64 lowercase hex>"}'
    ),
]


class SignatureIn(BaseModel):
    """An actor's Ed25519 signature over `altan/event/v1\\n` + RFC 8785 {type, actor, body}."""

    model_config = ConfigDict(extra="forbid")

    key_id: Annotated[str, Field(pattern=r"^[0-9a-f]{8}$")]
    signature: Annotated[str, Field(max_length=100, description="base64, 64 bytes")]


class EventIn(BaseModel):
    """One event to record: its type, its body (logged exactly as sent), optional private
    data kept off the log (opening a commitment in the body), optional actor signature."""

    model_config = ConfigDict(extra="forbid", strict=True)

    type: Annotated[str, Field(max_length=64, examples=["ore.delivered"])]
    body: dict[str, Any] = Field(
        examples=[
            {
                "occurred_at": "2026-09-14T10:12:00+08:00",
                "lot": "ORE-2026-000123",
                "miner": "partnership:bornuur-007",
                "site": "SITE-TOV-0042",
                "mass_g": 1200000,
                "mined_on": "2026-09-10",
            }
        ]
    )
    private: PrivateData | None = None
    signature: SignatureIn | None = None
    idempotency_key: Identifier | None = Field(
        default=None, description="for batch items; single requests use the header"
    )


class DerivedOut(BaseModel):
    type: str
    index: int


class RecordedOut(BaseModel):
    """The log's receipt for a recorded event, and the entries it caused (red flags)."""

    index: int
    leaf_hash: str
    key_id: str
    signature: str
    derived: list[DerivedOut] = []


class BatchIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    items: Annotated[list[EventIn], Field(min_length=1)]
    atomic: StrictBool = Field(default=False, description="all or nothing (true or false)")


class ItemProblem(BaseModel):
    type: str
    title: str
    status: int
    detail: str
    field: str | None = None
    errors: list[dict[str, object]] | None = Field(
        default=None, description="every mistake of the item: field, pointer, rule, detail"
    )


class BatchItemOut(BaseModel):
    status: int
    recorded: RecordedOut | None = None
    problem: ItemProblem | None = None


class BatchOut(BaseModel):
    recorded: int
    failed: int
    results: list[BatchItemOut]


class TokenIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    label: Annotated[ShortText, Field(examples=["operator Bat-Erdene"])]


class TokenOut(BaseModel):
    token_id: str
    actor: str
    token: str = Field(description="shown once; only its hash is stored")


class ErasureIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: Text
