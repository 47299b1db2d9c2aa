"""``python -m modality.trainer`` as a process: serves /health, stops cleanly on SIGTERM,
and refuses to start without NATS."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import httpx
import pytest

from modality.devstack.ports import free_port

pytestmark = pytest.mark.integration


def spawn(env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "modality.trainer"],
        env={**os.environ, "MODALITY_LOG_LEVEL": "INFO", **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def wait_healthy(proc: subprocess.Popen[str], url: str, timeout_s: float = 20.0) -> httpx.Response:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            _, err = proc.communicate()
            pytest.fail(f"worker exited with {proc.returncode}:\n{err}")
        try:
            return httpx.get(url, timeout=1.0)
        except httpx.TransportError:
            time.sleep(0.05)
    proc.kill()
    pytest.fail(f"worker did not answer {url} within {timeout_s} s")


def test_serves_health_and_stops_on_sigterm(nats_url: str, consumer_name: str) -> None:
    port = free_port()
    proc = spawn(
        {
            "MODALITY_NATS_URL": nats_url,
            "MODALITY_TRAINER_PORT": str(port),
            "MODALITY_TRAINER_CONSUMER_NAME": consumer_name,
        }
    )
    try:
        response = wait_healthy(proc, f"http://127.0.0.1:{port}/health")
        assert response.status_code == 200
        assert response.json()["consumers"][0]["durable"] == consumer_name
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=15)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0, err
    assert "trainer: stopped" in err  # the lifespan shutdown ran (NATS drained)


def test_exits_nonzero_when_nats_is_unreachable() -> None:
    proc = spawn(
        {
            "MODALITY_NATS_URL": f"nats://127.0.0.1:{free_port()}",
            "MODALITY_TRAINER_PORT": str(free_port()),
            "MODALITY_TRAINER_NATS_CONNECT_TIMEOUT_S": "1",
        }
    )
    try:
        _, err = proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode != 0
    assert "cannot reach NATS" in err
