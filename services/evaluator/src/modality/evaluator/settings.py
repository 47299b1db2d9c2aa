"""Evaluator settings (env prefix ``MODALITY_EVALUATOR_``; shared names keep ``MODALITY_``)."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from modality.common.settings import InfraSettings


class EvaluatorSettings(InfraSettings):
    model_config = SettingsConfigDict(
        env_prefix="MODALITY_EVALUATOR_", extra="ignore", populate_by_name=True
    )

    host: str = "127.0.0.1"
    port: int = Field(8040, ge=0, le=65535, description="/health and /metrics")
    consumer_name: str = Field(
        "evaluator",
        pattern=r"^[A-Za-z0-9_-]+$",
        description="Durable JetStream consumer of model.registered on the MODELS stream.",
    )
    nats_connect_timeout_s: float = Field(5.0, gt=0)
