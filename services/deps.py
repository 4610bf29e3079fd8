"""FastAPI dependencies as Annotated aliases."""

from __future__ import annotations

from typing import Annotated, cast

from fastapi import Depends, Request

from ledger.sql.log import Log
from services.settings import Settings


def get_log(request: Request) -> Log:
    return cast(Log, request.app.state.log)


def get_read_log(request: Request) -> Log:
    """The log to read from: over the read replica (ALTAN_READ_DATABASE_URL) when there is
    one, else the primary's. Never append through it."""
    return cast(Log, request.app.state.read_log)


def get_app_settings(request: Request) -> Settings:
    return cast(Settings, request.app.state.settings)


LogDep = Annotated[Log, Depends(get_log)]
ReadLogDep = Annotated[Log, Depends(get_read_log)]
SettingsDep = Annotated[Settings, Depends(get_app_settings)]
