"""The usage ledger in Postgres: one transaction per batch, duplicates skipped by key."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncEngine

from modality.billing.types import LedgerRow
from modality.common.db.models import UsageEntry

_INSERT = (
    insert(UsageEntry)
    .on_conflict_do_nothing(index_elements=[UsageEntry.request_id])
    .returning(UsageEntry.request_id)
)


class LedgerRepository:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def insert(self, rows: Sequence[LedgerRow]) -> int:
        """``INSERT ... ON CONFLICT (request_id) DO NOTHING RETURNING request_id`` for all
        rows in one transaction (SQLAlchemy batches them into multi-row VALUES)."""
        if not rows:
            return 0
        async with self._engine.begin() as conn:
            result = await conn.execute(_INSERT, list(rows))
            return len(result.all())
