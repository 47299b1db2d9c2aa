"""Relaying an upstream SSE stream to the client.

Events are relayed as the provider sent them, byte for byte (``model`` stays the
provider's id; the public name is in ``x-modality-model``). The gateway always asks the
upstream for usage (``stream_options.include_usage``); when the client did not ask, the
final usage-only chunk (``choices: []``) is held back from it. Chunks are not re-encoded,
so such a client may still see ``"usage": null`` on ordinary chunks (OpenAI adds it once
usage is requested; the SDKs treat it as absent), and a provider that attaches usage to a
chunk that also has choices has that chunk relayed whole. The stream always ends
with ``data: [DONE]``; if the upstream breaks or ends without ``[DONE]``, the client gets
an OpenAI-shaped ``data: {"error": ...}`` frame first (the openai SDK raises on it).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import aiohttp
import orjson

from modality.common.errors import error_bytes
from modality.gateway.data.asgi import RawHeaders, Send
from modality.gateway.data.upstream import OpenStream

log = logging.getLogger(__name__)

DONE = b"data: [DONE]\n\n"
SSE_HEADERS: RawHeaders = [
    (b"content-type", b"text/event-stream; charset=utf-8"),
    (b"cache-control", b"no-cache"),
    (b"x-accel-buffering", b"no"),
]


class StreamOutcome:
    __slots__ = ("completion_tokens", "error", "prompt_tokens", "usage_seen")

    def __init__(self) -> None:
        self.prompt_tokens = 0
        self.completion_tokens = 0
        self.usage_seen = False
        self.error: str | None = None


def _usage_of(payload: bytes) -> tuple[dict[str, Any] | None, bool]:
    """(usage, has_choices) of a chunk that carries a usage object; (None, True) otherwise."""
    if b'"usage":{' not in payload and b'"usage": {' not in payload:
        return None, True
    try:
        chunk = orjson.loads(payload)
    except orjson.JSONDecodeError:
        return None, True
    if not isinstance(chunk, dict) or not isinstance(chunk.get("usage"), dict):
        return None, True
    return chunk["usage"], bool(chunk.get("choices"))


def _int(value: object) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else 0


def stream_error_frame(message: str) -> bytes:
    return b"data: " + error_bytes(message, "upstream_error", None, "stream_interrupted") + b"\n\n"


async def relay(
    send: Send,
    stream: OpenStream,
    headers: RawHeaders,
    *,
    strip_usage: bool,
    outcome: StreamOutcome,
) -> None:
    """Send the whole stream; never raises for upstream failures (they become a frame)."""
    await send({"type": "http.response.start", "status": 200, "headers": [*SSE_HEADERS, *headers]})
    payload = stream.first
    done = False
    try:
        while True:
            if payload == b"[DONE]":
                done = True
                break
            usage, has_choices = _usage_of(payload)
            forward = True
            if usage is not None:
                outcome.usage_seen = True
                outcome.prompt_tokens = _int(usage.get("prompt_tokens"))
                outcome.completion_tokens = _int(usage.get("completion_tokens"))
                forward = not (strip_usage and not has_choices)
            if forward:
                await send(
                    {
                        "type": "http.response.body",
                        "body": b"data: " + payload + b"\n\n",
                        "more_body": True,
                    }
                )
            try:
                payload = await anext(stream.events)
            except StopAsyncIteration:
                break
        if not done:
            outcome.error = "the upstream stream ended before [DONE]"
    except (aiohttp.ClientError, TimeoutError) as exc:
        outcome.error = f"the upstream stream broke ({type(exc).__name__})"
    except asyncio.CancelledError:
        stream.response.close()
        raise
    if outcome.error is None:
        stream.response.release()
    else:
        stream.response.close()
        log.warning("stream from %s interrupted: %s", stream.model.name, outcome.error)
        await send(
            {
                "type": "http.response.body",
                "body": stream_error_frame(f"Upstream model {stream.model.name}: {outcome.error}."),
                "more_body": True,
            }
        )
    await send({"type": "http.response.body", "body": DONE, "more_body": False})
