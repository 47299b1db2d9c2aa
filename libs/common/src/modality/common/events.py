"""Versioned event payloads published on JetStream.

Events are past-tense facts, immutable and strict (``extra="forbid"``): a producer that
adds a field must bump ``version`` and consumers must be updated first. The request id
doubles as the ``Nats-Msg-Id`` of a ``UsageRecorded``, so JetStream drops a duplicate
publish and the billing ledger drops a duplicate delivery.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Literal

import orjson
from pydantic import BaseModel, ConfigDict, Field


def utcnow() -> datetime:
    return datetime.now(UTC)


class Event(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    version: Literal[1] = 1
    occurred_at: datetime = Field(default_factory=utcnow)

    def to_bytes(self) -> bytes:
        return orjson.dumps(self.model_dump(mode="json"))

    @classmethod
    def from_bytes(cls, data: bytes) -> Any:
        return cls.model_validate_json(data)


class UsageRecorded(Event):
    """One finished request through the data plane (success or failure)."""

    request_id: str
    customer_id: str
    api_key_id: str
    model: str
    """The model that answered; when none did (unknown model, rejected before routing),
    what the request asked for, or "" if that was never read."""
    provider: str
    tier: str
    policy: str
    route_reason: str
    prompt_tokens: int = Field(ge=0)
    completion_tokens: int = Field(ge=0)
    latency_ms: float = Field(ge=0)
    cost_usd: float = Field(ge=0)
    fallback_model: str
    fallback_cost_usd: float = Field(ge=0)
    status: Literal["ok", "error"]
    status_code: int
    stream: bool = False
    attempts: int = Field(1, ge=1)
    endpoint: str = "chat.completions"


class CustomerUpdated(Event):
    customer_id: str
    routing_policy: str
    routing_alpha: float
    default_model: str | None = None


class ApiKeyRevoked(Event):
    key_id: str
    customer_id: str
    key_hash: str


class ModelEvent(Event):
    """Common shape of model lifecycle facts; the subject says which one it is."""

    model_id: str
    name: str
    customer_id: str | None
    status: str


class ModelRegistered(ModelEvent):
    pass


class ModelPromoted(ModelEvent):
    pass


class ModelDemoted(ModelEvent):
    pass


class ModelEvaluated(ModelEvent):
    passed: bool
    win_rate: float | None = None


class ModelRejected(ModelEvent):
    reason: str


class FinetuneRequested(Event):
    job_id: str
    customer_id: str
    provider: str
    base_model: str
    training_file: str
    domain: str | None = None
    domain_description: str | None = None


class FinetuneProgress(Event):
    job_id: str
    customer_id: str
    status: str
    message: str = ""


class FinetuneSucceeded(Event):
    job_id: str
    customer_id: str
    provider_model_id: str


class FinetuneFailed(Event):
    job_id: str
    customer_id: str
    error: str


class BudgetExceeded(Event):
    customer_id: str
    limit_usd: float
    spent_usd: float


class BudgetReset(Event):
    customer_id: str
