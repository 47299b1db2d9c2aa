"""NVIDIA prompt-task-and-complexity-classifier post-processing, in numpy.

Every backend returns per-head softmax probabilities (see ``contract.OUTPUTS``); this
module turns them into the classifier's output schema with NVIDIA's formula
(llm-router v1 ``logits_processor.py``): weighted sums over class probabilities divided by
a per-dimension divisor and rounded to 4 places, few-shot scores under 0.05 set to 0, the
top-2 task type rule, and the weighted complexity score rounded to 5 places (computed from
the already rounded dimension scores, as the original does).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

import numpy as np
from numpy.typing import NDArray
from pydantic import BaseModel, ConfigDict, Field

from modality.classifier import contract
from modality.classifier.errors import ContractError
from modality.classifier.features import PromptSignals

WEIGHTS_MAP: Final[dict[str, tuple[float, ...]]] = {
    "creativity_scope": (2, 1, 0),
    "reasoning": (0, 1),
    "contextual_knowledge": (0, 1),
    "number_of_few_shots": (0, 1, 2, 3, 4, 5),
    "domain_knowledge": (3, 1, 2, 0),
    "constraint_ct": (1, 0),
}
DIVISOR_MAP: Final[dict[str, float]] = {
    "creativity_scope": 2,
    "reasoning": 1,
    "contextual_knowledge": 1,
    "number_of_few_shots": 1,
    "domain_knowledge": 3,
    "constraint_ct": 1,
}
COMPLEXITY_WEIGHTS: Final[dict[str, float]] = {
    "creativity_scope": 0.35,
    "reasoning": 0.25,
    "constraint_ct": 0.15,
    "domain_knowledge": 0.15,
    "contextual_knowledge": 0.05,
    "number_of_few_shots": 0.05,
}
SECOND_TASK_MIN_PROB: Final = 0.1
FEW_SHOT_MIN_SCORE: Final = 0.05


class Classification(BaseModel):
    """One prompt's classification: NVIDIA's output schema plus ``small_model_failure``."""

    model_config = ConfigDict(frozen=True)

    task_type_1: str
    task_type_2: str
    task_type_prob: float = Field(ge=0, le=1)
    creativity_scope: float = Field(ge=0, le=1)
    reasoning: float = Field(ge=0, le=1)
    contextual_knowledge: float = Field(ge=0, le=1)
    domain_knowledge: float = Field(ge=0, le=1)
    constraint_ct: float = Field(ge=0, le=1)
    number_of_few_shots: float = Field(ge=0, le=5)
    prompt_complexity_score: float = Field(ge=0, le=1)
    small_model_failure: float = Field(ge=0, le=1)
    signals: PromptSignals | None = None


SCHEMA_FIELDS: Final = (
    "task_type_1",
    "task_type_2",
    "task_type_prob",
    "creativity_scope",
    "reasoning",
    "contextual_knowledge",
    "domain_knowledge",
    "constraint_ct",
    "number_of_few_shots",
    "prompt_complexity_score",
)


def dimension_scores(dim: str, probs: NDArray[Any]) -> list[float]:
    """NVIDIA's score of one complexity dimension for each row of class probabilities."""
    weights = np.asarray(WEIGHTS_MAP[dim], dtype=np.float64)
    if probs.ndim != 2 or probs.shape[1] != len(weights):
        raise ContractError(
            f"{dim}: expected [batch, {len(weights)}] probabilities, got {probs.shape}"
        )
    raw = (probs.astype(np.float64) * weights).sum(axis=1) / DIVISOR_MAP[dim]
    scores = [round(float(v), 4) for v in raw]
    if dim == "number_of_few_shots":
        scores = [s if s >= FEW_SHOT_MIN_SCORE else 0.0 for s in scores]
    return scores


def task_types(probs: NDArray[Any]) -> list[tuple[str, str, float]]:
    """(task_type_1, task_type_2, task_type_prob) per row; task_type_2 is "NA" under 0.1."""
    if probs.ndim != 2 or probs.shape[1] != len(contract.TASK_TYPES):
        raise ContractError(f"task_type: expected [batch, 12] probabilities, got {probs.shape}")
    out: list[tuple[str, str, float]] = []
    for row in probs.astype(np.float64):
        first, second = np.argsort(-row, kind="stable")[:2]
        p1, p2 = round(float(row[first]), 3), round(float(row[second]), 3)
        name2 = contract.TASK_TYPES[second] if p2 >= SECOND_TASK_MIN_PROB else "NA"
        out.append((contract.TASK_TYPES[first], name2, p1))
    return out


def complexity_score(scores: Mapping[str, float]) -> float:
    """Weighted complexity, rounded to 5 places.

    The original computes it from float32 dimension scores (its tensors are float32), which
    decides the last digit at ties: the card's 0.27822 (not 0.27823) needs the same.
    """
    total = sum(w * float(np.float32(scores[d])) for d, w in COMPLEXITY_WEIGHTS.items())
    return round(total, 5)


def classifications(
    outputs: Mapping[str, NDArray[Any]], signals: list[PromptSignals] | None = None
) -> list[Classification]:
    """Turn a backend's output tensors (contract names) into ``Classification`` objects."""
    missing = [n for n in contract.OUTPUT_NAMES if n not in outputs]
    if missing:
        raise ContractError(f"backend output lacks {missing}")
    tasks = task_types(outputs[contract.probs_output("task_type")])
    dims = {
        d: dimension_scores(d, outputs[contract.probs_output(d)])
        for d in contract.COMPLEXITY_DIMENSIONS
    }
    failure = np.asarray(outputs[contract.SMALL_MODEL_FAILURE], dtype=np.float64).reshape(-1)
    if len(failure) != len(tasks) or (signals is not None and len(signals) != len(tasks)):
        raise ContractError("backend outputs disagree on the batch size")
    result: list[Classification] = []
    for i, (t1, t2, p1) in enumerate(tasks):
        row = {d: dims[d][i] for d in contract.COMPLEXITY_DIMENSIONS}
        result.append(
            Classification(
                task_type_1=t1,
                task_type_2=t2,
                task_type_prob=p1,
                **row,
                prompt_complexity_score=complexity_score(row),
                small_model_failure=round(float(np.clip(failure[i], 0.0, 1.0)), 4),
                signals=None if signals is None else signals[i],
            )
        )
    return result
