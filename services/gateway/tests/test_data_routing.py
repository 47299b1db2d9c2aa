"""Data plane routing: model="auto" through route.decide, router silence and errors,
escalation across ranked candidates, and a stream the upstream cuts midway."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable

import nats
import openai
import pytest
from nats.aio.client import Client as NATS
from nats.aio.msg import Msg
from openai import AsyncOpenAI

from modality.common import subjects
from modality.common.events import UsageRecorded
from modality.common.routing import RouteCandidate, RouteDecision, RouteError, RouteRequest

from .conftest import World, usage_events

pytestmark = pytest.mark.integration

MESSAGES = [
    {"role": "system", "content": "You review contracts."},
    {"role": "user", "content": [{"type": "text", "text": "Is clause 7 enforceable?"}]},
]


@pytest.fixture
async def router_bus(nats_url: str) -> AsyncIterator[NATS]:
    nc = await nats.connect(nats_url)
    yield nc
    await nc.close()


async def fake_router(nc: NATS, answer: Callable[[RouteRequest], bytes]) -> list[RouteRequest]:
    """Answer route.decide with ``answer(request)``; returns the requests it saw."""
    seen: list[RouteRequest] = []

    async def handle(msg: Msg) -> None:
        request = RouteRequest.model_validate_json(msg.data)
        seen.append(request)
        await msg.respond(answer(request))

    await nc.subscribe(subjects.ROUTE_DECIDE, queue=subjects.ROUTER_QUEUE, cb=handle)
    await nc.flush()
    return seen


async def test_no_router_means_fallback_with_router_timeout(
    acme: AsyncOpenAI, world: World, nats_url: str
) -> None:
    raw = await acme.chat.completions.with_raw_response.create(model="auto", messages=MESSAGES)  # type: ignore[arg-type]
    assert raw.parse().choices
    assert raw.headers["x-modality-model"] == "gpt-4o"
    assert raw.headers["x-modality-route-reason"] == "router_timeout"
    assert raw.headers["x-modality-policy"] == "embedding"  # the customer's configured policy
    (message,) = await usage_events(
        nats_url, world.acme.customer_id, raw.headers["x-modality-request-id"]
    )
    event = UsageRecorded.from_bytes(message.data)
    assert (event.model, event.tier, event.route_reason) == ("gpt-4o", "large", "router_timeout")
    assert event.cost_usd == pytest.approx(event.fallback_cost_usd)


async def test_router_error_means_fallback_with_router_error(
    acme: AsyncOpenAI, router_bus: NATS
) -> None:
    await fake_router(
        router_bus,
        lambda _: RouteError(error="no embedding for customer").model_dump_json().encode(),
    )
    raw = await acme.chat.completions.with_raw_response.create(model="auto", messages=MESSAGES)  # type: ignore[arg-type]
    assert raw.headers["x-modality-model"] == "gpt-4o"
    assert raw.headers["x-modality-route-reason"] == "router_error"


async def test_decision_is_followed_and_features_are_sent(
    acme: AsyncOpenAI, world: World, router_bus: NATS
) -> None:
    def decide(request: RouteRequest) -> bytes:
        return (
            RouteDecision(
                model="acme-small",
                policy="embedding",
                reason="domain_match",
                confidence=0.9,
                candidates=[RouteCandidate(model="acme-small", score=0.9, reason="domain_match")],
                fallback_model="gpt-4o",
            )
            .model_dump_json()
            .encode()
        )

    seen = await fake_router(router_bus, decide)
    raw = await acme.chat.completions.with_raw_response.create(
        model="auto",
        messages=MESSAGES,
        tools=[{"type": "function", "function": {"name": "f"}}],  # type: ignore[arg-type]
        extra_headers={"x-modality-session-id": "sess-42"},
    )
    assert (raw.headers["x-modality-model"], raw.headers["x-modality-route-reason"]) == (
        "acme-small",
        "domain_match",
    )
    assert raw.headers["x-modality-policy"] == "embedding"
    (request,) = seen
    assert request.customer_id == world.acme.customer_id
    assert request.request_id == raw.headers["x-modality-request-id"]
    assert request.prompt == "Is clause 7 enforceable?"
    assert request.has_tools and not request.has_vision
    assert request.session_id == "sess-42"
    assert request.system_prompt_digest and request.token_estimate > 0


async def test_failing_first_candidate_escalates_to_the_next(
    acme: AsyncOpenAI, world: World, router_bus: NATS, nats_url: str
) -> None:
    def decide(request: RouteRequest) -> bytes:
        return (
            RouteDecision(
                model="acme-broken",
                policy="embedding",
                reason="domain_match",
                confidence=0.8,
                candidates=[
                    RouteCandidate(model="acme-broken", score=0.8, reason="domain_match"),
                    RouteCandidate(
                        model="beta-private", score=0.7, reason="domain_match"
                    ),  # not Acme's
                    RouteCandidate(model="acme-small", score=0.6, reason="domain_match"),
                ],
                fallback_model="gpt-4o",
            )
            .model_dump_json()
            .encode()
        )

    await fake_router(router_bus, decide)
    raw = await acme.chat.completions.with_raw_response.create(model="auto", messages=MESSAGES)  # type: ignore[arg-type]
    assert raw.parse().choices
    assert raw.headers["x-modality-model"] == "acme-small"
    assert raw.headers["x-modality-route-reason"] == "escalated"
    (message,) = await usage_events(
        nats_url, world.acme.customer_id, raw.headers["x-modality-request-id"]
    )
    event = UsageRecorded.from_bytes(message.data)
    assert (event.model, event.attempts, event.route_reason) == ("acme-small", 2, "escalated")


async def test_every_candidate_failing_falls_back_then_502(
    acme: AsyncOpenAI, router_bus: NATS
) -> None:
    decision = RouteDecision(
        model="acme-broken",
        policy="rules",
        reason="rules",
        confidence=1.0,
        candidates=[RouteCandidate(model="acme-dead", score=0.5, reason="rules")],
        fallback_model="gpt-4o",
    )
    await fake_router(router_bus, lambda _: decision.model_dump_json().encode())
    raw = await acme.chat.completions.with_raw_response.create(model="auto", messages=MESSAGES)  # type: ignore[arg-type]
    assert raw.headers["x-modality-model"] == "gpt-4o"  # broken, dead, then the fallback answered
    assert raw.headers["x-modality-route-reason"] == "escalated"


async def test_upstream_not_knowing_its_model_escalates_but_explicit_calls_get_502(
    acme: AsyncOpenAI, router_bus: NATS
) -> None:
    # A 404 from the provider is the gateway's misconfiguration, not the client's mistake.
    decision = RouteDecision(
        model="acme-misnamed",
        policy="embedding",
        reason="domain_match",
        confidence=0.9,
        candidates=[RouteCandidate(model="acme-misnamed", score=0.9, reason="domain_match")],
        fallback_model="gpt-4o",
    )
    await fake_router(router_bus, lambda _: decision.model_dump_json().encode())
    raw = await acme.chat.completions.with_raw_response.create(model="auto", messages=MESSAGES)  # type: ignore[arg-type]
    assert (raw.headers["x-modality-model"], raw.headers["x-modality-route-reason"]) == (
        "gpt-4o",
        "escalated",
    )
    with pytest.raises(openai.APIStatusError) as failed:
        await acme.chat.completions.create(model="acme-misnamed", messages=MESSAGES)  # type: ignore[arg-type]
    assert failed.value.status_code == 502
    assert "acme-misnamed (status_404)" in failed.value.message


async def test_stream_cut_midway_ends_in_an_error_frame(
    acme: AsyncOpenAI, world: World, nats_url: str
) -> None:
    stream = await acme.chat.completions.create(model="acme-cut", messages=MESSAGES, stream=True)  # type: ignore[arg-type]
    request_id = stream.response.headers["x-modality-request-id"]
    received = []
    with pytest.raises(openai.APIError) as caught:
        async for chunk in stream:
            received.append(chunk)
    assert received  # the first chunks made it through before the cut
    assert "acme-cut" in caught.value.message
    (message,) = await usage_events(nats_url, world.acme.customer_id, request_id)
    event = UsageRecorded.from_bytes(message.data)
    assert (event.status, event.status_code, event.stream) == ("error", 502, True)


async def test_stream_escalates_when_the_first_model_fails_before_answering(
    acme: AsyncOpenAI, router_bus: NATS
) -> None:
    decision = RouteDecision(
        model="acme-broken",
        policy="embedding",
        reason="domain_match",
        confidence=0.8,
        candidates=[RouteCandidate(model="acme-small", score=0.6, reason="domain_match")],
        fallback_model="gpt-4o",
    )
    await fake_router(router_bus, lambda _: decision.model_dump_json().encode())
    stream = await acme.chat.completions.create(model="auto", messages=MESSAGES, stream=True)  # type: ignore[arg-type]
    assert stream.response.headers["x-modality-model"] == "acme-small"
    text = "".join([c.choices[0].delta.content or "" async for c in stream if c.choices])
    assert text


async def test_slow_router_times_out_to_the_fallback(acme: AsyncOpenAI, router_bus: NATS) -> None:
    """A router that answers after the budget (100 ms in these tests) is not waited for."""

    async def handle(msg: Msg) -> None:
        await asyncio.sleep(0.5)
        await msg.respond(b'{"error": "too late"}')

    await router_bus.subscribe(subjects.ROUTE_DECIDE, queue=subjects.ROUTER_QUEUE, cb=handle)
    await router_bus.flush()
    raw = await acme.chat.completions.with_raw_response.create(model="auto", messages=MESSAGES)  # type: ignore[arg-type]
    # had the gateway waited, the late answer would have made this router_error
    assert raw.headers["x-modality-route-reason"] == "router_timeout"
    assert raw.headers["x-modality-model"] == "gpt-4o"
