"""Billing against real NATS JetStream and Postgres: exactly one ledger row per request,
whatever the duplicates, poison messages, failures and crashes along the way."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import httpx
import orjson
import pytest
from sqlalchemy.exc import OperationalError

from modality.billing.handlers import UsageConsumer
from modality.billing.metrics import BillingMetrics
from modality.billing.repository import LedgerRepository
from modality.billing.service import LedgerService
from modality.billing.types import LedgerRow

pytestmark = pytest.mark.integration


def usd(value: float) -> Decimal:
    """What one event's dollars become in a NUMERIC(20, 10) column."""
    return Decimal(str(value)).quantize(Decimal("1e-10"), rounding=ROUND_HALF_UP)


def expected_sums(events: Sequence[Any]) -> tuple[int, Decimal, Decimal, int]:
    return (
        len(events),
        sum((usd(e.cost_usd) for e in events), Decimal(0)),
        sum((usd(e.fallback_cost_usd) for e in events), Decimal(0)),
        sum(e.prompt_tokens for e in events),
    )


async def test_duplicates_and_poison_leave_exactly_one_row_per_request(billing: Any) -> None:
    events = [
        billing.event(cost_usd=0.0001 * (i + 1), fallback_cost_usd=0.01, prompt_tokens=i)
        for i in range(120)
    ]
    async with billing.running() as url:
        for event in events:
            assert await billing.publish(event.to_bytes(), event.request_id)
        # The same Nats-Msg-Id within the duplicate window: JetStream drops it.
        for event in events[:10]:
            assert not await billing.publish(event.to_bytes(), event.request_id)
        # The same request id re-published with another message id (as after the
        # window): it is delivered, and the ledger's unique key absorbs it.
        for event in events[10:15]:
            assert await billing.publish(event.to_bytes(), f"{event.request_id}-again")
        # Poison: not JSON, not a UsageRecorded, and a value the ledger cannot hold.
        poison = [
            b"\xff\xfe definitely not json",
            orjson.dumps({"request_id": "req_x", "customer_id": billing.customer_id}),
            billing.event(model="m" * 201).to_bytes(),
        ]
        for i, data in enumerate(poison):
            assert await billing.publish(data, f"poison-{billing.customer_id}-{i}")
        await billing.settled()

        assert await billing.totals() == expected_sums(events)
        assert sorted(await billing.request_ids()) == sorted(e.request_id for e in events)

        metrics = (await _get(f"{url}/metrics")).text
        assert _counter(metrics, "inserted") == 120
        assert _counter(metrics, "duplicate") == 5
        assert _counter(metrics, "poison") == 3
        assert _counter(metrics, "retry") == 0

    # Poison was terminated, not left to be redelivered forever: a new process finds
    # nothing to do for this durable.
    async with billing.running():
        await billing.settled()
        assert (await billing.totals())[0] == 120


async def test_a_row_the_database_refuses_does_not_block_its_batch(billing: Any) -> None:
    """A NUL character passes every check but PostgreSQL refuses it in text: the batch
    fails, is retried row by row, and only that message is terminated."""
    good = [billing.event() for _ in range(20)]
    bad = billing.event(model="acme\x00small")
    async with billing.running() as url:
        for event in [*good[:10], bad, *good[10:]]:
            await billing.publish(event.to_bytes(), event.request_id)
        await billing.settled()
        assert await billing.totals() == expected_sums(good)
        assert bad.request_id not in await billing.request_ids()
        metrics = (await _get(f"{url}/metrics")).text
        assert _counter(metrics, "poison") == 1
        assert _counter(metrics, "inserted") == 20


class FailingOnce:
    """A ledger whose first write fails like a database that went away (nothing written)."""

    def __init__(self, real: LedgerRepository) -> None:
        self.real = real
        self.calls = 0

    async def insert(self, rows: Sequence[LedgerRow]) -> int:
        self.calls += 1
        if self.calls == 1:
            raise OperationalError("INSERT", {}, ConnectionRefusedError("database is down"))
        return await self.real.insert(rows)


async def test_database_failure_is_redelivered_after_a_delay(billing: Any) -> None:
    events = [billing.event() for _ in range(40)]
    for event in events:
        await billing.publish(event.to_bytes(), event.request_id)
    store = FailingOnce(LedgerRepository(billing.engine))
    async with billing.running(store=store) as url:
        await billing.settled()
        assert store.calls >= 2
        assert await billing.totals() == expected_sums(events)
        metrics = (await _get(f"{url}/metrics")).text
        assert _counter(metrics, "retry") >= 1
        assert _counter(metrics, "inserted") == 40


class CrashAfterCommit:
    """Commits the first batch, then dies before anything is acknowledged (an unexpected
    error: the handler settles nothing, so JetStream redelivers after ack_wait)."""

    def __init__(self, real: LedgerRepository) -> None:
        self.real = real
        self.crashed_after: int | None = None

    async def insert(self, rows: Sequence[LedgerRow]) -> int:
        inserted = await self.real.insert(rows)
        if self.crashed_after is None:
            self.crashed_after = inserted
            raise RuntimeError("process died between commit and ack")
        return inserted


async def test_crash_between_commit_and_ack_loses_and_doubles_nothing(billing: Any) -> None:
    events = [billing.event() for _ in range(30)]
    for event in events:
        await billing.publish(event.to_bytes(), event.request_id)
    store = CrashAfterCommit(LedgerRepository(billing.engine))
    async with billing.running(store=store) as url:
        await billing.settled(timeout_s=20)  # includes one ack_wait (1 s) for redelivery
        assert store.crashed_after is not None and store.crashed_after > 0
        assert await billing.totals() == expected_sums(events)
        metrics = (await _get(f"{url}/metrics")).text
        # The redelivered messages whose rows the first attempt committed are duplicates.
        assert _counter(metrics, "duplicate") == store.crashed_after
        assert _counter(metrics, "inserted") == 30 - store.crashed_after


async def test_two_replicas_share_the_durable(billing: Any) -> None:
    events = [billing.event() for _ in range(300)]
    async with billing.running(), billing.running():
        await asyncio.gather(*(billing.publish(e.to_bytes(), e.request_id) for e in events))
        await billing.settled()
    assert await billing.totals() == expected_sums(events)


async def test_health_and_metrics_over_http(billing: Any) -> None:
    async with billing.running() as url:
        # faststream reports the app started before its broker connects: until the consumer
        # pulls, /health says 503 with the reason (never a bare 500), then 204.
        deadline = asyncio.get_running_loop().time() + 10
        while (health := await _get(f"{url}/health")).status_code == 503:
            assert health.json()["status"] == "unavailable"
            assert asyncio.get_running_loop().time() < deadline, health.text
            await asyncio.sleep(0.05)
        assert health.status_code == 204
        metrics = await _get(f"{url}/metrics")
        assert metrics.status_code == 200
        assert "modality_billing_messages_total" in metrics.text
        assert "process_cpu_seconds_total" in metrics.text


async def _get(url: str) -> httpx.Response:
    async with httpx.AsyncClient() as client:
        return await client.get(url)


def _counter(metrics: str, outcome: str) -> float:
    prefix = f'modality_billing_messages_total{{outcome="{outcome}"}} '
    for line in metrics.splitlines():
        if line.startswith(prefix):
            return float(line[len(prefix) :])
    return 0.0


async def test_health_reason_before_the_consumer_starts(billing: Any) -> None:
    consumer = UsageConsumer(
        LedgerService(LedgerRepository(billing.engine), BillingMetrics()), billing.settings
    )
    assert consumer.unhealthy_reason() == "usage consumer not started"
