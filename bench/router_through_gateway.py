"""Routing decisions as the gateway measures them: real gateway, real router, NATS between.

The routing target is gateway-measured: from the moment the data plane sends
``route.decide`` to the moment it has the decision, NATS hop included
(``modality_gateway_router_seconds``). This script starts NATS, Postgres and Redis
(``modality.devstack.pool``, or MODALITY_BENCH_*_URL), the provider simulator, the
classifier service (``python -m modality.classifier``: in-process ONNX Runtime by default,
int8 graph) and the gateway, seeds one customer on the ``embedding`` policy with one active
model that has a domain description, then sends the labelled prompts (cut to at most 128
MiniLM tokens) one at a time with ``model="auto"`` and reads the gateway's histogram.

Every prompt is classified (the customer has a candidate), so each decision runs the
whole router: tokenise, features, ONNX graph, post-processing, cosine, policy.

Usage:
    python bench/router_through_gateway.py [--requests 1000] [--precision int8]
        [--intra-op-threads 0]
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import os
import secrets
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import gateway_load as gl
import router_latency as rl

from modality.devstack.ports import free_port

REPO = Path(__file__).resolve().parent.parent
HISTOGRAM = "modality_gateway_router_seconds"
ROUTER_HISTOGRAMS = {
    # what the classifier service saw, to split the gateway's figure into its parts
    "router: route.decide received to reply": "modality_router_decide_seconds",
    "router: classifier call (tokenise, graph, post-process)": (
        "modality_classifier_classify_seconds"
    ),
}


def quantile(buckets: dict[str, float], q: float) -> float:
    """Quantile (seconds) of a cumulative Prometheus histogram, linear within a bucket."""
    edges = sorted((float(le), n) for le, n in buckets.items() if le != "+Inf")
    total = buckets.get("+Inf", 0.0)
    if not total:
        return float("nan")
    rank = q * total
    lower_edge, lower_count = 0.0, 0.0
    for edge, count in edges:
        if count >= rank:
            share = (rank - lower_count) / (count - lower_count) if count > lower_count else 1.0
            return lower_edge + share * (edge - lower_edge)
        lower_edge, lower_count = edge, count
    return float("inf")  # above the last finite bucket


async def drive(url: str, key: str, prompts: list[str], n: int) -> tuple[list[float], list[str]]:
    import aiohttp

    latencies: list[float] = []
    reasons: list[str] = []
    headers = {"Authorization": f"Bearer {key}"}
    async with aiohttp.ClientSession(headers=headers) as http:
        for i in range(n):
            body = {
                "model": "auto",
                "messages": [{"role": "user", "content": prompts[i % len(prompts)]}],
                "max_tokens": 16,
            }
            started = time.perf_counter()
            async with http.post(url, json=body) as response:
                await response.read()
                if response.status != 200:
                    raise RuntimeError(f"gateway answered {response.status}")
                reasons.append(response.headers["x-modality-route-reason"])
            latencies.append(time.perf_counter() - started)
    return latencies, reasons


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--requests", type=int, default=1000)
    parser.add_argument("--precision", choices=("fp32", "int8"), default="int8")
    parser.add_argument("--intra-op-threads", type=int, default=0)
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="modality-router-gw-bench-"))
    procs = []
    with gl.bench_servers("router_gw_bench") as (nats_url, redis_url, database_url):
        try:
            windows, latencies, reasons = run_all(
                args, procs, tmp, nats_url, redis_url, database_url
            )
        finally:
            for proc in reversed(procs):
                gl.stop(proc)
    report(args, windows, latencies, reasons)


def run_all(
    args: argparse.Namespace,
    procs: list[Any],
    tmp: Path,
    nats_url: str,
    redis_url: str,
    database_url: str,
) -> tuple[dict[str, Any], list[float], list[str]]:
    """Start simulator, classifier and gateway (into ``procs``); drive; read the histograms."""
    from modality.classifier.pipeline import resolve_model_dir

    env = {
        **os.environ,
        "MODALITY_ENV": "development",
        "MODALITY_LOG_LEVEL": "WARNING",
        "MODALITY_NATS_URL": nats_url,
        "MODALITY_REDIS_URL": redis_url,
        "MODALITY_DATABASE_URL": database_url,
    }
    sim_port, cls_port, gw_port = free_port(), free_port(), free_port()
    sim_url = f"http://127.0.0.1:{sim_port}/v1"
    procs.append(
        gl.spawn(
            [sys.executable, "-m", "modality.simulator", "--port", str(sim_port)],
            env,
            tmp / "simulator.log",
        )
    )
    gl.wait_http(f"http://127.0.0.1:{sim_port}/health")
    _, key = asyncio.run(gl.seed(database_url, sim_url, rl.DOMAIN))
    cls_env = {
        **env,
        "MODALITY_CLASSIFIER_PORT": str(cls_port),
        "MODALITY_CLASSIFIER_MODEL_DIR": str(resolve_model_dir(None)),
        "MODALITY_CLASSIFIER_JWT_SECRET": secrets.token_urlsafe(32),
        "MODALITY_CLASSIFIER_PRECISION": args.precision,
        "MODALITY_CLASSIFIER_INTRA_OP_THREADS": str(args.intra_op_threads),
    }
    procs.append(gl.spawn([sys.executable, "-m", "modality.classifier"], cls_env, tmp / "cls.log"))
    gl.wait_http(f"http://127.0.0.1:{cls_port}/health", timeout=60)
    gw_env = {
        **env,
        "MODALITY_GATEWAY_FALLBACK_PROVIDER": "simulator",
        "MODALITY_GATEWAY_FALLBACK_BASE_URL": sim_url,
    }
    procs.append(
        gl.spawn(
            [sys.executable, "-m", "modality.gateway", "--no-control", "--port", str(gw_port)],
            gw_env,
            tmp / "gateway.log",
        )
    )
    gl.wait_http(f"http://127.0.0.1:{gw_port}/health")

    prompts = rl.bench_prompts()
    url = f"http://127.0.0.1:{gw_port}/v1/chat/completions"
    asyncio.run(drive(url, key, prompts, 50))  # warm-up: graph, caches, connections
    windows = {"gateway: route.decide sent to decision": gl.HistogramWindow(gw_port, HISTOGRAM)}
    for label, name in ROUTER_HISTOGRAMS.items():
        windows[label] = gl.HistogramWindow(cls_port, name)
    latencies, reasons = asyncio.run(drive(url, key, prompts, args.requests))
    for window in windows.values():
        window.close()
    return windows, latencies, reasons


def report(
    args: argparse.Namespace, windows: dict[str, Any], latencies: list[float], reasons: list[str]
) -> None:
    window = windows["gateway: route.decide sent to decision"]
    hist = window.delta
    lat_ms = sorted(x * 1000 for x in latencies)
    print(
        f"route.decide as the gateway measured it, c=1, {int(hist.get('+Inf', 0))} decisions, "
        f"{args.precision} graph, intra-op threads {args.intra_op_threads or 'all'}:"
    )
    print(
        f"  p50 ~{quantile(hist, 0.5) * 1000:.2f} ms, p90 ~{quantile(hist, 0.9) * 1000:.2f} ms, "
        f"p99 ~{quantile(hist, 0.99) * 1000:.2f} ms (interpolated within histogram buckets)"
    )
    print(f"  {window.shares(0.002, 0.05)}")
    print(f"  route reasons: {dict(collections.Counter(reasons))}")
    for label, part in windows.items():
        print(
            f"  {label}: p50 ~{quantile(part.delta, 0.5) * 1000:.2f} ms, "
            f"p99 ~{quantile(part.delta, 0.99) * 1000:.2f} ms"
        )
    print(
        f"  whole request at the client (gateway + router + simulator): p50 "
        f"{statistics.median(lat_ms):.2f} ms, p99 {lat_ms[int(len(lat_ms) * 0.99) - 1]:.2f} ms"
    )
    print(f"load average (1, 5, 15 min) at the end: {os.getloadavg()}; cores: {os.cpu_count()}")


if __name__ == "__main__":
    main()
