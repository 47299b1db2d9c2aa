"""A real Triton (PyTriton on CPU) serving the classifier graph, through the Triton backend.

The server runs as a subprocess (``pytriton_server.spawn``: LIBDIR on LD_LIBRARY_PATH, free
ports, workspace under a temporary state dir), exactly as ``python -m
modality.classifier.pytriton_server`` runs. Outputs through Triton must equal in-process
ONNX Runtime's within 1e-4 on every tensor (same graph, same CPU kernels; the difference
is batching and padding) and within 1e-3 on the post-processed scores (rounded to 4 places).
"""

from __future__ import annotations

import asyncio
import re
import urllib.request
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import numpy as np
import pytest

from modality.classifier import contract
from modality.classifier.app import create_app
from modality.classifier.features import feature_matrix
from modality.classifier.pipeline import Classifier
from modality.classifier.postprocess import SCHEMA_FIELDS
from modality.classifier.pytriton_server import PyTritonStartError, spawn, stop
from modality.classifier.settings import ClassifierSettings
from modality.classifier.triton_backend import TritonBackend
from modality.common.auth import issue_service_token
from modality.devstack.ports import free_port

pytestmark = [pytest.mark.triton, pytest.mark.slow]

TENSOR_ATOL = 1e-4
SCORE_ATOL = 1e-3
PROMPTS = [
    "Write a Python function that merges two sorted lists.",
    "What is the capital of Australia?",
    "Summarise the following clause: the tenant shall keep the premises in good repair.",
    "Brainstorm ten names for a coffee shop run by cats.",
    "Classify the sentiment: 'the delivery was late again and nobody answered'",
    "hi",
    "Solve for x: 3x + 7 = 22. Show your reasoning step by step. " * 6,
    "请把这句话翻译成英文 今天天气很好",
]


@pytest.fixture(scope="module")
def triton_settings(
    model_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ClassifierSettings]:
    settings = ClassifierSettings(
        env="test",
        model_dir=model_dir,
        state_dir=tmp_path_factory.mktemp("classifier-state"),
        pytriton_http_port=free_port(),
        pytriton_grpc_port=free_port(),
        pytriton_metrics_port=free_port(),
        # two instances, as benchmarked: PyTriton's instances share a start-up handshake
        # that can fail, which the server retries (pytriton_server.LOAD_ATTEMPTS)
        pytriton_instances=2,
        intra_op_threads=1,
        jwt_secret="t" * 32,
        router_enabled=False,
        backend="triton",
        precision="fp32",  # compared with the fp32 in-process classifier fixture
    )
    log_path = settings.state_dir / "pytriton.log"
    with log_path.open("wb") as log:
        process = spawn(settings, log_file=log)  # a start error carries the log's end
        try:
            yield settings.model_copy(
                update={"triton_url": f"127.0.0.1:{settings.pytriton_grpc_port}"}
            )
        finally:
            assert stop(process) == 0, log_path.read_text(errors="replace")[-3000:]
    assert not any((settings.state_dir / "pytriton").glob("ws-*")), "workspace left behind"


@pytest.fixture
async def triton_classifier(
    triton_settings: ClassifierSettings, classifier: Classifier
) -> AsyncIterator[Classifier]:
    backend = TritonBackend(triton_settings.triton_url, pad_id=classifier.tokenizer.pad_id)
    await backend.start()
    yield Classifier(backend, classifier.tokenizer)
    await backend.close()


