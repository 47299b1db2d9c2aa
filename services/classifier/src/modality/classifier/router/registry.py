"""In-memory cache of each customer's routing configuration and active models.

Loaded from Postgres (through ``RegistryStore``) and refreshed by events:

- ``CustomerUpdated`` is applied from the event itself at once (no database round trip),
  then the customer is re-read to converge with the database;
- ``model.*`` events re-read the customer's active models; on ``registered`` and
  ``promoted`` a model without a usable domain embedding gets one computed from its
  ``domain_description`` with the classifier's ``embed()`` and written back
  (``domain_embedding``, ``embedding_model``) — the control plane relies on this;
- a periodic full reload is the safety net for missed messages (core NATS is at most once).

A customer not in the cache is loaded on first use (one load per customer even under
concurrent requests). Every write to the cache from the database is serialised by one
lock, so an older read never overwrites a newer one.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import replace

import numpy as np

from modality.classifier import contract
from modality.classifier.router.types import (
    CandidateModel,
    CustomerRecord,
    CustomerRouting,
    FloatArray,
    ModelRecord,
    RegistryStore,
)
from modality.common import subjects
from modality.common.events import CustomerUpdated, ModelEvent
from modality.common.pricing import Price
from modality.common.routing import Policy

log = logging.getLogger(__name__)

Embed = Callable[[Sequence[str]], Awaitable[FloatArray]]

DEFAULT_POLICY = Policy.EMBEDDING
DEFAULT_ALPHA = 1.0
EMBEDDING_EVENTS = frozenset({subjects.MODEL_REGISTERED, subjects.MODEL_PROMOTED})


def parse_policy(value: str, customer_id: str) -> Policy:
    try:
        return Policy(value)
    except ValueError:
        log.warning(
            "customer %s has unknown routing policy %r; using %s",
            customer_id,
            value,
            DEFAULT_POLICY,
        )
        return DEFAULT_POLICY


class Registry:
    def __init__(
        self,
        store: RegistryStore,
        embed: Embed,
        *,
        embedding_model: str = contract.ENCODER_NAME,
        embedding_dim: int = contract.EMBEDDING_DIM,
        on_reload: Callable[[str], None] | None = None,
        on_embedding: Callable[[], None] | None = None,
    ) -> None:
        self._store = store
        self._embed = embed
        self.embedding_model = embedding_model
        self.embedding_dim = embedding_dim
        self._customers: dict[str, CustomerRouting] = {}
        self._pending: dict[str, asyncio.Task[CustomerRouting]] = {}
        self._lock = asyncio.Lock()
        self._on_reload = on_reload or (lambda scope: None)
        self._on_embedding = on_embedding or (lambda: None)

    # --- reads (hot path) ---------------------------------------------------------------
    def cached(self, customer_id: str) -> CustomerRouting | None:
        return self._customers.get(customer_id)

    def __len__(self) -> int:
        return len(self._customers)

    async def get(self, customer_id: str) -> CustomerRouting:
        routing = self._customers.get(customer_id)
        if routing is not None:
            return routing
        task = self._pending.get(customer_id)
        if task is None:
            task = asyncio.create_task(self.reload_customer(customer_id))
            self._pending[customer_id] = task
            task.add_done_callback(lambda _t: self._pending.pop(customer_id, None))
        return await asyncio.shield(task)

    # --- embeddings -----------------------------------------------------------------------
    def usable_embedding(self, model: ModelRecord) -> bool:
        return (
            model.domain_embedding is not None
            and len(model.domain_embedding) == self.embedding_dim
            and model.embedding_model == self.embedding_model
        )

    def needs_embedding(self, model: ModelRecord) -> bool:
        return bool(model.domain_description) and not self.usable_embedding(model)

    async def fill_embeddings(self, models: Sequence[ModelRecord]) -> list[ModelRecord]:
        """Compute and store the domain embeddings ``models`` lack; return them updated."""
        todo = [i for i, m in enumerate(models) if self.needs_embedding(m)]
        if not todo:
            return list(models)
        texts = [models[i].domain_description or "" for i in todo]
        vectors = await self._embed(texts)
        out = list(models)
        for i, vec in zip(todo, vectors, strict=True):
            values = [float(x) for x in np.asarray(vec, dtype=np.float32).reshape(-1)]
            await self._store.save_embedding(models[i].id, values, self.embedding_model)
            out[i] = replace(
                models[i], domain_embedding=values, embedding_model=self.embedding_model
            )
            self._on_embedding()
            log.info("computed the domain embedding of model %s (%s)", models[i].id, models[i].name)
        return out

    async def ensure_embedding(self, model_id: str) -> bool:
        """Give model ``model_id`` a domain embedding if it lacks one; True if one was written."""
        model = await self._store.get_model(model_id)
        if model is None:
            log.warning("model event for unknown model %s", model_id)
            return False
        if not self.needs_embedding(model):
            if not model.domain_description and not self.usable_embedding(model):
                log.warning(
                    "model %s has neither a domain embedding nor a description: "
                    "the embedding policy can never choose it",
                    model_id,
                )
            return False
        await self.fill_embeddings([model])
        return True

    # --- building snapshots -------------------------------------------------------------
    def build(
        self, customer_id: str, record: CustomerRecord | None, models: Iterable[ModelRecord]
    ) -> CustomerRouting:
        candidates = tuple(
            CandidateModel(
                id=m.id,
                name=m.name,
                tier=m.tier,
                domain=m.domain,
                embedding=_unit(m.domain_embedding) if self.usable_embedding(m) else None,
                supports_tools=m.supports_tools,
                supports_vision=m.supports_vision,
                context_window=m.context_window,
                complexity_ceiling=m.complexity_ceiling,
                price=Price(m.input_price_per_m, m.output_price_per_m),
                promoted_at=m.promoted_at,
            )
            for m in sorted(models, key=lambda m: m.name)
        )
        matchable = tuple(i for i, c in enumerate(candidates) if c.embedding is not None)
        matrix = (
            np.stack([candidates[i].embedding for i in matchable]).astype(np.float32)  # type: ignore[misc]
            if matchable
            else np.zeros((0, self.embedding_dim), dtype=np.float32)
        )
        if record is None:
            return CustomerRouting(
                customer_id=customer_id,
                policy=DEFAULT_POLICY,
                alpha=DEFAULT_ALPHA,
                default_model=None,
                models=candidates,
                known=False,
                domain_matrix=matrix,
                matchable=matchable,
            )
        return CustomerRouting(
            customer_id=customer_id,
            policy=parse_policy(record.routing_policy, customer_id),
            alpha=record.routing_alpha,
            default_model=record.default_model,
            models=candidates,
            domain_matrix=matrix,
            matchable=matchable,
        )

    # --- refreshes ------------------------------------------------------------------------
    async def reload_all(self) -> int:
        """Re-read every customer and active model; returns the number of customers."""
        async with self._lock:
            records = await self._store.load_customers()
            models = await self.fill_embeddings(await self._store.load_active_models())
            by_customer: dict[str, list[ModelRecord]] = {}
            for m in models:
                if m.customer_id is not None:
                    by_customer.setdefault(m.customer_id, []).append(m)
            fresh = {
                r.customer_id: self.build(r.customer_id, r, by_customer.get(r.customer_id, ()))
                for r in records
            }
            self._customers = fresh
        self._on_reload("all")
        return len(fresh)

    async def reload_customer(self, customer_id: str) -> CustomerRouting:
        async with self._lock:
            records = await self._store.load_customers(customer_id)
            models = await self.fill_embeddings(await self._store.load_active_models(customer_id))
            routing = self.build(customer_id, records[0] if records else None, models)
            self._customers[customer_id] = routing
        self._on_reload("customer")
        return routing

    def apply_customer_update(self, event: CustomerUpdated) -> None:
        """Apply a policy/alpha/default change at once, keeping the cached models."""
        current = self._customers.get(event.customer_id)
        if current is None:
            return  # loaded on first use, with the new values
        self._customers[event.customer_id] = replace(
            current,
            policy=parse_policy(event.routing_policy, event.customer_id),
            alpha=event.routing_alpha,
            default_model=event.default_model,
            known=True,
        )

    async def on_model_event(self, subject: str, event: ModelEvent) -> None:
        if subject in EMBEDDING_EVENTS:
            await self.ensure_embedding(event.model_id)
        if event.customer_id is not None:
            await self.reload_customer(event.customer_id)


def _unit(values: Sequence[float] | None) -> FloatArray:
    v = np.asarray(values, dtype=np.float32)
    norm = float(np.linalg.norm(v))
    return v / norm if norm > 0 else v
