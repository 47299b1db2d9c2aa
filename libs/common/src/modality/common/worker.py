"""Shell of a NATS worker process: one connection, declared streams and durable pull
consumers, and a small ASGI app answering ``GET /health`` and ``GET /metrics``.

The app's lifespan does the work: on startup it connects (failing fast, see
``modality.common.bus.connect``), declares every stream and the worker's durable
consumers, then runs the service's ``on_start`` hook; on shutdown it runs ``on_stop`` and
drains the connection. Serve it with any ASGI server (``uvicorn.run(app, lifespan="on")``):
a failed startup makes the server exit non-zero, and SIGTERM shuts it down through the
lifespan. :func:`exit_cleanly_on_signals` turns the signal the server re-raises after its
graceful shutdown into exit status 0.

Declaring a durable pull consumer does not consume anything: messages matching its
filter wait in the stream, counted as pending, until a process pulls and acks them.
"""

from __future__ import annotations

import logging
import signal
from collections.abc import Awaitable, Callable, MutableMapping, Sequence
from dataclasses import dataclass
from types import FrameType
from typing import Any

import nats.errors
import orjson
from nats.aio.client import Client as NATS
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, ConsumerInfo, DeliverPolicy
from nats.js.errors import APIError
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Gauge, generate_latest
from prometheus_client.process_collector import ProcessCollector

from modality.common import bus

log = logging.getLogger(__name__)

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
Hook = Callable[[NATS, JetStreamContext], Awaitable[None]]


class WorkerStartError(RuntimeError):
    """The worker could not reach a usable state at startup (it must not serve)."""


@dataclass(frozen=True)
class DurableConsumer:
    """A durable pull consumer the worker owns: ``durable`` on ``stream``, one subject."""

    stream: str
    durable: str
    filter_subject: str
    ack_wait_s: float = 30.0

    def config(self) -> ConsumerConfig:
        return ConsumerConfig(
            durable_name=self.durable,
            filter_subject=self.filter_subject,
            deliver_policy=DeliverPolicy.ALL,
            ack_policy=AckPolicy.EXPLICIT,
            ack_wait=self.ack_wait_s,
        )


async def ensure_consumer(js: JetStreamContext, spec: DurableConsumer) -> ConsumerInfo:
    """Create ``spec`` or bring an existing durable of that name to it.

    JetStream updates the fields it can (filter, ack wait) in place and keeps the
    consumer's position; a field it cannot change (deliver or ack policy) is an error,
    because deleting the durable would lose track of what was already processed.
    """
    try:
        info = await js.add_consumer(spec.stream, spec.config())
    except APIError as exc:
        raise WorkerStartError(
            f"durable consumer {spec.durable!r} on stream {spec.stream} exists with a "
            f"configuration that cannot be updated ({exc}); inspect it and delete it by hand "
            "if its position may be lost"
        ) from exc
    if info.config.filter_subject != spec.filter_subject:
        raise WorkerStartError(
            f"durable consumer {spec.durable!r} on stream {spec.stream} filters "
            f"{info.config.filter_subject!r}, expected {spec.filter_subject!r}"
        )
    return info


def consumer_status(spec: DurableConsumer, info: ConsumerInfo) -> dict[str, Any]:
    return {
        "stream": spec.stream,
        "durable": spec.durable,
        "filter_subject": info.config.filter_subject,
        "num_pending": info.num_pending,
        "num_ack_pending": info.num_ack_pending,
        "num_redelivered": info.num_redelivered,
        "num_waiting": info.num_waiting,
        "delivered_stream_seq": info.delivered.stream_seq if info.delivered else None,
        "ack_floor_stream_seq": info.ack_floor.stream_seq if info.ack_floor else None,
    }


class _Metrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        labels = ["stream", "consumer"]
        self.nats_connected = Gauge(
            "modality_worker_nats_connected", "1 when the NATS connection is up", registry=registry
        )
        self.pending = Gauge(
            "modality_consumer_pending_messages",
            "Messages in the stream not yet delivered to the durable consumer",
            labels,
            registry=registry,
        )
        self.ack_pending = Gauge(
            "modality_consumer_ack_pending_messages",
            "Messages delivered to the consumer and not yet acknowledged",
            labels,
            registry=registry,
        )
        self.redelivered = Gauge(
            "modality_consumer_redelivered_messages",
            "Messages delivered more than once and not yet acknowledged",
            labels,
            registry=registry,
        )


