from __future__ import annotations

import pytest

from modality.evaluator.settings import EvaluatorSettings


def test_env_prefix_and_shared_names(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MODALITY_EVALUATOR_PORT", "9041")
    monkeypatch.setenv("MODALITY_EVALUATOR_CONSUMER_NAME", "evaluator-blue")
    monkeypatch.setenv("MODALITY_NATS_URL", "nats://nats.example:4222")
    monkeypatch.setenv("MODALITY_TRAINER_PORT", "1")  # another service's setting
    settings = EvaluatorSettings()
    assert settings.port == 9041
    assert settings.consumer_name == "evaluator-blue"
    assert settings.nats_url == "nats://nats.example:4222"


def test_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MODALITY_EVALUATOR_PORT", raising=False)
    monkeypatch.delenv("MODALITY_EVALUATOR_CONSUMER_NAME", raising=False)
    settings = EvaluatorSettings()
    assert settings.port == 8040
    assert settings.consumer_name == "evaluator"
