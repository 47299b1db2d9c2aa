"""Gateway test fixtures.

``migrated_db`` serves both planes (control-plane fixtures live in ``control/conftest.py``);
the rest is for the data plane: the provider simulator, a fault-injecting front for it,
and a running data plane seeded with customers, keys and models. Real NATS, Postgres and
Redis come from ``modality.devstack.testing`` (root conftest).
"""

from __future__ import annotations

import asyncio
import secrets
import socket
import threading
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal

import aiohttp
import nats
import nats.errors
import pytest
import uvicorn
from aiohttp import web
from nats.aio.msg import Msg
from openai import AsyncOpenAI
from sqlalchemy.ext.asyncio import create_async_engine

from modality.common import subjects
from modality.common.auth import generate_api_key
from modality.common.db.migrate import upgrade
from modality.common.db.models import ApiKey, Customer, Model
from modality.common.ids import new_id
from modality.gateway.data.app import DataPlaneApp, create_data_app
from modality.gateway.settings import GatewaySettings
from modality.simulator.server import BackgroundSimulator
from modality.simulator.settings import SimulatorSettings

# --- database ---------------------------------------------------------------------------


@pytest.fixture(scope="session")
def migrated_db(database_url: str) -> str:
    """The session database with every migration applied."""
    upgrade(database_url)
    return database_url


# --- upstreams ----------------------------------------------------------------------------


@pytest.fixture(scope="session")
def simulator() -> Iterator[BackgroundSimulator]:
    with BackgroundSimulator(SimulatorSettings()) as sim:
        yield sim


