"""Small raw-ASGI helpers: header lookup, bounded body reading, JSON and error responses.

The data plane's hot routes are plain ASGI callables (FastAPI's routing and dependency
layers cost ~160 µs a request here, see docs/BENCHMARKS.md); these helpers are all the
framework they need.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

import orjson

from modality.common.errors import ModalityError, PayloadTooLargeError, error_bytes

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
RawHeaders = list[tuple[bytes, bytes]]

JSON_CONTENT_TYPE = (b"content-type", b"application/json")


class RequestHeaders:
    """The few request headers the data plane reads, found in one pass."""

    __slots__ = ("authorization", "content_length", "session_id")

    def __init__(self, scope: Scope) -> None:
        self.authorization: str | None = None
        self.content_length: int | None = None
        self.session_id: str | None = None
        for name, value in scope["headers"]:
            if name == b"authorization":
                self.authorization = value.decode("latin-1")
            elif name == b"content-length":
                try:
                    self.content_length = int(value)
                except ValueError:
                    self.content_length = None
            elif name == b"x-modality-session-id":
                self.session_id = value.decode("latin-1")[:200] or None


async def read_body(receive: Receive, limit: int, declared: int | None) -> bytes:
    """The whole request body, refusing more than ``limit`` bytes (413)."""
    if declared is not None and declared > limit:
        raise _too_large(limit)
    message = await receive()
    body: bytes = message.get("body", b"")
    if not message.get("more_body", False):
        if len(body) > limit:
            raise _too_large(limit)
        return body
    chunks = [body]
    size = len(body)
    while message.get("more_body", False):
        message = await receive()
        if message["type"] == "http.disconnect":
            break
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise _too_large(limit)
        chunks.append(chunk)
    return b"".join(chunks)


def _too_large(limit: int) -> PayloadTooLargeError:
    return PayloadTooLargeError(f"Request body too large: the limit is {limit} bytes.")


async def send_bytes(
    send: Send,
    status: int,
    body: bytes,
    headers: RawHeaders,
    content_type: bytes = b"application/json",
) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", content_type),
                (b"content-length", str(len(body)).encode()),
                *headers,
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


async def send_json(send: Send, status: int, obj: Any, headers: RawHeaders | None = None) -> None:
    await send_bytes(send, status, orjson.dumps(obj), headers or [])


async def send_error(send: Send, exc: ModalityError, headers: RawHeaders | None = None) -> None:
    extra = [*(headers or []), *((k.lower().encode(), v.encode()) for k, v in exc.headers.items())]
    await send_bytes(send, exc.status_code, orjson.dumps(exc.body()), extra)


def server_error_bytes(request_id: str) -> bytes:
    return error_bytes(
        f"The server had an error while processing your request (request id {request_id}).",
        "server_error",
        None,
        "internal_error",
    )
