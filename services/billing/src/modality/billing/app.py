"""``create_app(settings)``: the billing worker as one ASGI app.

faststream's ``AsgiFastStream`` runs the NATS broker inside the ASGI lifespan and serves
``/health`` (204 while the broker is connected and the consumer pulls; 503 with the reason
otherwise) and ``/metrics`` (Prometheus). Serve it with uvicorn. Start order: the lifespan
declares every stream (``bus.ensure_streams``) and the durable pull consumer with the ack
settings billing relies on; the broker connects; then the ``UsageConsumer`` pulls on the broker's
connection. Shutdown runs the other way round.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import orjson
from faststream.asgi import AsgiFastStream, AsgiResponse, get
from faststream.asgi.types import Scope
from faststream.nats import NatsBroker
from prometheus_client import make_asgi_app

from modality.billing.handlers import UsageConsumer
from modality.billing.metrics import BillingMetrics
from modality.billing.repository import LedgerRepository
from modality.billing.service import LedgerService
from modality.billing.settings import BillingSettings
from modality.billing.types import LedgerStore
from modality.common import bus, subjects
from modality.common.db.session import create_engine
from modality.common.worker import DurableConsumer, ensure_consumer

log = logging.getLogger(__name__)

SERVICE = "billing"


def usage_consumer(settings: BillingSettings) -> DurableConsumer:
    return DurableConsumer(
        stream=subjects.USAGE_STREAM,
        durable=settings.consumer_name,
        filter_subject=settings.filter_subject,
        ack_wait_s=settings.ack_wait_s,
    )


def health_handler(consumer: UsageConsumer) -> Any:
    """``GET /health``: 204 when usage events are being consumed, else 503 with why.

    Not faststream's ``make_ping_asgi``: it answers a bare 500 whenever the broker has no
    connection, which includes the first moments after start-up (its ASGI lifespan reports
    ready before the broker connects); a probe should read "not ready yet", not an error.
    """
    healthy = AsgiResponse(b"", 204)

    @get(include_in_schema=False)
    async def health(scope: Scope) -> AsgiResponse:
        reason = consumer.unhealthy_reason()
        if reason is None:
            return healthy
        body = orjson.dumps({"status": "unavailable", "reason": reason})
        return AsgiResponse(body, 503, headers={"content-type": "application/json"})

    return health


def create_app(settings: BillingSettings, *, store: LedgerStore | None = None) -> AsgiFastStream:
    """``store`` replaces the Postgres ledger (tests inject failures through it)."""
    metrics = BillingMetrics()
    engine = create_engine(settings.database_url, pool_size=settings.db_pool_size)
    service = LedgerService(store or LedgerRepository(engine), metrics)
    consumer = UsageConsumer(service, settings)
    broker = NatsBroker(
        settings.nats_url,
        name=f"modality-{SERVICE}",
        # The lifespan has already reached NATS (failing fast if it cannot); after that,
        # reconnect forever. faststream types these two as whole seconds.
        connect_timeout=2,
        max_reconnect_attempts=-1,
        reconnect_time_wait=1,
        logger=logging.getLogger("modality.billing.broker"),  # our handlers, not faststream's
    )

    @asynccontextmanager
    async def lifespan() -> AsyncIterator[None]:
        nc = await bus.connect(
            settings.nats_url,
            f"modality-{SERVICE}-setup",
            connect_timeout_s=settings.nats_connect_timeout_s,
        )
        try:
            js = nc.jetstream()
            await bus.ensure_streams(js)
            info = await ensure_consumer(js, usage_consumer(settings))
            log.info(
                "consuming %s as durable %s (%d pending)",
                settings.filter_subject,
                settings.consumer_name,
                info.num_pending,
            )
        finally:
            await nc.close()
        try:
            yield
        finally:
            await engine.dispose()

    async def start_consuming() -> None:
        await consumer.start(broker.connection)

    async def stop_consuming() -> None:
        await consumer.stop()

    return AsgiFastStream(
        broker,
        asgi_routes=[
            ("/health", health_handler(consumer)),
            ("/metrics", make_asgi_app(metrics.registry)),
        ],
        lifespan=lifespan,
        # After the broker has connected: consume on its connection. Before it closes:
        # stop consuming (the batch in hand is written and settled first).
        after_startup=[start_consuming],
        on_shutdown=[stop_consuming],
        logger=log,
    )
