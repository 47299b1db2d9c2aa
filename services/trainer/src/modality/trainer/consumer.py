"""The trainer's durable consumer: every ``finetune.requested`` on the JOBS stream."""

from __future__ import annotations

from modality.common import subjects
from modality.common.worker import DurableConsumer
from modality.trainer.settings import TrainerSettings


def finetune_requests(settings: TrainerSettings) -> DurableConsumer:
    return DurableConsumer(
        stream=subjects.JOBS_STREAM,
        durable=settings.consumer_name,
        filter_subject=subjects.FINETUNE_REQUESTED,
    )
