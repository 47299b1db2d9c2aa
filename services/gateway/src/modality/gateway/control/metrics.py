"""Prometheus metrics of the control plane, in a registry of its own.

A private registry (not the process-wide default) lets the data plane and the control
plane live in one process, and lets tests build many apps, without name clashes.
"""

from __future__ import annotations

import time

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from starlette.types import ASGIApp, Message, Receive, Scope, Send


class ControlMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter(
            "modality_control_requests_total",
            "Control-plane HTTP requests by route template and status.",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "modality_control_request_seconds",
            "Control-plane request duration.",
            ["method", "route"],
            registry=self.registry,
        )
        self.events_published = Counter(
            "modality_control_events_published_total",
            "Events acknowledged by JetStream, by subject.",
            ["subject"],
            registry=self.registry,
        )
        self.events_failed = Counter(
            "modality_control_events_failed_total",
            "Events JetStream did not acknowledge, by subject.",
            ["subject"],
            registry=self.registry,
        )

    def render(self) -> bytes:
        return generate_latest(self.registry)


class MetricsMiddleware:
    """Counts every HTTP request under its route template (``/customers/{customer_id}``),
    never its raw path, so ids do not explode the label space."""

    def __init__(self, app: ASGIApp, metrics: ControlMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        status = 500
        started = time.perf_counter()

        async def send_wrapper(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            route = _route_template(scope)
            method = str(scope.get("method", ""))
            self.metrics.requests.labels(method, route, str(status)).inc()
            self.metrics.latency.labels(method, route).observe(time.perf_counter() - started)


def _route_template(scope: Scope) -> str:
    route = scope.get("route")
    path = getattr(route, "path", None)
    return path if isinstance(path, str) else "unmatched"
