"""Evaluator worker app.

Only the shell exists: it connects to NATS, declares the streams and the durable
``model.registered`` consumer, and reports health. Nothing pulls from the consumer yet,
so registered models wait in JetStream (pending, unacknowledged) until the evaluation
behaviour is built; see the package README.
"""

from __future__ import annotations

from modality.common.worker import WorkerApp
from modality.evaluator.consumer import registered_models
from modality.evaluator.settings import EvaluatorSettings

SERVICE = "evaluator"


def create_app(settings: EvaluatorSettings) -> WorkerApp:
    return WorkerApp(
        service=SERVICE,
        nats_url=settings.nats_url,
        consumers=[registered_models(settings)],
        consuming=False,
        connect_timeout_s=settings.nats_connect_timeout_s,
    )
