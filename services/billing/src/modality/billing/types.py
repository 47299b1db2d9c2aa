"""What the ledger service is given, so its logic tests need no database."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

LedgerRow = dict[str, Any]


class LedgerStore(Protocol):
    async def insert(self, rows: Sequence[LedgerRow]) -> int:
        """Insert rows in one transaction, skipping request ids already present; return
        how many were new. Raises on failure, having written nothing."""
        ...
