"""Coalesce concurrent ``classify()`` calls into backend batches.

Every ``route.decide`` asks for one prompt. Sent one by one, each pays the backend's fixed
cost (an ONNX Runtime call, or a Triton gRPC round trip plus PyTriton's Python backend),
which is most of the work for a short prompt. ``BatchingClassifier`` sends a call to the
backend at once while fewer than ``max_in_flight`` backend calls are running; otherwise
the call waits, and when a backend call finishes everything waiting (up to
``max_batch`` prompts) goes as one batch. There is no timer: at concurrency 1 nothing
waits, and under load batches form by themselves — Triton's dynamic batcher's idea, one
hop earlier, where prompts of different lengths can still share a batch (the pipeline
sorts them by length into chunks whose padding stays bounded, ``pipeline.plan_chunks``).

A caller that gives up (its ``asyncio.timeout`` fires) is dropped from its batch's
results; the others still get theirs. A backend error fails every call of that batch.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass

from modality.classifier.pipeline import ClassifiedPrompt, check_flags
from modality.classifier.router.types import FloatArray, PromptClassifier


@dataclass(slots=True)
class _Call:
    prompts: list[str]
    has_tools: list[bool]
    has_vision: list[bool]
    future: asyncio.Future[list[ClassifiedPrompt]]


class BatchingClassifier:
    """A ``PromptClassifier`` that merges concurrent calls into batches of ``inner``."""

    def __init__(self, inner: PromptClassifier, *, max_batch: int, max_in_flight: int) -> None:
        if max_batch < 1 or max_in_flight < 1:
            raise ValueError("max_batch and max_in_flight must be at least 1")
        self.inner = inner
        self.max_batch = max_batch
        self.max_in_flight = max_in_flight
        self._waiting: deque[_Call] = deque()
        self._in_flight = 0
        self._tasks: set[asyncio.Task[None]] = set()

    async def classify(
        self,
        prompts: Sequence[str],
        has_tools: Sequence[bool] | None = None,
        has_vision: Sequence[bool] | None = None,
    ) -> list[ClassifiedPrompt]:
        n = len(prompts)
        check_flags(n, has_tools, has_vision)
        if n == 0:
            return []
        call = _Call(
            list(prompts),
            list(has_tools) if has_tools is not None else [False] * n,
            list(has_vision) if has_vision is not None else [False] * n,
            asyncio.get_running_loop().create_future(),
        )
        self._waiting.append(call)
        self._dispatch()
        return await call.future

    async def embed(self, texts: Sequence[str]) -> FloatArray:
        """Domain descriptions are rare and not latency-bound: straight to ``inner``."""
        return await self.inner.embed(texts)

    # -- internals -------------------------------------------------------------------------
    def _dispatch(self) -> None:
        while self._waiting and self._in_flight < self.max_in_flight:
            batch = self._take()
            if not batch:
                continue
            self._in_flight += 1
            task = asyncio.create_task(self._run(batch), name="classifier-batch")
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    def _take(self) -> list[_Call]:
        """Waiting calls up to ``max_batch`` prompts (at least one call); skips the abandoned."""
        batch: list[_Call] = []
        size = 0
        while self._waiting:
            call = self._waiting[0]
            if call.future.done():  # its caller gave up while it waited
                self._waiting.popleft()
                continue
            if batch and size + len(call.prompts) > self.max_batch:
                break
            batch.append(self._waiting.popleft())
            size += len(call.prompts)
        return batch

    async def _run(self, batch: list[_Call]) -> None:
        try:
            results = await self.inner.classify(
                [p for c in batch for p in c.prompts],
                [t for c in batch for t in c.has_tools],
                [v for c in batch for v in c.has_vision],
            )
        except asyncio.CancelledError:
            for call in batch:
                call.future.cancel()
            raise
        except Exception as exc:
            for call in batch:
                if not call.future.done():
                    call.future.set_exception(exc)
        else:
            start = 0
            for call in batch:
                end = start + len(call.prompts)
                if not call.future.done():
                    call.future.set_result(results[start:end])
                start = end
        finally:
            self._in_flight -= 1
            self._dispatch()

    async def aclose(self) -> None:
        """Wait for the batches already running (their callers get their answers)."""
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
