"""``RegistryStore`` on Postgres (SQLAlchemy async, the shared ORM models)."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from modality.classifier.router.types import CustomerRecord, ModelRecord
from modality.common.db.models import Customer, Model

ACTIVE = "active"


def _model_record(m: Model) -> ModelRecord:
    return ModelRecord(
        id=m.id,
        name=m.name,
        customer_id=m.customer_id,
        status=m.status,
        tier=m.tier,
        domain=m.domain,
        domain_description=m.domain_description,
        domain_embedding=list(m.domain_embedding) if m.domain_embedding is not None else None,
        embedding_model=m.embedding_model,
        input_price_per_m=float(m.input_price_per_m),
        output_price_per_m=float(m.output_price_per_m),
        supports_tools=bool(m.supports_tools),
        supports_vision=bool(m.supports_vision),
        context_window=int(m.context_window),
        complexity_ceiling=m.complexity_ceiling,
        promoted_at=m.promoted_at,
    )


class PostgresRegistryStore:
    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    async def load_customers(self, customer_id: str | None = None) -> list[CustomerRecord]:
        stmt = select(
            Customer.id, Customer.routing_policy, Customer.routing_alpha, Customer.default_model
        )
        if customer_id is not None:
            stmt = stmt.where(Customer.id == customer_id)
        async with self._sessions() as session:
            rows = (await session.execute(stmt)).all()
        return [CustomerRecord(r[0], r[1], float(r[2]), r[3]) for r in rows]

    async def load_active_models(self, customer_id: str | None = None) -> list[ModelRecord]:
        stmt = select(Model).where(Model.status == ACTIVE, Model.customer_id.is_not(None))
        if customer_id is not None:
            stmt = stmt.where(Model.customer_id == customer_id)
        async with self._sessions() as session:
            models = (await session.scalars(stmt)).all()
        return [_model_record(m) for m in models]

    async def get_model(self, model_id: str) -> ModelRecord | None:
        async with self._sessions() as session:
            model = await session.get(Model, model_id)
        return _model_record(model) if model is not None else None

    async def save_embedding(
        self, model_id: str, embedding: Sequence[float], embedding_model: str
    ) -> bool:
        """Write the embedding unless one from ``embedding_model`` is already stored."""
        stmt = (
            update(Model)
            .where(
                Model.id == model_id,
                or_(
                    Model.domain_embedding.is_(None),
                    Model.embedding_model.is_(None),
                    Model.embedding_model != embedding_model,
                ),
            )
            .values(domain_embedding=list(embedding), embedding_model=embedding_model)
        )
        async with self._sessions() as session, session.begin():
            result = await session.execute(stmt)
        return bool(getattr(result, "rowcount", 0))
