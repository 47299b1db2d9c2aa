"""Everything a data-plane process holds open while it serves, started and stopped in order."""

from __future__ import annotations

import asyncio
import contextlib
import logging

import redis.asyncio as aioredis
from nats.aio.client import Client as NATS
from nats.aio.subscription import Subscription
from sqlalchemy.ext.asyncio import AsyncEngine

from modality.common import bus
from modality.common.db.session import create_engine, session_factory
from modality.gateway.data.keys import KeyStore
from modality.gateway.data.metrics import DataPlaneMetrics
from modality.gateway.data.routing import RouterClient
from modality.gateway.data.upstream import UpstreamClient
from modality.gateway.data.usage import UsagePublisher
from modality.gateway.data.watchers import LiveCatalog, UpstreamHealth, watch_revocations
from modality.gateway.settings import GatewaySettings

log = logging.getLogger(__name__)


class DataPlane:
    """Opened by the app's lifespan; handlers read it. ``in_flight`` feeds /stats."""

    def __init__(
        self,
        settings: GatewaySettings,
        metrics: DataPlaneMetrics,
        *,
        nc: NATS,
        redis: aioredis.Redis,
        engine: AsyncEngine,
        keys: KeyStore,
        live: LiveCatalog,
        router: RouterClient,
        upstream: UpstreamClient,
        usage: UsagePublisher,
        health: UpstreamHealth,
        revocations: Subscription,
    ) -> None:
        self.settings = settings
        self.metrics = metrics
        self.nc = nc
        self.redis = redis
        self.engine = engine
        self.keys = keys
        self.live = live
        self.router = router
        self.upstream = upstream
        self.usage = usage
        self.health = health
        self.revocations = revocations
        self.in_flight = 0

    @classmethod
    async def open(cls, settings: GatewaySettings, metrics: DataPlaneMetrics) -> DataPlane:
        engine = create_engine(settings.database_url, pool_size=4)
        redis = aioredis.from_url(settings.redis_url)
        nc: NATS | None = None
        try:
            nc = await bus.connect(settings.nats_url, "gateway-data")
            js = nc.jetstream()
            await bus.ensure_streams(js)
            sessions = session_factory(engine)
            keys = KeyStore(
                redis,
                sessions,
                ttl_s=settings.key_cache_ttl_s,
                max_entries=settings.key_cache_max_entries,
            )
            live = LiveCatalog(sessions, settings)
            await live.start(nc)
            revocations = await watch_revocations(nc, keys)
            upstream = UpstreamClient(settings, metrics)
            await upstream.start()
            usage = UsagePublisher(
                js,
                metrics,
                buffer_max=settings.usage_buffer_max,
                max_in_flight=settings.usage_batch_max,
                flush_interval_s=settings.usage_flush_interval_ms / 1000.0,
                publish_timeout_s=settings.usage_publish_timeout_s,
                shutdown_timeout_s=settings.usage_shutdown_timeout_s,
            )
            usage.start()
            health = UpstreamHealth(live, settings, metrics)
            await health.start()
        except BaseException:
            if nc is not None:
                with contextlib.suppress(Exception):
                    await nc.close()
            await redis.aclose()
            await engine.dispose()
            raise
        router = RouterClient(
            nc,
            metrics,
            timeout_ms=settings.router_timeout_ms,
            prompt_max_chars=settings.router_prompt_max_chars,
        )
        return cls(
            settings,
            metrics,
            nc=nc,
            redis=redis,
            engine=engine,
            keys=keys,
            live=live,
            router=router,
            upstream=upstream,
            usage=usage,
            health=health,
            revocations=revocations,
        )

    async def close(self) -> None:
        """Stop in dependency order; usage events are flushed before NATS closes."""
        await self.health.stop()
        await self.live.stop()
        with contextlib.suppress(Exception):
            await self.revocations.unsubscribe()
        await self.usage.close()
        await self.upstream.close()
        try:
            await asyncio.wait_for(self.nc.drain(), 5.0)
        except Exception as exc:
            log.warning("NATS drain at shutdown failed: %r", exc)
            await self.nc.close()
        await self.redis.aclose()
        await self.engine.dispose()
