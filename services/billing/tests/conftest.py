"""Billing test fixtures: a migrated database, a NATS connection, a per-test customer
subject and durable name, and a runner serving the billing app over real HTTP.

Servers come from ``modality.devstack.testing`` (root conftest). Each test consumes only
``usage.recorded.<its own customer>`` through its own durable, so tests never see each
other's events even though they share the session's NATS and database.
"""

from __future__ import annotations

import asyncio
import secrets
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from decimal import Decimal

import pytest
import uvicorn
from nats.aio.client import Client as NATS
from nats.js.errors import NotFoundError
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from modality.billing.app import create_app
from modality.billing.settings import BillingSettings
from modality.billing.types import LedgerStore
from modality.common import bus, subjects
from modality.common.db.migrate import upgrade
from modality.common.db.models import UsageEntry
from modality.common.db.session import create_engine
from modality.common.events import UsageRecorded
from modality.common.ids import new_id, new_request_id


@pytest.fixture(scope="session")
def migrated_db(database_url: str) -> str:
    upgrade(database_url)
    return database_url


@pytest.fixture
async def engine(migrated_db: str) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(migrated_db, pool_size=2)
    yield engine
    await engine.dispose()


@pytest.fixture
async def nc(nats_url: str) -> AsyncIterator[NATS]:
    client = await bus.connect(nats_url, "billing-tests")
    await bus.ensure_streams(client.jetstream())
    yield client
    await client.close()


@pytest.fixture
def customer_id() -> str:
    return new_id("cus")


@pytest.fixture
async def settings(
    migrated_db: str, nats_url: str, customer_id: str, nc: NATS
) -> AsyncIterator[BillingSettings]:
    name = f"billing-test-{secrets.token_hex(4)}"
    yield BillingSettings(
        env="test",
        nats_url=nats_url,
        database_url=migrated_db,
        consumer_name=name,
        filter_subject=subjects.usage_recorded(customer_id),
        batch_max=64,
        retry_delay_s=0.2,
        ack_wait_s=1.0,
    )
    try:
        await nc.jetstream().delete_consumer(subjects.USAGE_STREAM, name)
    except NotFoundError:
        pass  # the test failed before the app declared it


class Harness:
    """One test's view of billing: its customer, subject, durable, ledger rows and app."""

    def __init__(
        self, nc: NATS, engine: AsyncEngine, settings: BillingSettings, customer_id: str
    ) -> None:
        self.nc = nc
        self.engine = engine
        self.settings = settings
        self.customer_id = customer_id
        self.subject = subjects.usage_recorded(customer_id)

    def event(self, request_id: str | None = None, **fields: object) -> UsageRecorded:
        values: dict[str, object] = {
            "request_id": request_id or new_request_id(),
            "customer_id": self.customer_id,
            "api_key_id": "key_test",
            "model": "acme-small",
            "provider": "simulator",
            "tier": "small",
            "policy": "embedding",
            "route_reason": "domain_match",
            "prompt_tokens": 120,
            "completion_tokens": 30,
            "latency_ms": 85.0,
            "cost_usd": 0.00125,
            "fallback_model": "gpt-4o",
            "fallback_cost_usd": 0.0006,
            "status": "ok",
            "status_code": 200,
            "occurred_at": datetime.now(UTC),
        }
        values.update(fields)
        return UsageRecorded.model_validate(values)

    async def publish(self, data: bytes, msg_id: str | None) -> bool:
        """Publish like the gateway does; False when JetStream dropped it as a duplicate."""
        headers = {"Nats-Msg-Id": msg_id} if msg_id else None
        ack = await self.nc.jetstream().publish(self.subject, data, headers=headers)
        return not ack.duplicate

    async def totals(self) -> tuple[int, Decimal, Decimal, int]:
        """(rows, SUM cost, SUM fallback cost, SUM prompt tokens) of this customer."""
        query = select(
            func.count(),
            func.coalesce(func.sum(UsageEntry.cost_usd), 0),
            func.coalesce(func.sum(UsageEntry.fallback_cost_usd), 0),
            func.coalesce(func.sum(UsageEntry.prompt_tokens), 0),
        ).where(UsageEntry.customer_id == self.customer_id)
        async with self.engine.connect() as conn:
            count, cost, fallback, prompt = (await conn.execute(query)).one()
        return int(count), Decimal(cost), Decimal(fallback), int(prompt)

    async def request_ids(self) -> list[str]:
        query = select(UsageEntry.request_id).where(UsageEntry.customer_id == self.customer_id)
        async with self.engine.connect() as conn:
            return list((await conn.execute(query)).scalars())

    async def settled(self, timeout_s: float = 15.0) -> None:
        """Wait until the durable has nothing pending and nothing awaiting an ack."""
        js = self.nc.jetstream()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        while True:
            info = await js.consumer_info(subjects.USAGE_STREAM, self.settings.consumer_name)
            if info.num_pending == 0 and info.num_ack_pending == 0:
                return
            if loop.time() > deadline:
                raise TimeoutError(
                    f"consumer not settled: {info.num_pending} pending, "
                    f"{info.num_ack_pending} unacknowledged"
                )
            await asyncio.sleep(0.05)

    @asynccontextmanager
    async def running(
        self, store: LedgerStore | None = None, settings: BillingSettings | None = None
    ) -> AsyncIterator[str]:
        """The billing app under uvicorn, in this event loop, on a free port; yields its URL."""
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
        app = create_app(settings or self.settings, store=store)
        server = uvicorn.Server(
            uvicorn.Config(app, lifespan="on", log_config=None, access_log=False)
        )
        task = asyncio.create_task(server.serve(sockets=[sock]))
        try:
            while not server.started:
                if task.done():
                    task.result()
                    raise RuntimeError("billing exited during startup")
                await asyncio.sleep(0.01)
            yield f"http://127.0.0.1:{port}"
        finally:
            server.should_exit = True
            await asyncio.wait_for(task, 15)
            sock.close()


@pytest.fixture
def billing(nc: NATS, engine: AsyncEngine, settings: BillingSettings, customer_id: str) -> Harness:
    return Harness(nc, engine, settings, customer_id)
