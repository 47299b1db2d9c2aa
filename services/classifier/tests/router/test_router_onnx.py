"""route.decide over real NATS and Postgres with the real ONNX classifier in process."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import numpy as np
import orjson
import pytest
from nats.aio.client import Client as NATS
from nats.errors import NoRespondersError

from modality.classifier import contract
from modality.classifier.app import create_app
from modality.classifier.backends import BackendInfo
from modality.classifier.pipeline import Classifier
from modality.classifier.postprocess import SCHEMA_FIELDS
from modality.classifier.settings import ClassifierSettings
from modality.common import bus, subjects
from modality.common.routing import RouteDecision, RouteRequest

pytestmark = pytest.mark.integration

DOMAIN = "Retail banking support: card payments, declined cards, refunds and money transfers."
IN_DOMAIN = "My card payment was declined at the shop today, how do I get a refund?"
OFF_DOMAIN = "Write a limerick about a penguin who learns to play the trumpet."


@pytest.fixture
async def nc(nats_url: str) -> AsyncIterator[NATS]:
    client = await bus.connect(nats_url, "router-onnx-test")
    yield client
    await client.drain()


async def decide(nc: NATS, customer_id: str, prompt: str) -> RouteDecision:
    payload = RouteRequest(
        request_id="req_onnx", customer_id=customer_id, prompt=prompt
    ).model_dump_json()
    for _ in range(50):  # see test_router_nats.request: "no responders" just after start
        try:
            msg = await nc.request(subjects.ROUTE_DECIDE, payload.encode(), timeout=5.0)
            break
        except NoRespondersError:
            await asyncio.sleep(0.01)
    body = orjson.loads(msg.data)
    assert "error" not in body, body
    return RouteDecision.model_validate(body)


def cosine(a: np.ndarray, b: np.ndarray) -> float:
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))


async def test_real_classifier_routes_by_domain_over_nats(
    classifier: Classifier, router_db: str, nats_url: str, nc: NATS, db_rows: Any
) -> None:
    emb = await classifier.embed([DOMAIN, IN_DOMAIN, OFF_DOMAIN])
    near, far = cosine(emb[1], emb[0]), cosine(emb[2], emb[0])
    assert near > far + 0.1, (near, far)  # the encoder separates them at all
    threshold = (near + far) / 2

    cid = await db_rows.customer()
    mid = await db_rows.model(cid, "bank-small", domain_description=DOMAIN)
    settings = ClassifierSettings(
        env="test",
        nats_url=nats_url,
        database_url=router_db,
        domain_threshold=threshold,
        precision="fp32",  # the injected classifier fixture runs the fp32 graph
        jwt_secret="j" * 32,
    )
    app = create_app(settings, classifier=classifier, backend_info=BackendInfo("onnx", "cpu"))
    async with app.router.lifespan_context(app):
        row = await db_rows.get_model(mid)
        assert row.embedding_model == contract.ENCODER_NAME
        np.testing.assert_allclose(np.asarray(row.domain_embedding), emb[0], atol=1e-5)

        hit = await decide(nc, cid, IN_DOMAIN)
        miss = await decide(nc, cid, OFF_DOMAIN)

    assert (hit.model, hit.reason) == ("bank-small", "domain_match")
    assert hit.candidates[0].score == pytest.approx(near, abs=1e-3)
    assert (miss.model, miss.reason) == ("gpt-4o", "below_threshold")
    for d in (hit, miss):
        assert d.classification is not None
        assert set(SCHEMA_FIELDS) | {"small_model_failure"} <= set(d.classification)
        assert 0.0 <= d.classification["prompt_complexity_score"] <= 1.0
    expected = classifier.classify_sync([IN_DOMAIN])[0].classification
    assert hit.classification is not None
    assert hit.classification["task_type_1"] == expected.task_type_1
    assert hit.classification["small_model_failure"] == pytest.approx(
        expected.small_model_failure, abs=1e-3
    )
