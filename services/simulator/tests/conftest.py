from __future__ import annotations

from collections.abc import Iterator

import pytest
from openai import OpenAI

from modality.simulator.server import BackgroundSimulator
from modality.simulator.settings import ModelProfile, load_settings


@pytest.fixture(scope="session")
def simulator() -> Iterator[BackgroundSimulator]:
    settings = load_settings(
        models={
            "gpt-4o": ModelProfile(),
            "gpt-4o-mini": ModelProfile(completion_tokens=24),
            "flaky-model": ModelProfile(fail_rate=1.0, fail_status=503),
            "slow-model": ModelProfile(ttft_ms=150, tokens_per_s=200),
            "tiny-context": ModelProfile(context_window=50),
        },
        finetune_validating_s=0.2,
        finetune_queued_s=0.2,
        finetune_running_s=0.4,
        finetune_min_examples=10,
    )
    with BackgroundSimulator(settings) as running:
        yield running


@pytest.fixture
def client(simulator: BackgroundSimulator) -> Iterator[OpenAI]:
    with OpenAI(base_url=simulator.base_url, api_key="sk-anything", max_retries=0) as c:
        yield c
