"""route.decide over real NATS with the registry on real Postgres (fake classifier).

The service runs as in production (``create_app`` lifespan: NATS connection, Postgres
store, router worker); only the classifier is the deterministic fake. Events are published
to JetStream as the control plane and the evaluator do.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import httpx
import orjson
import pytest
from fastapi import FastAPI
from nats.aio.client import Client as NATS
from nats.errors import NoRespondersError

from modality.classifier import contract
from modality.classifier.app import create_app
from modality.classifier.backends import BackendInfo
from modality.classifier.settings import ClassifierSettings
from modality.common import bus, subjects
from modality.common.events import CustomerUpdated, ModelDemoted, ModelPromoted, ModelRegistered
from modality.common.routing import RouteDecision, RouteRequest

pytestmark = pytest.mark.integration

LEGAL = "review lease contract clause termination landlord tenant"
SECRET = "x" * 40
REFRESH_WITHIN_S = 1.0


@pytest.fixture
def settings(router_db: str, nats_url: str) -> ClassifierSettings:
    return ClassifierSettings(
        env="test",
        nats_url=nats_url,
        database_url=router_db,
        jwt_secret=SECRET,
        domain_threshold=0.5,
        precision="fp32",  # what the seeded rows' embeddings are tagged with (conftest)
        fallback_model="gpt-4o",
        registry_reload_s=3600,
        decide_timeout_ms=2000,
    )


@pytest.fixture
async def client(nats_url: str) -> AsyncIterator[NATS]:
    nc = await bus.connect(nats_url, "router-test-client")
    await bus.ensure_streams(nc.jetstream())
    yield nc
    await nc.drain()


@pytest.fixture
def start_router(settings: ClassifierSettings, fake_classifier: Any) -> Callable[..., Any]:
    """``async with start_router() as app``: the service with the fake classifier."""

    @asynccontextmanager
    async def start(**overrides: Any) -> AsyncIterator[FastAPI]:
        s = settings.model_copy(update=overrides)
        app = create_app(s, classifier=fake_classifier, backend_info=BackendInfo("fake", "cpu"))
        async with app.router.lifespan_context(app):
            yield app

    return start


async def request(nc: NATS, payload: bytes) -> Any:
    """A route.decide round trip.

    nats-server 2.15 can answer "no responders" for a few milliseconds after another
    connection's subscription was flushed (measured: ~5% of requests sent at once); a
    request right after the router starts is retried for that reason only.
    """
    deadline = time.perf_counter() + 0.5
    while True:
        try:
            msg = await nc.request(subjects.ROUTE_DECIDE, payload, timeout=3.0)
            return orjson.loads(msg.data)
        except NoRespondersError:
            if time.perf_counter() > deadline:
                raise
            await asyncio.sleep(0.01)


async def decide(nc: NATS, customer_id: str, prompt: str = LEGAL, **kw: Any) -> RouteDecision:
    req = RouteRequest(request_id="req_test", customer_id=customer_id, prompt=prompt, **kw)
    body = await request(nc, req.model_dump_json().encode())
    assert "error" not in body, body
    return RouteDecision.model_validate(body)


async def eventually(check: Callable[[], Awaitable[bool]], within_s: float) -> float:
    """Seconds until ``check()`` holds; fails past ``within_s``."""
    started = time.perf_counter()
    while True:
        if await check():
            return time.perf_counter() - started
        if time.perf_counter() - started > within_s:
            pytest.fail(f"not true within {within_s} s")
        await asyncio.sleep(0.02)


async def test_route_decide_over_nats_and_embedding_backfill(
    start_router: Any, client: NATS, db_rows: Any
) -> None:
    cid = await db_rows.customer()
    mid = await db_rows.model(cid, "legal-small", domain_description=LEGAL)
    async with start_router():
        row = await db_rows.get_model(mid)
        assert row.embedding_model == contract.ENCODER_NAME
        assert (
            row.domain_embedding is not None and len(row.domain_embedding) == contract.EMBEDDING_DIM
        )

        d = await decide(client, cid)
        assert (d.model, d.policy, d.reason) == ("legal-small", "embedding", "domain_match")
        assert [c.model for c in d.candidates] == ["legal-small", "gpt-4o"]
        assert d.decided_in_ms > 0

        other = await decide(client, cid, prompt="banana bread recipe with walnuts")
        assert (other.model, other.reason) == ("gpt-4o", "below_threshold")


async def test_policy_switch_by_customer_updated_applies_within_a_second(
    start_router: Any, client: NATS, db_rows: Any
) -> None:
    cid = await db_rows.customer()
    await db_rows.model(cid, "legal-small", domain_description=LEGAL)
    js = client.jetstream()
    async with start_router():
        assert (await decide(client, cid)).policy == "embedding"
        # What the control plane's PATCH does: write the row, then publish the fact.
        await db_rows.update_customer(
            cid, routing_policy="passthrough", default_model="gpt-4o-mini"
        )
        await js.publish(
            subjects.CUSTOMER_UPDATED,
            CustomerUpdated(
                customer_id=cid,
                routing_policy="passthrough",
                routing_alpha=1.0,
                default_model="gpt-4o-mini",
            ).to_bytes(),
        )

        async def switched() -> bool:
            d = await decide(client, cid)
            return (d.policy, d.model, d.reason) == ("passthrough", "gpt-4o-mini", "default_model")

        await eventually(switched, REFRESH_WITHIN_S)
        # And it converges with the database (the re-read keeps the new policy).
        await asyncio.sleep(0.1)
        assert (await decide(client, cid)).policy == "passthrough"


async def test_switching_precision_recomputes_domain_embeddings(
    start_router: Any, client: NATS, db_rows: Any
) -> None:
    cid = await db_rows.customer()
    mid = await db_rows.model(cid, "legal-small", domain_description=LEGAL)
    async with start_router():
        assert (await db_rows.get_model(mid)).embedding_model == contract.ENCODER_NAME
    async with start_router(precision="int8"):
        row = await db_rows.get_model(mid)
        assert row.embedding_model == contract.embedding_model_tag("int8") != contract.ENCODER_NAME
        assert (await decide(client, cid)).model == "legal-small"


async def test_promote_and_demote_refresh_the_cache_within_a_second(
    start_router: Any, client: NATS, db_rows: Any
) -> None:
    cid = await db_rows.customer()
    mid = await db_rows.model(cid, "legal-small", domain_description=LEGAL, status="evaluating")
    js = client.jetstream()
    async with start_router():
        assert (await decide(client, cid)).reason == "no_candidates"

        await db_rows.update_model(mid, status="active")
        await js.publish(
            subjects.MODEL_PROMOTED,
            ModelPromoted(
                model_id=mid, name="legal-small", customer_id=cid, status="active"
            ).to_bytes(),
        )

        async def promoted() -> bool:
            return (await decide(client, cid)).model == "legal-small"

        await eventually(promoted, REFRESH_WITHIN_S)
        row = await db_rows.get_model(mid)
        assert row.embedding_model == contract.ENCODER_NAME  # computed on promotion

        await db_rows.update_model(mid, status="retired")
        await js.publish(
            subjects.MODEL_DEMOTED,
            ModelDemoted(
                model_id=mid, name="legal-small", customer_id=cid, status="retired"
            ).to_bytes(),
        )

        async def demoted() -> bool:
            d = await decide(client, cid)
            return (d.model, d.reason) == ("gpt-4o", "no_candidates")

        await eventually(demoted, REFRESH_WITHIN_S)


async def test_registration_writes_the_domain_embedding(
    start_router: Any, client: NATS, db_rows: Any
) -> None:
    cid = await db_rows.customer()
    async with start_router():
        mid = await db_rows.model(cid, "fresh", domain_description=LEGAL, status="evaluating")
        await client.jetstream().publish(
            subjects.MODEL_REGISTERED,
            ModelRegistered(
                model_id=mid, name="fresh", customer_id=cid, status="evaluating"
            ).to_bytes(),
        )

        async def embedded() -> bool:
            row = await db_rows.get_model(mid)
            return row is not None and row.domain_embedding is not None

        await eventually(embedded, REFRESH_WITHIN_S)


async def test_bad_requests_and_failures_get_a_route_error(
    start_router: Any, client: NATS, db_rows: Any, fake_classifier: Any
) -> None:
    cid = await db_rows.customer()
    await db_rows.model(cid, "legal-small", domain_description=LEGAL)
    async with start_router():
        body = await request(client, b'{"prompt": "no ids"}')
        assert set(body) == {"error"} and "invalid route.decide request" in body["error"]

        async def broken(*_a: Any, **_k: Any) -> Any:
            raise RuntimeError("backend down")

        fake_classifier.classify = broken
        req = RouteRequest(request_id="r", customer_id=cid, prompt=LEGAL)
        assert "backend down" in (await request(client, req.model_dump_json().encode()))["error"]


async def test_a_slow_decision_answers_with_an_error_not_silence(
    start_router: Any, client: NATS, db_rows: Any, fake_classifier: Any
) -> None:
    cid = await db_rows.customer()
    await db_rows.model(cid, "legal-small", domain_description=LEGAL)

    async def slow(*_a: Any, **_k: Any) -> Any:
        await asyncio.sleep(1.0)

    async with start_router(decide_timeout_ms=100):
        fake_classifier.classify = slow
        req = RouteRequest(request_id="r", customer_id=cid, prompt=LEGAL)
        assert await request(client, req.model_dump_json().encode()) == {
            "error": "no decision within 100 ms"
        }


async def test_health_and_metrics_report_the_router(
    start_router: Any, client: NATS, db_rows: Any
) -> None:
    cid = await db_rows.customer()
    async with start_router() as app:
        await decide(client, cid)
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://classifier") as http:
            health = (await http.get("/health")).json()
            metrics = (await http.get("/metrics")).text
    assert health["status"] == "ok" and health["backend"] == "fake"
    assert health["router"]["connected"] is True and health["router"]["customers"] >= 1
    assert health["router"]["threshold"] == 0.5
    assert 'modality_router_decisions_total{policy="embedding",reason="no_candidates"}' in metrics
