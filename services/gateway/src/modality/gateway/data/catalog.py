"""Every callable model in memory, so no request waits for Postgres to resolve one.

Loaded at start, reloaded on any ``model.>`` or customer-update message (debounced) and
every ``catalog_refresh_interval_s`` as a safety net. The fallback model comes from
settings, not from a row, and every customer may call it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from modality.common.db.models import Customer, Model
from modality.common.pricing import Price
from modality.common.routing import Policy
from modality.gateway.settings import GatewaySettings

log = logging.getLogger(__name__)

# A customer may not call its models in these states (shared models likewise).
UNCALLABLE_STATUSES = frozenset({"rejected", "retired"})
_KEYED_PROVIDERS = ("openai", "fireworks")


@dataclass(frozen=True, slots=True)
class ModelEntry:
    """A model as the data plane calls it; ``auth_header`` is precomputed per provider."""

    id: str
    name: str
    customer_id: str | None
    provider: str
    provider_model_id: str
    chat_url: str
    base_url: str
    tier: str
    status: str
    price: Price
    created: int
    auth_header: str


@dataclass(frozen=True, slots=True)
class Catalog:
    fallback: ModelEntry
    owned: dict[str, dict[str, ModelEntry]] = field(
        default_factory=dict
    )  # customer -> name -> model
    shared: dict[str, ModelEntry] = field(default_factory=dict)
    policies: dict[str, str] = field(default_factory=dict)  # customer -> routing policy

    def resolve(self, customer_id: str, name: str) -> ModelEntry | None:
        """The model ``name`` as ``customer_id`` may call it, or None (unknown or not theirs)."""
        own = self.owned.get(customer_id)
        if own is not None:
            entry = own.get(name)
            if entry is not None:
                return entry
        entry = self.shared.get(name)
        if entry is not None:
            return entry
        return self.fallback if name == self.fallback.name else None

    def callable_models(self, customer_id: str) -> list[ModelEntry]:
        """Own models, then shared ones, then the fallback; a name appears once."""
        seen: dict[str, ModelEntry] = {}
        for entry in (
            *self.owned.get(customer_id, {}).values(),
            *self.shared.values(),
            self.fallback,
        ):
            seen.setdefault(entry.name, entry)
        return list(seen.values())

    def policy(self, customer_id: str) -> str:
        return self.policies.get(customer_id, Policy.PASSTHROUGH.value)

    def base_urls(self) -> set[str]:
        urls = {self.fallback.base_url}
        urls.update(e.base_url for e in self.shared.values())
        for models in self.owned.values():
            urls.update(e.base_url for e in models.values() if e.status == "active")
        return urls


def auth_header(provider: str, settings: GatewaySettings) -> str:
    """Bearer credential for a provider; OpenAI-compatible self-hosted ones get a dummy."""
    if provider == "openai":
        key = settings.openai_api_key
    elif provider == "fireworks":
        key = settings.fireworks_api_key
    else:
        key = ""
    return f"Bearer {key or 'modality-no-key'}"


def fallback_entry(settings: GatewaySettings) -> ModelEntry:
    base = settings.fallback_base_url.rstrip("/")
    return ModelEntry(
        id="fallback",
        name=settings.fallback_model,
        customer_id=None,
        provider=settings.fallback_provider,
        provider_model_id=settings.fallback_model,
        chat_url=f"{base}/chat/completions",
        base_url=base,
        tier="large",
        status="active",
        price=Price(
            settings.fallback_input_price_per_m or 0.0, settings.fallback_output_price_per_m or 0.0
        ),
        created=0,
        auth_header=auth_header(settings.fallback_provider, settings),
    )


def _entry(row: Model, settings: GatewaySettings) -> ModelEntry:
    base = row.base_url.rstrip("/")
    return ModelEntry(
        id=row.id,
        name=row.name,
        customer_id=row.customer_id,
        provider=row.provider,
        provider_model_id=row.provider_model_id,
        chat_url=f"{base}/chat/completions",
        base_url=base,
        tier=row.tier,
        status=row.status,
        price=Price(float(row.input_price_per_m), float(row.output_price_per_m)),
        created=int(row.created_at.timestamp()) if row.created_at else 0,
        auth_header=auth_header(row.provider, settings),
    )


async def load_catalog(
    sessions: async_sessionmaker[AsyncSession], settings: GatewaySettings
) -> Catalog:
    async with sessions() as session:
        models = (
            (await session.execute(select(Model).where(Model.status.not_in(UNCALLABLE_STATUSES))))
            .scalars()
            .all()
        )
        policies = (await session.execute(select(Customer.id, Customer.routing_policy))).all()
    catalog = Catalog(
        fallback=fallback_entry(settings), policies={row.id: row.routing_policy for row in policies}
    )
    for row in models:
        entry = _entry(row, settings)
        if row.customer_id is None:
            catalog.shared[row.name] = entry
        else:
            catalog.owned.setdefault(row.customer_id, {})[row.name] = entry
    return catalog
