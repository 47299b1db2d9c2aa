"""Prometheus metrics of the data plane, one registry per app.

With several worker processes, ``server.py`` sets ``PROMETHEUS_MULTIPROC_DIR`` before the
workers start; prometheus-client then writes values to files there and ``render`` merges
every worker's files, so any worker's ``/metrics`` reports the whole data plane. Gauges
are summed across workers in that mode.
"""

from __future__ import annotations

import os

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client.multiprocess import MultiProcessCollector

from modality.common.routing import ROUTING_LATENCY_BUCKETS_S

_LATENCY_BUCKETS = (
    0.0005,
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1,
    2.5,
    5,
    10,
    30,
    60,
)
_OVERHEAD_BUCKETS = (0.0001, 0.00025, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1)

METRICS_CONTENT_TYPE = CONTENT_TYPE_LATEST


def multiprocess_dir() -> str | None:
    return os.environ.get("PROMETHEUS_MULTIPROC_DIR") or None


class DataPlaneMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.requests = Counter(
            "modality_gateway_requests",
            "Finished data-plane requests.",
            ["endpoint", "model", "route_reason", "status"],
            registry=r,
        )
        self.latency = Histogram(
            "modality_gateway_request_seconds",
            "Time from request start to the last byte sent.",
            ["endpoint", "stream"],
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.overhead = Histogram(
            "modality_gateway_overhead_seconds",
            "Gateway-added time: total minus time spent waiting on the upstream.",
            ["endpoint"],
            buckets=_OVERHEAD_BUCKETS,
            registry=r,
        )
        self.upstream_errors = Counter(
            "modality_gateway_upstream_errors",
            "Failed upstream attempts by model and kind (connect, timeout, status_<code>, "
            "stream_cut ...).",
            ["model", "kind"],
            registry=r,
        )
        self.escalations = Counter(
            "modality_gateway_escalations",
            "Requests served by a later candidate after a failure.",
            registry=r,
        )
        self.router_outcomes = Counter(
            "modality_gateway_router_outcomes",
            "route.decide outcomes: decided, timeout, error.",
            ["outcome"],
            registry=r,
        )
        self.router_latency = Histogram(
            "modality_gateway_router_seconds",
            "route.decide round trip.",
            buckets=ROUTING_LATENCY_BUCKETS_S,
            registry=r,
        )
        self.in_flight = Gauge(
            "modality_gateway_in_flight",
            "Requests being served.",
            registry=r,
            multiprocess_mode="livesum",
        )
        self.usage_published = Counter(
            "modality_gateway_usage_published",
            "Usage events acknowledged by JetStream.",
            registry=r,
        )
        self.usage_publish_failures = Counter(
            "modality_gateway_usage_publish_failures",
            "Usage publish attempts that failed (retried).",
            registry=r,
        )
        self.usage_lost = Counter(
            "modality_gateway_usage_lost",
            "Usage events given up on at shutdown (logged in full).",
            registry=r,
        )
        self.usage_buffer_full = Counter(
            "modality_gateway_usage_buffer_full",
            "Times a handler waited because the usage buffer was full.",
            registry=r,
        )
        self.usage_buffer_depth = Gauge(
            "modality_gateway_usage_buffer_depth",
            "Usage events not yet acknowledged.",
            registry=r,
            multiprocess_mode="livesum",
        )
        self.usable_upstreams = Gauge(
            "modality_gateway_usable_upstreams",
            "Upstream base URLs that answered the last probe.",
            registry=r,
            multiprocess_mode="livemax",
        )

        # labels() validates and locks on every call; the label sets here are few, so the
        # children are looked up once and kept.
        self._children: dict[
            tuple[str, str, str, int, bool], tuple[Counter, Histogram, Histogram]
        ] = {}

    def observe_request(
        self,
        endpoint: str,
        model: str,
        reason: str,
        status: int,
        stream: bool,
        seconds: float,
        overhead: float | None,
    ) -> None:
        key = (endpoint, model, reason, status, stream)
        children = self._children.get(key)
        if children is None:
            children = (
                self.requests.labels(endpoint, model, reason, str(status)),
                self.latency.labels(endpoint, "true" if stream else "false"),
                self.overhead.labels(endpoint),
            )
            if len(self._children) < 10_000:
                self._children[key] = children
        children[0].inc()
        children[1].observe(seconds)
        if overhead is not None:
            children[2].observe(overhead)

    def render(self) -> tuple[bytes, str]:
        directory = multiprocess_dir()
        if directory is None:
            return generate_latest(self.registry), METRICS_CONTENT_TYPE
        merged = CollectorRegistry()
        MultiProcessCollector(merged, path=directory)  # type: ignore[no-untyped-call]
        return generate_latest(merged), METRICS_CONTENT_TYPE