async def test_triton_outputs_equal_onnx_runtime(
    triton_classifier: Classifier, classifier: Classifier
) -> None:
    backend = triton_classifier.backend
    assert (
        isinstance(backend, TritonBackend)
        and backend.device == "cpu"
        and backend.max_batch_size == 64
    )
    feeds = classifier.tokenizer.encode(PROMPTS)
    feeds["features"] = feature_matrix(PROMPTS)
    via_triton = await backend.infer(feeds)
    local = classifier.backend.infer_sync(feeds)  # type: ignore[union-attr]
    for name in contract.OUTPUT_NAMES:
        np.testing.assert_allclose(via_triton[name], local[name], atol=TENSOR_ATOL, err_msg=name)

    remote_results = await triton_classifier.classify(PROMPTS)
    local_results = classifier.classify_sync(PROMPTS)
    for r, loc in zip(remote_results, local_results, strict=True):
        np.testing.assert_allclose(r.embedding, loc.embedding, atol=TENSOR_ATOL)
        for field in SCHEMA_FIELDS:
            a, b = getattr(r.classification, field), getattr(loc.classification, field)
            if isinstance(a, str):
                assert a == b, field
            else:
                assert a == pytest.approx(b, abs=SCORE_ATOL), field
        assert r.classification.small_model_failure == pytest.approx(
            loc.classification.small_model_failure, abs=SCORE_ATOL
        )


async def test_concurrent_requests_are_batched_by_triton(
    triton_classifier: Classifier, classifier: Classifier, triton_settings: ClassifierSettings
) -> None:
    def counts() -> tuple[float, float]:
        url = f"http://127.0.0.1:{triton_settings.pytriton_metrics_port}/metrics"
        text = urllib.request.urlopen(url, timeout=5).read().decode()
        model = f'model="{contract.MODEL_NAME}"'

        def total(metric: str) -> float:
            return sum(
                float(m.group(1))
                for m in re.finditer(rf"^{metric}{{[^}}]*{model}[^}}]*}} (\S+)$", text, re.M)
            )

        return total("nv_inference_count"), total("nv_inference_exec_count")

    before = counts()
    prompts = [PROMPTS[i % len(PROMPTS)] for i in range(32)]
    results = await asyncio.gather(*(triton_classifier.classify([p]) for p in prompts))
    # Triton updates its counters just after it answers: poll briefly until all 32 show.
    for _ in range(100):  # up to 5 s
        after = counts()
        if after[0] - before[0] >= 32:
            break
        await asyncio.sleep(0.05)
    inferences, executions = after[0] - before[0], after[1] - before[1]
    assert inferences == 32
    assert executions < inferences  # the dynamic batcher merged concurrent requests
    local = {p: r for p, r in zip(PROMPTS, classifier.classify_sync(PROMPTS), strict=True)}
    for p, (r,) in zip(prompts, results, strict=True):
        np.testing.assert_allclose(r.embedding, local[p].embedding, atol=TENSOR_ATOL)


async def test_service_with_the_triton_backend(triton_settings: ClassifierSettings) -> None:
    app = create_app(triton_settings)
    async with app.router.lifespan_context(app):
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://c"
        ) as http:
            health = (await http.get("/health")).json()
            token = issue_service_token(triton_settings.jwt_secret, "test")
            r = await http.post(
                "/classify",
                json={"prompts": PROMPTS[:3]},
                headers={"Authorization": f"Bearer {token}"},
            )
    assert (health["backend"], health["device"], health["status"]) == ("triton", "cpu", "ok")
    assert health["detail"] == {"url": triton_settings.triton_url}
    assert (
        r.status_code == 200 and len(r.json()["results"]) == 3 and r.json()["backend"] == "triton"
    )


def test_a_server_that_cannot_start_says_why(tmp_path: Path) -> None:
    settings = ClassifierSettings(
        env="test",
        model_dir=tmp_path / "no-models",
        state_dir=tmp_path / "state",
        pytriton_http_port=free_port(),
        pytriton_grpc_port=free_port(),
        pytriton_metrics_port=free_port(),
    )
    with (tmp_path / "pytriton.log").open("wb") as log:
        with pytest.raises(PyTritonStartError) as info:
            spawn(settings, log_file=log, ready_timeout_s=60)
    message = str(info.value)
    assert "exited with 1 before ready" in message
    assert "classifier graph not found" in message and "pytriton.log" in message
