"""``python -m modality.billing`` as a process: consumes, serves /health and /metrics,
stops cleanly on SIGTERM, and refuses to start without NATS."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from typing import Any

import httpx
import pytest

from modality.devstack.ports import free_port

pytestmark = pytest.mark.integration


def spawn(env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "modality.billing"],
        env={**os.environ, "MODALITY_LOG_LEVEL": "INFO", **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


async def wait_healthy(proc: subprocess.Popen[str], url: str, timeout_s: float = 20.0) -> int:
    """The first status of /health other than 503: for a moment after start-up the server
    answers before its consumer pulls, and says so with 503 and a reason."""
    deadline = time.monotonic() + timeout_s
    last = "no answer"
    async with httpx.AsyncClient() as client:
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                _, err = proc.communicate()
                pytest.fail(f"billing exited with {proc.returncode}:\n{err}")
            try:
                response = await client.get(url, timeout=1.0)
            except httpx.TransportError:
                await asyncio.sleep(0.05)
                continue
            if response.status_code != 503:
                return response.status_code
            last = f"503 {response.text}"
            await asyncio.sleep(0.05)
    proc.kill()
    pytest.fail(f"billing not healthy at {url} within {timeout_s} s (last: {last})")


async def test_consumes_serves_health_and_stops_on_sigterm(billing: Any) -> None:
    events = [billing.event() for _ in range(25)]
    for event in events:
        await billing.publish(event.to_bytes(), event.request_id)
    port = free_port()
    proc = spawn(
        {
            "MODALITY_NATS_URL": billing.settings.nats_url,
            "MODALITY_DATABASE_URL": billing.settings.database_url,
            "MODALITY_BILLING_PORT": str(port),
            "MODALITY_BILLING_CONSUMER_NAME": billing.settings.consumer_name,
            "MODALITY_BILLING_FILTER_SUBJECT": billing.subject,
        }
    )
    try:
        assert await wait_healthy(proc, f"http://127.0.0.1:{port}/health") == 204
        await billing.settled()
        assert (await billing.totals())[0] == 25
        async with httpx.AsyncClient() as client:
            metrics = (await client.get(f"http://127.0.0.1:{port}/metrics")).text
        assert 'modality_billing_messages_total{outcome="inserted"} 25.0' in metrics
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=15)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0, err
    assert "Traceback" not in err, err


def test_refuses_to_start_without_nats() -> None:
    proc = spawn(
        {
            "MODALITY_NATS_URL": f"nats://127.0.0.1:{free_port()}",
            "MODALITY_BILLING_PORT": str(free_port()),
        }
    )
    try:
        _, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode != 0
    assert "cannot reach NATS" in err
