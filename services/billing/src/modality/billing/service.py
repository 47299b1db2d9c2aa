"""Turn a pulled batch of usage messages into ledger rows and a verdict per message.

Verdicts: ``ACK`` once the row is committed (or was already there), ``TERM`` for a
message that can never be written (poison: not a valid ``UsageRecorded``, or values the
ledger cannot hold), ``RETRY`` when the database failed (the message comes back later).
Every message of a batch gets exactly one verdict; nothing is acknowledged before the
transaction that holds its row has committed.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from enum import StrEnum

from pydantic import ValidationError
from sqlalchemy import Integer, Numeric, String
from sqlalchemy.exc import DataError, IntegrityError, SQLAlchemyError

from modality.billing.metrics import BillingMetrics
from modality.billing.types import LedgerRow, LedgerStore
from modality.common.db.models import MONEY, UsageEntry
from modality.common.events import UsageRecorded

log = logging.getLogger(__name__)

# Any failure to write. Most are the database's or the network's (retry later); those
# that ``is_row_error`` recognises belong to a row, and retrying cannot fix them.
WRITE_ERRORS = (SQLAlchemyError, OSError, TimeoutError)
# SQLSTATE classes 22 (data exception) and 23 (integrity constraint violation).
_ROW_SQLSTATE_CLASSES = frozenset({"22", "23"})

_INT32_MAX = 2**31 - 1


def is_row_error(exc: BaseException) -> bool:
    """Did the database refuse a value rather than fail? Decided by SQLSTATE: the driver's
    exception class is not enough (asyncpg reports a NUL character in text, SQLSTATE
    22021, as a plain ``Error``)."""
    sqlstate = getattr(getattr(exc, "orig", None), "sqlstate", None)
    if isinstance(sqlstate, str) and len(sqlstate) == 5:
        return sqlstate[:2] in _ROW_SQLSTATE_CLASSES
    return isinstance(exc, DataError | IntegrityError)


class Verdict(StrEnum):
    ACK = "ack"
    TERM = "term"
    RETRY = "retry"


class PoisonMessageError(ValueError):
    """The message can never become a ledger row."""


def _column_limits() -> tuple[dict[str, int], frozenset[str], dict[str, Decimal]]:
    lengths: dict[str, int] = {}
    integers: set[str] = set()
    money: dict[str, Decimal] = {}
    for column in UsageEntry.__table__.columns:
        kind = column.type
        if isinstance(kind, String) and kind.length:
            lengths[column.name] = kind.length
        elif isinstance(kind, Integer):
            integers.add(column.name)
        elif isinstance(kind, Numeric) and kind.precision and kind.scale is not None:
            money[column.name] = Decimal(10) ** (kind.precision - kind.scale)
    return lengths, frozenset(integers), money


_LENGTHS, _INTEGERS, _MONEY_LIMITS = _column_limits()
MONEY_QUANTUM = Decimal(1).scaleb(-(MONEY.scale or 0))  # the ledger's 1e-10 USD


def to_money(value: float) -> Decimal:
    """Dollars as the ledger stores them: the float's shortest repr (``0.00125``, not its
    binary expansion), rounded half-up to the column's scale (1e-10 USD) here rather than
    left to the database, so what we write is what we computed."""
    return Decimal(str(value)).quantize(MONEY_QUANTUM, rounding=ROUND_HALF_UP)


def to_row(event: UsageRecorded) -> LedgerRow:
    """The ledger row of an event; raises ``PoisonMessageError`` if a column cannot hold it."""
    row: LedgerRow = {
        "request_id": event.request_id,
        "customer_id": event.customer_id,
        "api_key_id": event.api_key_id,
        "model": event.model,
        "provider": event.provider,
        "tier": event.tier,
        "policy": event.policy,
        "route_reason": event.route_reason,
        "endpoint": event.endpoint,
        "prompt_tokens": event.prompt_tokens,
        "completion_tokens": event.completion_tokens,
        "latency_ms": event.latency_ms,
        "cost_usd": to_money(event.cost_usd),
        "fallback_model": event.fallback_model,
        "fallback_cost_usd": to_money(event.fallback_cost_usd),
        "status": event.status,
        "status_code": event.status_code,
        "stream": event.stream,
        "attempts": event.attempts,
        "occurred_at": event.occurred_at,
    }
    for name, limit in _LENGTHS.items():
        if len(row[name]) > limit:
            raise PoisonMessageError(f"{name} is longer than {limit} characters")
    for name in _INTEGERS:
        if not -_INT32_MAX - 1 <= row[name] <= _INT32_MAX:
            raise PoisonMessageError(f"{name} does not fit a 32-bit integer")
    for name, bound in _MONEY_LIMITS.items():
        if not row[name].is_finite() or abs(row[name]) >= bound:
            raise PoisonMessageError(f"{name} is out of range")
    if event.occurred_at.tzinfo is None:
        raise PoisonMessageError("occurred_at has no time zone")
    return row


@dataclass(slots=True)
class _Pending:
    row: LedgerRow
    indexes: list[int]  # every message of the batch carrying this request id


class LedgerService:
    def __init__(self, store: LedgerStore, metrics: BillingMetrics) -> None:
        self.store = store
        self.metrics = metrics

    async def ingest(self, payloads: Sequence[bytes]) -> list[Verdict]:
        """One verdict per payload, in order."""
        self.metrics.batch_size.observe(len(payloads))
        verdicts = [Verdict.TERM] * len(payloads)
        pending: dict[str, _Pending] = {}
        for index, data in enumerate(payloads):
            try:
                row = to_row(UsageRecorded.model_validate_json(data))
            except (ValidationError, PoisonMessageError) as exc:
                self.metrics.messages.labels("poison").inc()
                log.error(
                    "poison usage message (terminated): %s; payload %r", _brief(exc), data[:200]
                )
                continue
            entry = pending.setdefault(row["request_id"], _Pending(row, []))
            entry.indexes.append(index)
        if not pending:
            return verdicts

        groups = list(pending.values())
        started = time.perf_counter()
        try:
            inserted = await self.store.insert([g.row for g in groups])
        except WRITE_ERRORS as exc:
            if is_row_error(exc):
                self.metrics.write_failures.labels("data").inc()
                log.warning(
                    "batch of %d refused by the database (%s); writing rows one by one",
                    len(groups),
                    _brief(exc),
                )
                await self._one_by_one(groups, verdicts)
            else:
                self.metrics.write_failures.labels("transient").inc()
                log.error(
                    "ledger write failed, %d message(s) will be redelivered: %s",
                    sum(len(g.indexes) for g in groups),
                    _brief(exc),
                )
                self._mark(groups, verdicts, Verdict.RETRY)
        else:
            self.metrics.write_seconds.observe(time.perf_counter() - started)
            self._mark(groups, verdicts, Verdict.ACK)
            self._count(groups, inserted)
        return verdicts

    async def _one_by_one(self, groups: list[_Pending], verdicts: list[Verdict]) -> None:
        """Isolate the rows the database refuses (TERM) from those it takes (ACK)."""
        for group in groups:
            request_id = group.row["request_id"]
            try:
                new = await self.store.insert([group.row])
            except WRITE_ERRORS as exc:
                if is_row_error(exc):
                    self.metrics.messages.labels("poison").inc(len(group.indexes))
                    log.error(
                        "usage %s refused by the ledger (terminated): %s", request_id, _brief(exc)
                    )
                    self._mark([group], verdicts, Verdict.TERM)
                else:
                    self.metrics.write_failures.labels("transient").inc()
                    log.error(
                        "ledger write of %s failed, will be redelivered: %s",
                        request_id,
                        _brief(exc),
                    )
                    self._mark([group], verdicts, Verdict.RETRY)
            else:
                self._mark([group], verdicts, Verdict.ACK)
                self._count([group], new)

    def _mark(self, groups: Sequence[_Pending], verdicts: list[Verdict], verdict: Verdict) -> None:
        for group in groups:
            for index in group.indexes:
                verdicts[index] = verdict
        if verdict is Verdict.RETRY:
            self.metrics.messages.labels("retry").inc(sum(len(g.indexes) for g in groups))

    def _count(self, groups: Sequence[_Pending], inserted: int) -> None:
        messages = sum(len(g.indexes) for g in groups)
        self.metrics.messages.labels("inserted").inc(inserted)
        self.metrics.messages.labels("duplicate").inc(messages - inserted)


def _brief(exc: BaseException) -> str:
    text = str(exc).splitlines()[0] if str(exc) else ""
    return f"{type(exc).__name__}: {text[:300]}"
