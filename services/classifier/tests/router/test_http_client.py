"""client.py: retries with exponential backoff and jitter, and a real round trip."""

from __future__ import annotations

import random
import time
from typing import Any

import httpx
import pytest

from modality.classifier.app import create_app
from modality.classifier.client import ClassifierClient, ClassifyCallError, RetryPolicy
from modality.classifier.settings import ClassifierSettings
from modality.common.auth import verify_service_token

SECRET = "c" * 32
FAST = RetryPolicy(retries=3, backoff_base_s=0.001, backoff_max_s=0.002)
OK_RESULT = {
    "task_type_1": "Open QA",
    "task_type_2": "NA",
    "task_type_prob": 0.9,
    "creativity_scope": 0.1,
    "reasoning": 0.2,
    "contextual_knowledge": 0.0,
    "domain_knowledge": 0.3,
    "constraint_ct": 0.1,
    "number_of_few_shots": 0.0,
    "prompt_complexity_score": 0.2,
    "small_model_failure": 0.4,
}


def scripted(
    *responses: httpx.Response | Exception,
) -> tuple[httpx.MockTransport, list[httpx.Request]]:
    seen: list[httpx.Request] = []
    queue = list(responses)

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        item = queue.pop(0)
        if isinstance(item, Exception):
            raise item
        return item

    return httpx.MockTransport(handler), seen


def ok(n: int = 1) -> httpx.Response:
    return httpx.Response(200, json={"model": "m", "backend": "onnx", "results": [OK_RESULT] * n})


def err(status: int, **headers: str) -> httpx.Response:
    body = {
        "error": {
            "message": f"status {status}",
            "type": "server_error",
            "param": None,
            "code": None,
        }
    }
    return httpx.Response(status, json=body, headers=headers)


async def test_retries_5xx_and_transport_errors_then_succeeds() -> None:
    transport, seen = scripted(err(503), httpx.ConnectError("refused"), err(502), ok(2))
    async with ClassifierClient(
        "http://c", jwt_secret=SECRET, retry=FAST, transport=transport
    ) as client:
        results = await client.classify(["a", "b"])
    assert len(seen) == 4 and results[0].small_model_failure == 0.4
    claims = verify_service_token(SECRET, seen[0].headers["authorization"].split()[1])
    assert claims["sub"] == "modality-client"


async def test_client_errors_are_not_retried() -> None:
    transport, seen = scripted(err(400), ok())
    async with ClassifierClient("http://c", token="t", retry=FAST, transport=transport) as client:
        with pytest.raises(ClassifyCallError) as info:
            await client.classify(["a"])
    assert len(seen) == 1 and info.value.status_code == 400
    assert "status 400" in str(info.value)


async def test_gives_up_after_the_configured_retries() -> None:
    transport, seen = scripted(*(err(500) for _ in range(3)))
    policy = RetryPolicy(retries=2, backoff_base_s=0.001, backoff_max_s=0.001)
    async with ClassifierClient("http://c", token="t", retry=policy, transport=transport) as client:
        with pytest.raises(ClassifyCallError, match="after 3 attempts"):
            await client.classify(["a"])
    assert len(seen) == 3


async def test_honours_retry_after_on_429() -> None:
    transport, seen = scripted(err(429, **{"retry-after": "0.2"}), ok())
    started = time.perf_counter()
    async with ClassifierClient("http://c", token="t", retry=FAST, transport=transport) as client:
        await client.classify(["a"])
    assert len(seen) == 2 and time.perf_counter() - started >= 0.2


def test_backoff_is_exponential_capped_and_jittered() -> None:
    rng = random.Random(7)
    exact = RetryPolicy(backoff_base_s=0.1, backoff_max_s=1.0, jitter=0.0)
    assert [exact.delay(k, rng) for k in range(6)] == pytest.approx([0.1, 0.2, 0.4, 0.8, 1.0, 1.0])
    full = RetryPolicy(backoff_base_s=0.1, backoff_max_s=1.0, jitter=1.0)
    draws = [full.delay(3, rng) for _ in range(500)]
    assert 0.0 <= min(draws) < 0.2 and 0.6 < max(draws) <= 0.8
    half = RetryPolicy(backoff_base_s=0.1, backoff_max_s=1.0, jitter=0.5)
    assert all(0.4 <= half.delay(3, rng) <= 0.8 for _ in range(200))


async def test_round_trip_against_the_service(fake_classifier: Any) -> None:
    settings = ClassifierSettings(env="test", jwt_secret=SECRET, router_enabled=False)
    app = create_app(settings, classifier=fake_classifier)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with ClassifierClient(
            "http://c", jwt_secret=SECRET, subject="evaluator", transport=transport
        ) as client:
            results = await client.classify(
                ["one", "two"], has_tools=[True, False], return_embeddings=True
            )
    assert [len(r.embedding or []) for r in results] == [384, 384]
    assert fake_classifier.classify_calls == [["one", "two"]]
