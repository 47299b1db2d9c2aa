"""The shared API-key cache in Redis, used by both gateway planes.

Contract: ``modality:apikey:<sha256 hex>`` holds ``{"key_id", "customer_id", "revoked"}``
as JSON for ``API_KEY_CACHE_TTL_S`` seconds. The data plane fills it from Postgres on a
miss; the control plane deletes it when a key is revoked (after setting ``revoked_at``
and before publishing ``ApiKeyRevoked``). Only a key's SHA-256 ever reaches Redis.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable
from dataclasses import dataclass
from typing import Any, Protocol

import orjson

log = logging.getLogger(__name__)

API_KEY_CACHE_PREFIX = "modality:apikey:"
API_KEY_CACHE_TTL_S = 300


class RedisLike(Protocol):
    """The three commands this module uses (``redis.asyncio.Redis`` satisfies it)."""

    def get(self, name: str) -> Awaitable[Any]: ...

    def set(self, name: str, value: bytes, ex: int | None = None) -> Awaitable[Any]: ...

    def delete(self, *names: str) -> Awaitable[Any]: ...


@dataclass(frozen=True, slots=True)
class CachedApiKey:
    key_id: str
    customer_id: str
    revoked: bool

    def to_json(self) -> bytes:
        return orjson.dumps(
            {"key_id": self.key_id, "customer_id": self.customer_id, "revoked": self.revoked}
        )

    @classmethod
    def from_json(cls, data: bytes | str) -> CachedApiKey:
        raw = orjson.loads(data)
        if not isinstance(raw, dict):
            raise ValueError("cached API key is not a JSON object")
        key_id, customer_id, revoked = raw.get("key_id"), raw.get("customer_id"), raw.get("revoked")
        if (
            not isinstance(key_id, str)
            or not isinstance(customer_id, str)
            or not isinstance(revoked, bool)
        ):
            raise ValueError("cached API key lacks key_id, customer_id or revoked")
        return cls(key_id, customer_id, revoked)


def api_key_cache_key(key_hash: str) -> str:
    return API_KEY_CACHE_PREFIX + key_hash


async def store_api_key(redis: RedisLike, key_hash: str, entry: CachedApiKey) -> None:
    await redis.set(api_key_cache_key(key_hash), entry.to_json(), ex=API_KEY_CACHE_TTL_S)


async def load_api_key(redis: RedisLike, key_hash: str) -> CachedApiKey | None:
    """The cached entry, or None on a miss. A malformed entry is a miss (and is deleted)."""
    data = await redis.get(api_key_cache_key(key_hash))
    if data is None:
        return None
    try:
        return CachedApiKey.from_json(data)
    except ValueError as exc:
        log.warning("dropping malformed API-key cache entry %s...: %s", key_hash[:12], exc)
        await redis.delete(api_key_cache_key(key_hash))
        return None


async def forget_api_key(redis: RedisLike, key_hash: str) -> None:
    await redis.delete(api_key_cache_key(key_hash))
