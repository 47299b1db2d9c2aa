"""``python -m modality.evaluator`` as a process: serves /health, stops cleanly on SIGTERM."""

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


def test_serves_health_and_stops_on_sigterm(nats_url: str, consumer_name: str) -> None:
    port = free_port()
    env = {
        **os.environ,
        "MODALITY_LOG_LEVEL": "INFO",
        "MODALITY_NATS_URL": nats_url,
        "MODALITY_EVALUATOR_PORT": str(port),
        "MODALITY_EVALUATOR_CONSUMER_NAME": consumer_name,
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "modality.evaluator"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 20.0
        response = None
        while response is None and time.monotonic() < deadline and proc.poll() is None:
            try:
                response = httpx.get(f"http://127.0.0.1:{port}/health", timeout=1.0)
            except httpx.TransportError:
                time.sleep(0.05)
        assert response is not None, f"no answer on :{port} (exit code {proc.poll()})"
        assert response.status_code == 200
        assert response.json()["consumers"][0]["filter_subject"] == "model.registered"
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=15)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0, err
    assert "evaluator: stopped" in err
