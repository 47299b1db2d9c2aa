"""Data plane failure handling: an unexpected exception is an OpenAI-shaped 500 (never a
bare one), a client that leaves mid-stream is recorded as 499 and the upstream is
released, and a Redis outage does not fail authentication."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from redis.exceptions import ConnectionError as RedisConnectionError

from modality.common.db.session import create_engine, session_factory
from modality.common.events import UsageRecorded
from modality.gateway.data.keys import KeyStore

from .conftest import RunningGateway, World, usage_events

pytestmark = pytest.mark.integration

BODY = {"model": "acme-small", "messages": [{"role": "user", "content": "hello"}]}


async def test_unexpected_exception_is_an_openai_shaped_500(
    data_gateway: RunningGateway, world: World, nats_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert data_gateway.app.plane is not None

    async def boom(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("a bug")

    monkeypatch.setattr(data_gateway.app.plane.upstream, "complete", boom)
    async with httpx.AsyncClient(base_url=data_gateway.url) as http:
        response = await http.post(
            "/v1/chat/completions", json=BODY, headers={"Authorization": f"Bearer {world.acme.key}"}
        )
    assert response.status_code == 500
    error = response.json()["error"]
    request_id = response.headers["x-modality-request-id"]
    assert error["type"] == "server_error" and request_id in error["message"]
    assert "a bug" not in error["message"]  # internals stay in the log
    (message,) = await usage_events(nats_url, world.acme.customer_id, request_id)
    assert UsageRecorded.from_bytes(message.data).status_code == 500


async def test_client_leaving_mid_stream_is_recorded_as_499(
    data_gateway: RunningGateway, world: World, nats_url: str
) -> None:
    body = {**BODY, "model": "acme-slow", "stream": True}
    async with (
        httpx.AsyncClient(base_url=data_gateway.url) as http,
        http.stream(
            "POST",
            "/v1/chat/completions",
            json=body,
            headers={"Authorization": f"Bearer {world.acme.key}"},
        ) as response,
    ):
        request_id = response.headers["x-modality-request-id"]
        lines = response.aiter_lines()
        assert (await anext(lines)).startswith("data: {")
    # the client hung up after one event of a ~20 s stream
    (message,) = await usage_events(nats_url, world.acme.customer_id, request_id)
    event = UsageRecorded.from_bytes(message.data)
    assert (event.status, event.status_code, event.stream) == ("error", 499, True)
    assert event.latency_ms < 10_000  # the gateway stopped relaying instead of draining it


class _DownRedis:
    async def get(self, name: str) -> Any:
        raise RedisConnectionError("redis is down")

    async def set(self, name: str, value: bytes, ex: int | None = None) -> Any:
        raise RedisConnectionError("redis is down")

    async def delete(self, *names: str) -> Any:
        raise RedisConnectionError("redis is down")


@pytest.fixture
async def keys_without_redis(migrated_db: str, world: World) -> AsyncIterator[KeyStore]:
    engine = create_engine(migrated_db, pool_size=1)
    yield KeyStore(_DownRedis(), session_factory(engine), ttl_s=1.0, max_entries=10)
    await engine.dispose()


async def test_redis_outage_falls_back_to_postgres(
    keys_without_redis: KeyStore, world: World
) -> None:
    caller = await keys_without_redis.authenticate(f"Bearer {world.acme.key}")
    assert (caller.customer_id, caller.key_id) == (world.acme.customer_id, world.acme.key_id)
