"""Streaming (SSE) through the official openai client, sync and async."""

from __future__ import annotations

import json
import time

import pytest
from openai import APIConnectionError, AsyncOpenAI, OpenAI

from modality.simulator.server import BackgroundSimulator

USER = [{"role": "user", "content": "Write a short status update for the team."}]


def test_stream_matches_the_non_streaming_answer(client: OpenAI) -> None:
    whole = client.chat.completions.create(model="gpt-4o", messages=USER)
    chunks = list(client.chat.completions.create(model="gpt-4o", messages=USER, stream=True))
    assert chunks[0].choices[0].delta.role == "assistant"
    assert chunks[-1].choices[0].finish_reason == "stop"
    assert all(c.object == "chat.completion.chunk" and c.model == "gpt-4o" for c in chunks)
    assert len({c.id for c in chunks}) == 1
    text = "".join(c.choices[0].delta.content or "" for c in chunks)
    assert text == whole.choices[0].message.content
    assert all(c.usage is None for c in chunks)


async def test_async_stream_with_usage_chunk(simulator: BackgroundSimulator) -> None:
    async with AsyncOpenAI(base_url=simulator.base_url, api_key="k", max_retries=0) as client:
        stream = await client.chat.completions.create(
            model="gpt-4o",
            messages=USER,
            stream=True,
            stream_options={"include_usage": True},
            max_tokens=7,
        )
        chunks = [chunk async for chunk in stream]
    last = chunks[-1]
    assert last.choices == [] and last.usage is not None
    assert last.usage.completion_tokens == 7
    assert last.usage.total_tokens == last.usage.prompt_tokens + 7
    assert chunks[-2].choices[0].finish_reason == "length"
    assert sum(1 for c in chunks if c.choices and c.choices[0].delta.content) == 7


def test_streamed_tool_call_and_n_choices_accumulate(client: OpenAI) -> None:
    tool = {
        "type": "function",
        "function": {
            "name": "lookup_order",
            "parameters": {"type": "object", "properties": {"order_id": {"type": "string"}}},
        },
    }
    with client.chat.completions.stream(
        model="gpt-4o",
        messages=USER,
        tools=[tool],
        tool_choice="required",
        n=2,  # type: ignore[list-item]
    ) as stream:
        final = stream.get_final_completion()
    assert len(final.choices) == 2
    for choice in final.choices:
        assert choice.finish_reason == "tool_calls"
        calls = choice.message.tool_calls or []
        assert calls[0].function.name == "lookup_order"
        assert isinstance(json.loads(calls[0].function.arguments)["order_id"], str)


def test_cut_stream_raises_on_the_client(client: OpenAI) -> None:
    stream = client.chat.completions.create(
        model="gpt-4o",
        messages=USER,
        stream=True,
        extra_headers={"x-sim-cut-after-chunks": "3"},
    )
    received = []
    with pytest.raises(APIConnectionError):
        for chunk in stream:
            received.append(chunk)
    assert len(received) == 3


async def test_cut_stream_raises_on_the_async_client(simulator: BackgroundSimulator) -> None:
    async with AsyncOpenAI(base_url=simulator.base_url, api_key="k", max_retries=0) as client:
        stream = await client.chat.completions.create(
            model="gpt-4o",
            messages=USER,
            stream=True,
            extra_headers={"x-sim-cut-after-chunks": "2", "x-sim-tokens-per-s": "500"},
        )
        received = []
        with pytest.raises(APIConnectionError):
            async for chunk in stream:
                received.append(chunk)
    assert len(received) == 2


def test_latency_profile_paces_the_stream(client: OpenAI) -> None:
    # slow-model: 150 ms to the first token, then 200 tokens/s (15 more tokens: 75 ms)
    started = time.perf_counter()
    stream = client.chat.completions.create(model="slow-model", messages=USER, stream=True)
    arrivals = []
    for chunk in stream:
        if chunk.choices and chunk.choices[0].delta.content:
            arrivals.append(time.perf_counter() - started)
    assert arrivals[0] >= 0.14
    assert arrivals[-1] - arrivals[0] >= 0.05
    headers = {"x-sim-ttft-ms": "0", "x-sim-tokens-per-s": "0"}
    started = time.perf_counter()
    client.chat.completions.create(model="slow-model", messages=USER, extra_headers=headers)
    # The profile alone takes >= 0.225 s (150 ms + 15 tokens at 200/s); with the headers
    # there is no wait at all, so 0.2 s leaves room for a loaded machine.
    assert time.perf_counter() - started < 0.2
