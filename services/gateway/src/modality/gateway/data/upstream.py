"""Calling upstream models over a pooled aiohttp session, with escalation.

A ``RoutePlan`` lists the models to try in order. An attempt that fails before the
first byte of an answer — connect error, timeout, 429, 5xx, an unreadable 200 body, or
a stream that ends before its first event — moves on to the next model. So do 401, 403
and 404: they say the gateway's own configuration of that model is wrong (its provider
key, its provider model id), which the client cannot fix and the next model may not
share. Any other 4xx (400, 413, 422, ...) is the client's problem: it is returned as the
upstream sent it, with no escalation. Only when every model failed does the caller get
``AllUpstreamsFailedError`` (502).

Streams: the first SSE event is read before anything is sent to the client, so a model
that dies before answering is still escalated; after that the stream is committed.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import orjson

from modality.gateway.data.catalog import ModelEntry
from modality.gateway.data.errors import AllUpstreamsFailedError
from modality.gateway.data.metrics import DataPlaneMetrics
from modality.gateway.data.routing import RoutePlan
from modality.gateway.settings import GatewaySettings

log = logging.getLogger(__name__)


@dataclass(slots=True)
class Attempts:
    """Bookkeeping shared by both call styles."""

    count: int = 0
    upstream_s: float = 0.0  # time spent waiting on upstreams (for the overhead metric)
    failures: list[str] = field(default_factory=list)


@dataclass(slots=True)
class UpstreamReply:
    """A non-streaming answer (2xx, or a non-retryable 4xx passed through)."""

    model: ModelEntry
    status: int
    body: bytes
    content_type: str
    parsed: dict[str, Any] | None  # the JSON body, when it is a JSON object
    attempts: Attempts


@dataclass(slots=True)
class OpenStream:
    """A 200 stream whose first SSE event already arrived (``first``)."""

    model: ModelEntry
    response: aiohttp.ClientResponse
    events: AsyncIterator[bytes]
    first: bytes
    attempts: Attempts


# Upstream statuses that say "this model cannot answer", not "this request is wrong".
_ESCALATE = frozenset({401, 403, 404, 408, 429})


def escalates(status: int) -> bool:
    return status >= 500 or status in _ESCALATE


class _Failed(Exception):
    def __init__(self, kind: str, detail: str) -> None:
        super().__init__(detail)
        self.kind = kind
        self.detail = detail


async def sse_events(response: aiohttp.ClientResponse) -> AsyncIterator[bytes]:
    """The ``data:`` payloads of an SSE body, one per event (multi-line data joined)."""
    data: list[bytes] = []
    async for raw in response.content:
        line = raw.rstrip(b"\r\n")
        if not line:
            if data:
                yield b"\n".join(data)
                data = []
            continue
        if line.startswith(b"data:"):
            value = line[5:]
            data.append(value[1:] if value.startswith(b" ") else value)
        # comments (":") and event:/id:/retry: fields carry nothing we relay
    if data:
        yield b"\n".join(data)


class UpstreamClient:
    def __init__(self, settings: GatewaySettings, metrics: DataPlaneMetrics) -> None:
        self._settings = settings
        self._metrics = metrics
        self._session: aiohttp.ClientSession | None = None

    async def start(self) -> None:
        connector = aiohttp.TCPConnector(
            limit=self._settings.upstream_max_connections,
            limit_per_host=0,
            ttl_dns_cache=300,
            keepalive_timeout=30,
        )
        self._session = aiohttp.ClientSession(
            connector=connector,
            timeout=aiohttp.ClientTimeout(
                total=self._settings.upstream_timeout_s,
                sock_connect=self._settings.upstream_connect_timeout_s,
            ),
            json_serialize=lambda obj: orjson.dumps(obj).decode(),
            # No Accept-Encoding: answers are small and decompressing costs CPU per request.
            skip_auto_headers=("User-Agent", "Accept-Encoding"),
        )

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()

    @property
    def session(self) -> aiohttp.ClientSession:
        if self._session is None:
            raise RuntimeError("UpstreamClient.start() was not awaited")
        return self._session

    def _failed(self, model: ModelEntry, attempts: Attempts, failure: _Failed) -> None:
        self._metrics.upstream_errors.labels(model.name, failure.kind).inc()
        attempts.failures.append(f"{model.name} ({failure.kind})")  # no addresses: sent to clients
        log.warning("upstream %s failed (%s): %s", model.name, failure.kind, failure.detail)

    def _all_failed(self, attempts: Attempts) -> AllUpstreamsFailedError:
        return AllUpstreamsFailedError(
            "No upstream model could answer: " + "; ".join(attempts.failures),
            attempts=attempts.count,
            upstream_s=attempts.upstream_s,
        )

    async def complete(self, plan: RoutePlan, body: dict[str, Any]) -> UpstreamReply:
        attempts = Attempts()
        for model in plan.attempts:
            attempts.count += 1
            body["model"] = model.provider_model_id
            payload = orjson.dumps(body)
            started = time.perf_counter()
            try:
                reply = await self._complete_once(model, payload, attempts)
            except _Failed as failure:
                self._failed(model, attempts, failure)
                continue
            finally:
                attempts.upstream_s += time.perf_counter() - started
            return reply
        raise self._all_failed(attempts)

    async def _complete_once(
        self, model: ModelEntry, payload: bytes, attempts: Attempts
    ) -> UpstreamReply:
        try:
            async with self.session.post(
                model.chat_url,
                data=payload,
                headers={"Authorization": model.auth_header, "Content-Type": "application/json"},
            ) as response:
                data = await response.read()
                status = response.status
                content_type = response.headers.get("Content-Type", "application/json")
        except TimeoutError as exc:
            raise _Failed("timeout", "timed out") from exc
        except aiohttp.ClientConnectorError as exc:
            raise _Failed("connect", f"cannot connect ({exc.os_error.strerror or exc})") from exc
        except aiohttp.ClientError as exc:
            raise _Failed("connection", type(exc).__name__) from exc
        if escalates(status):
            raise _Failed(f"status_{status}", f"HTTP {status}")
        try:
            parsed = orjson.loads(data)
        except orjson.JSONDecodeError as exc:
            if status < 400:
                raise _Failed("bad_body", "unreadable JSON in a success answer") from exc
            parsed = None
        if not isinstance(parsed, dict):
            if status < 400:
                raise _Failed("bad_body", "success answer is not a JSON object")
            parsed = None
        return UpstreamReply(model, status, data, content_type, parsed, attempts)

    async def open_stream(
        self, plan: RoutePlan, body: dict[str, Any]
    ) -> OpenStream | UpstreamReply:
        """A committed stream, or a non-retryable 4xx answer to pass through."""
        attempts = Attempts()
        for model in plan.attempts:
            attempts.count += 1
            body["model"] = model.provider_model_id
            payload = orjson.dumps(body)
            started = time.perf_counter()
            try:
                opened = await self._open_once(model, payload, attempts)
            except _Failed as failure:
                self._failed(model, attempts, failure)
                continue
            finally:
                attempts.upstream_s += time.perf_counter() - started
            return opened
        raise self._all_failed(attempts)

    async def _open_once(
        self, model: ModelEntry, payload: bytes, attempts: Attempts
    ) -> OpenStream | UpstreamReply:
        try:
            response = await self.session.post(
                model.chat_url,
                data=payload,
                headers={
                    "Authorization": model.auth_header,
                    "Content-Type": "application/json",
                    "Accept": "text/event-stream",
                },
            )
        except TimeoutError as exc:
            raise _Failed("timeout", "timed out") from exc
        except aiohttp.ClientConnectorError as exc:
            raise _Failed("connect", f"cannot connect ({exc.os_error.strerror or exc})") from exc
        except aiohttp.ClientError as exc:
            raise _Failed("connection", type(exc).__name__) from exc
        try:
            status = response.status
            if escalates(status):
                raise _Failed(f"status_{status}", f"HTTP {status}")
            if status >= 400:
                data = await response.read()
                try:
                    parsed = orjson.loads(data)
                except orjson.JSONDecodeError:
                    parsed = None
                return UpstreamReply(
                    model,
                    status,
                    data,
                    response.headers.get("Content-Type", "application/json"),
                    parsed if isinstance(parsed, dict) else None,
                    attempts,
                )
            events = sse_events(response)
            try:
                first = await anext(events)
            except StopAsyncIteration as exc:
                raise _Failed("stream_empty", "stream ended before its first event") from exc
            except TimeoutError as exc:
                raise _Failed("timeout", "timed out before the first event") from exc
            except aiohttp.ClientError as exc:
                raise _Failed(
                    "stream_cut", f"stream broke before its first event ({type(exc).__name__})"
                ) from exc
        except BaseException:
            response.release()
            raise
        return OpenStream(model, response, events, first, attempts)
