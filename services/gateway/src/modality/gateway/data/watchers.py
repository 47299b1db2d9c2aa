"""Background upkeep of the data plane's in-memory state.

- ``LiveCatalog``: the model catalog, reloaded shortly after any ``model.>`` or customer
  update message (debounced by ``_DEBOUNCE_S``, so a burst costs one query) and every
  ``catalog_refresh_interval_s`` as a safety net; a failed reload keeps the last catalog.
- API-key revocations (``ApiKeyRevoked``, core NATS) evict keys from memory at once.
- ``UpstreamHealth``: a periodic probe of every upstream base URL in the catalog (never
  per request); ``/health`` and ``/stats`` read its cached result.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time

import aiohttp
from nats.aio.client import Client as NATS
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from modality.common import subjects
from modality.common.events import ApiKeyRevoked
from modality.gateway.data.catalog import Catalog, load_catalog
from modality.gateway.data.keys import KeyStore
from modality.gateway.data.metrics import DataPlaneMetrics
from modality.gateway.settings import GatewaySettings

log = logging.getLogger(__name__)

_DEBOUNCE_S = 0.05


class LiveCatalog:
    def __init__(
        self, sessions: async_sessionmaker[AsyncSession], settings: GatewaySettings
    ) -> None:
        self._sessions = sessions
        self._settings = settings
        self.current: Catalog | None = None
        self._dirty = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._subscriptions: list[Subscription] = []
        self.loaded_at = 0.0

    async def start(self, nc: NATS) -> None:
        await self.reload()
        for subject in (subjects.MODEL_ALL, subjects.CUSTOMER_UPDATED):
            self._subscriptions.append(await nc.subscribe(subject, cb=self._changed))
        self._task = asyncio.create_task(self._run(), name="catalog-refresh")

    async def _changed(self, msg: Msg) -> None:
        self._dirty.set()

    async def reload(self) -> None:
        self.current = await load_catalog(self._sessions, self._settings)
        self.loaded_at = time.monotonic()

    async def _run(self) -> None:
        interval = self._settings.catalog_refresh_interval_s
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._dirty.wait(), interval)
            await asyncio.sleep(_DEBOUNCE_S)
            self._dirty.clear()
            try:
                await self.reload()
            except Exception:
                log.exception("model catalog reload failed; keeping the previous one")

    def catalog(self) -> Catalog:
        if self.current is None:
            raise RuntimeError("the model catalog was not loaded")
        return self.current

    async def stop(self) -> None:
        for sub in self._subscriptions:
            with contextlib.suppress(Exception):
                await sub.unsubscribe()
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)


async def watch_revocations(nc: NATS, keys: KeyStore) -> Subscription:
    async def revoked(msg: Msg) -> None:
        try:
            event = ApiKeyRevoked.model_validate_json(msg.data)
        except ValidationError:
            log.error("unreadable ApiKeyRevoked message: %r", msg.data[:300])
            return
        await keys.revoked(event.key_id, event.customer_id, event.key_hash)
        log.info("API key %s of %s revoked; evicted", event.key_id, event.customer_id)

    return await nc.subscribe(subjects.API_KEY_REVOKED, cb=revoked)


class UpstreamHealth:
    """Which upstream base URLs answer HTTP at all (any status counts as reachable)."""

    def __init__(
        self, live: LiveCatalog, settings: GatewaySettings, metrics: DataPlaneMetrics
    ) -> None:
        self._live = live
        self._settings = settings
        self._metrics = metrics
        self._session: aiohttp.ClientSession | None = None
        self._task: asyncio.Task[None] | None = None
        self.reachable: dict[str, bool] = {}

    @property
    def usable(self) -> int:
        return sum(self.reachable.values())

    async def start(self) -> None:
        self._session = aiohttp.ClientSession(
            timeout=aiohttp.ClientTimeout(total=self._settings.health_probe_timeout_s)
        )
        await self.probe()
        self._task = asyncio.create_task(self._run(), name="upstream-health")

    async def _probe_one(self, base_url: str) -> bool:
        assert self._session is not None
        try:
            async with self._session.get(f"{base_url}/models") as response:
                await response.read()
                ok = response.status < 500
                why = f"HTTP {response.status}"
        except (aiohttp.ClientError, TimeoutError) as exc:
            ok, why = False, type(exc).__name__
        if ok != self.reachable.get(base_url, True):  # log changes only, not every round
            if ok:
                log.info("upstream %s reachable again", base_url)
            else:
                log.warning("upstream %s unreachable (%s)", base_url, why)
        return ok

    async def probe(self) -> None:
        urls = sorted(self._live.catalog().base_urls())
        results = await asyncio.gather(*(self._probe_one(u) for u in urls))
        self.reachable = dict(zip(urls, results, strict=True))
        self._metrics.usable_upstreams.set(self.usable)

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self._settings.health_probe_interval_s)
            try:
                await self.probe()
            except Exception:
                log.exception("upstream probe round failed")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        if self._session is not None:
            await self._session.close()
