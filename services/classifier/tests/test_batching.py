"""BatchingClassifier: concurrent classify() calls share backend batches, answers stay apart."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

import numpy as np
import pytest

from modality.classifier.batching import BatchingClassifier
from modality.classifier.pipeline import Classifier, plan_chunks


class GatedBackend:
    """Records each batch; every call waits until the test opens the gate."""

    def __init__(self) -> None:
        self.batches: list[list[str]] = []
        self.flags: list[tuple[list[bool], list[bool]]] = []
        self.gate = asyncio.Event()
        self.fail_with: Exception | None = None

    async def classify(
        self,
        prompts: Sequence[str],
        has_tools: Sequence[bool] | None = None,
        has_vision: Sequence[bool] | None = None,
    ) -> list[Any]:
        self.batches.append(list(prompts))
        self.flags.append((list(has_tools or []), list(has_vision or [])))
        await self.gate.wait()
        if self.fail_with is not None:
            raise self.fail_with
        return [f"result:{p}" for p in prompts]

    async def embed(self, texts: Sequence[str]) -> Any:
        return np.zeros((len(texts), 3), dtype=np.float32)


async def settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


async def test_a_lone_call_goes_to_the_backend_at_once() -> None:
    backend = GatedBackend()
    backend.gate.set()
    batcher = BatchingClassifier(backend, max_batch=32, max_in_flight=1)
    assert await batcher.classify(["a"], [True], [False]) == ["result:a"]
    assert backend.batches == [["a"]]
    assert backend.flags == [([True], [False])]


async def test_calls_waiting_behind_a_running_batch_are_merged_in_order() -> None:
    backend = GatedBackend()
    batcher = BatchingClassifier(backend, max_batch=32, max_in_flight=1)
    first = asyncio.create_task(batcher.classify(["p0"]))
    await settle()
    rest = [
        asyncio.create_task(batcher.classify([f"p{i}", f"q{i}"], [i % 2 == 0] * 2, [False] * 2))
        for i in range(1, 5)
    ]
    await settle()
    assert backend.batches == [["p0"]]  # the others wait for the running batch
    backend.gate.set()
    assert await first == ["result:p0"]
    answers = await asyncio.gather(*rest)
    assert answers == [[f"result:p{i}", f"result:q{i}"] for i in range(1, 5)]
    assert backend.batches[1] == ["p1", "q1", "p2", "q2", "p3", "q3", "p4", "q4"]
    assert backend.flags[1][0] == [False, False, True, True, False, False, True, True]


async def test_batches_respect_max_batch_and_in_flight_limit() -> None:
    backend = GatedBackend()
    batcher = BatchingClassifier(backend, max_batch=3, max_in_flight=2)
    tasks = [asyncio.create_task(batcher.classify([f"p{i}"])) for i in range(8)]
    await settle()
    # two single-prompt batches started at once; the six others wait
    assert backend.batches == [["p0"], ["p1"]]
    backend.gate.set()
    assert await asyncio.gather(*tasks) == [[f"result:p{i}"] for i in range(8)]
    assert backend.batches[2:] == [["p2", "p3", "p4"], ["p5", "p6", "p7"]]


async def test_a_caller_that_gave_up_is_skipped_and_the_others_answered() -> None:
    backend = GatedBackend()
    batcher = BatchingClassifier(backend, max_batch=32, max_in_flight=1)
    first = asyncio.create_task(batcher.classify(["p0"]))
    await settle()
    gone = asyncio.create_task(batcher.classify(["gone"]))
    kept = asyncio.create_task(batcher.classify(["kept"]))
    await settle()
    gone.cancel()
    await settle()
    backend.gate.set()
    await first
    assert await kept == ["result:kept"]
    assert gone.cancelled()
    assert backend.batches == [["p0"], ["kept"]]


async def test_a_backend_error_reaches_every_caller_of_that_batch() -> None:
    backend = GatedBackend()
    batcher = BatchingClassifier(backend, max_batch=32, max_in_flight=1)
    first = asyncio.create_task(batcher.classify(["p0"]))
    await settle()
    others = [asyncio.create_task(batcher.classify([f"p{i}"])) for i in (1, 2)]
    await settle()
    backend.fail_with = RuntimeError("backend down")
    backend.gate.set()
    for task in (first, *others):
        with pytest.raises(RuntimeError, match="backend down"):
            await task
    # the batcher still works afterwards
    backend.fail_with = None
    assert await batcher.classify(["again"]) == ["result:again"]


async def test_rejects_mismatched_flags_and_answers_empty_input() -> None:
    batcher = BatchingClassifier(GatedBackend(), max_batch=4, max_in_flight=1)
    with pytest.raises(ValueError, match="one entry per prompt"):
        await batcher.classify(["a", "b"], [True])
    assert await batcher.classify([]) == []
    with pytest.raises(ValueError):
        BatchingClassifier(GatedBackend(), max_batch=0, max_in_flight=1)


# --- how one batch is cut into backend calls ------------------------------------------------
def test_plan_chunks_keeps_padding_and_size_bounded() -> None:
    rng = np.random.default_rng(7)
    lengths = [int(x) for x in rng.integers(3, 131, size=500)]
    chunks = plan_chunks(lengths, batch_size=32, max_padding=0.25)
    assert sorted(i for c in chunks for i in c) == list(range(500))
    for chunk in chunks:
        assert len(chunk) <= 32
        longest = max(lengths[i] for i in chunk)
        cells = longest * len(chunk)
        assert cells - sum(lengths[i] for i in chunk) <= 0.25 * cells
    assert len(chunks) < 100  # it does batch: far fewer calls than prompts


def test_plan_chunks_separates_short_from_long_and_fills_equal_lengths() -> None:
    assert plan_chunks([10, 128, 12], batch_size=32, max_padding=0.25) == [[0, 2], [1]]
    assert plan_chunks([20] * 70, batch_size=32, max_padding=0.25) == [
        list(range(32)),
        list(range(32, 64)),
        list(range(64, 70)),
    ]
    assert plan_chunks([], batch_size=8, max_padding=0.25) == []


# --- a batch's chunks on a backend that runs several calls at once (Triton) -----------------
class ProbeBackend:
    """The real in-process graph behind an async ``infer`` that records how many calls
    overlap; ``fail_on_call`` makes that call fail after every call has started."""

    def __init__(self, inner: Any, fail_on_call: int | None = None) -> None:
        self.inner = inner
        self.fail_on_call = fail_on_call
        self.calls: list[int] = []  # rows per call
        self.running = 0
        self.most_at_once = 0
        self.cancelled = 0

    async def infer(self, batch: dict[str, Any]) -> dict[str, Any]:
        call = len(self.calls)
        self.calls.append(int(batch["input_ids"].shape[0]))
        self.running += 1
        self.most_at_once = max(self.most_at_once, self.running)
        try:
            await settle()  # let the other chunks start
            if call == self.fail_on_call:
                raise RuntimeError(f"call {call} failed")
            await asyncio.sleep(0.05)
            return self.inner.infer_sync(batch)
        except asyncio.CancelledError:
            self.cancelled += 1
            raise
        finally:
            self.running -= 1


PROMPTS = [f"Question {i}: how do I reset my card PIN at an ATM?" for i in range(10)]


async def test_chunks_of_one_call_run_concurrently_and_answer_as_sequential(
    classifier: Classifier,
) -> None:
    probe = ProbeBackend(classifier.backend)
    concurrent = Classifier(probe, classifier.tokenizer, 32, concurrent_calls=2, max_padding=1.0)
    got = await concurrent.classify(PROMPTS)
    assert probe.calls == [5, 5]  # the batch spread over the two calls
    assert probe.most_at_once == 2
    want = classifier.classify_sync(PROMPTS)
    for g, w in zip(got, want, strict=True):
        assert g.classification == w.classification
        assert g.embedding == pytest.approx(w.embedding, abs=1e-5)


async def test_a_failing_chunk_fails_the_call_with_its_own_error_and_stops_the_rest(
    classifier: Classifier,
) -> None:
    probe = ProbeBackend(classifier.backend, fail_on_call=0)
    concurrent = Classifier(probe, classifier.tokenizer, 32, concurrent_calls=3, max_padding=1.0)
    with pytest.raises(RuntimeError, match="call 0 failed"):
        await concurrent.classify(PROMPTS)
    assert len(probe.calls) == 3
    assert probe.cancelled == 2
    assert probe.running == 0


def test_concurrent_calls_must_be_positive() -> None:
    with pytest.raises(ValueError, match="concurrent_calls"):
        Classifier(ProbeBackend(None), None, 32, concurrent_calls=0)  # type: ignore[arg-type]
