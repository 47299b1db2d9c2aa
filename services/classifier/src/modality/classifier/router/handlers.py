"""NATS adapter of the router: ``route.decide`` request/reply and registry events.

Bare nats-py rather than faststream: on this path the transport is most of what is not
model time (``bench/router_latency.py`` measures both). Each ``route.decide`` message is
handled in its own task (bounded by ``max_concurrency``) so concurrent requests overlap —
which is what lets Triton's dynamic batcher form batches. Every request gets a reply: a
``RouteDecision``, or a ``RouteError`` when the request is invalid, the decision fails or
it takes longer than ``decide_timeout_s``; the gateway never waits for nothing.

Registry events (``model.>``, ``control.customer.updated``) arrive on core NATS
subscriptions (JetStream publishes are delivered to core subscribers too) and are applied
in background tasks; a periodic full reload covers anything missed.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Coroutine
from typing import Any

import orjson
from nats.aio.client import Client as NATS
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription
from pydantic import ValidationError

from modality.classifier.metrics import ServiceMetrics
from modality.classifier.router.registry import Registry
from modality.classifier.router.service import RouterService
from modality.common import subjects
from modality.common.events import (
    CustomerUpdated,
    ModelDemoted,
    ModelEvaluated,
    ModelEvent,
    ModelPromoted,
    ModelRegistered,
    ModelRejected,
)
from modality.common.routing import RouteError, RouteRequest

log = logging.getLogger(__name__)

MODEL_EVENTS: dict[str, type[ModelEvent]] = {
    subjects.MODEL_REGISTERED: ModelRegistered,
    subjects.MODEL_PROMOTED: ModelPromoted,
    subjects.MODEL_DEMOTED: ModelDemoted,
    subjects.MODEL_EVALUATED: ModelEvaluated,
    subjects.MODEL_REJECTED: ModelRejected,
}
PENDING_MSGS_LIMIT = 65_536


def error_reply(message: str) -> bytes:
    return RouteError(error=message).model_dump_json().encode()


class RouterWorker:
    def __init__(
        self,
        nc: NATS,
        service: RouterService,
        registry: Registry,
        metrics: ServiceMetrics,
        *,
        decide_timeout_s: float,
        max_concurrency: int,
        reload_period_s: float,
    ) -> None:
        self.nc = nc
        self.service = service
        self.registry = registry
        self.metrics = metrics
        self.decide_timeout_s = decide_timeout_s
        self.reload_period_s = reload_period_s
        self._sem = asyncio.Semaphore(max_concurrency)
        self._subs: list[Subscription] = []
        self._tasks: set[asyncio.Task[Any]] = set()
        self._reloader: asyncio.Task[None] | None = None

    # --- lifecycle ------------------------------------------------------------------------
    async def start(self) -> None:
        """Subscribe to events first, then load, then serve: nothing falls in between."""
        self._subs.append(await self.nc.subscribe(subjects.MODEL_ALL, cb=self._on_model_event))
        self._subs.append(
            await self.nc.subscribe(subjects.CUSTOMER_UPDATED, cb=self._on_customer_updated)
        )
        await self.nc.flush()
        customers = await self.registry.reload_all()
        self.metrics.registry_customers.set(len(self.registry))
        log.info("router registry loaded: %d customers", customers)
        self._subs.append(
            await self.nc.subscribe(
                subjects.ROUTE_DECIDE,
                queue=subjects.ROUTER_QUEUE,
                cb=self._on_decide,
                pending_msgs_limit=PENDING_MSGS_LIMIT,
            )
        )
        await self.nc.flush()
        self._reloader = asyncio.create_task(self._reload_loop(), name="router-registry-reload")

    async def stop(self) -> None:
        for sub in self._subs:
            await sub.unsubscribe()
        self._subs.clear()
        if self._reloader is not None:
            self._reloader.cancel()
            await asyncio.gather(self._reloader, return_exceptions=True)
            self._reloader = None
        if self._tasks:
            await asyncio.wait(set(self._tasks), timeout=self.decide_timeout_s + 1.0)

    def _spawn(self, coro: Coroutine[Any, Any, None], what: str) -> None:
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(lambda t: self._done(t, what))

    def _done(self, task: asyncio.Task[Any], what: str) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("router %s failed", what, exc_info=task.exception())

    # --- route.decide ---------------------------------------------------------------------
    async def _on_decide(self, msg: Msg) -> None:
        if not msg.reply:
            log.warning("route.decide without a reply subject ignored")
            return
        self._spawn(self._decide_and_reply(msg), "route.decide reply")

    async def _decide_and_reply(self, msg: Msg) -> None:
        started = time.perf_counter()
        payload = await self.answer(msg.data, started)
        await msg.respond(payload)

    async def answer(self, data: bytes, started: float | None = None) -> bytes:
        """The reply bytes for one ``route.decide`` payload (a decision or a RouteError)."""
        started = time.perf_counter() if started is None else started
        try:
            request = RouteRequest.model_validate_json(data)
        except ValidationError as exc:
            self.metrics.errors.labels("invalid_request").inc()
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first.get("loc", ())) or "body"
            return error_reply(f"invalid route.decide request: {where}: {first.get('msg')}")
        try:
            async with asyncio.timeout(self.decide_timeout_s):
                async with self._sem:
                    decision = await self.service.decide(request)
        except TimeoutError:
            self.metrics.errors.labels("timeout").inc()
            log.warning("route.decide for %s timed out", request.request_id)
            return error_reply(f"no decision within {self.decide_timeout_s * 1000:.0f} ms")
        except Exception as exc:
            self.metrics.errors.labels("internal").inc()
            log.exception("route.decide for %s failed", request.request_id)
            return error_reply(f"router failed: {type(exc).__name__}: {exc}")
        elapsed = time.perf_counter() - started
        decision.decided_in_ms = round(elapsed * 1000.0, 3)
        self.metrics.decide_seconds.observe(elapsed)
        self.metrics.decisions.labels(decision.policy, decision.reason).inc()
        return decision.model_dump_json().encode()

    # --- registry events ------------------------------------------------------------------
    async def _on_model_event(self, msg: Msg) -> None:
        self.metrics.events.labels(msg.subject).inc()
        cls = MODEL_EVENTS.get(msg.subject)
        try:
            if cls is not None:
                event = cls.model_validate_json(msg.data)
                self._spawn(self._apply_model_event(msg.subject, event), f"{msg.subject} handling")
                return
            customer_id = orjson.loads(msg.data).get("customer_id")
        except (ValidationError, orjson.JSONDecodeError, AttributeError) as exc:
            log.warning("malformed %s event ignored: %s", msg.subject, exc)
            return
        if isinstance(customer_id, str):
            self._spawn(self._reload_customer(customer_id), f"{msg.subject} handling")

    async def _apply_model_event(self, subject: str, event: ModelEvent) -> None:
        await self.registry.on_model_event(subject, event)
        self.metrics.registry_customers.set(len(self.registry))

    async def _reload_customer(self, customer_id: str) -> None:
        await self.registry.reload_customer(customer_id)
        self.metrics.registry_customers.set(len(self.registry))

    async def _on_customer_updated(self, msg: Msg) -> None:
        self.metrics.events.labels(msg.subject).inc()
        try:
            event = CustomerUpdated.model_validate_json(msg.data)
        except ValidationError as exc:
            log.warning("malformed %s event ignored: %s", msg.subject, exc)
            return
        # Applied before this callback returns; the re-read converges with the database.
        self.registry.apply_customer_update(event)
        self._spawn(self._reload_customer(event.customer_id), f"{msg.subject} handling")

    async def _reload_loop(self) -> None:
        while True:
            await asyncio.sleep(self.reload_period_s)
            try:
                await self.registry.reload_all()
                self.metrics.registry_customers.set(len(self.registry))
            except Exception:
                # The cache keeps serving the last good snapshot; the next period retries.
                log.exception("periodic registry reload failed")
