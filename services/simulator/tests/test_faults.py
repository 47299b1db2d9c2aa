"""Failure injection through headers and model profiles."""

from __future__ import annotations

import pytest
from openai import (
    APIConnectionError,
    APITimeoutError,
    AuthenticationError,
    BadRequestError,
    InternalServerError,
    OpenAI,
    RateLimitError,
)

from modality.simulator.server import BackgroundSimulator
from modality.simulator.settings import load_settings

USER = [{"role": "user", "content": "Hello"}]


def test_429_carries_retry_after(client: OpenAI) -> None:
    with pytest.raises(RateLimitError) as exc:
        client.chat.completions.create(
            model="gpt-4o", messages=USER, extra_headers={"x-sim-fail-status": "429"}
        )
    assert exc.value.status_code == 429
    assert exc.value.response.headers["retry-after"] == "1"
    assert exc.value.code == "rate_limit_exceeded"
    assert exc.value.response.headers["x-modality-simulator"] == "true"


@pytest.mark.parametrize("status", [500, 503])
def test_server_errors(client: OpenAI, status: int) -> None:
    with pytest.raises(InternalServerError) as exc:
        client.chat.completions.create(
            model="gpt-4o", messages=USER, extra_headers={"x-sim-fail-status": str(status)}
        )
    assert exc.value.status_code == status


def test_fail_rate_zero_never_fails_and_bad_header_is_400(client: OpenAI) -> None:
    headers = {"x-sim-fail-status": "500", "x-sim-fail-rate": "0"}
    for _ in range(5):
        client.chat.completions.create(model="gpt-4o", messages=USER, extra_headers=headers)
    with pytest.raises(BadRequestError) as exc:
        client.chat.completions.create(
            model="gpt-4o", messages=USER, extra_headers={**headers, "x-sim-fail-rate": "2"}
        )
    assert exc.value.param == "x-sim-fail-rate"


def test_model_profile_failure(client: OpenAI) -> None:
    with pytest.raises(InternalServerError) as exc:
        client.chat.completions.create(model="flaky-model", messages=USER)
    assert exc.value.status_code == 503


def test_timeout_header_hangs_until_the_client_gives_up(client: OpenAI) -> None:
    with pytest.raises(APITimeoutError):
        client.chat.completions.create(
            model="gpt-4o", messages=USER, extra_headers={"x-sim-timeout": "1"}, timeout=0.3
        )


def test_cut_without_stream_drops_the_connection(client: OpenAI) -> None:
    with pytest.raises(APIConnectionError):
        client.chat.completions.create(
            model="gpt-4o", messages=USER, extra_headers={"x-sim-cut-after-chunks": "0"}
        )


def test_required_key() -> None:
    settings = load_settings(require_key="sk-right")
    with BackgroundSimulator(settings) as sim:
        with OpenAI(base_url=sim.base_url, api_key="sk-wrong", max_retries=0) as wrong:
            with pytest.raises(AuthenticationError) as exc:
                wrong.chat.completions.create(model="gpt-4o", messages=USER)
            assert exc.value.code == "invalid_api_key"
        with OpenAI(base_url=sim.base_url, api_key="sk-right", max_retries=0) as right:
            assert right.chat.completions.create(model="gpt-4o", messages=USER).choices
