"""Protocols the router depends on, and the in-memory records it routes with.

The decide logic takes its classifier, its registry and its store through these
Protocols, so policy tests run with a fake classifier and no network.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

import numpy as np
import numpy.typing as npt

from modality.classifier.pipeline import ClassifiedPrompt
from modality.common.pricing import Price
from modality.common.routing import Policy

FloatArray = npt.NDArray[np.float32]


class PromptClassifier(Protocol):
    """What the router needs from ``pipeline.Classifier`` (any backend)."""

    async def classify(
        self,
        prompts: Sequence[str],
        has_tools: Sequence[bool] | None = None,
        has_vision: Sequence[bool] | None = None,
    ) -> list[ClassifiedPrompt]: ...

    async def embed(self, texts: Sequence[str]) -> FloatArray: ...


@dataclass(frozen=True, slots=True)
class CustomerRecord:
    """A customer's routing configuration as stored in ``customers``."""

    customer_id: str
    routing_policy: str
    routing_alpha: float
    default_model: str | None


@dataclass(frozen=True, slots=True)
class ModelRecord:
    """One ``models`` row, reduced to what routing needs."""

    id: str
    name: str
    customer_id: str | None
    status: str
    tier: str
    domain: str | None
    domain_description: str | None
    domain_embedding: list[float] | None
    embedding_model: str | None
    input_price_per_m: float
    output_price_per_m: float
    supports_tools: bool
    supports_vision: bool
    context_window: int
    complexity_ceiling: float | None
    promoted_at: datetime | None


class RegistryStore(Protocol):
    """Where the registry reads customers and models and writes domain embeddings."""

    async def load_customers(self, customer_id: str | None = None) -> list[CustomerRecord]: ...

    async def load_active_models(self, customer_id: str | None = None) -> list[ModelRecord]: ...

    async def get_model(self, model_id: str) -> ModelRecord | None: ...

    async def save_embedding(
        self, model_id: str, embedding: Sequence[float], embedding_model: str
    ) -> bool: ...


@dataclass(frozen=True, slots=True, eq=False)
class CandidateModel:
    """An active model of a customer, ready for scoring."""

    id: str
    name: str
    tier: str
    domain: str | None
    embedding: FloatArray | None  # L2-normalised float32 [EMBEDDING_DIM]; None = not matchable
    supports_tools: bool
    supports_vision: bool
    context_window: int
    complexity_ceiling: float | None
    price: Price
    promoted_at: datetime | None = None


@dataclass(frozen=True, slots=True, eq=False)
class CustomerRouting:
    """Everything the router knows about one customer, replaced as a whole on refresh."""

    customer_id: str
    policy: Policy
    alpha: float
    default_model: str | None
    models: tuple[CandidateModel, ...] = ()
    known: bool = True  # False: no such customer in the database (defaults apply)
    domain_matrix: FloatArray = field(
        default_factory=lambda: np.zeros((0, 0), dtype=np.float32)
    )  # [n matchable models, dim], rows in the order of ``matchable``
    matchable: tuple[int, ...] = ()  # indices into ``models`` of rows in ``domain_matrix``


class RoutingSource(Protocol):
    """The registry as the decide logic sees it."""

    async def get(self, customer_id: str) -> CustomerRouting: ...
