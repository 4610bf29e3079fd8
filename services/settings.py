"""The service's one settings object, read from ALTAN_* environment variables."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Configuration; every field is documented in the README's configuration table."""

    model_config = SettingsConfigDict(env_prefix="ALTAN_", extra="ignore")

    environment: Literal["development", "production"] = "development"
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    data_dir: Path = Path("var")
    database_url: str | None = None
    log_origin: str = Field(
        default="altan.localhost/ledger",
        pattern=r"^[A-Za-z0-9][A-Za-z0-9.\-_/:]{0,200}$",
        description="The checkpoint origin line and the log key's name.",
    )
    key_passphrase: SecretStr | None = None
    public_url: str = "http://127.0.0.1:8000"
    entries_page_max: int = Field(default=1000, ge=1, le=10_000)
    group_commit_max: int = Field(default=1000, ge=1, le=10_000)
    group_commit_linger_ms: float = Field(
        default=5.0,
        ge=0,
        le=100,
        description="After a busy batch, wait this long for more requests before the next",
    )
    access_log: bool = Field(default=True, description="uvicorn's line per request")
    require_signatures: bool = Field(
        default=False, description="Record only events signed by the actor's registered key"
    )
    max_request_bytes: int = Field(default=4 * 1024 * 1024, ge=1024, le=64 * 1024 * 1024)
    batch_max_items: int = Field(default=1000, ge=1, le=10_000)
    yield_min_g_per_t: float = Field(default=0.1, ge=0)
    yield_max_g_per_t: float = Field(
        default=150.0, gt=0, description="Above this a processing run raises a red flag"
    )
    report_hold_days: int = Field(
        default=30, ge=1, le=3650, description="Holds in force longer than this are red flags"
    )

    @model_validator(mode="after")
    def _refuse_unsafe_production(self) -> Settings:
        if self.environment == "production":
            if self.key_passphrase is None or not self.key_passphrase.get_secret_value():
                raise ValueError(
                    "ALTAN_KEY_PASSPHRASE must be set in production: log keys are never "
                    "stored unencrypted outside development"
                )
            if self.origin_is_default:
                raise ValueError("ALTAN_LOG_ORIGIN must name this deployment in production")
        return self

    @property
    def origin_is_default(self) -> bool:
        return self.log_origin == "altan.localhost/ledger"

    @property
    def resolved_database_url(self) -> str:
        """ALTAN_DATABASE_URL, or a SQLite file in the data directory."""
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'altan.db').as_posix()}"

    @property
    def passphrase_bytes(self) -> bytes | None:
        if self.key_passphrase is None or not self.key_passphrase.get_secret_value():
            return None
        return self.key_passphrase.get_secret_value().encode()


@lru_cache
def get_settings() -> Settings:
    """The process's settings (read once)."""
    return Settings()
