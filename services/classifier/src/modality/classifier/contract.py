"""The classifier's tensor contract, shared by every backend.

One ONNX graph (``<model dir>/classifier/model.onnx``) is the whole model: MiniLM encoder,
mean pooling, L2 normalisation and the trained heads. In-process ONNX Runtime, PyTriton
and GPU Triton all serve that same graph under the names below, so the pre-processing
(tokenising, cheap features) and post-processing (NVIDIA's formula) done around it are
identical whatever runs the tensors.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, Literal

MODEL_NAME: Final = "prompt_classifier"
"""Name of the full classifier graph (Triton model name, folder under the model dir)."""
ENCODER_MODEL_NAME: Final = "prompt_encoder"
"""Name of the encoder-only graph (embedding output only), used by training and tools."""
CLASSIFIER_DIR: Final = "classifier"
ENCODER_DIR: Final = "encoder"
ONNX_FILE: Final = "model.onnx"
ONNX_INT8_FILE: Final = "model.int8.onnx"
"""Same graph with dynamically quantised int8 weights (CPU only; ~2x faster, see export)."""
TOKENIZER_FILE: Final = "tokenizer.json"

ENCODER_NAME: Final = "sentence-transformers/all-MiniLM-L6-v2"
EMBEDDING_DIM: Final = 384


EXPORT_VERSION: Final = 3
"""Revision of ``make models``' export (3: eager attention). Bumping it rebuilds existing
model folders; a quantised graph's numbers may change with it."""


def embedding_model_tag(precision: str) -> str:
    """What a stored domain embedding is tagged with, so that embeddings made by another
    graph are recomputed: the encoder for the fp32 reference (its numbers do not depend on
    the export: 3e-7 between revisions 2 and 3), plus precision and export revision for a
    quantised copy, whose numbers do."""
    if precision == "fp32":
        return ENCODER_NAME
    return f"{ENCODER_NAME}@{precision}/r{EXPORT_VERSION}"


MAX_SEQ_LEN: Final = 128
"""Tokens per prompt including [CLS] and [SEP]; longer prompts are cut head + tail.
128 is the length all-MiniLM-L6-v2 was trained with, and halves the CPU cost of long
prompts compared with 256."""
HEAD_TOKENS: Final = 32
"""Tokens kept from the start of a long prompt; the rest of the budget goes to its end,
where few-shot prompts put the actual question."""

FEATURE_NAMES: Final = (
    "log_chars",
    "log_token_estimate",
    "log_lines",
    "code_block",
    "code_line_ratio",
    "code_token_density",
    "math_density",
    "latex",
    "ascii_ratio",
    "cjk_ratio",
    "log_questions",
    "log_few_shot_markers",
    "choice_options",
    "log_list_items",
    "verb_summarize",
    "verb_rewrite",
    "verb_extract",
    "verb_classify",
    "verb_write",
    "verb_brainstorm",
    "verb_translate",
    "verb_code",
    "wh_question",
)
"""Order of the columns of the ``features`` input (see ``features.py``)."""
NUM_FEATURES: Final = len(FEATURE_NAMES)

TASK_TYPES: Final = (
    "Brainstorming",
    "Chatbot",
    "Classification",
    "Closed QA",
    "Code Generation",
    "Extraction",
    "Open QA",
    "Other",
    "Rewrite",
    "Summarization",
    "Text Generation",
    "Unknown",
)
"""NVIDIA prompt-task-and-complexity-classifier task_type_map, index order."""

HEAD_SIZES: Final = {
    "task_type": 12,
    "creativity_scope": 3,
    "reasoning": 2,
    "contextual_knowledge": 2,
    "number_of_few_shots": 6,
    "domain_knowledge": 4,
    "constraint_ct": 2,
}
"""Classes per softmax head (NVIDIA's target_sizes without the constant no_label_reason)."""
COMPLEXITY_DIMENSIONS: Final = (
    "creativity_scope",
    "reasoning",
    "contextual_knowledge",
    "number_of_few_shots",
    "domain_knowledge",
    "constraint_ct",
)

DType = Literal["INT64", "FP32"]


@dataclass(frozen=True, slots=True)
class TensorSpec:
    name: str
    dtype: DType
    shape: tuple[int, ...]

    @property
    def numpy_dtype(self) -> str:
        return {"INT64": "int64", "FP32": "float32"}[self.dtype]


def probs_output(head: str) -> str:
    """Output tensor name holding the softmax probabilities of ``head``."""
    return f"{head}_probs"


EMBEDDING: Final = "embedding"
SMALL_MODEL_FAILURE: Final = "small_model_failure"

INPUTS: Final = (
    TensorSpec("input_ids", "INT64", (-1, -1)),
    TensorSpec("attention_mask", "INT64", (-1, -1)),
    TensorSpec("features", "FP32", (-1, NUM_FEATURES)),
)
OUTPUTS: Final = (
    TensorSpec(EMBEDDING, "FP32", (-1, EMBEDDING_DIM)),
    *(TensorSpec(probs_output(h), "FP32", (-1, n)) for h, n in HEAD_SIZES.items()),
    TensorSpec(SMALL_MODEL_FAILURE, "FP32", (-1, 1)),
)
ENCODER_INPUTS: Final = INPUTS[:2]
ENCODER_OUTPUTS: Final = (OUTPUTS[0],)

INPUT_NAMES: Final = tuple(t.name for t in INPUTS)
TOKEN_INPUTS: Final = ("input_ids", "attention_mask")
"""The inputs with a sequence axis (padding and trimming apply to these)."""
OUTPUT_NAMES: Final = tuple(t.name for t in OUTPUTS)