class WorkerApp:
    """ASGI app owning a worker's NATS connection and durable consumers."""

    def __init__(
        self,
        *,
        service: str,
        nats_url: str,
        consumers: Sequence[DurableConsumer] = (),
        consuming: bool,
        on_start: Hook | None = None,
        on_stop: Hook | None = None,
        connect_timeout_s: float = 5.0,
        info_timeout_s: float = 2.0,
    ) -> None:
        self.service = service
        self.consumers = tuple(consumers)
        self.consuming = consuming
        self.registry = CollectorRegistry()
        ProcessCollector(registry=self.registry)
        self._metrics = _Metrics(self.registry)
        self._nats_url = nats_url
        self._on_start = on_start
        self._on_stop = on_stop
        self._connect_timeout_s = connect_timeout_s
        self._info_timeout_s = info_timeout_s
        self._nc: NATS | None = None
        self._js: JetStreamContext | None = None

    @property
    def nats(self) -> NATS:
        if self._nc is None:
            raise RuntimeError(f"{self.service}: not started")
        return self._nc

    @property
    def jetstream(self) -> JetStreamContext:
        if self._js is None:
            raise RuntimeError(f"{self.service}: not started")
        return self._js

    # --- lifecycle ----------------------------------------------------------------------

    async def start(self) -> None:
        nc = await bus.connect(
            self._nats_url, f"modality-{self.service}", connect_timeout_s=self._connect_timeout_s
        )
        self._nc = nc
        try:
            js = nc.jetstream(timeout=self._info_timeout_s)
            await bus.ensure_streams(js)
            for spec in self.consumers:
                info = await ensure_consumer(js, spec)
                log.info(
                    "%s: durable consumer %s on %s (filter %s), %d pending",
                    self.service,
                    spec.durable,
                    spec.stream,
                    spec.filter_subject,
                    info.num_pending,
                )
            self._js = js
            if self._on_start is not None:
                await self._on_start(nc, js)
        except BaseException:
            self._nc = self._js = None
            await nc.close()
            raise
        if not self.consuming:
            log.warning(
                "%s: consumers are declared but nothing consumes them yet; messages queue up",
                self.service,
            )

    async def stop(self) -> None:
        nc, js = self._nc, self._js
        if nc is None:
            return
        try:
            if self._on_stop is not None and js is not None:
                await self._on_stop(nc, js)
        finally:
            self._nc = self._js = None
            if nc.is_connected:
                await nc.drain()
            else:
                await nc.close()
        log.info("%s: stopped", self.service)

    # --- health and metrics -------------------------------------------------------------

    async def health(self) -> tuple[int, dict[str, Any]]:
        """(HTTP status, body): 200 when NATS is up and every consumer answers as declared."""
        nc, js = self._nc, self._js
        connected = nc is not None and nc.is_connected
        server = None
        if nc is not None and nc.connected_url is not None:
            server = f"{nc.connected_url.hostname}:{nc.connected_url.port}"
        consumers: list[dict[str, Any]] = []
        healthy = connected and js is not None
        for spec in self.consumers:
            if not connected or js is None:
                consumers.append(_unknown(spec, "NATS is not connected"))
                continue
            try:
                info = await js.consumer_info(
                    spec.stream, spec.durable, timeout=self._info_timeout_s
                )
            except (nats.errors.Error, TimeoutError) as exc:
                healthy = False
                consumers.append(_unknown(spec, f"{type(exc).__name__}: {exc}"))
                continue
            entry = consumer_status(spec, info)
            if info.config.filter_subject != spec.filter_subject:
                healthy = False
                entry["error"] = (
                    f"filter is {info.config.filter_subject!r}, expected {spec.filter_subject!r}"
                )
            consumers.append(entry)
        body = {
            "status": "ok" if healthy else "unavailable",
            "service": self.service,
            "consuming": self.consuming,
            "nats": {"connected": connected, "server": server},
            "consumers": consumers,
        }
        return (200 if healthy else 503), body

    async def metrics(self) -> bytes:
        _, body = await self.health()
        self._metrics.nats_connected.set(1 if body["nats"]["connected"] else 0)
        for entry in body["consumers"]:
            labels = (entry["stream"], entry["durable"])
            if entry.get("num_pending") is None:
                # Unknown now: drop the series rather than export a stale number.
                for gauge in (
                    self._metrics.pending,
                    self._metrics.ack_pending,
                    self._metrics.redelivered,
                ):
                    _remove(gauge, labels)
                continue
            self._metrics.pending.labels(*labels).set(entry["num_pending"])
            self._metrics.ack_pending.labels(*labels).set(entry["num_ack_pending"])
            self._metrics.redelivered.labels(*labels).set(entry["num_redelivered"])
        return generate_latest(self.registry)

    # --- ASGI ---------------------------------------------------------------------------

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
        elif scope["type"] == "http":
            await self._http(scope, send)
        else:
            raise RuntimeError(f"{self.service}: unsupported ASGI scope {scope['type']!r}")

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                try:
                    await self.start()
                except Exception as exc:
                    log.exception("%s: startup failed", self.service)
                    await send({"type": "lifespan.startup.failed", "message": str(exc)})
                    return
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                try:
                    await self.stop()
                except Exception as exc:
                    log.exception("%s: shutdown failed", self.service)
                    await send({"type": "lifespan.shutdown.failed", "message": str(exc)})
                    return
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def _http(self, scope: Scope, send: Send) -> None:
        path, method = scope["path"], scope["method"]
        if path not in ("/health", "/metrics"):
            await _respond(
                send, 404, _json_error(f"no route {path}", "not_found"), "application/json"
            )
            return
        if method not in ("GET", "HEAD"):
            body = _json_error(f"method {method} not allowed on {path}", "method_not_allowed")
            await _respond(send, 405, body, "application/json", [(b"allow", b"GET, HEAD")])
            return
        if path == "/health":
            status, payload = await self.health()
            await _respond(
                send, status, orjson.dumps(payload), "application/json", head=method == "HEAD"
            )
        else:
            await _respond(
                send, 200, await self.metrics(), CONTENT_TYPE_LATEST, head=method == "HEAD"
            )


