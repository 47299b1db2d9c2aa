"""The ``route.decide`` request/reply protocol between the gateway and the router.

The gateway sends a ``RouteRequest`` with the request's text features; the router
answers with a ``RouteDecision`` ranking candidate models. Policies are named here so
both sides, the usage events and the metrics agree on the spelling.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

ROUTING_LATENCY_BUCKETS_S: tuple[float, ...] = (
    0.0005, 0.001, 0.002, 0.003, 0.004, 0.005, 0.0075,
    0.01, 0.015, 0.02, 0.03, 0.05, 0.1, 0.25, 1.0,
)  # fmt: skip
"""Histogram buckets (seconds) of routing-decision times, on both sides of ``route.decide``
(gateway and router), so their quantiles compare bucket for bucket: fine around the
routing targets (p50 <= 5 ms, p99 <= 15 ms) and the gateway's 50 ms default budget."""


class Policy(StrEnum):
    PASSTHROUGH = "passthrough"
    RULES = "rules"
    EMBEDDING = "embedding"
    LEARNED = "learned"


class RouteReason(StrEnum):
    EXPLICIT = "explicit"  # the client named a model
    DEFAULT_MODEL = "default_model"  # passthrough to the customer's default model
    NO_CANDIDATES = "no_candidates"  # the customer has no active small model
    DOMAIN_MATCH = "domain_match"
    BELOW_THRESHOLD = "below_threshold"
    TOO_COMPLEX = "too_complex"
    CAPABILITY = "capability"  # tools/vision/context the candidate lacks
    RULES = "rules"
    LEARNED = "learned"
    ROUTER_TIMEOUT = "router_timeout"  # gateway-side: the router did not answer in time
    ROUTER_ERROR = "router_error"  # gateway-side: the router answered with an error
    ESCALATED = "escalated"  # gateway-side: a candidate failed upstream, next one served


class RouteRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    request_id: str
    customer_id: str
    prompt: str = Field(description="Text of the last user turn (truncated by the gateway).")
    system_prompt_digest: str | None = None
    token_estimate: int = Field(0, ge=0)
    has_tools: bool = False
    has_vision: bool = False
    session_id: str | None = None


class RouteCandidate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    model: str
    score: float
    reason: str


class RouteDecision(BaseModel):
    model_config = ConfigDict(extra="forbid")

    model: str
    policy: str
    reason: str
    confidence: float = Field(ge=0.0, le=1.0)
    candidates: list[RouteCandidate] = Field(default_factory=list)
    fallback_model: str
    classification: dict[str, Any] | None = None
    decided_in_ms: float = 0.0


class RouteError(BaseModel):
    """What the router answers instead of a decision when it cannot decide."""

    model_config = ConfigDict(extra="forbid")

    error: str
