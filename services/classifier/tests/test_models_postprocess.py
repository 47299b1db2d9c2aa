"""NVIDIA post-processing formula, checked against the model card's examples."""

from __future__ import annotations

import numpy as np
import pytest

from modality.classifier import contract
from modality.classifier.errors import ContractError
from modality.classifier.postprocess import (
    classifications,
    complexity_score,
    dimension_scores,
    task_types,
)

# model card examples (nvidia_classifier_schema.json): dimension scores -> complexity score
CARD_EXAMPLES = [
    (
        {
            "creativity_scope": 0.0826,
            "reasoning": 0.0632,
            "contextual_knowledge": 0.056,
            "number_of_few_shots": 0.0,
            "domain_knowledge": 0.9803,
            "constraint_ct": 0.5578,
        },
        0.27822,
        1e-9,
    ),
    (
        {
            "creativity_scope": 0.867,
            "reasoning": 0.056,
            "contextual_knowledge": 0.048,
            "number_of_few_shots": 0.0,
            "domain_knowledge": 0.226,
            "constraint_ct": 0.785,
        },
        0.472,
        1e-3,  # the card rounds these to 3 places
    ),
    (
        {
            "creativity_scope": 0.003,
            "reasoning": 0.014,
            "contextual_knowledge": 0.003,
            "number_of_few_shots": 0.0,
            "domain_knowledge": 0.644,
            "constraint_ct": 0.211,
        },
        0.133,
        1e-3,
    ),
]


def probs_for(dim: str, score: float) -> np.ndarray:
    """Class probabilities whose NVIDIA score is ``score`` (mass on the top and zero class)."""
    size = contract.HEAD_SIZES[dim]
    p = np.zeros(size)
    top = {
        "creativity_scope": 0,
        "reasoning": 1,
        "contextual_knowledge": 1,
        "domain_knowledge": 0,
        "constraint_ct": 0,
        "number_of_few_shots": 1,
    }[dim]
    zero = {
        "creativity_scope": 2,
        "reasoning": 0,
        "contextual_knowledge": 0,
        "domain_knowledge": 3,
        "constraint_ct": 1,
        "number_of_few_shots": 0,
    }[dim]
    p[top], p[zero] = score, 1 - score
    return p.reshape(1, -1)


def task_probs(first: str, p1: float, second: str, p2: float) -> np.ndarray:
    rest = (1 - p1 - p2) / 10
    p = np.full(12, rest)
    p[contract.TASK_TYPES.index(first)] = p1
    p[contract.TASK_TYPES.index(second)] = p2
    return p.reshape(1, -1)


@pytest.mark.parametrize(("dims", "expected", "tol"), CARD_EXAMPLES)
def test_complexity_score_matches_card(dims: dict[str, float], expected: float, tol: float) -> None:
    assert complexity_score(dims) == pytest.approx(expected, abs=tol)


@pytest.mark.parametrize(("dims", "expected", "tol"), CARD_EXAMPLES)
def test_full_postprocess_reproduces_card_example(
    dims: dict[str, float], expected: float, tol: float
) -> None:
    outputs = {contract.probs_output(d): probs_for(d, s) for d, s in dims.items()}
    outputs[contract.probs_output("task_type")] = task_probs(
        "Code Generation", 0.767, "Text Generation", 0.2
    )
    outputs[contract.EMBEDDING] = np.zeros((1, contract.EMBEDDING_DIM), dtype=np.float32)
    outputs[contract.SMALL_MODEL_FAILURE] = np.array([[0.25]], dtype=np.float32)
    (c,) = classifications(outputs)
    for d, s in dims.items():
        assert getattr(c, d) == pytest.approx(s, abs=1e-4)
    assert c.prompt_complexity_score == pytest.approx(expected, abs=tol)
    assert (c.task_type_1, c.task_type_2, c.task_type_prob) == (
        "Code Generation",
        "Text Generation",
        0.767,
    )
    assert c.small_model_failure == 0.25


def test_weights_and_divisors() -> None:
    # creativity class 0 is "high" (weight 2 / divisor 2); domain classes weigh 3,1,2,0 / 3
    assert dimension_scores("creativity_scope", np.array([[1.0, 0, 0], [0, 1.0, 0]])) == [1.0, 0.5]
    assert dimension_scores("domain_knowledge", np.array([[0, 0, 1.0, 0]])) == [0.6667]
    assert dimension_scores("constraint_ct", np.array([[0.3, 0.7]])) == [0.3]


def test_few_shots_below_threshold_is_zero() -> None:
    probs = np.array([[0.96, 0.04, 0, 0, 0, 0], [0.9, 0.0, 0.1, 0, 0, 0]])
    assert dimension_scores("number_of_few_shots", probs) == [0.0, 0.2]


def test_second_task_type_na_under_threshold() -> None:
    (t,) = task_types(task_probs("Open QA", 0.9, "Chatbot", 0.0949))
    assert t == ("Open QA", "NA", 0.9)
    (t,) = task_types(task_probs("Open QA", 0.8, "Chatbot", 0.0996))  # rounds to 0.1
    assert t == ("Open QA", "Chatbot", 0.8)


def test_bad_shapes_raise_contract_error() -> None:
    with pytest.raises(ContractError):
        dimension_scores("reasoning", np.zeros((2, 3)))
    with pytest.raises(ContractError):
        classifications({})
