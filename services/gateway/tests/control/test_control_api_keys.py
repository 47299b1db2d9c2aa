"""Control plane: API keys are shown once, listed without secrets, revoked per contract."""

from __future__ import annotations

from typing import Any

import httpx
import orjson
import pytest
from fastapi import FastAPI
from redis.asyncio import Redis
from sqlalchemy import select

from modality.common import subjects
from modality.common.auth import hash_api_key, is_well_formed_api_key
from modality.common.db.models import ApiKey

pytestmark = pytest.mark.integration


async def new_customer(admin: httpx.AsyncClient) -> str:
    response = await admin.post("/customers", json={"name": "keys-test"})
    assert response.status_code == 201
    customer_id: str = response.json()["id"]
    return customer_id


async def test_create_returns_the_secret_once(
    admin: httpx.AsyncClient, control_app: FastAPI
) -> None:
    customer_id = await new_customer(admin)
    created = await admin.post(f"/customers/{customer_id}/api-keys", json={"name": "prod"})
    assert created.status_code == 201, created.text
    key = created.json()
    assert key["id"].startswith("key_")
    assert key["customer_id"] == customer_id
    assert key["name"] == "prod"
    assert is_well_formed_api_key(key["key"])
    assert key["key"].startswith(key["display_prefix"])
    assert key["revoked_at"] is None

    # Only the digest is stored.
    async with control_app.state.control.sessions() as session:
        row = (await session.execute(select(ApiKey).where(ApiKey.id == key["id"]))).scalar_one()
    assert row.key_hash == hash_api_key(key["key"])
    assert key["key"] not in (row.key_hash, row.display_prefix, row.name)

    # No body at all is fine too (name defaults to "").
    unnamed = await admin.post(f"/customers/{customer_id}/api-keys")
    assert unnamed.status_code == 201
    assert unnamed.json()["name"] == ""

    listed = (await admin.get(f"/customers/{customer_id}/api-keys")).json()
    assert [k["id"] for k in listed["data"]] == [key["id"], unnamed.json()["id"]]
    for item in listed["data"]:
        assert "key" not in item
    assert key["key"] not in orjson.dumps(listed).decode()


async def test_keys_of_unknown_customer_are_404(admin: httpx.AsyncClient) -> None:
    assert (await admin.post("/customers/cus_nope/api-keys", json={})).status_code == 404
    assert (await admin.get("/customers/cus_nope/api-keys")).status_code == 404
    assert (await admin.delete("/api-keys/key_nope")).status_code == 404


async def test_revoke_sets_revoked_at_clears_redis_and_publishes(
    admin: httpx.AsyncClient, control_app: FastAPI, redis_url: str, events: Any
) -> None:
    customer_id = await new_customer(admin)
    key = (await admin.post(f"/customers/{customer_id}/api-keys", json={})).json()
    key_hash = hash_api_key(key["key"])
    cache_key = f"modality:apikey:{key_hash}"  # the contract's format, spelled out on purpose
    redis = Redis.from_url(redis_url)
    try:
        await redis.set(
            cache_key,
            orjson.dumps({"key_id": key["id"], "customer_id": customer_id, "revoked": False}),
            ex=300,
        )
        revoked = await admin.delete(f"/api-keys/{key['id']}")
        assert revoked.status_code == 200, revoked.text
        body = revoked.json()
        assert body["id"] == key["id"]
        assert body["revoked_at"] is not None
        assert "key" not in body
        assert await redis.exists(cache_key) == 0

        event = await events.wait_for(subjects.API_KEY_REVOKED, key_id=key["id"])
        assert event == {
            **event,
            "customer_id": customer_id,
            "key_hash": key_hash,
            "version": 1,
        }
        async with control_app.state.control.sessions() as session:
            row = (await session.execute(select(ApiKey).where(ApiKey.id == key["id"]))).scalar_one()
        assert row.revoked_at is not None

        # Idempotent: same revoked_at, the cache entry removed again, announced again.
        await redis.set(cache_key, b"stale refill", ex=300)
        again = await admin.delete(f"/api-keys/{key['id']}")
        assert again.status_code == 200
        assert again.json()["revoked_at"] == body["revoked_at"]
        assert await redis.exists(cache_key) == 0
        # Wait for the second announcement itself: the first one already matches.
        await events.wait_for(subjects.API_KEY_REVOKED, count=2, key_id=key["id"])
        assert len(events.matching(subjects.API_KEY_REVOKED, key_id=key["id"])) == 2

        listed = (await admin.get(f"/customers/{customer_id}/api-keys")).json()["data"]
        assert listed[0]["revoked_at"] == body["revoked_at"]
    finally:
        await redis.aclose()


async def test_revoke_reports_503_when_it_cannot_announce(
    admin: httpx.AsyncClient, control_app: FastAPI
) -> None:
    """Saved but not announced -> 503 asking for a retry; the retry announces."""
    customer_id = await new_customer(admin)
    key = (await admin.post(f"/customers/{customer_id}/api-keys", json={})).json()
    state = control_app.state.control
    real = state.publisher

    class DownBus:
        async def publish(self, subject: str, event: Any) -> None:
            from modality.common.errors import ServiceUnavailableError

            raise ServiceUnavailableError("bus down", code="event_bus_unavailable")

    state.publisher = DownBus()
    try:
        failed = await admin.delete(f"/api-keys/{key['id']}")
    finally:
        state.publisher = real
    assert failed.status_code == 503
    assert failed.json()["error"]["code"] == "event_bus_unavailable"
    listed = (await admin.get(f"/customers/{customer_id}/api-keys")).json()["data"]
    assert listed[0]["revoked_at"] is not None  # the revocation itself was saved
    assert (await admin.delete(f"/api-keys/{key['id']}")).status_code == 200
