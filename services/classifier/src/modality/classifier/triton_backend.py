"""``Backend`` over Triton Inference Server's gRPC API (``tritonclient.grpc.aio``).

Serves the same tensor contract (``contract.py``) as the in-process ONNX backend, so the
router code is identical either way; GPU Triton (``deploy/k8s/triton``) and the CPU
PyTriton server (``pytriton_server.py``) both answer it.

Triton's dynamic batcher only merges requests whose non-batch dimensions are equal, so
token inputs are padded (``[PAD]``, attention mask 0) to the next length in ``seq_buckets``
before sending: concurrent requests of different lengths then share a batch. The graph
mean-pools under the attention mask, so the padding does not change the outputs.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt
import tritonclient.grpc.aio as grpcclient
from tritonclient.grpc import InferInput, InferRequestedOutput
from tritonclient.utils import InferenceServerException

from modality.classifier import contract
from modality.classifier.errors import ClassifierError, ContractError

log = logging.getLogger(__name__)

Tensors = dict[str, npt.NDArray[Any]]
_INPUT_DTYPES = {t.name: t.dtype for t in contract.INPUTS}
_KIND_TO_DEVICE = {"KIND_GPU": "gpu", "KIND_CPU": "cpu", "KIND_AUTO": "auto", "KIND_MODEL": "model"}


class TritonUnavailableError(ClassifierError):
    """The Triton server cannot be reached, is not ready, or failed an inference."""


def bucket_length(length: int, buckets: Sequence[int]) -> int:
    """The smallest bucket holding ``length`` tokens (``length`` itself past the last)."""
    for b in buckets:
        if length <= b:
            return b
    return length


def pad_tokens(batch: Tensors, buckets: Sequence[int], pad_id: int) -> Tensors:
    """Pad ``input_ids``/``attention_mask`` on the right to the bucketed length."""
    width = batch["input_ids"].shape[1]
    target = bucket_length(width, buckets)
    if target == width:
        return batch
    out = dict(batch)
    extra = target - width
    out["input_ids"] = np.pad(batch["input_ids"], ((0, 0), (0, extra)), constant_values=pad_id)
    out["attention_mask"] = np.pad(batch["attention_mask"], ((0, 0), (0, extra)), constant_values=0)
    return out


class TritonBackend:
    """Async Triton gRPC client for the classifier graph; call ``start()`` in the event loop."""

    def __init__(
        self,
        url: str,
        *,
        model_name: str = contract.MODEL_NAME,
        timeout_s: float = 5.0,
        seq_buckets: Sequence[int] = (16, 32, 64, 128, 256),
        pad_id: int = 0,
    ) -> None:
        self.url = url
        self.model_name = model_name
        self.timeout_s = timeout_s
        self.seq_buckets = tuple(seq_buckets)
        self.pad_id = pad_id
        self.device = "unknown"
        self.max_batch_size = 0
        self._client: grpcclient.InferenceServerClient | None = None
        self._outputs = [InferRequestedOutput(name) for name in contract.OUTPUT_NAMES]

    async def start(self) -> None:
        """Open the channel and check that the model is ready and honours the contract."""
        self._client = grpcclient.InferenceServerClient(self.url)
        try:
            ready = await self._client.is_model_ready(
                self.model_name, client_timeout=self.timeout_s
            )
            if not ready:
                raise TritonUnavailableError(
                    f"model {self.model_name!r} is not ready at {self.url}"
                )
            metadata = await self._client.get_model_metadata(
                self.model_name, as_json=True, client_timeout=self.timeout_s
            )
            config = await self._client.get_model_config(
                self.model_name, as_json=True, client_timeout=self.timeout_s
            )
        except InferenceServerException as exc:
            await self.close()
            raise TritonUnavailableError(f"Triton at {self.url}: {exc.message()}") from exc
        except TritonUnavailableError:
            await self.close()
            raise
        self._check_metadata(metadata)
        cfg = config.get("config", {})
        self.max_batch_size = int(cfg.get("max_batch_size", 0))
        kinds = {g.get("kind", "KIND_AUTO") for g in cfg.get("instance_group", [])}
        self.device = ",".join(sorted(_KIND_TO_DEVICE.get(k, k) for k in kinds)) or "auto"

    def _check_metadata(self, metadata: dict[str, object]) -> None:
        inputs = {t["name"]: t["datatype"] for t in metadata.get("inputs", [])}  # type: ignore[attr-defined]
        outputs = {t["name"]: t["datatype"] for t in metadata.get("outputs", [])}  # type: ignore[attr-defined]
        want_in = {t.name: t.dtype for t in contract.INPUTS}
        want_out = {t.name: t.dtype for t in contract.OUTPUTS}
        if inputs != want_in or outputs != want_out:
            raise ContractError(
                f"Triton model {self.model_name!r} has inputs {inputs} and outputs {outputs}; "
                f"the contract says {want_in} and {want_out}"
            )

    async def close(self) -> None:
        if self._client is not None:
            client, self._client = self._client, None
            await client.close()

    async def infer(self, batch: Tensors) -> Tensors:
        if self._client is None:
            raise TritonUnavailableError("TritonBackend.start() was not called")
        n = int(batch["input_ids"].shape[0])
        if self.max_batch_size and n > self.max_batch_size:
            parts = [
                await self.infer({k: v[i : i + self.max_batch_size] for k, v in batch.items()})
                for i in range(0, n, self.max_batch_size)
            ]
            return {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
        padded = pad_tokens(batch, self.seq_buckets, self.pad_id)
        inputs = []
        for name in contract.INPUT_NAMES:
            array = np.ascontiguousarray(padded[name], dtype=_numpy_dtype(name))
            item = InferInput(name, list(array.shape), _INPUT_DTYPES[name])
            item.set_data_from_numpy(array)
            inputs.append(item)
        try:
            result = await self._client.infer(
                self.model_name, inputs, outputs=self._outputs, client_timeout=self.timeout_s
            )
        except InferenceServerException as exc:
            raise TritonUnavailableError(f"Triton inference failed: {exc.message()}") from exc
        out: Tensors = {}
        for name in contract.OUTPUT_NAMES:
            value = result.as_numpy(name)
            if value is None:
                raise ContractError(f"Triton reply lacks output {name!r}")
            out[name] = value
        return out


def _numpy_dtype(name: str) -> str:
    return {"INT64": "int64", "FP32": "float32"}[_INPUT_DTYPES[name]]
