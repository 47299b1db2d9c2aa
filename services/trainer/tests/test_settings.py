from __future__ import annotations

import pytest
from pydantic import ValidationError

from modality.trainer.settings import TrainerSettings


def test_env_prefix_and_shared_names(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MODALITY_TRAINER_PORT", "9031")
    monkeypatch.setenv("MODALITY_TRAINER_HOST", "0.0.0.0")
    monkeypatch.setenv("MODALITY_NATS_URL", "nats://nats.example:4222")
    monkeypatch.setenv("MODALITY_PORT", "1")  # not ours: the prefix is MODALITY_TRAINER_
    settings = TrainerSettings()
    assert settings.port == 9031
    assert settings.host == "0.0.0.0"
    assert settings.nats_url == "nats://nats.example:4222"
    assert settings.consumer_name == "trainer"


def test_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MODALITY_TRAINER_PORT", raising=False)
    assert TrainerSettings().port == 8030


def test_rejects_a_consumer_name_nats_cannot_use() -> None:
    with pytest.raises(ValidationError):
        TrainerSettings(consumer_name="trainer.v2")
