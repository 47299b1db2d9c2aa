"""SQL of the control plane. Methods flush; the service decides when to commit.

Customer isolation lives here: every model query that takes a ``customer_id`` returns
only that customer's rows and shared rows (``customer_id IS NULL``), never another
customer's.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import ColumnElement, func, or_, select, tuple_, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute

from modality.common.db.models import ApiKey, Customer, Model, UsageEntry

UNCALLABLE_STATUSES = ("rejected", "retired")


@dataclass(frozen=True, slots=True)
class UsageRow:
    """One aggregate over ledger rows; ``group`` is the model name or the UTC day."""

    group: str | date | None
    requests: int
    errors: int
    prompt_tokens: int
    completion_tokens: int
    cost_usd: Decimal
    fallback_cost_usd: Decimal


class ControlRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def commit(self) -> None:
        await self.session.commit()

    async def rollback(self) -> None:
        await self.session.rollback()

    async def ping(self) -> None:
        await self.session.execute(select(1))

    # --- customers -----------------------------------------------------------------------

    async def add_customer(self, customer: Customer) -> Customer:
        self.session.add(customer)
        await self.session.flush()
        await self.session.refresh(customer)
        return customer

    async def get_customer(self, customer_id: str) -> Customer | None:
        return await self.session.get(Customer, customer_id)

    async def list_customers(self, *, limit: int, after: Customer | None) -> list[Customer]:
        """Oldest first, keyset-paginated on (created_at, id); fetches ``limit`` rows."""
        query = select(Customer).order_by(Customer.created_at, Customer.id).limit(limit)
        if after is not None:
            query = query.where(
                tuple_(Customer.created_at, Customer.id) > tuple_(after.created_at, after.id)
            )
        return list((await self.session.execute(query)).scalars())

    async def refresh(self, row: Any) -> None:
        await self.session.flush()
        await self.session.refresh(row)

    async def clear_default_model(self, name: str, owner_id: str | None) -> list[Customer]:
        """Unset ``default_model = name`` for the customers that could call that model:
        its owner, or everyone when the model is shared. Returns the customers changed."""
        query = select(Customer).where(Customer.default_model == name)
        if owner_id is not None:
            query = query.where(Customer.id == owner_id)
        customers = list((await self.session.execute(query.with_for_update())).scalars())
        for customer in customers:
            customer.default_model = None
        await self.session.flush()
        for customer in customers:
            await self.session.refresh(customer)
        return customers

    # --- API keys ------------------------------------------------------------------------

    async def add_api_key(self, key: ApiKey) -> ApiKey:
        self.session.add(key)
        await self.session.flush()
        await self.session.refresh(key)
        return key

    async def list_api_keys(self, customer_id: str) -> list[ApiKey]:
        query = (
            select(ApiKey)
            .where(ApiKey.customer_id == customer_id)
            .order_by(ApiKey.created_at, ApiKey.id)
        )
        return list((await self.session.execute(query)).scalars())

    async def get_api_key(self, key_id: str, *, for_update: bool = False) -> ApiKey | None:
        query = select(ApiKey).where(ApiKey.id == key_id)
        if for_update:
            query = query.with_for_update()
        return (await self.session.execute(query)).scalar_one_or_none()

    async def revoke_api_key(self, key: ApiKey) -> ApiKey:
        """Stamp ``revoked_at`` once (a second revoke keeps the first time)."""
        if key.revoked_at is None:
            await self.session.execute(
                update(ApiKey)
                .where(ApiKey.id == key.id, ApiKey.revoked_at.is_(None))
                .values(revoked_at=func.now())
            )
            await self.refresh(key)
        return key

    # --- models --------------------------------------------------------------------------

    @staticmethod
    def _visible_to(customer_id: str) -> ColumnElement[bool]:
        return or_(Model.customer_id == customer_id, Model.customer_id.is_(None))

    async def add_model(self, model: Model) -> Model:
        self.session.add(model)
        await self.session.flush()
        await self.session.refresh(model)
        return model

    async def get_model(
        self, model_id: str, *, customer_id: str | None = None, for_update: bool = False
    ) -> Model | None:
        query = select(Model).where(Model.id == model_id)
        if customer_id is not None:
            query = query.where(self._visible_to(customer_id))
        if for_update:
            query = query.with_for_update()
        return (await self.session.execute(query)).scalar_one_or_none()

    async def list_models(self, *, customer_id: str | None, status: str | None) -> list[Model]:
        query = select(Model).order_by(Model.created_at, Model.id)
        if customer_id is not None:
            query = query.where(self._visible_to(customer_id))
        if status is not None:
            query = query.where(Model.status == status)
        return list((await self.session.execute(query)).scalars())

    async def name_taken(self, name: str, customer_id: str | None) -> bool:
        """Would ``name`` be ambiguous for ``customer_id`` (None = shared)?

        A customer's model may not share a name with its own models or with a shared one;
        a shared model may not share a name with any model, since every customer sees it.
        """
        query = select(Model.id).where(Model.name == name)
        if customer_id is not None:
            query = query.where(self._visible_to(customer_id))
        return (await self.session.execute(query.limit(1))).first() is not None

    async def callable_model_exists(self, customer_id: str, name: str) -> bool:
        """Is ``name`` one of the customer's own or shared models in a callable state?"""
        query = (
            select(Model.id)
            .where(
                Model.name == name,
                self._visible_to(customer_id),
                Model.status.not_in(UNCALLABLE_STATUSES),
            )
            .limit(1)
        )
        return (await self.session.execute(query)).first() is not None

    async def set_model_status(self, model: Model, status: str, *, promoted: bool) -> Model:
        model.status = status
        if promoted and model.promoted_at is None:
            await self.session.flush()
            await self.session.execute(
                update(Model).where(Model.id == model.id).values(promoted_at=func.now())
            )
        await self.refresh(model)
        return model

    # --- usage ---------------------------------------------------------------------------

    async def usage(
        self, customer_id: str, start: datetime, end: datetime, group_by: str | None
    ) -> list[UsageRow]:
        """SUMs over ``usage_ledger`` in [start, end); grouped by model or UTC day, or total."""
        group: ColumnElement[Any] | InstrumentedAttribute[str] | None = None
        if group_by == "model":
            group = UsageEntry.model
        elif group_by == "day":
            group = func.date(func.timezone("UTC", UsageEntry.occurred_at))
        columns: list[ColumnElement[Any]] = [
            func.count().label("requests"),
            func.count().filter(UsageEntry.status == "error").label("errors"),
            func.coalesce(func.sum(UsageEntry.prompt_tokens), 0).label("prompt_tokens"),
            func.coalesce(func.sum(UsageEntry.completion_tokens), 0).label("completion_tokens"),
            func.coalesce(func.sum(UsageEntry.cost_usd), 0).label("cost_usd"),
            func.coalesce(func.sum(UsageEntry.fallback_cost_usd), 0).label("fallback_cost_usd"),
        ]
        if group is not None:
            columns.insert(0, group.label("grp"))
        query = select(*columns).where(
            UsageEntry.customer_id == customer_id,
            UsageEntry.occurred_at >= start,
            UsageEntry.occurred_at < end,
        )
        if group is not None:
            query = query.group_by(group).order_by(group)
        rows = (await self.session.execute(query)).all()
        return [
            UsageRow(
                group=row.grp if group is not None else None,
                requests=int(row.requests),
                errors=int(row.errors),
                prompt_tokens=int(row.prompt_tokens),
                completion_tokens=int(row.completion_tokens),
                cost_usd=Decimal(row.cost_usd),
                fallback_cost_usd=Decimal(row.fallback_cost_usd),
            )
            for row in rows
        ]
