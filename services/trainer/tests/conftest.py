"""Fixtures for the trainer tests: a NATS connection and a unique durable name per test."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator

import pytest
from nats.aio.client import Client as NATS
from nats.js.errors import NotFoundError

from modality.common import bus, subjects


@pytest.fixture
async def nc(nats_url: str) -> AsyncIterator[NATS]:
    client = await bus.connect(nats_url, "trainer-tests")
    await bus.ensure_streams(client.jetstream())
    yield client
    await client.close()


@pytest.fixture
async def consumer_name(nc: NATS) -> AsyncIterator[str]:
    """A durable name no other test uses; the consumer is deleted afterwards."""
    name = f"trainer-test-{secrets.token_hex(4)}"
    yield name
    try:
        await nc.jetstream().delete_consumer(subjects.JOBS_STREAM, name)
    except NotFoundError:
        pass  # the test failed before the worker declared it
