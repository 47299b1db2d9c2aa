"""Build the classifier for the configured backend (``onnx`` in process, or ``triton``)."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field

from modality.classifier import contract
from modality.classifier.encoder import PromptTokenizer
from modality.classifier.metrics import ServiceMetrics
from modality.classifier.pipeline import (
    ClassifiedPrompt,
    Classifier,
    chunk_padding,
    resolve_model_dir,
)
from modality.classifier.router.types import FloatArray, PromptClassifier
from modality.classifier.settings import ClassifierSettings
from modality.classifier.triton_backend import TritonBackend


@dataclass
class BackendInfo:
    """What ``/health`` reports about the backend."""

    name: str  # "onnx" | "triton"
    device: str
    model: str = contract.MODEL_NAME
    detail: dict[str, str] = field(default_factory=dict)


@dataclass
class ClassifierRuntime:
    classifier: Classifier
    info: BackendInfo
    triton: TritonBackend | None = None

    async def close(self) -> None:
        if self.triton is not None:
            await self.triton.close()


async def build_classifier(settings: ClassifierSettings) -> ClassifierRuntime:
    """The classifier over the configured backend; Triton is checked for readiness."""
    model_dir = resolve_model_dir(settings.model_dir)
    if settings.backend == "onnx":
        return ClassifierRuntime(
            Classifier.from_model_dir(
                model_dir, settings.intra_op_threads, settings.batch_size, settings.precision
            ),
            BackendInfo(
                "onnx", "cpu", detail={"model_dir": str(model_dir), "precision": settings.precision}
            ),
        )
    tokenizer = PromptTokenizer(model_dir / contract.CLASSIFIER_DIR / contract.TOKENIZER_FILE)
    triton = TritonBackend(
        settings.triton_url,
        timeout_s=settings.triton_timeout_s,
        seq_buckets=settings.triton_seq_buckets,
        pad_id=tokenizer.pad_id,
    )
    await triton.start()
    return ClassifierRuntime(
        Classifier(
            triton,
            tokenizer,
            settings.batch_size,
            concurrent_calls=settings.triton_concurrent_calls,
            max_padding=chunk_padding(settings.precision),  # the server runs int8 row-wise too
        ),
        BackendInfo("triton", triton.device, detail={"url": settings.triton_url}),
        triton,
    )


class TimedClassifier:
    """A ``PromptClassifier`` that records call latency and batch size."""

    def __init__(self, inner: PromptClassifier, metrics: ServiceMetrics, backend: str) -> None:
        self.inner = inner
        self._seconds = metrics.classify_seconds.labels(backend)
        self._batch = metrics.classify_batch

    async def classify(
        self,
        prompts: Sequence[str],
        has_tools: Sequence[bool] | None = None,
        has_vision: Sequence[bool] | None = None,
    ) -> list[ClassifiedPrompt]:
        started = time.perf_counter()
        result = await self.inner.classify(prompts, has_tools, has_vision)
        self._seconds.observe(time.perf_counter() - started)
        self._batch.observe(len(prompts))
        return result

    async def embed(self, texts: Sequence[str]) -> FloatArray:
        return await self.inner.embed(texts)