def _unknown(spec: DurableConsumer, error: str) -> dict[str, Any]:
    return {
        "stream": spec.stream,
        "durable": spec.durable,
        "filter_subject": spec.filter_subject,
        "num_pending": None,
        "error": error,
    }


def _remove(gauge: Gauge, labels: tuple[str, str]) -> None:
    try:
        gauge.remove(*labels)
    except KeyError:
        pass  # never exported for these labels


def _json_error(message: str, code: str) -> bytes:
    return orjson.dumps(
        {
            "error": {
                "message": message,
                "type": "invalid_request_error",
                "param": None,
                "code": code,
            }
        }
    )


async def _respond(
    send: Send,
    status: int,
    body: bytes,
    content_type: str,
    extra_headers: Sequence[tuple[bytes, bytes]] = (),
    *,
    head: bool = False,
) -> None:
    headers = [
        (b"content-type", content_type.encode()),
        (b"content-length", str(len(body)).encode()),
        (b"cache-control", b"no-store"),
        *extra_headers,
    ]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": b"" if head else body})


def exit_cleanly_on_signals(signals: Sequence[int] = (signal.SIGTERM, signal.SIGINT)) -> None:
    """Make SIGTERM/SIGINT end the process with status 0.

    uvicorn traps these signals, shuts the app down (lifespan included), restores the
    previous handlers and re-raises the signal; with the default handlers the process
    would then die *by* the signal (143 / a KeyboardInterrupt traceback) after a clean
    stop. Call this before ``uvicorn.run``; a signal arriving before uvicorn takes over
    also exits 0, since nothing has started yet.
    """

    def _exit(signum: int, frame: FrameType | None) -> None:
        log.info("stopped by %s", signal.Signals(signum).name)
        raise SystemExit(0)

    for sig in signals:
        signal.signal(sig, _exit)
