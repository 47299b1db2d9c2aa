"""Wire shapes of the control plane.

Admin requests are strict (``extra="forbid"``): an unknown field is a typo worth a 400,
unlike the data plane where clients send fields before we learn about them.

Money: model prices are JSON numbers (US dollars per million tokens, as they were
registered). Usage amounts are decimal *strings* (``"0.0012500000"``): they are exact
sums of the ledger's ``NUMERIC(20, 10)`` columns and are never rounded, so a client that
adds them up gets the ledger's total to the last digit.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Generic, Literal, TypeVar
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, field_validator

from modality.common.routing import Policy

T = TypeVar("T")

Provider = Literal["openai", "fireworks", "simulator", "openai_compatible"]
Tier = Literal["small", "large"]
ModelStatus = Literal["training", "evaluating", "registered", "active", "rejected", "retired"]

NAME_MAX = 200
MONEY_DOC = "US dollars as an exact decimal string (never rounded)."


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ErrorDetail(BaseModel):
    message: str
    type: str
    param: str | None
    code: str | None


class ErrorResponse(BaseModel):
    """Every error, OpenAI's shape. Invalid input is 400 (never 422), ``param`` names it."""

    error: ErrorDetail


class ListResponse(BaseModel, Generic[T]):
    """OpenAI's list envelope; ``after`` = ``last_id`` fetches the next page."""

    object: Literal["list"] = "list"
    data: list[T]
    has_more: bool = False
    first_id: str | None = None
    last_id: str | None = None


# --- customers ---------------------------------------------------------------------------


class CustomerCreateRequest(_Strict):
    name: str = Field(min_length=1, max_length=NAME_MAX)
    routing_policy: Policy = Policy.EMBEDDING
    routing_alpha: float = Field(1.0, ge=0.0, allow_inf_nan=False)
    default_model: str | None = Field(None, min_length=1, max_length=NAME_MAX)


class CustomerUpdateRequest(_Strict):
    """Only the fields present are changed; ``default_model: null`` clears it."""

    name: str | None = Field(None, min_length=1, max_length=NAME_MAX)
    routing_policy: Policy | None = None
    routing_alpha: float | None = Field(None, ge=0.0, allow_inf_nan=False)
    default_model: str | None = Field(None, min_length=1, max_length=NAME_MAX)

    @field_validator("name", "routing_policy", "routing_alpha", mode="before")
    @classmethod
    def _not_null(cls, value: object) -> object:
        # Runs only for fields the client sent; an absent field keeps its None default.
        if value is None:
            raise ValueError("cannot be null")
        return value


class CustomerResponse(BaseModel):
    id: str
    object: Literal["customer"] = "customer"
    name: str
    routing_policy: str
    routing_alpha: float
    default_model: str | None
    created_at: datetime
    updated_at: datetime


# --- API keys ----------------------------------------------------------------------------


class ApiKeyCreateRequest(_Strict):
    name: str = Field("", max_length=NAME_MAX)


class ApiKeyResponse(BaseModel):
    id: str
    object: Literal["api_key"] = "api_key"
    customer_id: str
    name: str
    display_prefix: str = Field(description="First characters of the key, to recognise it.")
    created_at: datetime
    revoked_at: datetime | None = None


class ApiKeyCreatedResponse(ApiKeyResponse):
    key: str = Field(description="The secret. Shown once: only its SHA-256 is stored.")


# --- models ------------------------------------------------------------------------------


class ModelRegisterRequest(_Strict):
    customer_id: str | None = Field(
        None, max_length=40, description="Owner; absent or null registers a shared model."
    )
    name: str = Field(
        min_length=1, max_length=NAME_MAX, description="What customers put in `model=`."
    )
    provider: Provider
    base_url: str = Field(max_length=500, description="OpenAI-compatible root, e.g. .../v1")
    provider_model_id: str = Field(min_length=1, max_length=300)
    domain: str | None = Field(None, max_length=200)
    domain_description: str | None = Field(None, max_length=20_000)
    tier: Tier = "small"
    input_price_per_m: Decimal | None = Field(
        None, ge=0, le=1_000_000, description="USD per million prompt tokens."
    )
    output_price_per_m: Decimal | None = Field(
        None, ge=0, le=1_000_000, description="USD per million completion tokens."
    )
    supports_tools: bool = False
    supports_vision: bool = False
    context_window: int = Field(8192, gt=0, le=100_000_000)
    complexity_ceiling: float | None = Field(None, ge=0.0, le=1.0)

    @field_validator("base_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        parts = urlsplit(value.strip())
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError("must be an http(s) URL")
        return value.strip().rstrip("/")


class ModelResponse(BaseModel):
    id: str
    object: Literal["model"] = "model"
    name: str
    customer_id: str | None
    is_fallback: bool = False
    provider: str
    base_url: str
    provider_model_id: str
    domain: str | None
    domain_description: str | None
    has_domain_embedding: bool
    tier: str
    input_price_per_m: float
    output_price_per_m: float
    supports_tools: bool
    supports_vision: bool
    context_window: int | None = Field(description="Null for the fallback (not tracked).")
    complexity_ceiling: float | None
    status: str
    created_at: datetime | None
    updated_at: datetime | None
    promoted_at: datetime | None


# --- usage -------------------------------------------------------------------------------


class UsageFigures(BaseModel):
    requests: int
    errors: int
    prompt_tokens: int
    completion_tokens: int
    cost_usd: str = Field(description=MONEY_DOC)
    fallback_cost_usd: str = Field(
        description=f"Had every request gone to the fallback. {MONEY_DOC}"
    )
    savings_usd: str = Field(description=f"fallback_cost_usd - cost_usd. {MONEY_DOC}")


class ModelUsage(UsageFigures):
    model: str


class DayUsage(UsageFigures):
    day: date = Field(description="UTC calendar day.")


class UsageResponse(BaseModel):
    object: Literal["usage"] = "usage"
    customer_id: str
    start: datetime = Field(description="Inclusive.")
    end: datetime = Field(description="Exclusive.")
    totals: UsageFigures
    by_model: list[ModelUsage] | None = None
    by_day: list[DayUsage] | None = None


class HealthResponse(BaseModel):
    status: Literal["ok", "degraded"]
    database: Literal["ok", "unreachable"]
    nats: Literal["ok", "disconnected"]
