"""Raw speed of the provider simulator (no gateway in front of it).

Starts `python -m modality.simulator` on a free loopback port (or targets --url), then
drives POST /v1/chat/completions from one aiohttp client process for a bounded time and
prints requests/s and latency percentiles. The client shares the machine's cores with the
server, so the numbers are a floor; `wrk` (Debian package) loads it harder for less CPU:

    wrk -t2 -c32 -d10s -s bench/simulator_wrk.lua http://127.0.0.1:8090/v1/chat/completions

Usage:
    python bench/simulator_load.py [--workers 2] [--concurrency 32] [--seconds 10] [--stream]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import statistics
import subprocess
import sys
import time
from urllib.parse import urlsplit

import aiohttp

from modality.devstack.ports import free_port

BODY = {
    "model": "gpt-4o-mini",
    "messages": [
        {"role": "system", "content": "You are a helpful assistant."},
        {
            "role": "user",
            "content": "Summarize this support ticket: the customer cannot log in after "
            "resetting the password.",
        },
    ],
    "max_tokens": 32,
}


async def wait_healthy(base: str) -> None:
    deadline = time.monotonic() + 20.0
    async with aiohttp.ClientSession() as session:
        while time.monotonic() < deadline:
            try:
                async with session.get(f"{base}/health") as response:
                    if response.status == 200:
                        return
            except aiohttp.ClientConnectionError:
                await asyncio.sleep(0.1)
    raise TimeoutError("simulator did not become healthy")


async def worker(
    session: aiohttp.ClientSession,
    url: str,
    body: dict[str, object],
    stop_at: float,
    latencies: list[float],
    errors: list[int],
) -> None:
    while time.monotonic() < stop_at:
        started = time.perf_counter()
        async with session.post(url, json=body) as response:
            await response.read()
            if response.status != 200:
                errors.append(response.status)
                continue
        latencies.append(time.perf_counter() - started)


async def load(base: str, concurrency: int, seconds: float, stream: bool) -> None:
    body = {**BODY, "stream": True} if stream else BODY
    url = f"{base}/v1/chat/completions"
    latencies: list[float] = []
    errors: list[int] = []
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as session:
        await worker(session, url, body, time.monotonic() + 1.0, [], [])  # warm up
        started = time.monotonic()
        stop_at = started + seconds
        await asyncio.gather(
            *(worker(session, url, body, stop_at, latencies, errors) for _ in range(concurrency))
        )
        elapsed = time.monotonic() - started
    latencies.sort()
    q = statistics.quantiles(latencies, n=100)
    print(
        f"{'stream' if stream else 'non-stream'} concurrency={concurrency}: "
        f"{len(latencies) / elapsed:,.0f} req/s over {elapsed:.1f}s, "
        f"p50 {q[49] * 1000:.2f} ms, p99 {q[98] * 1000:.2f} ms, errors {len(errors)}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", help="an already running simulator, e.g. http://127.0.0.1:8090")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--stream", action="store_true")
    args = parser.parse_args()
    if not 0 < args.seconds <= 120:
        parser.error("--seconds must be in (0, 120]")
    process = None
    base = args.url
    if base is None:
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "modality.simulator",
                "--port",
                str(port),
                "--workers",
                str(args.workers),
                "--log-level",
                "WARNING",
            ],
            env={**os.environ},
        )
    elif urlsplit(base).hostname not in ("127.0.0.1", "localhost", "::1"):
        parser.error("load is only ever sent to a simulator on this machine (loopback)")
    try:
        asyncio.run(wait_healthy(base))
        asyncio.run(load(base, args.concurrency, args.seconds, args.stream))
    finally:
        if process is not None:
            process.send_signal(signal.SIGTERM)
            process.wait(timeout=15)


if __name__ == "__main__":
    main()
