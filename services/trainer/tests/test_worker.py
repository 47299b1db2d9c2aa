"""The trainer skeleton against a real NATS: durable consumer declared, nothing consumed."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import httpx
import pytest
from nats.aio.client import Client as NATS
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

from modality.common import subjects
from modality.common.events import FinetuneRequested
from modality.common.worker import WorkerApp, WorkerStartError
from modality.trainer.app import create_app
from modality.trainer.settings import TrainerSettings

pytestmark = pytest.mark.integration


@pytest.fixture
async def worker(nats_url: str, consumer_name: str) -> AsyncIterator[WorkerApp]:
    app = create_app(TrainerSettings(nats_url=nats_url, consumer_name=consumer_name))
    await app.start()
    yield app
    await app.stop()


def client(app: WorkerApp) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://trainer")


def finetune_request(job_id: str) -> FinetuneRequested:
    return FinetuneRequested(
        job_id=job_id,
        customer_id="cus_test",
        provider="openai",
        base_model="gpt-4o-mini",
        training_file="file-test",
    )


async def test_declares_durable_pull_consumer_on_jobs(
    worker: WorkerApp, nc: NATS, consumer_name: str
) -> None:
    info = await nc.jetstream().consumer_info(subjects.JOBS_STREAM, consumer_name)
    assert info.config.durable_name == consumer_name
    assert info.config.filter_subject == subjects.FINETUNE_REQUESTED
    assert info.config.ack_policy == AckPolicy.EXPLICIT
    assert info.config.deliver_subject is None  # pull, not push


async def test_health_reports_nats_and_consumer(worker: WorkerApp, consumer_name: str) -> None:
    async with client(worker) as http:
        response = await http.get("/health")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert body["service"] == "trainer"
    assert body["consuming"] is False
    assert body["nats"]["connected"] is True
    [consumer] = body["consumers"]
    assert consumer["stream"] == "JOBS"
    assert consumer["durable"] == consumer_name
    assert consumer["filter_subject"] == "finetune.requested"
    assert isinstance(consumer["num_pending"], int)


async def test_finetune_request_stays_pending(
    worker: WorkerApp, nc: NATS, nats_url: str, consumer_name: str
) -> None:
    js = nc.jetstream()
    before = (await js.consumer_info(subjects.JOBS_STREAM, consumer_name)).num_pending
    event = finetune_request(f"ftjob-{consumer_name}")
    await js.publish(subjects.FINETUNE_REQUESTED, event.to_bytes())
    await asyncio.sleep(0.2)  # a consuming worker would have pulled it by now

    info = await js.consumer_info(subjects.JOBS_STREAM, consumer_name)
    assert info.num_pending == before + 1
    assert info.num_ack_pending == 0
    assert info.delivered.consumer_seq == 0  # never delivered, so never acked
    # Another JOBS subject does not reach this consumer.
    await js.publish(subjects.FINETUNE_PROGRESS, b"{}")
    info = await js.consumer_info(subjects.JOBS_STREAM, consumer_name)
    assert info.num_pending == before + 1
    async with client(worker) as http:
        [reported] = (await http.get("/health")).json()["consumers"]
    assert reported["num_pending"] == before + 1

    # The request survives a worker restart: it waits for the real implementation.
    await worker.stop()
    again = create_app(TrainerSettings(nats_url=nats_url, consumer_name=consumer_name))
    await again.start()
    try:
        info = await js.consumer_info(subjects.JOBS_STREAM, consumer_name)
        assert info.num_pending == before + 1
    finally:
        await again.stop()
    await worker.start()  # the fixture stops it


async def test_metrics_exports_pending(worker: WorkerApp, nc: NATS, consumer_name: str) -> None:
    js = nc.jetstream()
    await js.publish(subjects.FINETUNE_REQUESTED, finetune_request("ftjob-metrics").to_bytes())
    pending = (await js.consumer_info(subjects.JOBS_STREAM, consumer_name)).num_pending
    async with client(worker) as http:
        response = await http.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    text = response.text
    assert "modality_worker_nats_connected 1.0" in text
    line = f'modality_consumer_pending_messages{{consumer="{consumer_name}",stream="JOBS"}}'
    assert f"{line} {float(pending)}" in text


async def test_unknown_route_and_method(worker: WorkerApp) -> None:
    async with client(worker) as http:
        missing = await http.get("/v1/models")
        post = await http.post("/health")
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "not_found"
    assert post.status_code == 405
    assert post.headers["allow"] == "GET, HEAD"


async def test_health_is_503_when_nats_is_gone(worker: WorkerApp) -> None:
    await worker.nats.close()
    async with client(worker) as http:
        response = await http.get("/health")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "unavailable"
    assert body["nats"]["connected"] is False
    assert body["consumers"][0]["num_pending"] is None


async def test_refuses_an_incompatible_existing_durable(
    nats_url: str, nc: NATS, consumer_name: str
) -> None:
    await nc.jetstream().add_consumer(
        subjects.JOBS_STREAM,
        ConsumerConfig(
            durable_name=consumer_name,
            filter_subject=subjects.FINETUNE_REQUESTED,
            deliver_policy=DeliverPolicy.NEW,
            ack_policy=AckPolicy.EXPLICIT,
        ),
    )
    app = create_app(TrainerSettings(nats_url=nats_url, consumer_name=consumer_name))
    with pytest.raises(WorkerStartError, match="cannot be updated"):
        await app.start()
    with pytest.raises(RuntimeError, match="not started"):
        _ = app.nats
