"""Rows to wire models, and the fallback model's entry (from settings, not a row)."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from modality.common.db.models import ApiKey, Customer, Model
from modality.gateway.control import protocol as p
from modality.gateway.control.repository import UsageRow
from modality.gateway.settings import GatewaySettings

FALLBACK_ID = "fallback"


@dataclass(frozen=True, slots=True)
class FallbackModel:
    """The large model every customer may call; configured in settings, not a DB row."""

    name: str
    provider: str
    base_url: str
    input_price_per_m: float
    output_price_per_m: float

    @classmethod
    def from_settings(cls, settings: GatewaySettings) -> FallbackModel:
        return cls(
            name=settings.fallback_model,
            provider=settings.fallback_provider,
            base_url=settings.fallback_base_url.rstrip("/"),
            input_price_per_m=settings.fallback_input_price_per_m or 0.0,
            output_price_per_m=settings.fallback_output_price_per_m or 0.0,
        )

    def response(self) -> p.ModelResponse:
        return p.ModelResponse(
            id=FALLBACK_ID,
            name=self.name,
            customer_id=None,
            is_fallback=True,
            provider=self.provider,
            base_url=self.base_url,
            provider_model_id=self.name,
            domain=None,
            domain_description=None,
            has_domain_embedding=False,
            tier="large",
            input_price_per_m=self.input_price_per_m,
            output_price_per_m=self.output_price_per_m,
            supports_tools=True,
            supports_vision=True,
            context_window=None,
            complexity_ceiling=None,
            status="active",
            created_at=None,
            updated_at=None,
            promoted_at=None,
        )


# The ledger's scale (NUMERIC(20, 10)): sums and differences of its values are exact at
# this scale, so quantizing only fixes the notation ("0" -> "0.0000000000"), never rounds.
LEDGER_SCALE = Decimal("0.0000000001")


def _money(value: Decimal) -> str:
    return format(value.quantize(LEDGER_SCALE), "f")


def usage_figures(row: UsageRow) -> p.UsageFigures:
    return p.UsageFigures(
        requests=row.requests,
        errors=row.errors,
        prompt_tokens=row.prompt_tokens,
        completion_tokens=row.completion_tokens,
        cost_usd=_money(row.cost_usd),
        fallback_cost_usd=_money(row.fallback_cost_usd),
        savings_usd=_money(row.fallback_cost_usd - row.cost_usd),
    )


def customer_response(c: Customer) -> p.CustomerResponse:
    return p.CustomerResponse(
        id=c.id,
        name=c.name,
        routing_policy=c.routing_policy,
        routing_alpha=c.routing_alpha,
        default_model=c.default_model,
        created_at=c.created_at,
        updated_at=c.updated_at,
    )


def api_key_response(k: ApiKey) -> p.ApiKeyResponse:
    return p.ApiKeyResponse(
        id=k.id,
        customer_id=k.customer_id,
        name=k.name,
        display_prefix=k.display_prefix,
        created_at=k.created_at,
        revoked_at=k.revoked_at,
    )


def model_response(m: Model) -> p.ModelResponse:
    return p.ModelResponse(
        id=m.id,
        name=m.name,
        customer_id=m.customer_id,
        provider=m.provider,
        base_url=m.base_url,
        provider_model_id=m.provider_model_id,
        domain=m.domain,
        domain_description=m.domain_description,
        has_domain_embedding=m.domain_embedding is not None,
        tier=m.tier,
        input_price_per_m=float(m.input_price_per_m),
        output_price_per_m=float(m.output_price_per_m),
        supports_tools=m.supports_tools,
        supports_vision=m.supports_vision,
        context_window=m.context_window,
        complexity_ceiling=m.complexity_ceiling,
        status=m.status,
        created_at=m.created_at,
        updated_at=m.updated_at,
        promoted_at=m.promoted_at,
    )
