"""Trainer worker app.

Only the shell exists: it connects to NATS, declares the streams and the durable
``finetune.requested`` consumer, and reports health. Nothing pulls from the consumer yet,
so fine-tuning requests wait in JetStream (pending, unacknowledged) until the fine-tuning
behaviour is built; see the package README.
"""

from __future__ import annotations

from modality.common.worker import WorkerApp
from modality.trainer.consumer import finetune_requests
from modality.trainer.settings import TrainerSettings

SERVICE = "trainer"


def create_app(settings: TrainerSettings) -> WorkerApp:
    return WorkerApp(
        service=SERVICE,
        nats_url=settings.nats_url,
        consumers=[finetune_requests(settings)],
        consuming=False,
        connect_timeout_s=settings.nats_connect_timeout_s,
    )
