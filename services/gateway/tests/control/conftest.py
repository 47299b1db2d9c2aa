"""Control-plane test fixtures: the admin app (real Postgres, Redis and NATS), clients
with and without the admin token, and a tap on the events it publishes.

``migrated_db`` comes from the gateway tests' conftest one folder up.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import httpx
import orjson
import pytest
from fastapi import FastAPI
from nats.aio.client import Client as NATS
from nats.aio.msg import Msg

from modality.common import bus
from modality.gateway.control.app import create_control_app
from modality.gateway.settings import GatewaySettings

ADMIN_TOKEN = "control-test-admin-token"
FALLBACK = "gpt-4o"


@pytest.fixture
def admin_token() -> str:
    return ADMIN_TOKEN


@pytest.fixture
def control_settings(
    migrated_db: str, nats_url: str, redis_url: str, admin_token: str
) -> GatewaySettings:
    return GatewaySettings(
        env="test",
        database_url=migrated_db,
        nats_url=nats_url,
        redis_url=redis_url,
        admin_token=admin_token,
        fallback_model=FALLBACK,
        fallback_provider="simulator",
        fallback_base_url="http://127.0.0.1:9/v1",
    )


@pytest.fixture
async def control_app(control_settings: GatewaySettings) -> AsyncIterator[FastAPI]:
    app = create_control_app(control_settings)
    async with app.router.lifespan_context(app):
        yield app


def _client(app: FastAPI, headers: dict[str, str] | None = None) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app)
    return httpx.AsyncClient(transport=transport, base_url="http://control", headers=headers)


@pytest.fixture
async def admin(control_app: FastAPI, admin_token: str) -> AsyncIterator[httpx.AsyncClient]:
    """A client of the control plane carrying the right admin token."""
    async with _client(control_app, {"Authorization": f"Bearer {admin_token}"}) as client:
        yield client


@pytest.fixture
async def anonymous(control_app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """A client of the control plane with no credentials."""
    async with _client(control_app) as client:
        yield client


class EventTap:
    """Collects every message on some subjects (core NATS sees JetStream publishes too)."""

    def __init__(self) -> None:
        self.messages: list[tuple[str, dict[str, Any]]] = []
        self._arrived = asyncio.Event()

    async def on_message(self, msg: Msg) -> None:
        self.messages.append((msg.subject, orjson.loads(msg.data)))
        self._arrived.set()

    def matching(self, subject: str, **fields: Any) -> list[dict[str, Any]]:
        return [
            data
            for subj, data in self.messages
            if subj == subject and all(data.get(k) == v for k, v in fields.items())
        ]

    async def wait_for(
        self, subject: str, timeout_s: float = 3.0, count: int = 1, **fields: Any
    ) -> dict[str, Any]:
        """The latest matching message, once at least `count` of them have arrived."""

        async def _wait() -> dict[str, Any]:
            while len(found := self.matching(subject, **fields)) < count:
                self._arrived.clear()
                await self._arrived.wait()
            return found[-1]

        return await asyncio.wait_for(_wait(), timeout_s)


@pytest.fixture
async def events(nats_url: str) -> AsyncIterator[EventTap]:
    nc: NATS = await bus.connect(nats_url, "control-tests")
    tap = EventTap()
    for subject in ("control.>", "model.>"):
        await nc.subscribe(subject, cb=tap.on_message)
    await nc.flush()
    yield tap
    await nc.close()
