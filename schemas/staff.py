"""Request and response bodies of the staff API (services/staff): accounts and sign-in.
No response ever carries a password hash."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

_Text = Annotated[str, Field(min_length=1, max_length=1024)]


class StaffIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    actor: Annotated[str, Field(min_length=1, max_length=80, examples=["centre:bornuur"])]
    username: Annotated[_Text, Field(examples=["bat.clerk"])]
    display_name: Annotated[_Text, Field(examples=["Bat-Erdene"])]
    password: Annotated[_Text, Field(description="10 to 256 characters, not the username")]
    is_admin: bool = Field(default=False, description="the actor's administrator of staff")


class StaffOut(BaseModel):
    id: str
    actor: str
    username: str
    display_name: str
    is_admin: bool
    created_at: str
    disabled_at: str | None = None


class StaffList(BaseModel):
    staff: list[StaffOut]


class SignInIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    username: _Text
    password: _Text


class SessionOut(BaseModel):
    staff: str
    actor: str
    role: str
    username: str
    is_admin: bool
    csrf_token: str = Field(description="send it back as X-CSRF-Token (or a form's csrf_token)")


class PasskeyOut(BaseModel):
    """A passkey just registered to the signed-in staff member."""

    credential_id: str = Field(description="the WebAuthn credential id, base64url")
