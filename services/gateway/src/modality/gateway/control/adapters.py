"""Production implementations of ``types.EventPublisher`` and ``types.KeyCache``.

Both run *after* the database commit. If one fails the change is saved but not yet
announced, so the caller gets a 503 telling it to retry; every mutating endpoint is
idempotent and re-announces on a retry.
"""

from __future__ import annotations

import logging

import nats.errors
from nats.js import JetStreamContext
from redis.asyncio import Redis
from redis.exceptions import RedisError

from modality.common.errors import ServiceUnavailableError
from modality.common.events import Event
from modality.gateway.cache import api_key_cache_key
from modality.gateway.control.metrics import ControlMetrics

log = logging.getLogger(__name__)

_RETRY = "The change was saved but could not be announced; retry the same request."


class JetStreamPublisher:
    def __init__(
        self, js: JetStreamContext, metrics: ControlMetrics, *, timeout_s: float = 2.0
    ) -> None:
        self._js = js
        self._metrics = metrics
        self._timeout_s = timeout_s

    async def publish(self, subject: str, event: Event) -> None:
        try:
            await self._js.publish(subject, event.to_bytes(), timeout=self._timeout_s)
        except (nats.errors.Error, TimeoutError, OSError) as exc:
            self._metrics.events_failed.labels(subject).inc()
            log.error("publishing %s failed: %r", subject, exc)
            raise ServiceUnavailableError(_RETRY, code="event_bus_unavailable") from exc
        self._metrics.events_published.labels(subject).inc()


class RedisKeyCache:
    def __init__(self, redis: Redis) -> None:
        self._redis = redis

    async def forget(self, key_hash: str) -> None:
        try:
            await self._redis.delete(api_key_cache_key(key_hash))
        except (RedisError, OSError) as exc:
            log.error("deleting the cached API key %s... failed: %r", key_hash[:12], exc)
            raise ServiceUnavailableError(_RETRY, code="cache_unavailable") from exc
