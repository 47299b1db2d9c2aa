"""Customer → key → chat → usage, through every real process of the system.

The official ``openai`` client talks to the gateway; the gateway routes over NATS to the
classifier, calls the provider simulator, publishes usage to JetStream; billing writes
the ledger; the control plane reports it.
"""

from __future__ import annotations

import time
from decimal import Decimal
from typing import Any

import httpx
import openai
import pytest

from .conftest import RunningStack

pytestmark = [pytest.mark.integration, pytest.mark.slow]

CONTRACTS = (
    "Reviewing commercial contracts: indemnification, limitation of liability, termination "
    "for convenience, governing law, payment terms and obligations of the parties."
)


def _customer_with_key(stack: RunningStack, name: str) -> tuple[str, str]:
    with stack.control() as control:
        customer = control.post("/customers", json={"name": name})
        assert customer.status_code == 201, customer.text
        customer_id = customer.json()["id"]
        key = control.post(f"/customers/{customer_id}/api-keys", json={"name": "e2e"})
        assert key.status_code == 201, key.text
        return customer_id, key.json()["key"]


def _usage_when(stack: RunningStack, customer_id: str, requests: int) -> dict[str, Any]:
    """Poll the control plane until billing has ledgered ``requests`` requests."""
    deadline = time.monotonic() + 15.0
    with stack.control() as control:
        while True:
            usage = control.get(f"/customers/{customer_id}/usage", params={"group_by": "model"})
            assert usage.status_code == 200, usage.text
            body: dict[str, Any] = usage.json()
            if body["totals"]["requests"] >= requests or time.monotonic() > deadline:
                return body
            time.sleep(0.2)


def test_chat_is_billed_and_reported(stack: RunningStack) -> None:
    customer_id, key = _customer_with_key(stack, "acme-e2e")
    client = openai.OpenAI(base_url=f"{stack.data_url}/v1", api_key=key, max_retries=0)

    raw = client.chat.completions.with_raw_response.create(
        model="gpt-4o", messages=[{"role": "user", "content": "Say hello to the team."}]
    )
    reply = raw.parse()
    assert raw.headers["x-modality-model"] == "gpt-4o"
    assert raw.headers["x-modality-route-reason"] == "explicit"
    assert raw.headers["x-modality-request-id"]
    assert reply.choices[0].message.content
    assert reply.usage is not None and reply.usage.prompt_tokens > 0

    chunks = list(
        client.chat.completions.create(
            model="gpt-4o",
            messages=[{"role": "user", "content": "Stream a short greeting."}],
            stream=True,
            stream_options={"include_usage": True},
        )
    )
    streamed_usage = chunks[-1].usage
    assert streamed_usage is not None

    usage = _usage_when(stack, customer_id, 2)
    totals = usage["totals"]
    assert totals["requests"] == 2
    assert totals["errors"] == 0
    assert totals["prompt_tokens"] == reply.usage.prompt_tokens + streamed_usage.prompt_tokens
    assert totals["completion_tokens"] == (
        reply.usage.completion_tokens + streamed_usage.completion_tokens
    )
    # gpt-4o list price: $2.50 in, $10.00 out per million tokens; fallback == model here.
    expected = (
        Decimal(totals["prompt_tokens"]) * Decimal("2.5")
        + Decimal(totals["completion_tokens"]) * Decimal("10")
    ) / Decimal(1_000_000)
    assert Decimal(totals["cost_usd"]) == pytest.approx(expected, rel=Decimal("1e-6"))
    assert Decimal(totals["savings_usd"]) == 0
    assert [m["model"] for m in usage["by_model"]] == ["gpt-4o"]


def test_auto_routes_in_domain_prompts_to_the_small_model(stack: RunningStack) -> None:
    customer_id, key = _customer_with_key(stack, "contracts-co")
    with stack.control() as control:
        model = control.post(
            "/models",
            json={
                "customer_id": customer_id,
                "name": "contracts-small",
                "provider": "simulator",
                "base_url": stack.simulator_url,
                "provider_model_id": "gpt-4o-mini",  # a model the simulator serves
                "domain": "contracts",
                "domain_description": CONTRACTS,
                "tier": "small",
                "input_price_per_m": 0.3,
                "output_price_per_m": 1.2,
            },
        )
        assert model.status_code == 201, model.text
        promoted = control.post(f"/models/{model.json()['id']}/promote")
        assert promoted.status_code == 200, promoted.text

    client = openai.OpenAI(base_url=f"{stack.data_url}/v1", api_key=key, max_retries=0)
    in_domain = (
        "Does the limitation of liability clause in this contract cap indemnification "
        "obligations for the termination for convenience?"
    )
    off_domain = "Write a haiku about the autumn sea and a lighthouse keeper."

    def route(prompt: str) -> httpx.Headers:
        # The router learns of the promotion through NATS; give it its one-second refresh.
        raw = client.chat.completions.with_raw_response.create(
            model="auto", messages=[{"role": "user", "content": prompt}]
        )
        return raw.headers

    deadline = time.monotonic() + 10.0
    headers = route(in_domain)
    while headers["x-modality-model"] != "contracts-small" and time.monotonic() < deadline:
        time.sleep(0.3)
        headers = route(in_domain)
    assert headers["x-modality-model"] == "contracts-small", dict(headers)
    assert headers["x-modality-route-reason"] == "domain_match"
    assert headers["x-modality-policy"] == "embedding"

    off = route(off_domain)
    assert off["x-modality-model"] == "gpt-4o"
    assert off["x-modality-route-reason"] in {"below_threshold", "too_complex"}

    usage = _usage_when(stack, customer_id, 2)
    assert Decimal(usage["totals"]["savings_usd"]) > 0
    assert "contracts-small" in {m["model"] for m in usage["by_model"]}


def test_revoked_key_stops_within_a_second(stack: RunningStack) -> None:
    customer_id, key = _customer_with_key(stack, "revoke-co")
    client = openai.OpenAI(base_url=f"{stack.data_url}/v1", api_key=key, max_retries=0)
    client.models.list()  # warms every cache with the key
    with stack.control() as control:
        keys = control.get(f"/customers/{customer_id}/api-keys").json()["data"]
        assert control.delete(f"/api-keys/{keys[0]['id']}").status_code == 200
    time.sleep(1.0)
    with pytest.raises(openai.AuthenticationError):
        client.models.list()
