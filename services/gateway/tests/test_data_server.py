"""The gateway process tree (``python -m modality.gateway``): two data-plane workers on one
port (SO_REUSEPORT) plus the control plane, merged metrics, and a clean SIGTERM."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator

import httpx
import pytest
from openai import OpenAI

from modality.devstack.ports import free_port

from .conftest import World

pytestmark = [pytest.mark.integration, pytest.mark.slow]


@pytest.fixture
def gateway_tree(
    nats_url: str,
    redis_url: str,
    migrated_db: str,
    world: World,
    simulator: object,
    tmp_path: object,
) -> Iterator[tuple[subprocess.Popen[bytes], int, int]]:
    port, control_port = free_port(), free_port()
    env = {
        **os.environ,
        "MODALITY_ENV": "test",
        "MODALITY_NATS_URL": nats_url,
        "MODALITY_REDIS_URL": redis_url,
        "MODALITY_DATABASE_URL": migrated_db,
        "MODALITY_ADMIN_TOKEN": "tree-test-token",
        "MODALITY_GATEWAY_FALLBACK_PROVIDER": "simulator",
        "MODALITY_GATEWAY_FALLBACK_BASE_URL": simulator.base_url,  # type: ignore[attr-defined]
        "MODALITY_LOG_LEVEL": "WARNING",
    }
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "modality.gateway",
            "--port",
            str(port),
            "--control-port",
            str(control_port),
            "--workers",
            "2",
        ],
        env=env,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            assert proc.poll() is None, "the gateway exited during start"
            try:
                if httpx.get(f"http://127.0.0.1:{port}/health").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "the gateway did not become healthy"
            time.sleep(0.1)
        yield proc, port, control_port
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_two_workers_and_control_plane_then_clean_sigterm(
    gateway_tree: tuple[subprocess.Popen[bytes], int, int], world: World
) -> None:
    proc, port, control_port = gateway_tree
    client = OpenAI(base_url=f"http://127.0.0.1:{port}/v1", api_key=world.acme.key, max_retries=0)
    assert client.chat.completions.create(
        model="acme-small", messages=[{"role": "user", "content": "hi"}]
    ).choices
    for _ in range(19):  # a new connection each time, so both workers get some
        response = httpx.post(
            f"http://127.0.0.1:{port}/v1/chat/completions",
            json={"model": "acme-small", "messages": [{"role": "user", "content": "hi"}]},
            headers={"Authorization": f"Bearer {world.acme.key}", "Connection": "close"},
        )
        assert response.status_code == 200, response.text
    metrics = httpx.get(f"http://127.0.0.1:{port}/metrics").text
    line = next(
        ln
        for ln in metrics.splitlines()
        if ln.startswith(
            'modality_gateway_requests_total{endpoint="chat.completions",model="acme-small"'
        )
    )
    assert float(line.rsplit(" ", 1)[1]) >= 20  # merged across workers, whichever answered /metrics
    assert httpx.get(f"http://127.0.0.1:{control_port}/health").status_code == 200

    proc.send_signal(signal.SIGTERM)
    assert proc.wait(30) == 0
