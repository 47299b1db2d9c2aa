"""Prompt-to-domain similarity: cosine of the prompt embedding vs domain embeddings.

A customer's fine-tuned model is described by a short natural-language domain description;
its embedding (``Classifier.embed``) is compared with each prompt's. The prompt is routed
to the best domain when its cosine reaches the threshold. The calibrated threshold for
MiniLM comes from the artefact manifest (``train_router.py`` picks it on banking77); the
product's documented default of 0.7 stays available as ``DOCUMENTED_DEFAULT_THRESHOLD``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Final

import numpy as np
from numpy.typing import NDArray

from modality.classifier.errors import ModelFilesMissingError
from modality.classifier.heads import MANIFEST_FILE

DOCUMENTED_DEFAULT_THRESHOLD: Final = 0.7


def calibrated_threshold(precision: str = "fp32", manifest: Path = MANIFEST_FILE) -> float:
    """The domain threshold calibrated for the graph of ``precision``.

    ``calibrate_precisions.py`` records one per precision (cosines of the int8 graph differ
    slightly from fp32's); a manifest from before that holds only the fp32 one.
    """
    if not manifest.is_file():
        raise ModelFilesMissingError(f"artefact manifest not found: {manifest}")
    data = json.loads(manifest.read_text())
    try:
        section = data["domain_threshold"]
        by_precision = section.get("by_precision", {})
        if precision in by_precision:
            return float(by_precision[precision]["threshold"])
        if precision == "fp32":
            return float(section["threshold"])
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise ModelFilesMissingError(f"{manifest} has no usable domain_threshold") from exc
    raise ModelFilesMissingError(
        f"{manifest} has no domain threshold calibrated for the {precision} graph "
        "(run services/classifier/scripts/calibrate_precisions.py)"
    )


def cosine_matrix(prompts: NDArray[Any], domains: NDArray[Any]) -> NDArray[Any]:
    """[n_prompts, n_domains] cosines; inputs need not be normalised."""
    if domains.size == 0:
        return np.zeros((len(prompts), 0), dtype=np.float32)
    p = prompts / np.maximum(np.linalg.norm(prompts, axis=1, keepdims=True), 1e-12)
    d = domains / np.maximum(np.linalg.norm(domains, axis=1, keepdims=True), 1e-12)
    return np.asarray(p @ d.T, dtype=np.float32)


def similarities(
    embedding: NDArray[Any], names: Sequence[str], domains: NDArray[Any]
) -> dict[str, float]:
    """{domain name: cosine} for one prompt embedding."""
    row = cosine_matrix(embedding.reshape(1, -1), domains)[0]
    return {name: round(float(c), 4) for name, c in zip(names, row, strict=True)}


def best_match(sims: Mapping[str, float], threshold: float) -> str | None:
    """The most similar domain if its cosine reaches ``threshold``, else None."""
    if not sims:
        return None
    name = max(sims, key=lambda n: sims[n])
    return name if sims[name] >= threshold else None
