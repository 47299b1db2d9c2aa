"""The usage batcher on its own (a fake JetStream, no network): retries until acked,
back-pressure while full, a flush at close, and nothing lost silently."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from modality.gateway.data.metrics import DataPlaneMetrics
from modality.gateway.data.usage import UsagePublisher


class FlakyJetStream:
    """Acks a message only after ``failures`` failed attempts for it; ``down`` blocks all acks."""

    def __init__(self, failures: int = 0) -> None:
        self.failures = failures
        self.attempts: dict[str, int] = {}
        self.acked: list[str] = []
        self.down = asyncio.Event()  # set = down

    async def publish_async(self, subject: str, payload: bytes, headers: dict[str, str]) -> Any:
        msg_id = headers["Nats-Msg-Id"]
        self.attempts[msg_id] = self.attempts.get(msg_id, 0) + 1
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        if self.down.is_set():
            return future  # never acked: the batcher's ack timeout fires
        if self.attempts[msg_id] <= self.failures:
            future.set_exception(RuntimeError("stream unavailable"))
        else:
            self.acked.append(msg_id)
            future.set_result(None)
        return future


def publisher(js: FlakyJetStream, metrics: DataPlaneMetrics, **overrides: Any) -> UsagePublisher:
    settings: dict[str, Any] = {
        "buffer_max": 100,
        "max_in_flight": 8,
        "flush_interval_s": 0.001,
        "publish_timeout_s": 0.05,
        "shutdown_timeout_s": 2.0,
    }
    settings.update(overrides)
    return UsagePublisher(js, metrics, **settings)  # type: ignore[arg-type]


async def test_failed_publishes_are_retried_until_acked_once_each() -> None:
    js, metrics = FlakyJetStream(failures=2), DataPlaneMetrics()
    usage = publisher(js, metrics)
    usage.start()
    for i in range(20):
        usage.submit(f"req_{i}", "cus_1", b"{}")
    await usage.close()
    assert sorted(js.acked) == sorted(f"req_{i}" for i in range(20))
    assert all(n == 3 for n in js.attempts.values())
    assert metrics.usage_publish_failures._value.get() == 40
    assert metrics.usage_lost._value.get() == 0


async def test_full_buffer_holds_new_requests_until_it_drains() -> None:
    js, metrics = FlakyJetStream(), DataPlaneMetrics()
    js.down.set()
    usage = publisher(js, metrics, buffer_max=5, max_in_flight=2)
    usage.start()
    for i in range(5):
        usage.submit(f"req_{i}", "cus_1", b"{}")
    await asyncio.sleep(0.01)  # two go in flight, three wait; then room is short again
    for i in range(5, 8):
        usage.submit(f"req_{i}", "cus_1", b"{}")
    admitted = asyncio.create_task(usage.admit())
    await asyncio.sleep(0.1)
    assert not admitted.done()  # back-pressure: JetStream is down and the buffer is full
    js.down.clear()
    await asyncio.wait_for(admitted, 2.0)
    await usage.close()
    assert sorted(js.acked) == sorted(f"req_{i}" for i in range(8))
    assert metrics.usage_buffer_full._value.get() >= 1


async def test_what_cannot_be_flushed_at_close_is_logged_and_counted(
    caplog: pytest.LogCaptureFixture,
) -> None:
    js, metrics = FlakyJetStream(), DataPlaneMetrics()
    js.down.set()
    usage = publisher(js, metrics, shutdown_timeout_s=0.2)
    usage.start()
    usage.submit("req_lost", "cus_1", b'{"request_id": "req_lost"}')
    await usage.close()
    assert js.acked == []
    assert metrics.usage_lost._value.get() == 1
    assert any("req_lost" in r.getMessage() and r.levelname == "ERROR" for r in caplog.records)
