"""The service's one settings object, read from ALTAN_* environment variables."""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, PrivateAttr, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy.engine import make_url

MAX_SECRET_FILE_BYTES = 4096
_ORIGIN = re.compile(r"https?://[A-Za-z0-9.\-]+(:[0-9]{1,5})?")


class Settings(BaseSettings):
    """Configuration; every field is listed in deploy/CONFIGURATION.md, generated from
    this class by `python -m services.config_reference` (a test keeps the two equal)."""

    # hide_input_in_errors: a refused setting must not print the others (a passphrase) back
    model_config = SettingsConfigDict(
        env_prefix="ALTAN_", extra="ignore", hide_input_in_errors=True
    )

    environment: Literal["development", "production"] = Field(
        default="development",
        description="`production` refuses unsafe defaults (no key passphrase, the default "
        "log origin)",
    )
    host: str = Field(
        default="127.0.0.1",
        description="Where `altan serve` listens (the container image sets `0.0.0.0`)",
    )
    port: int = Field(default=8000, ge=1, le=65535, description="The port `altan serve` uses")
    workers: int = Field(
        default=1,
        ge=1,
        le=64,
        description="Worker processes of `altan serve` (`--workers` overrides); each opens "
        "its own connection pool, appends stay serialised by the database",
    )
    data_dir: Path = Field(
        default=Path("var"),
        description="Data directory (mode 0700): the SQLite file and the log keys in `keys/`",
    )
    database_url: str | None = Field(
        default=None,
        description="SQLAlchemy URL; `postgresql://user@host:5432/db` for PostgreSQL "
        "(psycopg 3); unset: the SQLite file `altan.db` in the data directory",
    )
    database_password_file: Path | None = Field(
        default=None,
        description="A file holding the password of `ALTAN_DATABASE_URL` (container secrets); "
        "read once at start; refused when the URL has a password or is unset",
    )
    read_database_url: str | None = Field(
        default=None,
        description="Optional URL of a read replica (e.g. a PostgreSQL streaming replica): "
        "`/log/*` reads and proofs, lots, reports, EPCIS and certificate checks read there, "
        "as much behind as replication lags; unset: everything reads the primary",
    )
    log_origin: str = Field(
        default="altan.localhost/ledger",
        pattern=r"^[A-Za-z0-9][A-Za-z0-9.\-_/:]{0,200}$",
        description="The checkpoint origin line and the log key's name.",
    )
    key_passphrase: SecretStr | None = Field(
        default=None,
        description="Encrypts the log's private keys (PKCS8); required in production",
    )
    key_passphrase_file: Path | None = Field(
        default=None,
        description="A file holding the key passphrase (compose or Kubernetes secrets, systemd "
        "credentials); read once at start, a final newline dropped; not with "
        "`ALTAN_KEY_PASSPHRASE`",
    )
    public_url: str = Field(
        default="http://127.0.0.1:8000",
        description="The public base URL in certificate QR codes (`<url>/c/<token>`); up to "
        "16 characters keeps a gold certificate at QR version 12",
    )
    entries_page_max: int = Field(
        default=1000, ge=1, le=10_000, description="Most entries one `/log/entries` answer returns"
    )
    database_connect_timeout_s: int = Field(
        default=5,
        ge=2,
        le=600,
        description="PostgreSQL: give up connecting (TCP and login) after this many seconds "
        "(libpq `connect_timeout`); the request then gets 503 with Retry-After",
    )
    database_statement_timeout_ms: int = Field(
        default=15_000,
        ge=0,
        le=3_600_000,
        description="PostgreSQL: cancel any statement running longer (`statement_timeout`; "
        "migrations are exempt); 503 with Retry-After; 0: no limit",
    )
    database_lock_timeout_ms: int = Field(
        default=3_000,
        ge=0,
        le=3_600_000,
        description="PostgreSQL: give up waiting for a lock (the log's append lock held by a "
        "stuck session, say) after this long (`lock_timeout`); 503; 0: no limit",
    )
    database_keepalive_s: int = Field(
        default=30,
        ge=1,
        le=3600,
        description="PostgreSQL: TCP keepalive probes after this many idle seconds (3 probes, "
        "a third of it apart); a peer that acknowledges nothing for twice this long fails "
        "the connection (`tcp_user_timeout`)",
    )
    database_pool_timeout_s: float = Field(
        default=5.0,
        gt=0,
        le=600,
        description="Wait at most this long for a free connection of the pool; then 503",
    )
    sqlite_busy_timeout_ms: int = Field(
        default=5_000,
        ge=0,
        le=600_000,
        description="SQLite: wait at most this long for another writer's lock; then 503",
    )
    readiness_timeout_s: float = Field(
        default=2.0,
        gt=0,
        le=60,
        description="`/readyz` (and `/healthz`) answer 503 when the database has not answered "
        "within this many seconds",
    )
    write_timeout_s: float = Field(
        default=10.0,
        gt=0,
        le=600,
        description="`POST /events` answers 503 with Retry-After when its group commit has "
        "not finished within this many seconds (a hung database); a retry with the same "
        "Idempotency-Key records the event at most once",
    )
    max_tokens_per_actor: int = Field(
        default=20,
        ge=1,
        le=10_000,
        description="Most live (unrevoked) bearer tokens of one actor; `POST "
        "/actors/{id}/tokens` beyond it answers 409 (revoke one first)",
    )
    group_commit_max: int = Field(
        default=1000, ge=1, le=10_000, description="Most events one group commit gathers"
    )
    group_commit_linger_ms: float = Field(
        default=5.0,
        ge=0,
        le=100,
        description="After a busy batch, wait this long for more requests before the next",
    )
    access_log: bool = Field(
        default=True,
        description="One log line per request (method, path, status, duration, request id, "
        "actor), replacing uvicorn's access log",
    )
    log_format: Literal["json", "text"] | None = Field(
        default=None,
        description="`json`: one JSON object per line on stderr; `text`: for people; unset: "
        "`json` in production, `text` in development",
    )
    metrics: bool = Field(
        default=False, description="Serve Prometheus metrics at `/metrics` (text exposition)"
    )
    metrics_token: SecretStr | None = Field(
        default=None,
        description="When set, `/metrics` answers only `Authorization: Bearer <this token>`",
    )
    rate_limit_per_minute: int = Field(
        default=600,
        ge=0,
        le=1_000_000,
        description="Requests per minute per actor (whichever of its tokens it sends) once "
        "its token is known valid, else per client address (no token, or one never seen "
        "valid); bursts up to as many; per process; 0: no limit",
    )
    console_idle_minutes: int = Field(
        default=30,
        ge=1,
        le=24 * 60,
        description="A console session (a staff member signed in) ends after this many "
        "minutes without a request; it ends 12 hours after sign-in in any case",
    )
    cors_origins: str = Field(
        default="",
        description="Comma-separated origins (`https://host[:port]`, or `*`) allowed to read "
        "the certificate page (`/c/…`) from a browser (GET only); empty: none. The public "
        "proofs (`/log/*`, `/api/c/…`, `/lots/{id}/status-proof`) answer every origin "
        "(`Access-Control-Allow-Origin: *`) whatever this says",
    )
    forwarded_allow_ips: str = Field(
        default="",
        description="Reverse proxies (comma-separated addresses or networks, or `*`) whose "
        "`X-Forwarded-For`/`X-Forwarded-Proto` name the client, e.g. `127.0.0.1` behind a "
        "proxy on the same host; empty: the connection's peer is the client (per-address "
        "rate limits then count the proxy as one client)",
    )
    require_signatures: bool = Field(
        default=False, description="Record only events signed by the actor's registered key"
    )
    max_request_bytes: int = Field(
        default=4 * 1024 * 1024,
        ge=1024,
        le=64 * 1024 * 1024,
        description="Larger request bodies get 413 before they are read",
    )
    batch_max_items: int = Field(
        default=1000, ge=1, le=10_000, description="Most items in one `POST /events/batch`"
    )
    max_clock_skew_seconds: int = Field(
        default=300,
        ge=0,
        le=86_400,
        description="How far ahead of the log's clock an event's `occurred_at` (or the day it "
        "names) may be, for devices whose clocks run fast; later times are refused",
    )
    yield_min_g_per_t: float = Field(
        default=0.1, ge=0, description="Below this a processing run raises a red flag"
    )
    yield_max_g_per_t: float = Field(
        default=150.0, gt=0, description="Above this a processing run raises a red flag"
    )
    report_hold_days: int = Field(
        default=30, ge=1, le=3650, description="Holds in force longer than this are red flags"
    )
    report_refresh_s: int = Field(
        default=300,
        ge=0,
        le=86_400,
        description="The console's regulator report (`/app/officer/reports`) is computed in "
        "the background and stored: again once the log has grown, at most this often "
        "(seconds); 0: never (the page says the report is being prepared)",
    )

    _database_password: SecretStr | None = PrivateAttr(default=None)

    @model_validator(mode="after")
    def _refuse_unsafe_production(self) -> Settings:
        self._read_secret_files()  # first: the passphrase may come from a file
        if self.environment == "production":
            if self.key_passphrase is None or not self.key_passphrase.get_secret_value():
                raise ValueError(
                    "ALTAN_KEY_PASSPHRASE must be set in production: log keys are never "
                    "stored unencrypted outside development"
                )
            if self.origin_is_default:
                raise ValueError("ALTAN_LOG_ORIGIN must name this deployment in production")
        return self

    def _read_secret_files(self) -> None:
        """Secrets from files (container secrets, systemd credentials), read once, here."""
        if self.key_passphrase_file is not None:
            if self.key_passphrase is not None and self.key_passphrase.get_secret_value():
                raise ValueError("set ALTAN_KEY_PASSPHRASE or ALTAN_KEY_PASSPHRASE_FILE, not both")
            self.key_passphrase = SecretStr(
                read_secret_file(self.key_passphrase_file, "ALTAN_KEY_PASSPHRASE_FILE")
            )
        if self.database_password_file is not None:
            if not self.database_url or make_url(self.database_url).get_backend_name() == (
                "sqlite"
            ):
                raise ValueError(
                    "ALTAN_DATABASE_PASSWORD_FILE needs ALTAN_DATABASE_URL to name a database "
                    "server (it is unset or SQLite)"
                )
            if make_url(self.database_url).password is not None:
                raise ValueError(
                    "ALTAN_DATABASE_URL has a password and ALTAN_DATABASE_PASSWORD_FILE is "
                    "set: expected one of them"
                )
            self._database_password = SecretStr(
                read_secret_file(self.database_password_file, "ALTAN_DATABASE_PASSWORD_FILE")
            )

    @field_validator("cors_origins")
    @classmethod
    def _check_cors_origins(cls, value: str) -> str:
        origins = [o.strip().rstrip("/") for o in value.split(",") if o.strip()]
        for origin in origins:
            if origin != "*" and not _ORIGIN.fullmatch(origin):
                raise ValueError(
                    f"ALTAN_CORS_ORIGINS: expected `*` or origins like https://host[:port], "
                    f"got {origin!r}"
                )
        return ",".join(origins)

    @property
    def cors_origin_list(self) -> tuple[str, ...]:
        """The origins of ALTAN_CORS_ORIGINS (empty: CORS off)."""
        return tuple(o for o in self.cors_origins.split(",") if o)

    @property
    def resolved_log_format(self) -> Literal["json", "text"]:
        """ALTAN_LOG_FORMAT, or json in production and text in development."""
        if self.log_format is not None:
            return self.log_format
        return "json" if self.environment == "production" else "text"

    @property
    def origin_is_default(self) -> bool:
        return self.log_origin == "altan.localhost/ledger"

    @property
    def resolved_database_url(self) -> str:
        """ALTAN_DATABASE_URL (with the password from its file), or a SQLite file in the
        data directory. It may hold a password: print `display_database_url` instead."""
        if self.database_url:
            if self._database_password is None:
                return self.database_url
            url = make_url(self.database_url).set(
                password=self._database_password.get_secret_value()
            )
            return url.render_as_string(hide_password=False)
        return f"sqlite:///{(self.data_dir / 'altan.db').as_posix()}"

    @property
    def display_database_url(self) -> str:
        """The database URL with any password masked, for messages."""
        return make_url(self.resolved_database_url).render_as_string(hide_password=True)

    @property
    def passphrase_bytes(self) -> bytes | None:
        if self.key_passphrase is None or not self.key_passphrase.get_secret_value():
            return None
        return self.key_passphrase.get_secret_value().encode()


def read_secret_file(path: Path, variable: str) -> str:
    """The secret in `path`: UTF-8 text, a final newline dropped. Errors name the variable
    and the file, never what it holds."""
    try:
        with path.open("rb") as handle:
            raw = handle.read(MAX_SECRET_FILE_BYTES + 1)
    except OSError as exc:
        raise ValueError(f"{variable}: cannot read {path} ({exc.strerror})") from None
    if len(raw) > MAX_SECRET_FILE_BYTES:
        raise ValueError(f"{variable}: expected at most {MAX_SECRET_FILE_BYTES} bytes in {path}")
    try:
        value = raw.decode("utf-8").rstrip("\r\n")  # `echo` and editors add a final newline
    except UnicodeDecodeError:
        raise ValueError(f"{variable}: expected UTF-8 text in {path}") from None
    if not value:
        raise ValueError(f"{variable}: {path} is empty")
    return value


@lru_cache
def get_settings() -> Settings:
    """The process's settings (read once)."""
    return Settings()
