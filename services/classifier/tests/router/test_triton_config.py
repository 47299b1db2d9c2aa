"""The GPU Triton model configuration and the Triton backend's padding, without a server."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from google.protobuf import text_format
from tritonclient.grpc import model_config_pb2

from modality.classifier import contract
from modality.classifier.pipeline import OnnxBackend
from modality.classifier.triton_backend import (
    TritonBackend,
    TritonUnavailableError,
    bucket_length,
    pad_tokens,
)
from modality.devstack.ports import free_port

REPO = Path(__file__).resolve().parents[4]
CONFIG = (
    REPO / "deploy" / "k8s" / "triton" / "model_repository" / contract.MODEL_NAME / "config.pbtxt"
)
TRITON_TYPES = {"INT64": model_config_pb2.TYPE_INT64, "FP32": model_config_pb2.TYPE_FP32}


@pytest.fixture(scope="module")
def config() -> Any:
    return text_format.Parse(CONFIG.read_text(), model_config_pb2.ModelConfig())


def test_config_serves_the_contract(config: Any) -> None:
    assert config.name == contract.MODEL_NAME and config.backend == "onnxruntime"
    assert config.max_batch_size >= 32
    for declared, specs in ((config.input, contract.INPUTS), (config.output, contract.OUTPUTS)):
        assert [t.name for t in declared] == [s.name for s in specs]
        for t, spec in zip(declared, specs, strict=True):
            assert t.data_type == TRITON_TYPES[spec.dtype], t.name
            assert tuple(t.dims) == spec.shape[1:], t.name  # batch dimension implied


def test_config_batches_dynamically_on_any_device(config: Any) -> None:
    assert config.HasField("dynamic_batching")
    assert all(
        size <= config.max_batch_size for size in config.dynamic_batching.preferred_batch_size
    )
    assert 0 < config.dynamic_batching.max_queue_delay_microseconds <= 5000
    # No fixed kind: GPU when the pod has one, CPU otherwise (chart value triton.gpus: 0).
    assert all(
        g.kind == model_config_pb2.ModelInstanceGroup.KIND_AUTO for g in config.instance_group
    )


@pytest.mark.parametrize(
    ("length", "expected"), [(1, 16), (16, 16), (17, 32), (200, 256), (300, 300)]
)
def test_bucket_length(length: int, expected: int) -> None:
    assert bucket_length(length, (16, 32, 64, 128, 256)) == expected


def test_pad_tokens_pads_ids_and_mask_only() -> None:
    batch = {
        "input_ids": np.array([[101, 7, 102], [101, 102, 0]], dtype=np.int64),
        "attention_mask": np.array([[1, 1, 1], [1, 1, 0]], dtype=np.int64),
        "features": np.ones((2, contract.NUM_FEATURES), dtype=np.float32),
    }
    out = pad_tokens(batch, (8, 16), pad_id=0)
    assert out["input_ids"].shape == (2, 8) and out["attention_mask"].shape == (2, 8)
    assert (out["input_ids"][:, :3] == batch["input_ids"]).all() and (
        out["input_ids"][:, 3:] == 0
    ).all()
    assert out["attention_mask"].sum() == batch["attention_mask"].sum()
    assert out["features"] is batch["features"]
    assert pad_tokens(batch, (3,), pad_id=0) is batch


def test_padding_to_a_bucket_does_not_change_the_outputs(classifier: Any) -> None:
    """What makes bucketing safe: the graph pools under the attention mask."""
    backend: OnnxBackend = classifier.backend
    texts = ["Summarise this contract clause.", "Write a haiku about the sea"]
    feeds = classifier.tokenizer.encode(texts)
    from modality.classifier.features import feature_matrix

    feeds["features"] = feature_matrix(texts)
    plain = backend.infer_sync(feeds)
    padded = backend.infer_sync(pad_tokens(feeds, (64,), classifier.tokenizer.pad_id))
    for name in contract.OUTPUT_NAMES:
        np.testing.assert_allclose(padded[name], plain[name], atol=1e-5, err_msg=name)


async def test_an_unreachable_triton_fails_fast() -> None:
    backend = TritonBackend(f"127.0.0.1:{free_port()}", timeout_s=1.0)
    with pytest.raises(TritonUnavailableError, match="Triton at"):
        await backend.start()
