"""Classifier service settings (env prefix MODALITY_CLASSIFIER_; shared names keep MODALITY_)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator
from pydantic_settings import SettingsConfigDict

from modality.common.pricing import default_price
from modality.common.settings import InfraSettings, require_real_secret

MIN_JWT_SECRET_BYTES = 32


class ClassifierSettings(InfraSettings):
    model_config = SettingsConfigDict(
        env_prefix="MODALITY_CLASSIFIER_", extra="ignore", populate_by_name=True
    )

    # --- HTTP -------------------------------------------------------------------------
    host: str = "127.0.0.1"
    port: int = Field(8010, ge=0, le=65535)
    jwt_secret: str = Field("", description="HS256 secret shared with callers of /classify.")
    jwt_leeway_s: int = Field(5, ge=0)
    max_batch_prompts: int = Field(64, ge=1, description="Prompts per /classify call.")
    max_prompt_chars: int = Field(100_000, ge=1)

    # --- model and backend ------------------------------------------------------------
    backend: Literal["onnx", "triton"] = "onnx"
    model_dir: Path | None = Field(
        None, description="Exported graphs; unset = the pipeline's lookup (models/ at the root)."
    )
    intra_op_threads: int = Field(0, ge=0, description="ONNX Runtime threads; 0 = all cores.")
    precision: Literal["fp32", "int8"] = Field(
        "int8",
        description="Graph served on CPU (in-process, or by PyTriton): int8 is the dynamically "
        "quantised copy of the fp32 reference, ~2x faster on CPU; each has its own calibrated "
        "domain threshold. GPU Triton serves fp32: set fp32 there.",
    )
    batch_size: int = Field(32, ge=1, description="Prompts per backend call.")
    max_inflight_batches: int = Field(
        2,
        ge=1,
        description="Backend calls running at once; concurrent classify calls beyond this wait "
        "and are merged into the next batch (batching.py). 2 overlaps Python pre/post-processing "
        "with model time; raise it for a Triton with several instances.",
    )
    triton_concurrent_calls: int = Field(
        2,
        ge=1,
        description="Calls one batch is spread over and sent to Triton at once, so its model "
        "instances (and its dynamic batcher) work on them in parallel; the in-process backend "
        "runs its chunks one after another.",
    )
    triton_url: str = "127.0.0.1:8101"
    triton_timeout_s: float = Field(5.0, gt=0)
    triton_seq_buckets: tuple[int, ...] = Field(
        (16, 32, 64, 128, 256),
        description="Sequence lengths requests are padded to, so Triton's dynamic batcher "
        "can put requests of different lengths in one batch.",
    )

    # --- PyTriton server (CPU stand-in for GPU Triton) --------------------------------
    state_dir: Path = Path("var/classifier")
    pytriton_http_port: int = 8100
    pytriton_grpc_port: int = 8101
    pytriton_metrics_port: int = 8102
    pytriton_max_batch_size: int = Field(64, ge=1)
    pytriton_max_queue_delay_us: int = Field(2000, ge=0)
    pytriton_instances: int = Field(1, ge=1, description="Parallel model instances.")

    # --- router worker ----------------------------------------------------------------
    router_enabled: bool = Field(True, description="Serve route.decide (needs NATS + Postgres).")
    fallback_model: str = "gpt-4o"
    fallback_input_price_per_m: float | None = None
    fallback_output_price_per_m: float | None = None
    domain_threshold: float | None = Field(
        None,
        ge=-1.0,
        le=1.0,
        description="Cosine threshold of the embedding policy; unset = the calibrated "
        "threshold from the artefact manifest, else the documented default 0.7.",
    )
    default_complexity_ceiling: float | None = Field(
        None, ge=0.0, le=1.0, description="Ceiling for models that have none; unset = none."
    )
    expected_completion_tokens: int = Field(
        256, ge=0, description="Completion length assumed for cost estimates and context fit."
    )
    long_prompt_tokens: int = Field(2000, ge=1, description="The rules policy's 'long' cut-off.")
    decide_timeout_ms: float = Field(
        250.0,
        gt=0,
        description="Past this the router answers RouteError instead of a decision; requests "
        "still queued then are dropped before any model work (the gateway has given up).",
    )
    max_concurrency: int = Field(64, ge=1, description="route.decide requests handled at once.")
    registry_reload_s: float = Field(60.0, gt=0, description="Full reload period (safety net).")
    db_pool_size: int = Field(5, ge=1)

    @model_validator(mode="after")
    def _validate(self) -> ClassifierSettings:
        require_real_secret(self.env, "MODALITY_CLASSIFIER_JWT_SECRET", self.jwt_secret)
        if self.env == "production" and len(self.jwt_secret.encode()) < MIN_JWT_SECRET_BYTES:
            raise ValueError(
                f"MODALITY_CLASSIFIER_JWT_SECRET must be at least {MIN_JWT_SECRET_BYTES} bytes"
            )
        price = default_price(self.fallback_model)
        if self.fallback_input_price_per_m is None:
            self.fallback_input_price_per_m = price.input_per_m if price else 0.0
        if self.fallback_output_price_per_m is None:
            self.fallback_output_price_per_m = price.output_per_m if price else 0.0
        if list(self.triton_seq_buckets) != sorted(set(self.triton_seq_buckets)):
            raise ValueError("triton_seq_buckets must be strictly increasing")
        return self

    @property
    def pytriton_workspace_root(self) -> Path:
        return self.state_dir / "pytriton"
