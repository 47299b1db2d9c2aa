"""API-key authentication: process memory (≤ key_cache_ttl_s) → Redis → Postgres.

A revoked key stops working on every replica within ``key_cache_ttl_s`` (≤ 1 s): memory
entries expire that fast, the control plane deletes the Redis entry on revoke, and the
``ApiKeyRevoked`` message evicts the memory entry at once. Unknown keys are remembered as
such in memory for the same time, so a flood of bad keys cannot reach Postgres at more
than one query per key per second. Concurrent misses for one key share one lookup.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass

from redis.exceptions import RedisError
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from modality.common.auth import bearer_token, hash_api_key, is_well_formed_api_key
from modality.common.db.models import ApiKey
from modality.gateway.cache import (
    API_KEY_CACHE_TTL_S,
    CachedApiKey,
    RedisLike,
    forget_api_key,
    load_api_key,
    store_api_key,
)
from modality.gateway.data.errors import InvalidApiKeyError

log = logging.getLogger(__name__)

_MISSING_KEY = (
    "You didn't provide an API key. You need to provide your API key in an Authorization "
    "header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY)."
)


@dataclass(frozen=True, slots=True)
class Caller:
    """Who is calling: the key's id and its customer."""

    key_id: str
    customer_id: str


def _invalid(display: str) -> InvalidApiKeyError:
    return InvalidApiKeyError(f"Incorrect API key provided: {display}.")


def _display(secret: str) -> str:
    return secret[:8] + "*" * 4 + secret[-4:] if len(secret) > 12 else "****"


class KeyStore:
    def __init__(
        self,
        redis: RedisLike,
        sessions: async_sessionmaker[AsyncSession],
        *,
        ttl_s: float,
        max_entries: int,
    ) -> None:
        self._redis = redis
        self._sessions = sessions
        self._ttl_s = ttl_s
        self._max_entries = max_entries
        # key hash -> (entry or None for "no such key", monotonic expiry)
        self._memory: dict[str, tuple[CachedApiKey | None, float]] = {}
        self._inflight: dict[str, asyncio.Future[CachedApiKey | None]] = {}

    async def authenticate(self, authorization: str | None) -> Caller:
        secret = bearer_token(authorization)
        if secret is None:
            raise InvalidApiKeyError(_MISSING_KEY)
        if not is_well_formed_api_key(secret):
            raise _invalid(_display(secret))
        key_hash = hash_api_key(secret)
        hit = self._memory.get(key_hash)
        if hit is not None and hit[1] > time.monotonic():
            entry = hit[0]
        else:
            entry = await self._lookup_shared(key_hash)
        if entry is None or entry.revoked:
            raise _invalid(_display(secret))
        return Caller(entry.key_id, entry.customer_id)

    async def revoked(self, key_id: str, customer_id: str, key_hash: str) -> None:
        """An ``ApiKeyRevoked`` arrived: refuse the key here at once, and drop the Redis
        entry again in case a lookup that read Postgres just before the revoke refilled it.
        The memory entry outlives the Redis TTL so such a stale refill cannot win here."""
        revoked = CachedApiKey(key_id=key_id, customer_id=customer_id, revoked=True)
        self._memory[key_hash] = (revoked, time.monotonic() + API_KEY_CACHE_TTL_S)
        try:
            await forget_api_key(self._redis, key_hash)
        except RedisError as exc:
            log.warning(
                "could not drop the revoked key from Redis (the control plane did): %r", exc
            )

    async def _lookup_shared(self, key_hash: str) -> CachedApiKey | None:
        pending = self._inflight.get(key_hash)
        if pending is not None:
            return await asyncio.shield(pending)
        future: asyncio.Future[CachedApiKey | None] = asyncio.get_running_loop().create_future()
        self._inflight[key_hash] = future
        try:
            entry = await self._lookup(key_hash)
        except asyncio.CancelledError:
            future.cancel()
            raise
        except BaseException as exc:
            future.set_exception(exc)
            future.exception()  # mark retrieved: waiters (if any) re-raise it themselves
            raise
        else:
            future.set_result(entry)
            self._remember(key_hash, entry)
            return entry
        finally:
            del self._inflight[key_hash]

    async def _lookup(self, key_hash: str) -> CachedApiKey | None:
        """Redis, then Postgres (filling Redis). Redis being down only costs the Postgres
        query: authentication does not fail because a cache is missing."""
        try:
            entry = await load_api_key(self._redis, key_hash)
        except RedisError as exc:
            log.warning("Redis unavailable for the API-key cache, reading Postgres: %r", exc)
            entry, redis_up = None, False
        else:
            redis_up = True
        if entry is not None:
            return entry
        async with self._sessions() as session:
            row = (
                await session.execute(
                    select(ApiKey.id, ApiKey.customer_id, ApiKey.revoked_at).where(
                        ApiKey.key_hash == key_hash
                    )
                )
            ).first()
        if row is None:
            return None
        entry = CachedApiKey(
            key_id=row.id, customer_id=row.customer_id, revoked=row.revoked_at is not None
        )
        if redis_up:
            try:
                await store_api_key(self._redis, key_hash, entry)
            except RedisError as exc:
                log.warning("could not fill the API-key cache: %r", exc)
        return entry

    def _remember(self, key_hash: str, entry: CachedApiKey | None) -> None:
        now = time.monotonic()
        if len(self._memory) >= self._max_entries:
            self._memory = {h: v for h, v in self._memory.items() if v[1] > now}
            if len(self._memory) >= self._max_entries:
                log.warning(
                    "API-key memory cache full (%d live entries); clearing it", len(self._memory)
                )
                self._memory.clear()
        self._memory[key_hash] = (entry, now + self._ttl_s)
