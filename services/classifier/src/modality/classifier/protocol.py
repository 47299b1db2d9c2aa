"""Wire models of ``POST /classify`` (shared by the HTTP handler and ``client.py``)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from modality.classifier.postprocess import SCHEMA_FIELDS


class ClassifyRequest(BaseModel):
    """Unknown fields are accepted (and logged) so newer clients keep working."""

    model_config = ConfigDict(extra="allow")

    prompts: list[str] = Field(min_length=1)
    has_tools: list[bool] | None = None
    has_vision: list[bool] | None = None
    return_embeddings: bool = False


class ClassificationResult(BaseModel):
    """NVIDIA prompt-task-and-complexity schema fields plus ``small_model_failure``."""

    model_config = ConfigDict(extra="forbid")

    task_type_1: str
    task_type_2: str
    task_type_prob: float
    creativity_scope: float
    reasoning: float
    contextual_knowledge: float
    domain_knowledge: float
    constraint_ct: float
    number_of_few_shots: float
    prompt_complexity_score: float
    small_model_failure: float
    embedding: list[float] | None = None


class ClassifyResponse(BaseModel):
    model_config = ConfigDict(extra="forbid")

    model: str
    backend: str
    results: list[ClassificationResult]


RESULT_FIELDS = (*SCHEMA_FIELDS, "small_model_failure")
