"""The evaluator skeleton against a real NATS: durable consumer declared, nothing consumed.

The shared worker shell (``modality.common.worker``) is exercised in depth by the
trainer's tests; these check what is the evaluator's own: stream, filter, settings.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import httpx
import pytest
from nats.aio.client import Client as NATS
from nats.js.api import AckPolicy

from modality.common import subjects
from modality.common.events import ModelPromoted, ModelRegistered
from modality.common.worker import WorkerApp
from modality.evaluator.app import create_app
from modality.evaluator.settings import EvaluatorSettings

pytestmark = pytest.mark.integration


@pytest.fixture
async def worker(nats_url: str, consumer_name: str) -> AsyncIterator[WorkerApp]:
    app = create_app(EvaluatorSettings(nats_url=nats_url, consumer_name=consumer_name))
    await app.start()
    yield app
    await app.stop()


async def test_declares_durable_pull_consumer_on_models(
    worker: WorkerApp, nc: NATS, consumer_name: str
) -> None:
    info = await nc.jetstream().consumer_info(subjects.MODELS_STREAM, consumer_name)
    assert info.config.durable_name == consumer_name
    assert info.config.filter_subject == subjects.MODEL_REGISTERED
    assert info.config.ack_policy == AckPolicy.EXPLICIT
    assert info.config.deliver_subject is None  # pull, not push


async def test_registered_model_stays_pending_and_health_says_so(
    worker: WorkerApp, nc: NATS, consumer_name: str
) -> None:
    js = nc.jetstream()
    before = (await js.consumer_info(subjects.MODELS_STREAM, consumer_name)).num_pending
    fields = {"model_id": "mdl_test", "name": "ft:test", "customer_id": "cus_test"}
    await js.publish(
        subjects.MODEL_REGISTERED, ModelRegistered(status="evaluating", **fields).to_bytes()
    )
    await asyncio.sleep(0.2)  # a consuming worker would have pulled it by now
    info = await js.consumer_info(subjects.MODELS_STREAM, consumer_name)
    assert info.num_pending == before + 1
    assert info.delivered.consumer_seq == 0
    # Other model lifecycle facts are not the evaluator's.
    await js.publish(subjects.MODEL_PROMOTED, ModelPromoted(status="active", **fields).to_bytes())

    transport = httpx.ASGITransport(app=worker)
    async with httpx.AsyncClient(transport=transport, base_url="http://evaluator") as http:
        response = await http.get("/health")
    assert response.status_code == 200
    body = response.json()
    assert body["service"] == "evaluator"
    assert body["consuming"] is False
    [consumer] = body["consumers"]
    assert consumer["stream"] == "MODELS"
    assert consumer["durable"] == consumer_name
    assert consumer["filter_subject"] == "model.registered"
    assert consumer["num_pending"] == before + 1
