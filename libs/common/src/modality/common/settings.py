"""Settings shared by every service: where NATS, Postgres and Redis live.

Each service defines its own ``Settings`` subclass with its own env prefix
(``MODALITY_GATEWAY_``, ``MODALITY_BILLING_`` ...). The infrastructure URLs below keep
their product-wide names (``MODALITY_NATS_URL`` ...) through explicit aliases, so one
environment configures every process. Settings are built in each service's factory and
passed down; nothing here is a module-level singleton.
"""

from __future__ import annotations

from typing import Literal

from pydantic import AliasChoices, Field
from pydantic_settings import BaseSettings, SettingsConfigDict

PLACEHOLDER_SECRETS = frozenset({"", "changeme", "change-me", "secret", "dev", "development"})


def _alias(name: str) -> AliasChoices:
    return AliasChoices(name, name.lower())


class InfraSettings(BaseSettings):
    """Connection settings every service needs, read from ``MODALITY_*``."""

    model_config = SettingsConfigDict(env_prefix="MODALITY_", extra="ignore", populate_by_name=True)

    env: Literal["development", "test", "production"] = Field(
        "development", validation_alias=_alias("MODALITY_ENV")
    )
    nats_url: str = Field("nats://127.0.0.1:4222", validation_alias=_alias("MODALITY_NATS_URL"))
    database_url: str = Field(
        "postgresql://postgres@127.0.0.1:5432/modality",
        validation_alias=_alias("MODALITY_DATABASE_URL"),
    )
    redis_url: str = Field(
        "redis://127.0.0.1:6379/0", validation_alias=_alias("MODALITY_REDIS_URL")
    )
    nats_stream_replicas: int = Field(
        1, ge=1, le=5, validation_alias=_alias("MODALITY_NATS_STREAM_REPLICAS")
    )
    log_level: str = Field("INFO", validation_alias=_alias("MODALITY_LOG_LEVEL"))

    @property
    def async_database_url(self) -> str:
        return async_database_url(self.database_url)


def async_database_url(url: str) -> str:
    """Return ``url`` with SQLAlchemy's asyncpg driver, whatever scheme it was given in."""
    for prefix in ("postgresql+asyncpg://", "postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+asyncpg://" + url[len(prefix) :]
    raise ValueError(f"not a PostgreSQL URL: {url.split('://', 1)[0]}://...")


def require_real_secret(env: str, name: str, value: str) -> None:
    """Refuse placeholder secrets outside development."""
    if env == "production" and value.strip().lower() in PLACEHOLDER_SECRETS:
        raise ValueError(f"{name} must be set to a real secret in production")
