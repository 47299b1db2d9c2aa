"""Simulator settings, read from ``MODALITY_SIMULATOR_*`` environment variables."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_MODELS = (
    "gpt-4o",
    "gpt-4o-mini",
    "gpt-4.1",
    "gpt-4.1-mini",
    "gpt-4.1-nano",
    "gpt-3.5-turbo",
)


class ModelProfile(BaseModel):
    """Per-model overrides; a field left unset falls back to the simulator-wide default."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    ttft_ms: float | None = Field(default=None, ge=0)
    tokens_per_s: float | None = Field(default=None, ge=0)
    completion_tokens: int | None = Field(default=None, ge=1)
    context_window: int | None = Field(default=None, ge=1)
    fail_rate: float = Field(default=0.0, ge=0, le=1)
    fail_status: int = Field(default=500, ge=400, le=599)
    owned_by: str | None = None


class SimulatorSettings(BaseSettings):
    """Everything the simulator can be told. Latencies of 0 mean "answer at once"."""

    model_config = SettingsConfigDict(env_prefix="MODALITY_SIMULATOR_", extra="ignore")

    host: str = "127.0.0.1"
    port: int = Field(default=8090, ge=0, le=65535)
    workers: int = Field(default=1, ge=1, le=64)
    access_log: bool = False

    ttft_ms: float = Field(default=0.0, ge=0)
    tokens_per_s: float = Field(default=0.0, ge=0, description="0 means instant")
    completion_tokens: int = Field(default=16, ge=1, description="default completion length")
    context_window: int = Field(default=128_000, ge=1)
    models: dict[str, ModelProfile] = Field(
        default_factory=lambda: {name: ModelProfile() for name in DEFAULT_MODELS}
    )
    accept_unknown_models: bool = Field(
        default=True, description="answer for model ids not listed in `models` (ft: ids excepted)"
    )
    seed: int = 0

    retry_after_s: float = Field(default=1.0, ge=0)
    max_hang_s: float = Field(default=300.0, ge=0, le=300.0)
    require_key: str | None = None
    max_upload_mb: int = Field(default=64, ge=1)

    finetune_validating_s: float = Field(default=1.0, ge=0)
    finetune_queued_s: float = Field(default=1.0, ge=0)
    finetune_running_s: float = Field(default=3.0, ge=0)
    finetune_min_examples: int = Field(default=10, ge=1)
    organization: str = "modality-sim"
    state_path: str | None = Field(
        default=None,
        description="SQLite file for files and fine-tuning jobs; None keeps them in memory "
        "(with several workers a temporary file shared by the workers is used)",
    )

    def profile(self, model: str) -> ModelProfile | None:
        return self.models.get(model)


def load_settings(**overrides: Any) -> SimulatorSettings:
    """Build settings from the environment, with keyword overrides taking precedence."""
    return SimulatorSettings(**overrides)
