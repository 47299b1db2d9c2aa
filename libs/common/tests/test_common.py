"""Unit tests of the shared library: keys, tokens, events, pricing, settings."""

from __future__ import annotations

import time

import jwt
import pytest

from modality.common import auth
from modality.common.events import UsageRecorded
from modality.common.pricing import Price
from modality.common.settings import async_database_url, require_real_secret


def test_api_key_round_trip() -> None:
    key = auth.generate_api_key()
    assert key.secret.startswith("mod_") and len(key.secret) == 36
    assert auth.is_well_formed_api_key(key.secret)
    assert auth.hash_api_key(key.secret) == key.key_hash
    assert key.display_prefix == key.secret[:8]
    assert not auth.is_well_formed_api_key("mod_short")
    assert auth.generate_api_key().secret != key.secret


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("Bearer abc", "abc"),
        ("bearer  abc ", "abc"),
        ("Basic abc", None),
        ("Bearer ", None),
        (None, None),
    ],
)
def test_bearer_token(header: str | None, expected: str | None) -> None:
    assert auth.bearer_token(header) == expected


SECRET = "a-service-secret-of-at-least-32-bytes!!"


def test_service_token_checks() -> None:
    token = auth.issue_service_token(SECRET, "gateway", ttl_s=60)
    assert auth.verify_service_token(SECRET, token)["sub"] == "gateway"
    with pytest.raises(jwt.InvalidSignatureError):
        auth.verify_service_token("x" * 40, token)
    expired = jwt.encode({"sub": "x", "iat": 0, "exp": 1}, SECRET, "HS256")
    with pytest.raises(jwt.ExpiredSignatureError):
        auth.verify_service_token(SECRET, expired)
    no_sub = jwt.encode({"iat": int(time.time()), "exp": int(time.time()) + 60}, SECRET, "HS256")
    with pytest.raises(jwt.MissingRequiredClaimError):
        auth.verify_service_token(SECRET, no_sub)


def test_usage_event_is_strict_and_round_trips() -> None:
    event = UsageRecorded(
        request_id="req_1",
        customer_id="cus_1",
        api_key_id="key_1",
        model="gpt-4o",
        provider="openai",
        tier="large",
        policy="passthrough",
        route_reason="explicit",
        prompt_tokens=10,
        completion_tokens=5,
        latency_ms=1.5,
        cost_usd=0.0001,
        fallback_model="gpt-4o",
        fallback_cost_usd=0.0001,
        status="ok",
        status_code=200,
    )
    assert UsageRecorded.from_bytes(event.to_bytes()) == event
    with pytest.raises(ValueError):
        UsageRecorded.model_validate({**event.model_dump(), "surprise": 1})


def test_price_cost() -> None:
    assert Price(2.5, 10.0).cost(1_000_000, 100_000) == pytest.approx(3.5)


def test_database_url_normalised() -> None:
    assert async_database_url("postgresql://u@h:1/d") == "postgresql+asyncpg://u@h:1/d"
    assert async_database_url("postgres://u@h/d") == "postgresql+asyncpg://u@h/d"
    with pytest.raises(ValueError):
        async_database_url("mysql://u@h/d")


def test_placeholder_secret_refused_in_production() -> None:
    require_real_secret("development", "T", "")
    with pytest.raises(ValueError):
        require_real_secret("production", "T", "changeme")
