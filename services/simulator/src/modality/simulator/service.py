"""The simulator's state and the decisions that need it (which models exist, completions)."""

from __future__ import annotations

import random
import time
from dataclasses import dataclass, field
from typing import Any

from modality.simulator import finetune
from modality.simulator.completions import Completion, generate, prompt_tokens
from modality.simulator.errors import InvalidRequest, NotFound
from modality.simulator.faults import Plan
from modality.simulator.protocol import ChatRequest
from modality.simulator.settings import ModelProfile, SimulatorSettings
from modality.simulator.store import Store

MODELS_CREATED_AT = 1_700_000_000  # a fixed "created" for the configured models


def model_not_found(model: str) -> NotFound:
    return NotFound(
        f"The model `{model}` does not exist or you do not have access to it.",
        param="model",
        code="model_not_found",
    )


@dataclass
class Simulator:
    settings: SimulatorSettings
    store: Store
    rng: random.Random
    callable_fine_tunes: set[str] = field(default_factory=set)

    @classmethod
    def from_settings(cls, settings: SimulatorSettings) -> Simulator:
        return cls(settings, Store(settings.state_path), random.Random(settings.seed))

    def resolve_model(self, model: str) -> ModelProfile | None:
        """The profile to simulate ``model`` with; raise 404 for models that do not exist."""
        if model.startswith("ft:"):
            if model not in self.callable_fine_tunes:
                record = self.store.job_for_model(model)
                if record is None or finetune.status_at(record, time.time()) != "succeeded":
                    raise model_not_found(model)
                self.callable_fine_tunes.add(model)
            return self.settings.profile(finetune.base_of(model))
        profile = self.settings.profile(model)
        if profile is None and not self.settings.accept_unknown_models:
            raise model_not_found(model)
        return profile

    def complete(self, req: ChatRequest, plan: Plan) -> Completion:
        prompt = prompt_tokens(req)
        wanted = prompt + (req.max_tokens or 0)
        if wanted > plan.context_window:
            raise InvalidRequest(
                f"This model's maximum context length is {plan.context_window} tokens. "
                f"However, you requested {wanted} tokens ({prompt} in the messages, "
                f"{req.max_tokens or 0} in the completion). Please reduce the length of the "
                "messages or completion.",
                param="messages",
                code="context_length_exceeded",
            )
        return generate(
            req, length=plan.completion_tokens, simulator_seed=self.settings.seed, prompt=prompt
        )

    def model_objects(self) -> list[dict[str, Any]]:
        models = [
            {
                "id": name,
                "object": "model",
                "created": MODELS_CREATED_AT,
                "owned_by": profile.owned_by or "modality-simulator",
            }
            for name, profile in self.settings.models.items()
        ]
        now = time.time()
        for record in self.store.list_jobs():
            view = finetune.job_view(record, now)
            if view["status"] == "succeeded":
                models.append(
                    {
                        "id": view["fine_tuned_model"],
                        "object": "model",
                        "created": view["finished_at"],
                        "owned_by": view["organization_id"],
                    }
                )
        return models
