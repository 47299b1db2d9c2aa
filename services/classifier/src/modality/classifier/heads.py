"""The trained heads, as stored in the committed artefact, with a numpy forward pass.

The artefact ``artifacts/heads.npz`` holds, for every head, a small stack of dense layers
(``<head>.w<i>``, ``<head>.b<i>``; ReLU between layers, none after the last) applied to
``[embedding, standardised features clipped to ±5]``, plus ``feature_mean`` and
``feature_std``. The build
script bakes exactly this computation into the served ONNX graph; the numpy version here
is the reference it is checked against, and lets callers apply the heads to an embedding
they already have.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from modality.classifier import contract
from modality.classifier.errors import ModelFilesMissingError

ARTIFACTS_DIR = Path(__file__).parent / "artifacts"
HEADS_FILE = ARTIFACTS_DIR / "heads.npz"
MANIFEST_FILE = ARTIFACTS_DIR / "manifest.json"

FEATURE_CLIP = 5.0
"""Standardised features are clipped to +-5: a signal rare in training cannot blow up."""

HEAD_NAMES: tuple[str, ...] = (*contract.HEAD_SIZES, contract.SMALL_MODEL_FAILURE)


@dataclass(frozen=True)
class Dense:
    weight: NDArray[Any]  # [in, out]
    bias: NDArray[Any]  # [out]


@dataclass(frozen=True)
class HeadSet:
    feature_mean: NDArray[Any]
    feature_std: NDArray[Any]
    layers: dict[str, tuple[Dense, ...]]

    @classmethod
    def load(cls, path: Path = HEADS_FILE) -> HeadSet:
        if not path.is_file():
            raise ModelFilesMissingError(
                f"trained heads not found: {path} (run services/classifier/scripts/train_router.py)"
            )
        with np.load(path) as data:
            arrays = {k: data[k].astype(np.float32) for k in data.files}
        layers: dict[str, tuple[Dense, ...]] = {}
        for head in HEAD_NAMES:
            stack: list[Dense] = []
            while f"{head}.w{len(stack)}" in arrays:
                i = len(stack)
                stack.append(Dense(arrays[f"{head}.w{i}"], arrays[f"{head}.b{i}"]))
            if not stack:
                raise ModelFilesMissingError(f"{path} has no weights for head {head!r}")
            layers[head] = tuple(stack)
        return cls(arrays["feature_mean"], arrays["feature_std"], layers)

    def head_input(self, embedding: NDArray[Any], features: NDArray[Any]) -> NDArray[Any]:
        scaled = np.clip(
            (features - self.feature_mean) / self.feature_std, -FEATURE_CLIP, FEATURE_CLIP
        )
        return np.asarray(np.concatenate([embedding, scaled], axis=1), dtype=np.float32)

    def logits(self, head: str, x: NDArray[Any]) -> NDArray[Any]:
        stack = self.layers[head]
        for i, layer in enumerate(stack):
            x = x @ layer.weight + layer.bias
            if i < len(stack) - 1:
                x = np.maximum(x, 0.0)
        return np.asarray(x, dtype=np.float32)

    def forward(self, embedding: NDArray[Any], features: NDArray[Any]) -> dict[str, NDArray[Any]]:
        """Head outputs named as in the tensor contract (probabilities, failure in [0, 1])."""
        x = self.head_input(embedding, features)
        out: dict[str, NDArray[Any]] = {contract.EMBEDDING: embedding.astype(np.float32)}
        for head in contract.HEAD_SIZES:
            z = self.logits(head, x)
            z = np.exp(z - z.max(axis=1, keepdims=True))
            out[contract.probs_output(head)] = (z / z.sum(axis=1, keepdims=True)).astype(np.float32)
        z = self.logits(contract.SMALL_MODEL_FAILURE, x)
        out[contract.SMALL_MODEL_FAILURE] = (1.0 / (1.0 + np.exp(-z))).astype(np.float32)
        return out