class FaultFront:
    """An HTTP front for the simulator that turns a path prefix into ``x-sim-*`` headers.

    ``{url}/fault/cut-after-chunks=2/v1/chat/completions`` reaches the simulator's
    ``/v1/chat/completions`` with ``x-sim-cut-after-chunks: 2``, so a model registered
    with that base URL always fails that way. Bodies are relayed as they arrive, and a
    connection the simulator drops is dropped here too.
    """

    def __init__(self, target: str) -> None:
        self.target = target.rstrip("/")
        self.port = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._ready = threading.Event()
        self._thread = threading.Thread(target=lambda: asyncio.run(self._main()), daemon=True)

    def base_url(self, **faults: object) -> str:
        spec = ";".join(f"{k.replace('_', '-')}={v}" for k, v in faults.items())
        return f"http://127.0.0.1:{self.port}/fault/{spec}/v1"

    async def _forward(self, request: web.Request) -> web.StreamResponse:
        _, _, spec, rest = request.path.split("/", 3)
        headers = {"Content-Type": request.headers.get("Content-Type", "application/json")}
        for item in filter(None, spec.split(";")):
            name, _, value = item.partition("=")
            headers[f"x-sim-{name}"] = value
        async with (
            aiohttp.ClientSession() as session,
            session.request(
                request.method, f"{self.target}/{rest}", data=await request.read(), headers=headers
            ) as upstream,
        ):
            response = web.StreamResponse(status=upstream.status)
            response.content_type = upstream.content_type
            await response.prepare(request)
            try:
                async for chunk in upstream.content.iter_any():
                    await response.write(chunk)
            except aiohttp.ClientPayloadError:
                assert request.transport is not None
                request.transport.close()  # drop the client too, like the simulator did
                return response
            await response.write_eof()
            return response

    async def _main(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        app = web.Application()
        app.router.add_route("*", "/fault/{tail:.*}", self._forward)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        self.port = int(runner.addresses[0][1])
        self._ready.set()
        await self._stop.wait()
        await runner.cleanup()

    def start(self) -> FaultFront:
        self._thread.start()
        if not self._ready.wait(10):
            raise TimeoutError("fault front did not start")
        return self

    def stop(self) -> None:
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(10)


@pytest.fixture(scope="session")
def fault_front(simulator: BackgroundSimulator) -> Iterator[FaultFront]:
    front = FaultFront(f"http://127.0.0.1:{simulator.port}").start()
    yield front
    front.stop()


def dead_base_url() -> str:
    """A loopback URL nothing listens on (bound, never listening: connects are refused)."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    return f"http://127.0.0.1:{port}/v1"


# --- seeded world -------------------------------------------------------------------------


@dataclass
class Tenant:
    customer_id: str
    key: str  # the secret
    key_id: str
    key_hash: str


@dataclass
class World:
    acme: Tenant
    beta: Tenant
    revoked_key: str
    models: dict[str, dict[str, object]] = field(default_factory=dict)  # name -> row values


def _model_row(
    name: str, customer_id: str | None, base_url: str, **extra: object
) -> dict[str, object]:
    row: dict[str, object] = {
        "id": new_id("mdl"),
        "name": name,
        "customer_id": customer_id,
        "provider": "simulator",
        "base_url": base_url,
        "provider_model_id": "gpt-4o-mini",
        "tier": "small",
        "input_price_per_m": Decimal("0.30"),
        "output_price_per_m": Decimal("1.20"),
        "status": "active",
        "supports_tools": True,
        "supports_vision": False,
        "context_window": 128_000,
    }
    row.update(extra)
    return row


async def _seed(database_url: str, simulator_url: str, front: FaultFront) -> World:
    def tenant(customer_id: str) -> tuple[Tenant, ApiKey]:
        new = generate_api_key()
        key = ApiKey(
            id=new_id("key"),
            customer_id=customer_id,
            name="test",
            display_prefix=new.display_prefix,
            key_hash=new.key_hash,
        )
        return Tenant(customer_id, new.secret, key.id, new.key_hash), key

    acme_id, beta_id = new_id("cus"), new_id("cus")
    acme, acme_key = tenant(acme_id)
    beta, beta_key = tenant(beta_id)
    revoked = generate_api_key()
    models = [
        _model_row("acme-small", acme_id, simulator_url),
        _model_row("acme-broken", acme_id, front.base_url(fail_status=503)),
        _model_row("acme-cut", acme_id, front.base_url(cut_after_chunks=2)),
        _model_row("acme-dead", acme_id, dead_base_url()),
        # A provider model id the provider does not know: every call is its 404.
        _model_row(
            "acme-misnamed",
            acme_id,
            simulator_url,
            provider_model_id="ft:gpt-4o-mini:acme:never-trained",
        ),
        _model_row("acme-slow", acme_id, front.base_url(tokens_per_s=20, completion_tokens=400)),
        _model_row("acme-retired", acme_id, simulator_url, status="retired"),
        _model_row("beta-private", beta_id, simulator_url),
        _model_row(f"shared-mini-{secrets.token_hex(3)}", None, simulator_url),
    ]
    engine = create_async_engine(database_url)
    try:
        async with engine.begin() as conn:
            await conn.execute(
                Customer.__table__.insert(),
                [
                    {
                        "id": acme_id,
                        "name": "Acme",
                        "routing_policy": "embedding",
                        "routing_alpha": 1.0,
                    },
                    {
                        "id": beta_id,
                        "name": "Beta",
                        "routing_policy": "passthrough",
                        "routing_alpha": 1.0,
                    },
                ],
            )
            keys = [acme_key, beta_key]
            rows = [
                {
                    c: getattr(k, c)
                    for c in ("id", "customer_id", "name", "display_prefix", "key_hash")
                }
                | {"revoked_at": None}
                for k in keys
            ]
            rows.append(
                {
                    "id": new_id("key"),
                    "customer_id": acme_id,
                    "name": "old",
                    "display_prefix": revoked.display_prefix,
                    "key_hash": revoked.key_hash,
                    "revoked_at": datetime.now(UTC),
                }
            )
            await conn.execute(ApiKey.__table__.insert(), rows)
            await conn.execute(Model.__table__.insert(), models)
    finally:
        await engine.dispose()
    return World(
        acme=acme, beta=beta, revoked_key=revoked.secret, models={m["name"]: m for m in models}
    )  # type: ignore[misc]


@pytest.fixture(scope="session")
def world(migrated_db: str, simulator: BackgroundSimulator, fault_front: FaultFront) -> World:
    return asyncio.run(_seed(migrated_db, simulator.base_url, fault_front))


# --- running data plane -----------------------------------------------------------------


class RunningGateway:
    """The data plane under uvicorn (uvloop + httptools) on a thread, on a free port."""

    def __init__(self, settings: GatewaySettings) -> None:
        self.app: DataPlaneApp = create_data_app(settings)
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        config = uvicorn.Config(
            self.app,
            loop="uvloop",
            http="httptools",
            lifespan="on",
            access_log=False,
            log_config=None,
        )
        self.server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=self.server.run, kwargs={"sockets": [self.sock]}, daemon=True
        )

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> RunningGateway:
        self._thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            if not self._thread.is_alive():
                raise RuntimeError("the data plane failed to start (see the log above)")
            if time.monotonic() > deadline:
                raise TimeoutError("the data plane did not start in 20 s")
            time.sleep(0.02)
        return self

    def stop(self) -> None:
        self.server.should_exit = True
        self._thread.join(30)
        self.sock.close()


def gateway_settings(
    nats_url: str, redis_url: str, database_url: str, fallback_base_url: str, **overrides: object
) -> GatewaySettings:
    values: dict[str, object] = {
        "env": "test",
        "nats_url": nats_url,
        "redis_url": redis_url,
        "database_url": database_url,
        "fallback_model": "gpt-4o",
        "fallback_provider": "simulator",
        "fallback_base_url": fallback_base_url,
        "router_timeout_ms": 100.0,
        "usage_flush_interval_ms": 5.0,
        "upstream_timeout_s": 20.0,
    }
    values.update(overrides)
    return GatewaySettings(**values)


@pytest.fixture(scope="session")
def data_gateway(
    nats_url: str, redis_url: str, world: World, migrated_db: str, simulator: BackgroundSimulator
) -> Iterator[RunningGateway]:
    settings = gateway_settings(nats_url, redis_url, migrated_db, simulator.base_url)
    gateway = RunningGateway(settings).start()
    yield gateway
    gateway.stop()


@pytest.fixture
async def acme(data_gateway: RunningGateway, world: World) -> AsyncIterator[AsyncOpenAI]:
    """An async openai client with the Acme customer's key."""
    async with AsyncOpenAI(
        base_url=f"{data_gateway.url}/v1", api_key=world.acme.key, max_retries=0
    ) as client:
        yield client


# --- usage events on JetStream -------------------------------------------------------------


async def usage_events(
    nats_url: str, customer_id: str, request_id: str, *, wait_s: float = 5.0
) -> list[Msg]:
    """Every JetStream message on the customer's usage subject whose Nats-Msg-Id is
    ``request_id`` (waits up to ``wait_s`` for the first, then reads what is there)."""
    nc = await nats.connect(nats_url, connect_timeout=2, max_reconnect_attempts=1)
    try:
        js = nc.jetstream()
        sub = await js.pull_subscribe(
            subjects.usage_recorded(customer_id), stream=subjects.USAGE_STREAM
        )
        found: list[Msg] = []
        deadline = time.monotonic() + wait_s
        while True:
            try:
                batch = await sub.fetch(256, timeout=0.3)
            except (nats.errors.TimeoutError, TimeoutError):
                batch = []
            found.extend(m for m in batch if (m.headers or {}).get("Nats-Msg-Id") == request_id)
            if (found and not batch) or time.monotonic() > deadline:
                break
        await sub.unsubscribe()
        return found
    finally:
        await nc.close()
