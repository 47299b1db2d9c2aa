"""The console entry point: starts, serves (one or several workers), stops on signals."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time

import httpx
import pytest


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_healthy(base: str, process: subprocess.Popen[bytes], timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"simulator exited early with {process.returncode}")
        try:
            if httpx.get(f"{base}/health", timeout=0.5).status_code == 200:
                return
        except httpx.TransportError:
            time.sleep(0.05)
    raise AssertionError("simulator did not become healthy")


@pytest.mark.parametrize(("workers", "stop_signal"), [(1, signal.SIGINT), (2, signal.SIGTERM)])
def test_module_serves_and_stops_cleanly(workers: int, stop_signal: signal.Signals) -> None:
    port = free_port()
    env = {**os.environ, "MODALITY_SIMULATOR_PORT": str(port)}
    process = subprocess.Popen(
        [sys.executable, "-m", "modality.simulator", "--workers", str(workers)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(base, process)
        line = b'{"messages": [{"role": "user", "content": "q"}, '
        line += b'{"role": "assistant", "content": "a"}]}\n'
        created = httpx.post(
            f"{base}/v1/files",
            files={"file": ("t.jsonl", line)},
            data={"purpose": "fine-tune"},
        ).json()
        for _ in range(8):  # new connections land on either worker: state is shared
            with httpx.Client() as fresh:
                assert fresh.get(f"{base}/v1/files/{created['id']}").status_code == 200
        chat = httpx.post(
            f"{base}/v1/chat/completions",
            json={"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}]},
        )
        assert chat.status_code == 200 and chat.headers["x-modality-simulator"] == "true"
    finally:
        process.send_signal(stop_signal)
        output, _ = process.communicate(timeout=15)
    assert process.returncode == 0, output.decode()
    assert b"not a real model" in output
