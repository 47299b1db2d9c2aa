"""The decide logic: RouteRequest → RouteDecision. No I/O of its own.

The classifier and the registry come in through Protocols (``types.py``); the transport
(NATS) lives in ``handlers.py``. Policies that do not need the model (passthrough, rules)
never call the classifier, and neither do the model-based ones when the customer has no
active model (the answer is ``no_candidates`` whatever the prompt says).
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from modality.classifier.features import PromptSignals, feature_vector, signals
from modality.classifier.postprocess import Classification
from modality.classifier.router.policies import NEEDS_MODEL, POLICIES, PolicyInput, RouterParams
from modality.classifier.router.types import FloatArray, PromptClassifier, RoutingSource
from modality.common.routing import Policy, RouteDecision, RouteRequest


def classification_payload(cls: Classification) -> dict[str, Any]:
    """The classification as carried in a decision (schema fields, failure, signals)."""
    return cls.model_dump(mode="json")


class RouterService:
    def __init__(
        self, classifier: PromptClassifier, registry: RoutingSource, params: RouterParams
    ) -> None:
        self.classifier = classifier
        self.registry = registry
        self.params = params

    async def decide(self, request: RouteRequest) -> RouteDecision:
        started = time.perf_counter()
        routing = await self.registry.get(request.customer_id)
        policy = routing.policy
        classification: Classification | None = None
        embedding: FloatArray | None = None
        prompt_signals: PromptSignals | None = None
        if policy in NEEDS_MODEL and routing.models:
            (result,) = await self.classifier.classify(
                [request.prompt], [request.has_tools], [request.has_vision]
            )
            classification, embedding = result.classification, result.embedding
            prompt_signals = classification.signals
        elif policy is Policy.RULES:
            prompt_signals = signals(
                request.prompt,
                feature_vector(request.prompt),
                has_tools=request.has_tools,
                has_vision=request.has_vision,
            )
        inp = PolicyInput(
            request=request,
            routing=routing,
            params=self.params,
            signals=prompt_signals,
            classification=classification,
            embedding=_unit(embedding) if embedding is not None else None,
        )
        outcome = POLICIES[policy](inp)
        return RouteDecision(
            model=outcome.model,
            policy=policy.value,
            reason=outcome.reason,
            confidence=outcome.confidence,
            candidates=outcome.candidates,
            fallback_model=self.params.fallback_model,
            classification=classification_payload(classification) if classification else None,
            decided_in_ms=round((time.perf_counter() - started) * 1000.0, 3),
        )


def _unit(v: FloatArray) -> FloatArray:
    v = np.asarray(v, dtype=np.float32).reshape(-1)
    norm = float(np.linalg.norm(v))
    return v / norm if norm > 0 else v
