"""Server-sent events for ``stream: true``: role chunk, content deltas, finish, usage, [DONE].

Frames are built first, each tagged with the token step at which it is due; the writer
then paces them (time to first token, then one step per token) or, with no latency
configured, writes them all at once.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import orjson
from aiohttp import web

from modality.simulator.completions import FINGERPRINT, Completion, usage
from modality.simulator.faults import Plan

DONE = b"data: [DONE]\n\n"
SSE_HEADERS = {"Content-Type": "text/event-stream; charset=utf-8", "Cache-Control": "no-cache"}

Frame = tuple[int, bytes]  # (token step, encoded event)
logger = logging.getLogger(__name__)


def build_frames(completion: Completion, include_usage: bool) -> list[Frame]:
    base: dict[str, Any] = {
        "id": completion.id,
        "object": "chat.completion.chunk",
        "created": completion.created,
        "model": completion.model,
        "service_tier": "default",
        "system_fingerprint": FINGERPRINT,
    }
    if include_usage:
        base["usage"] = None

    def frame(
        index: int, delta: dict[str, Any], finish: str | None = None, lp: Any = None
    ) -> bytes:
        choice = {"index": index, "delta": delta, "logprobs": lp, "finish_reason": finish}
        return b"data: " + orjson.dumps({**base, "choices": [choice]}) + b"\n\n"

    frames: list[Frame] = []
    last_step = 0
    for c in completion.choices:
        role: dict[str, Any] = {"role": "assistant", "content": None if c.tool_calls else ""}
        role["refusal"] = None
        frames.append((0, frame(c.index, role)))
        step = 0
        for j, piece in enumerate(c.pieces):
            lp = None
            if c.logprobs is not None:
                lp = {"content": [c.logprobs[j]], "refusal": None}
            frames.append((step, frame(c.index, {"content": piece}, lp=lp)))
            step += 1
        for k, call in enumerate(c.tool_calls):
            head = {
                "index": k,
                "id": call.id,
                "type": "function",
                "function": {"name": call.name, "arguments": ""},
            }
            frames.append((step, frame(c.index, {"tool_calls": [head]})))
            for piece in call.pieces:
                step += 1
                delta = {"tool_calls": [{"index": k, "function": {"arguments": piece}}]}
                frames.append((step, frame(c.index, delta)))
            step += 1
        frames.append((step, frame(c.index, {}, c.finish_reason)))
        last_step = max(last_step, step)
    frames.sort(key=lambda f: f[0])  # stable: interleaves choices step by step
    if include_usage:
        closing = {**base, "choices": [], "usage": usage(completion)}
        frames.append((last_step, b"data: " + orjson.dumps(closing) + b"\n\n"))
    frames.append((last_step, DONE))
    return frames


async def write_stream(request: web.Request, frames: list[Frame], plan: Plan) -> web.StreamResponse:
    response = web.StreamResponse(headers=SSE_HEADERS)
    await response.prepare(request)
    instant = plan.ttft_s == 0 and plan.token_interval_s == 0
    try:
        if instant and plan.cut_after_chunks is None:
            await response.write(b"".join(f for _, f in frames))
            await response.write_eof()
        else:
            await _paced(request, response, frames, plan)
    except ConnectionResetError:  # the client went away mid-stream, as clients may
        logger.debug("client disconnected during a simulated stream")
    return response


async def _paced(
    request: web.Request, response: web.StreamResponse, frames: list[Frame], plan: Plan
) -> None:
    cut = plan.cut_after_chunks
    loop = asyncio.get_running_loop()
    start = loop.time() + plan.ttft_s
    for written, (step, data) in enumerate(frames):
        if cut is not None and written >= cut:
            cut_connection(request)
            return
        delay = start + step * plan.token_interval_s - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        await response.write(data)
    await response.write_eof()


def cut_connection(request: web.Request) -> None:
    """Drop the connection: what is buffered is flushed, the rest never comes."""
    transport = request.transport
    if transport is not None:
        transport.close()
