"""Data plane, chat completions through the official openai client: plain, streamed,
tools, n>1, and the usage event each request leaves on JetStream."""

from __future__ import annotations

import asyncio

import pytest
from openai import AsyncOpenAI, OpenAI

from modality.common.events import UsageRecorded

from .conftest import RunningGateway, World, usage_events

pytestmark = pytest.mark.integration

MESSAGES = [
    {"role": "system", "content": "Be brief."},
    {"role": "user", "content": "Summarise the contract."},
]


def test_sync_client_explicit_model(
    data_gateway: RunningGateway, world: World, nats_url: str
) -> None:
    client = OpenAI(base_url=f"{data_gateway.url}/v1", api_key=world.acme.key, max_retries=0)
    raw = client.chat.completions.with_raw_response.create(model="acme-small", messages=MESSAGES)
    completion = raw.parse()
    assert completion.choices[0].message.content
    assert raw.headers["x-modality-model"] == "acme-small"
    assert raw.headers["x-modality-route-reason"] == "explicit"
    assert raw.headers["x-modality-policy"] == "passthrough"
    request_id = raw.headers["x-modality-request-id"]
    assert request_id.startswith("req_")

    messages = asyncio.run(usage_events(nats_url, world.acme.customer_id, request_id))
    assert len(messages) == 1
    event = UsageRecorded.from_bytes(messages[0].data)
    usage = completion.usage
    assert usage is not None and usage.prompt_tokens > 0 and usage.completion_tokens > 0
    assert (event.prompt_tokens, event.completion_tokens) == (
        usage.prompt_tokens,
        usage.completion_tokens,
    )
    assert event.request_id == request_id
    assert event.api_key_id == world.acme.key_id
    assert (event.model, event.provider, event.tier) == ("acme-small", "simulator", "small")
    assert (event.status, event.status_code, event.stream, event.attempts) == ("ok", 200, False, 1)
    assert event.cost_usd == pytest.approx(
        (usage.prompt_tokens * 0.30 + usage.completion_tokens * 1.20) / 1e6
    )
    assert event.fallback_model == "gpt-4o"
    assert event.fallback_cost_usd == pytest.approx(
        (usage.prompt_tokens * 2.50 + usage.completion_tokens * 10.00) / 1e6
    )


async def test_tools_and_unknown_fields_pass_through(acme: AsyncOpenAI) -> None:
    tools = [
        {
            "type": "function",
            "function": {
                "name": "get_clause",
                "parameters": {"type": "object", "properties": {"number": {"type": "integer"}}},
            },
        }
    ]
    completion = await acme.chat.completions.create(
        model="acme-small",
        messages=MESSAGES,
        tools=tools,  # type: ignore[arg-type]
        tool_choice={"type": "function", "function": {"name": "get_clause"}},
        seed=7,
        temperature=0.2,
        extra_body={"a_field_from_the_future": {"x": 1}},
    )
    calls = completion.choices[0].message.tool_calls
    assert calls and calls[0].function.name == "get_clause"  # type: ignore[union-attr]


async def test_n_choices(acme: AsyncOpenAI) -> None:
    completion = await acme.chat.completions.create(
        model="acme-small", messages=MESSAGES, n=3, max_tokens=5
    )
    assert sorted(c.index for c in completion.choices) == [0, 1, 2]


async def test_stream_without_include_usage_hides_usage_but_bills_it(
    acme: AsyncOpenAI, world: World, nats_url: str
) -> None:
    async with acme.chat.completions.with_streaming_response.create(
        model="acme-small", messages=MESSAGES, stream=True
    ) as response:
        request_id = response.headers["x-modality-request-id"]
        assert response.headers["content-type"].startswith("text/event-stream")
        lines = [line async for line in response.iter_lines() if line]
    assert lines[-1] == "data: [DONE]"
    assert not any('"usage":{' in line or '"usage": {' in line for line in lines)
    assert len(lines) > 2

    messages = await usage_events(nats_url, world.acme.customer_id, request_id)
    assert len(messages) == 1
    event = UsageRecorded.from_bytes(messages[0].data)
    assert event.stream and event.status == "ok"
    assert event.prompt_tokens > 0 and event.completion_tokens > 0


async def test_stream_with_include_usage(acme: AsyncOpenAI, world: World, nats_url: str) -> None:
    stream = await acme.chat.completions.create(
        model="acme-small", messages=MESSAGES, stream=True, stream_options={"include_usage": True}
    )
    request_id = stream.response.headers["x-modality-request-id"]
    chunks = [chunk async for chunk in stream]
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text
    usage = chunks[-1].usage
    assert usage is not None and chunks[-1].choices == []

    messages = await usage_events(nats_url, world.acme.customer_id, request_id)
    assert len(messages) == 1
    event = UsageRecorded.from_bytes(messages[0].data)
    assert (event.prompt_tokens, event.completion_tokens) == (
        usage.prompt_tokens,
        usage.completion_tokens,
    )
