"""Usage events: one ``UsageRecorded`` per finished request, published in the background.

Handlers hand a ready payload to ``UsagePublisher.submit`` after the response has been
sent. A single background task drains the buffer in batches of up to ``max_in_flight``
JetStream publishes whose acks are awaited together (``publish_async``), waiting
``flush_interval_s`` for a batch to gather when the buffer is short. Publishes that fail
or time out go back to the front of the buffer and are retried with exponential backoff,
for as long as the process runs (JetStream drops duplicates by ``Nats-Msg-Id`` = request
id, so a retry never double-bills).

Full buffer → back-pressure: a new request waits in ``admit`` (after authentication,
before any work) until there is room, so clients slow down instead of events being
dropped; ``submit`` itself never waits, so the buffer can exceed ``buffer_max`` by at
most the requests already admitted. The first wait of an episode is logged; buffer
depth, waits and failures are metrics. At shutdown the buffer is flushed within
``shutdown_timeout_s``; whatever still cannot be published is logged, event by event, at
ERROR with its full payload so it can be replayed.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson
from nats.js import JetStreamContext

from modality.common import subjects
from modality.gateway.data.metrics import DataPlaneMetrics

log = logging.getLogger(__name__)

_MAX_BACKOFF_S = 5.0


@dataclass(slots=True)
class PendingUsage:
    request_id: str
    subject: str
    payload: bytes
    attempts: int = 0


def usage_payload(
    *,
    request_id: str,
    customer_id: str,
    api_key_id: str,
    model: str,
    provider: str,
    tier: str,
    policy: str,
    route_reason: str,
    prompt_tokens: int,
    completion_tokens: int,
    latency_ms: float,
    cost_usd: float,
    fallback_model: str,
    fallback_cost_usd: float,
    status_code: int,
    stream: bool,
    attempts: int,
    endpoint: str,
) -> bytes:
    """JSON of a ``UsageRecorded`` v1, built without pydantic (hot path); the tests check it
    against the model."""
    event: dict[str, Any] = {
        "version": 1,
        "occurred_at": datetime.now(UTC),
        "request_id": request_id,
        "customer_id": customer_id,
        "api_key_id": api_key_id,
        "model": model,
        "provider": provider,
        "tier": tier,
        "policy": policy,
        "route_reason": route_reason,
        "prompt_tokens": prompt_tokens,
        "completion_tokens": completion_tokens,
        "latency_ms": latency_ms,
        "cost_usd": cost_usd,
        "fallback_model": fallback_model,
        "fallback_cost_usd": fallback_cost_usd,
        "status": "ok" if status_code < 400 else "error",
        "status_code": status_code,
        "stream": stream,
        "attempts": max(attempts, 1),
        "endpoint": endpoint,
    }
    return orjson.dumps(event)


class UsagePublisher:
    def __init__(
        self,
        js: JetStreamContext,
        metrics: DataPlaneMetrics,
        *,
        buffer_max: int,
        max_in_flight: int,
        flush_interval_s: float,
        publish_timeout_s: float,
        shutdown_timeout_s: float,
    ) -> None:
        self._js = js
        self._metrics = metrics
        self._buffer: deque[PendingUsage] = deque()
        self._buffer_max = buffer_max
        self._max_in_flight = max_in_flight
        self._flush_interval_s = flush_interval_s
        self._publish_timeout_s = publish_timeout_s
        self._shutdown_timeout_s = shutdown_timeout_s
        self._have_work = asyncio.Event()
        self._room = asyncio.Event()
        self._room.set()
        self._in_flight = 0
        self._failures_in_a_row = 0
        self._task: asyncio.Task[None] | None = None
        self._closing = False
        self._deadline = float("inf")
        self._full_logged = False

    @property
    def depth(self) -> int:
        """Events not yet acknowledged by JetStream (buffered + in flight)."""
        return len(self._buffer) + self._in_flight

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="usage-publisher")
        self._task.add_done_callback(self._publisher_stopped)

    def _publisher_stopped(self, task: asyncio.Task[None]) -> None:
        if not task.cancelled() and task.exception() is not None:
            log.error(
                "usage publisher crashed; %d events buffered",
                len(self._buffer),
                exc_info=task.exception(),
            )

    async def admit(self) -> None:
        """Wait while the buffer is full (back-pressure on new requests)."""
        if len(self._buffer) < self._buffer_max or self._closing:
            return
        self._metrics.usage_buffer_full.inc()
        if not self._full_logged:
            self._full_logged = True
            log.warning(
                "usage buffer full (%d events, JetStream slow or down): new requests wait",
                len(self._buffer),
            )
        while len(self._buffer) >= self._buffer_max and not self._closing:
            self._room.clear()
            await self._room.wait()

    def submit(self, request_id: str, customer_id: str, payload: bytes) -> None:
        if self._closing and self._task is not None and self._task.done():
            self._lost(payload, "usage event arrived after the final flush")
            return
        self._buffer.append(PendingUsage(request_id, subjects.usage_recorded(customer_id), payload))
        self._metrics.usage_buffer_depth.set(self.depth)
        if not self._have_work.is_set():
            self._have_work.set()

    async def _run(self) -> None:
        while True:
            if not self._buffer:
                if self._closing:
                    return
                self._have_work.clear()
                await self._have_work.wait()
                if len(self._buffer) < self._max_in_flight and not self._closing:
                    # Let a batch gather: one ack wait then covers many events.
                    await asyncio.sleep(self._flush_interval_s)
                continue
            batch = [
                self._buffer.popleft() for _ in range(min(self._max_in_flight, len(self._buffer)))
            ]
            if len(self._buffer) < self._buffer_max:
                self._full_logged = False
                self._room.set()
            self._in_flight = len(batch)
            try:
                failed = await self._publish_batch(batch)
            finally:
                self._in_flight = 0
            if failed:
                self._buffer.extendleft(reversed(failed))
                self._failures_in_a_row += 1
                if self._closing and time.monotonic() > self._deadline:
                    return
                delay = min(_MAX_BACKOFF_S, 0.05 * 2 ** min(self._failures_in_a_row, 10))
                log.warning("%d usage publishes failed; retrying in %.2fs", len(failed), delay)
                await asyncio.sleep(delay)
            else:
                self._failures_in_a_row = 0
            self._metrics.usage_buffer_depth.set(self.depth)

    async def _publish_batch(self, batch: list[PendingUsage]) -> list[PendingUsage]:
        """Publish ``batch`` with every ack awaited together; return the ones that failed."""
        failed: list[PendingUsage] = []
        waiting: dict[asyncio.Future[Any], PendingUsage] = {}
        for item in batch:
            item.attempts += 1
            try:
                future = await self._js.publish_async(
                    item.subject, item.payload, headers={"Nats-Msg-Id": item.request_id}
                )
            except Exception as exc:
                log.warning("usage publish %s not sent: %r", item.request_id, exc)
                failed.append(item)
                continue
            waiting[future] = item
        if waiting:
            done, pending = await asyncio.wait(waiting, timeout=self._publish_timeout_s)
            for future in pending:
                future.cancel()
                failed.append(waiting[future])
            for future in done:
                error = future.exception()
                if error is not None:
                    log.warning("usage publish %s failed: %r", waiting[future].request_id, error)
                    failed.append(waiting[future])
            if pending:
                log.warning(
                    "%d usage acks timed out after %.1fs", len(pending), self._publish_timeout_s
                )
        published = len(batch) - len(failed)
        if published:
            self._metrics.usage_published.inc(published)
        if failed:
            self._metrics.usage_publish_failures.inc(len(failed))
        return failed

    def _lost(self, payload: bytes, why: str) -> None:
        log.error("%s; usage event NOT published: %s", why, payload.decode())
        self._metrics.usage_lost.inc()

    async def close(self) -> None:
        """Publish everything buffered, within ``shutdown_timeout_s``; log what is left."""
        self._closing = True
        self._deadline = time.monotonic() + self._shutdown_timeout_s
        self._have_work.set()
        self._room.set()
        task = self._task
        if task is None:
            return
        try:
            await asyncio.wait_for(asyncio.shield(task), self._shutdown_timeout_s + 1.0)
        except TimeoutError:
            log.error("usage flush did not finish in %.1fs", self._shutdown_timeout_s)
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        for item in self._buffer:
            self._lost(item.payload, "shutdown flush deadline passed")
        self._buffer.clear()
