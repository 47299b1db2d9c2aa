"""Prometheus metrics of the billing consumer, in a registry of its own."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.process_collector import ProcessCollector


class BillingMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        ProcessCollector(registry=self.registry)
        self.messages = Counter(
            "modality_billing_messages_total",
            "Usage messages by outcome: inserted, duplicate (already in the ledger), "
            "poison (terminated, never redelivered), retry (negatively acknowledged).",
            ["outcome"],
            registry=self.registry,
        )
        self.batch_size = Histogram(
            "modality_billing_batch_size",
            "Messages per pulled batch.",
            buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1000),
            registry=self.registry,
        )
        self.write_seconds = Histogram(
            "modality_billing_write_seconds",
            "Time to write one batch to the ledger (one transaction).",
            registry=self.registry,
        )
        self.write_failures = Counter(
            "modality_billing_write_failures_total",
            "Ledger writes that failed, by kind: transient (retried) or data (isolated).",
            ["kind"],
            registry=self.registry,
        )
