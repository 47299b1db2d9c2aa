"""The plugin's fixtures, used the way every other test in the repo uses them."""

from __future__ import annotations

import asyncpg
import nats
import pytest
import redis.asyncio as aioredis

pytestmark = pytest.mark.integration


async def test_database_url_is_a_database_of_this_session_only(
    database_url: str, postgres_url: str
) -> None:
    # Shared by the whole session (other tests migrate it), so "empty" cannot be checked
    # here; what holds is that it is a database of its own, not the server's default one.
    assert database_url.startswith("postgresql+asyncpg://")
    name = database_url.rsplit("/", 1)[1]
    assert name.startswith("modality_test_")
    assert name != postgres_url.rsplit("/", 1)[1]
    conn = await asyncpg.connect(database_url.replace("+asyncpg", ""), timeout=5)
    try:
        assert await conn.fetchval("SELECT current_database()") == name
    finally:
        await conn.close()


async def test_postgres_url_is_server_level_libpq(postgres_url: str) -> None:
    assert postgres_url.startswith("postgresql://")
    conn = await asyncpg.connect(postgres_url, timeout=5)
    try:
        assert await conn.fetchval("SELECT current_setting('server_version_num')::int") >= 130000
    finally:
        await conn.close()


async def test_nats_url_has_jetstream(nats_url: str) -> None:
    nc = await nats.connect(nats_url, connect_timeout=2, max_reconnect_attempts=1)
    try:
        info = await nc.jetstream().account_info()
        assert info.limits is not None
    finally:
        await nc.close()


async def test_redis_url_answers(redis_url: str) -> None:
    client = aioredis.from_url(redis_url)
    try:
        assert await client.ping() is True
    finally:
        await client.aclose()
