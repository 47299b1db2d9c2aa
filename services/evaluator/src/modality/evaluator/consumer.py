"""The evaluator's durable consumer: every ``model.registered`` on the MODELS stream."""

from __future__ import annotations

from modality.common import subjects
from modality.common.worker import DurableConsumer
from modality.evaluator.settings import EvaluatorSettings


def registered_models(settings: EvaluatorSettings) -> DurableConsumer:
    return DurableConsumer(
        stream=subjects.MODELS_STREAM,
        durable=settings.consumer_name,
        filter_subject=subjects.MODEL_REGISTERED,
    )
