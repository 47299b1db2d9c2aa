"""Prometheus metrics of one classifier process (its own registry: no global state)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from modality.common.routing import ROUTING_LATENCY_BUCKETS_S

BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128)


class ServiceMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.decisions = Counter(
            "modality_router_decisions", "route.decide replies", ["policy", "reason"], registry=r
        )
        self.decide_seconds = Histogram(
            "modality_router_decide_seconds",
            "Time from receiving route.decide to replying",
            buckets=ROUTING_LATENCY_BUCKETS_S,
            registry=r,
        )
        self.errors = Counter(
            "modality_router_errors", "route.decide answered with RouteError", ["kind"], registry=r
        )
        self.classify_requests = Counter(
            "modality_classifier_http_requests", "POST /classify calls", ["status"], registry=r
        )
        self.classify_seconds = Histogram(
            "modality_classifier_classify_seconds",
            "Classifier call (tokenise, backend, post-process)",
            ["backend"],
            buckets=ROUTING_LATENCY_BUCKETS_S,
            registry=r,
        )
        self.classify_batch = Histogram(
            "modality_classifier_batch_prompts",
            "Prompts per classifier call",
            buckets=BATCH_BUCKETS,
            registry=r,
        )
        self.registry_reloads = Counter(
            "modality_router_registry_reloads",
            "Registry reloads from Postgres",
            ["scope"],
            registry=r,
        )
        self.registry_customers = Gauge(
            "modality_router_registry_customers", "Customers in the routing cache", registry=r
        )
        self.embeddings_computed = Counter(
            "modality_router_domain_embeddings_computed",
            "Domain embeddings computed and written back",
            registry=r,
        )
        self.events = Counter(
            "modality_router_events", "Registry events received", ["subject"], registry=r
        )

    def render(self) -> bytes:
        return generate_latest(self.registry)
