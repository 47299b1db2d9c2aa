"""Fixtures of the router, HTTP and Triton tests.

``FakeClassifier`` stands in for the ONNX model in policy and registry tests: its
embedding is a normalised bag of words (hashed into 384 dimensions), so a prompt and a
domain description sharing words have a high cosine and unrelated texts are close to
orthogonal; complexity and small-model failure are set per test.
"""

from __future__ import annotations

import zlib
from collections.abc import AsyncIterator, Callable, Sequence
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import numpy as np
import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from modality.classifier import contract
from modality.classifier.features import feature_vector, signals
from modality.classifier.pipeline import ClassifiedPrompt
from modality.classifier.postprocess import Classification
from modality.classifier.router.types import CustomerRecord, ModelRecord
from modality.common.db.migrate import upgrade
from modality.common.db.models import Customer, Model
from modality.common.db.session import create_engine, session_factory
from modality.common.ids import new_id


def bag_of_words(text: str, dim: int = contract.EMBEDDING_DIM) -> np.ndarray:
    v = np.zeros(dim, dtype=np.float32)
    for word in text.lower().split():
        word = word.strip(".,;:!?\"'()")
        if word:
            v[zlib.crc32(word.encode()) % dim] += 1.0
    norm = float(np.linalg.norm(v))
    return v / norm if norm else v


class FakeClassifier:
    def __init__(self, complexity: float = 0.2, failure: float = 0.1) -> None:
        self.complexity = complexity
        self.failure = failure
        self.classify_calls: list[list[str]] = []
        self.embed_calls: list[list[str]] = []

    def classification(self, text: str, has_tools: bool, has_vision: bool) -> Classification:
        return Classification(
            task_type_1="Open QA",
            task_type_2="NA",
            task_type_prob=0.9,
            creativity_scope=0.1,
            reasoning=0.1,
            contextual_knowledge=0.0,
            domain_knowledge=0.2,
            constraint_ct=0.1,
            number_of_few_shots=0.0,
            prompt_complexity_score=self.complexity,
            small_model_failure=self.failure,
            signals=signals(text, feature_vector(text), has_tools=has_tools, has_vision=has_vision),
        )

    async def classify(
        self,
        prompts: Sequence[str],
        has_tools: Sequence[bool] | None = None,
        has_vision: Sequence[bool] | None = None,
    ) -> list[ClassifiedPrompt]:
        self.classify_calls.append(list(prompts))
        tools = list(has_tools) if has_tools is not None else [False] * len(prompts)
        vision = list(has_vision) if has_vision is not None else [False] * len(prompts)
        return [
            ClassifiedPrompt(self.classification(p, t, v), bag_of_words(p))
            for p, t, v in zip(prompts, tools, vision, strict=True)
        ]

    async def embed(self, texts: Sequence[str]) -> np.ndarray:
        self.embed_calls.append(list(texts))
        if not texts:
            return np.zeros((0, contract.EMBEDDING_DIM), dtype=np.float32)
        return np.stack([bag_of_words(t) for t in texts])


@pytest.fixture
def fake_classifier() -> FakeClassifier:
    return FakeClassifier()


def model_record(name: str, customer_id: str = "cus_a", **kw: Any) -> ModelRecord:
    description = kw.pop("domain_description", None)
    embed = kw.pop("embed", True)
    fields: dict[str, Any] = {
        "id": kw.pop("id", f"mdl_{name}"),
        "name": name,
        "customer_id": customer_id,
        "status": "active",
        "tier": "small",
        "domain": None,
        "domain_description": description,
        "domain_embedding": [float(x) for x in bag_of_words(description)]
        if description and embed
        else None,
        "embedding_model": contract.ENCODER_NAME if description and embed else None,
        "input_price_per_m": 0.2,
        "output_price_per_m": 0.2,
        "supports_tools": False,
        "supports_vision": False,
        "context_window": 8192,
        "complexity_ceiling": None,
        "promoted_at": datetime(2026, 1, 1, tzinfo=UTC),
    }
    fields.update(kw)
    return ModelRecord(**fields)


