"""Data plane side endpoints: /generate (Flywheel shim), /v1/models, /health, /stats, /metrics."""

from __future__ import annotations

import secrets
from collections.abc import Iterator

import httpx
import pytest
from openai import AsyncOpenAI

from modality.common.db.migrate import upgrade
from modality.common.events import UsageRecorded
from modality.devstack import pgadmin

from .conftest import RunningGateway, World, dead_base_url, gateway_settings, usage_events

pytestmark = pytest.mark.integration


async def test_generate_runs_the_same_path(
    data_gateway: RunningGateway, world: World, nats_url: str
) -> None:
    async with httpx.AsyncClient(base_url=data_gateway.url) as http:
        response = await http.post(
            "/generate",
            json={
                "text": "Summarise: the tenant pays rent monthly.",
                "model": "acme-small",
                "num_samples": 2,
                "max_tokens": 8,
                "eos_token_ids": [2],
                "top_k": 40,
                "temperature": 0.5,
            },
            headers={"Authorization": f"Bearer {world.acme.key}"},
        )
    assert response.status_code == 200, response.text
    body = response.json()
    assert len(body["samples"]) == 2 and all(s["text"] for s in body["samples"])
    assert body["samples"][0]["finish_reason"] in ("stop", "length")
    assert body["model"] == "acme-small" and body["usage"]["completion_tokens"] > 0
    assert response.headers["x-modality-route-reason"] == "explicit"
    (message,) = await usage_events(nats_url, world.acme.customer_id, body["request_id"])
    event = UsageRecorded.from_bytes(message.data)
    assert (event.endpoint, event.status) == ("generate", "ok")


async def test_generate_validates_and_authenticates(
    data_gateway: RunningGateway, world: World
) -> None:
    async with httpx.AsyncClient(base_url=data_gateway.url) as http:
        anonymous = await http.post("/generate", json={"text": "x"})
        bad = await http.post(
            "/generate",
            json={"text": "x", "num_samples": 0},
            headers={"Authorization": f"Bearer {world.acme.key}"},
        )
    assert anonymous.status_code == 401
    assert bad.status_code == 400 and bad.json()["error"]["param"] == "num_samples"


async def test_models_lists_what_this_key_may_call(acme: AsyncOpenAI, world: World) -> None:
    names = [m.id async for m in acme.models.list()]
    shared = next(n for n in world.models if n.startswith("shared-mini-"))
    assert names[0] == "auto"
    assert {"acme-small", "acme-broken", shared, "gpt-4o"} <= set(names)
    assert "beta-private" not in names and "acme-retired" not in names


async def test_health_stats_and_metrics(data_gateway: RunningGateway, acme: AsyncOpenAI) -> None:
    await acme.chat.completions.create(
        model="acme-small", messages=[{"role": "user", "content": "hi"}]
    )
    async with httpx.AsyncClient(base_url=data_gateway.url) as http:
        health = await http.get("/health")
        stats = await http.get("/stats")
        metrics = await http.get("/metrics")
    assert health.status_code == 200 and health.json()["usable_upstreams"] >= 1
    assert stats.json()["backlog"] == 0 and stats.json()["runners"] >= 1
    text = metrics.text
    assert (
        'modality_gateway_requests_total{endpoint="chat.completions",model="acme-small",route_reason="explicit",status="200"}'
        in text
    )
    for name in (
        "modality_gateway_overhead_seconds_bucket",
        "modality_gateway_request_seconds_bucket",
        "modality_gateway_usage_buffer_depth",
        "modality_gateway_usage_published_total",
    ):
        assert name in text


@pytest.fixture
def lonely_gateway(nats_url: str, redis_url: str, postgres_url: str) -> Iterator[RunningGateway]:
    """A data plane over an empty catalog whose only upstream, the fallback, is down."""
    name = f"gw_health_{secrets.token_hex(4)}"
    pgadmin.create_database(postgres_url, name)
    try:
        url = pgadmin.with_database(postgres_url, name, driver="asyncpg")
        upgrade(url)
        settings = gateway_settings(
            nats_url, redis_url, url, dead_base_url(), health_probe_interval_s=0.2
        )
        gateway = RunningGateway(settings).start()
        try:
            yield gateway
        finally:
            gateway.stop()
    finally:
        pgadmin.drop_database(postgres_url, name)


async def test_health_is_503_when_no_upstream_answers(lonely_gateway: RunningGateway) -> None:
    async with httpx.AsyncClient(base_url=lonely_gateway.url) as http:
        health = await http.get("/health")
        stats = await http.get("/stats")
    assert health.status_code == 503
    assert health.json() == {"status": "no_usable_upstream", "usable_upstreams": 0, "upstreams": 1}
    assert stats.json() == {"backlog": 0, "runners": 0}
