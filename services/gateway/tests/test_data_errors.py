"""Data plane errors: authentication, unknown or foreign models, bad bodies, limits,
routes and methods — all in OpenAI's error shape, all raised as the right openai exception."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import nats
import openai
import pytest
from nats.aio.client import Client as NATS
from openai import AsyncOpenAI
from redis.asyncio import Redis
from sqlalchemy import update
from sqlalchemy.ext.asyncio import create_async_engine

from modality.common import subjects
from modality.common.db.models import ApiKey
from modality.common.events import ApiKeyRevoked, UsageRecorded
from modality.gateway.cache import forget_api_key

from .conftest import RunningGateway, World, usage_events

pytestmark = pytest.mark.integration

MESSAGES = [{"role": "user", "content": "hello"}]


def error_of(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"}
    assert set(body["error"]) == {"message", "type", "param", "code"}
    assert body["error"]["message"]
    error: dict[str, Any] = body["error"]
    return error


def client_for(gateway: RunningGateway, key: str) -> AsyncOpenAI:
    return AsyncOpenAI(base_url=f"{gateway.url}/v1", api_key=key, max_retries=0)


@pytest.mark.parametrize("key", ["", "not-a-key", "mod_" + "x" * 32])
async def test_missing_malformed_and_unknown_keys_are_401(
    data_gateway: RunningGateway, key: str
) -> None:
    async with httpx.AsyncClient(base_url=data_gateway.url) as http:
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        response = await http.post(
            "/v1/chat/completions", json={"model": "gpt-4o", "messages": MESSAGES}, headers=headers
        )
    error = error_of(response, 401)
    assert (error["type"], error["code"], error["param"]) == (
        "invalid_request_error",
        "invalid_api_key",
        None,
    )
    assert response.headers["x-modality-request-id"].startswith("req_")
    if key.startswith("mod_"):
        assert key[8:-4] not in error["message"]  # the secret is never echoed whole


async def test_openai_sdk_raises_authentication_error(
    data_gateway: RunningGateway, world: World
) -> None:
    async with client_for(data_gateway, world.revoked_key) as client:
        with pytest.raises(openai.AuthenticationError) as caught:
            await client.chat.completions.create(model="gpt-4o", messages=MESSAGES)  # type: ignore[arg-type]
    assert caught.value.code == "invalid_api_key"


async def test_revoked_key_stops_working_within_a_second(
    data_gateway: RunningGateway, world: World, migrated_db: str, redis_url: str, nats_url: str
) -> None:
    """The control plane's revoke sequence: Postgres, Redis DEL, ApiKeyRevoked."""
    from modality.common.auth import generate_api_key
    from modality.common.ids import new_id

    new = generate_api_key()
    key_id = new_id("key")
    engine = create_async_engine(migrated_db)
    redis = Redis.from_url(redis_url)
    nc: NATS = await nats.connect(nats_url)
    try:
        async with engine.begin() as conn:
            await conn.execute(
                ApiKey.__table__.insert(),
                [
                    {
                        "id": key_id,
                        "customer_id": world.acme.customer_id,
                        "name": "temp",
                        "display_prefix": new.display_prefix,
                        "key_hash": new.key_hash,
                        "revoked_at": None,
                    }
                ],
            )
        async with client_for(data_gateway, new.secret) as client:
            ok = await client.chat.completions.create(model="acme-small", messages=MESSAGES)  # type: ignore[arg-type]
            assert ok.choices
            async with engine.begin() as conn:
                await conn.execute(
                    update(ApiKey).where(ApiKey.id == key_id).values(revoked_at=ApiKey.created_at)
                )
            await forget_api_key(redis, new.key_hash)
            event = ApiKeyRevoked(
                key_id=key_id, customer_id=world.acme.customer_id, key_hash=new.key_hash
            )
            await nc.jetstream().publish(subjects.API_KEY_REVOKED, event.to_bytes())
            await asyncio.sleep(1.05)
            with pytest.raises(openai.AuthenticationError):
                await client.chat.completions.create(model="acme-small", messages=MESSAGES)  # type: ignore[arg-type]
    finally:
        await nc.close()
        await redis.aclose()
        await engine.dispose()