def customer_record(
    customer_id: str = "cus_a",
    policy: str = "embedding",
    alpha: float = 1.0,
    default_model: str | None = None,
) -> CustomerRecord:
    return CustomerRecord(customer_id, policy, alpha, default_model)


class InMemoryStore:
    """``RegistryStore`` over dicts, counting calls."""

    def __init__(self) -> None:
        self.customers: dict[str, CustomerRecord] = {}
        self.models: dict[str, ModelRecord] = {}
        self.saved: list[tuple[str, str]] = []
        self.loads = 0

    def add(self, *records: CustomerRecord | ModelRecord) -> None:
        for r in records:
            if isinstance(r, CustomerRecord):
                self.customers[r.customer_id] = r
            else:
                self.models[r.id] = r

    async def load_customers(self, customer_id: str | None = None) -> list[CustomerRecord]:
        self.loads += 1
        return [c for c in self.customers.values() if customer_id in (None, c.customer_id)]

    async def load_active_models(self, customer_id: str | None = None) -> list[ModelRecord]:
        return [
            m
            for m in self.models.values()
            if m.status == "active"
            and m.customer_id is not None
            and customer_id in (None, m.customer_id)
        ]

    async def get_model(self, model_id: str) -> ModelRecord | None:
        return self.models.get(model_id)

    async def save_embedding(
        self, model_id: str, embedding: Sequence[float], embedding_model: str
    ) -> bool:
        from dataclasses import replace

        self.saved.append((model_id, embedding_model))
        self.models[model_id] = replace(
            self.models[model_id], domain_embedding=list(embedding), embedding_model=embedding_model
        )
        return True


@pytest.fixture
def store() -> InMemoryStore:
    return InMemoryStore()


@pytest.fixture
def records() -> Any:
    """Record factories: ``records.model(...)``, ``records.customer(...)``."""

    class _Records:
        model = staticmethod(model_record)
        customer = staticmethod(customer_record)
        bag = staticmethod(bag_of_words)

    return _Records


# --- Postgres ---------------------------------------------------------------------------
@pytest.fixture(scope="session")
def router_db(database_url: str) -> str:
    """The session database with every migration applied."""
    upgrade(database_url)
    return database_url


@pytest.fixture
async def db_sessions(router_db: str) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    engine = create_engine(router_db, pool_size=2)
    yield session_factory(engine)
    await engine.dispose()


@pytest.fixture
def db_rows(db_sessions: async_sessionmaker[AsyncSession]) -> Callable[..., Any]:
    """``await db_rows.customer(...)`` / ``await db_rows.model(...)`` insert real rows."""

    class _Rows:
        @staticmethod
        async def customer(
            policy: str = "embedding", alpha: float = 1.0, default_model: str | None = None
        ) -> str:
            cid = new_id("cus")
            async with db_sessions() as s, s.begin():
                s.add(
                    Customer(
                        id=cid,
                        name=cid,
                        routing_policy=policy,
                        routing_alpha=alpha,
                        default_model=default_model,
                    )
                )
            return cid

        @staticmethod
        async def model(customer_id: str, name: str, **kw: Any) -> str:
            mid = new_id("mdl")
            fields: dict[str, Any] = {
                "provider": "simulator",
                "base_url": "http://127.0.0.1:9/v1",
                "provider_model_id": f"ft:{name}",
                "input_price_per_m": Decimal("0.2"),
                "output_price_per_m": Decimal("0.2"),
                "status": "active",
            }
            fields.update(kw)
            async with db_sessions() as s, s.begin():
                s.add(Model(id=mid, name=name, customer_id=customer_id, **fields))
            return mid

        @staticmethod
        async def get_model(model_id: str) -> Model | None:
            async with db_sessions() as s:
                return await s.get(Model, model_id)

        @staticmethod
        async def update_model(model_id: str, **kw: Any) -> None:
            async with db_sessions() as s, s.begin():
                m = await s.get(Model, model_id)
                assert m is not None
                for k, v in kw.items():
                    setattr(m, k, v)

        @staticmethod
        async def update_customer(customer_id: str, **kw: Any) -> None:
            async with db_sessions() as s, s.begin():
                c = await s.get(Customer, customer_id)
                assert c is not None
                for k, v in kw.items():
                    setattr(c, k, v)

    return _Rows
