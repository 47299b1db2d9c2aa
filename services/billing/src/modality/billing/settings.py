"""Billing settings (env prefix ``MODALITY_BILLING_``; shared names keep ``MODALITY_``)."""

from __future__ import annotations

from pydantic import Field, field_validator
from pydantic_settings import SettingsConfigDict

from modality.common import subjects
from modality.common.settings import InfraSettings


class BillingSettings(InfraSettings):
    model_config = SettingsConfigDict(
        env_prefix="MODALITY_BILLING_", extra="ignore", populate_by_name=True
    )

    host: str = "127.0.0.1"
    port: int = Field(8020, ge=0, le=65535, description="/health and /metrics")

    consumer_name: str = Field(
        subjects.BILLING_USAGE_CONSUMER,
        pattern=r"^[A-Za-z0-9_-]+$",
        description="Durable pull consumer on the USAGE stream; every replica shares it.",
    )
    filter_subject: str = Field(
        subjects.USAGE_RECORDED_ALL,
        description="Subjects the consumer takes (a narrower filter shards by customer).",
    )
    batch_max: int = Field(
        256, ge=1, le=1000, description="Most messages per fetch, and per ledger transaction."
    )
    fetch_timeout_s: float = Field(
        5.0, ge=0.5, le=60, description="Lifetime of one pull request when the stream is idle."
    )
    retry_delay_s: float = Field(
        5.0, ge=0, description="Redelivery delay after a failed write (database down)."
    )
    ack_wait_s: float = Field(
        30.0, gt=0, description="Unacknowledged messages are redelivered after this."
    )
    db_pool_size: int = Field(4, ge=1)
    nats_connect_timeout_s: float = Field(5.0, gt=0)

    @field_validator("filter_subject")
    @classmethod
    def _usage_subject(cls, value: str) -> str:
        if value != subjects.USAGE_RECORDED_ALL and not value.startswith(
            subjects.USAGE_RECORDED_PREFIX + "."
        ):
            raise ValueError(f"must be {subjects.USAGE_RECORDED_ALL} or a subject under it")
        return value