@pytest.mark.parametrize("model", ["beta-private", "acme-retired", "no-such-model"])
async def test_other_customers_retired_and_unknown_models_are_the_same_404(
    data_gateway: RunningGateway, world: World, nats_url: str, model: str
) -> None:
    async with client_for(data_gateway, world.acme.key) as client:
        with pytest.raises(openai.NotFoundError) as caught:
            await client.chat.completions.with_raw_response.create(model=model, messages=MESSAGES)  # type: ignore[arg-type]
    assert caught.value.code == "model_not_found"
    assert caught.value.param == "model"  # type: ignore[attr-defined]
    request_id = caught.value.response.headers["x-modality-request-id"]
    (message,) = await usage_events(nats_url, world.acme.customer_id, request_id)
    event = UsageRecorded.from_bytes(message.data)
    assert (event.status, event.status_code, event.cost_usd) == ("error", 404, 0.0)
    assert (event.model, event.tier) == (model, "")  # what was asked for; nothing served


@pytest.mark.parametrize(
    ("body", "param"),
    [
        (b'{"model": "acme-small", "messages": [', None),
        (b"[1, 2]", None),
        (b'{"messages": [{"role": "user", "content": "x"}]}', "model"),
        (b'{"model": "acme-small"}', "messages"),
        (b'{"model": "acme-small", "messages": "hi"}', "messages"),
        (b'{"model": "acme-small", "messages": []}', "messages"),
        (b'{"model": "acme-small", "messages": [{"content": "x"}]}', "messages[0].role"),
        (b'{"model": "acme-small", "messages": [{"role": "user", "content": ""}], "n": 0}', "n"),
        (b'{"model": "acme-small", "messages": [{"role": "user"}], "stream": "yes"}', "stream"),
        (b'{"model": 5, "messages": [{"role": "user", "content": "x"}]}', "model"),
    ],
)
async def test_bad_bodies_are_400_with_param(
    data_gateway: RunningGateway, world: World, body: bytes, param: str | None
) -> None:
    async with httpx.AsyncClient(base_url=data_gateway.url) as http:
        response = await http.post(
            "/v1/chat/completions",
            content=body,
            headers={
                "Authorization": f"Bearer {world.acme.key}",
                "Content-Type": "application/json",
            },
        )
    error = error_of(response, 400)
    assert error["type"] == "invalid_request_error"
    assert error["param"] == param


async def test_upstream_4xx_passes_through_unchanged(acme: AsyncOpenAI) -> None:
    """The simulator rejects a bad role; the gateway does not escalate a client error."""
    with pytest.raises(openai.BadRequestError) as caught:
        await acme.chat.completions.create(
            model="acme-small", messages=[{"role": "wizard", "content": "x"}]
        )  # type: ignore[misc, list-item]
    assert caught.value.param == "messages[0].role"  # type: ignore[attr-defined]
    assert caught.value.response.headers["x-modality-model"] == "acme-small"


async def test_body_over_the_limit_is_413(data_gateway: RunningGateway, world: World) -> None:
    huge = (
        b'{"model": "acme-small", "messages": [{"role": "user", "content": "'
        + b"a" * (5 * 1024 * 1024)
        + b'"}]}'
    )
    async with httpx.AsyncClient(base_url=data_gateway.url) as http:
        response = await http.post(
            "/v1/chat/completions",
            content=huge,
            headers={
                "Authorization": f"Bearer {world.acme.key}",
                "Content-Type": "application/json",
            },
        )
    assert error_of(response, 413)["code"] == "request_too_large"


async def test_unknown_path_404_and_wrong_method_405(data_gateway: RunningGateway) -> None:
    async with httpx.AsyncClient(base_url=data_gateway.url) as http:
        missing = await http.get("/v1/embeddingz")
        wrong = await http.get("/v1/chat/completions")
    assert error_of(missing, 404)["type"] == "invalid_request_error"
    assert error_of(wrong, 405)["code"] == "method_not_allowed"
    assert wrong.headers["allow"] == "POST"


async def test_explicit_model_that_cannot_be_reached_is_502(acme: AsyncOpenAI) -> None:
    """An explicit model gets no silent substitute: connect refused → 502 upstream_error."""
    with pytest.raises(openai.InternalServerError) as caught:
        await acme.chat.completions.create(model="acme-dead", messages=MESSAGES)  # type: ignore[arg-type]
    assert caught.value.status_code == 502
    assert caught.value.code == "upstream_error"  # type: ignore[attr-defined]
    assert "127.0.0.1" not in str(caught.value.message)  # upstream addresses are not leaked
