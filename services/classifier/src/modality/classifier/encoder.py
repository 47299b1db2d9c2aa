"""MiniLM tokenising (head + tail truncation) and the encoder-only ONNX graph.

Only ``tokenizers``, ``onnxruntime`` and ``numpy`` are used here: the PyTorch side of the
encoder lives in the build scripts, never at run time.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort
from numpy.typing import NDArray
from tokenizers import Tokenizer

from modality.classifier import contract
from modality.classifier.errors import ModelFilesMissingError

MAX_CHARS = 16_000
"""Longer prompts are cut to their first quarter and last three quarters of this many
characters before tokenising; the token budget keeps far less than that anyway."""


def clip_text(text: str, max_chars: int = MAX_CHARS) -> str:
    """Cut very long texts, and replace lone surrogates (valid in JSON escapes, refused by
    the Rust tokenizer) so one odd prompt cannot fail a whole batch."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        text = text.encode("utf-8", "replace").decode("utf-8")
    if len(text) <= max_chars:
        return text
    head = max_chars // 4
    return text[:head] + "\n" + text[-(max_chars - head) :]


WINDOW_HEAD_CHARS = 1_000
WINDOW_TAIL_CHARS = 3_000
"""Characters looked at to find a long text's first ``HEAD_TOKENS`` and its last tokens:
English runs ~4 characters a token, so each window holds several times what it must."""

_SPLIT_CHARS = " \t\n"


def _edge_windows(text: str, head_chars: int, tail_chars: int) -> tuple[str, str] | None:
    """The text's start and end, each cut at whitespace, when they do not overlap."""
    if len(text) <= head_chars + tail_chars:
        return None
    head_end = max(text.rfind(c, 0, head_chars) for c in _SPLIT_CHARS)
    tail_from = len(text) - tail_chars
    tail_start = min((i for c in _SPLIT_CHARS if (i := text.find(c, tail_from)) != -1), default=-1)
    if head_end <= 0 or tail_start == -1:
        return None
    return text[:head_end], text[tail_start + 1 :]


class PromptTokenizer:
    """WordPiece tokeniser of all-MiniLM-L6-v2 producing the contract's int64 inputs.

    Prompts longer than ``max_len`` tokens keep their first ``head_tokens`` tokens and as
    many of their last tokens as fit: few-shot prompts state the question at the end.
    """

    def __init__(
        self,
        tokenizer_file: Path,
        max_len: int = contract.MAX_SEQ_LEN,
        head_tokens: int = contract.HEAD_TOKENS,
    ) -> None:
        if not tokenizer_file.is_file():
            raise ModelFilesMissingError(f"tokenizer file not found: {tokenizer_file}")
        if not 0 <= head_tokens <= max_len - 2:
            raise ValueError("head_tokens must fit in max_len minus the two special tokens")
        self._tok = Tokenizer.from_file(str(tokenizer_file))
        self._tok.no_truncation()
        self._tok.no_padding()
        self.max_len = max_len
        self.head_tokens = head_tokens
        self.cls_id = self._required_id("[CLS]")
        self.sep_id = self._required_id("[SEP]")
        self.pad_id = self._required_id("[PAD]")

    def _required_id(self, token: str) -> int:
        token_id = self._tok.token_to_id(token)
        if token_id is None:
            raise ModelFilesMissingError(f"tokenizer has no {token} token")
        return int(token_id)

    def token_ids(self, texts: Sequence[str]) -> list[list[int]]:
        """Word-piece ids of each text, already cut to the budget, without special tokens.

        A long text is not tokenised whole: only a window at its start and one at its end,
        each cut at a space, tab or newline. BERT's normaliser works character by character
        and its pre-tokeniser splits at whitespace, so a text's tokens are the tokens of its
        whitespace-separated parts one after another, and the windows give exactly the
        head and tail tokens the whole text would (``_full_token_ids``, checked in tests).
        When a window holds too few tokens (no whitespace, very long words) the whole
        text is tokenised.
        """
        clipped = [clip_text(t) for t in texts]
        windows: dict[int, tuple[str, str]] = {}
        for i, text in enumerate(clipped):
            cut = _edge_windows(text, WINDOW_HEAD_CHARS, WINDOW_TAIL_CHARS)
            if cut is not None:
                windows[i] = cut
        pieces = [p for head, tail in windows.values() for p in (head, tail)]
        encoded = self._tok.encode_batch(pieces, add_special_tokens=False) if pieces else []
        tail_tokens = self.max_len - 2 - self.head_tokens
        out: dict[int, list[int]] = {}
        for n, i in enumerate(windows):
            head_ids, tail_ids = encoded[2 * n].ids, encoded[2 * n + 1].ids
            if len(head_ids) >= self.head_tokens and len(tail_ids) >= tail_tokens:
                out[i] = head_ids[: self.head_tokens] + (
                    tail_ids[-tail_tokens:] if tail_tokens else []
                )
        rest = [i for i in range(len(clipped)) if i not in out]
        for i, ids in zip(rest, self._full_token_ids([clipped[i] for i in rest]), strict=True):
            out[i] = ids
        return [out[i] for i in range(len(clipped))]

    def _full_token_ids(self, texts: Sequence[str]) -> list[list[int]]:
        """``token_ids`` by tokenising each text whole (the reference; short texts)."""
        if not texts:
            return []
        budget = self.max_len - 2
        tail = budget - self.head_tokens
        out: list[list[int]] = []
        for enc in self._tok.encode_batch(list(texts), add_special_tokens=False):
            ids = enc.ids
            if len(ids) > budget:
                ids = ids[: self.head_tokens] + (ids[-tail:] if tail else [])
            out.append(ids)
        return out

    def encode(self, texts: Sequence[str]) -> dict[str, NDArray[Any]]:
        """Padded ``input_ids`` and ``attention_mask`` (int64, [batch, longest])."""
        return self.pack(self.token_ids(texts))

    def pack(self, pieces: Sequence[Sequence[int]]) -> dict[str, NDArray[Any]]:
        """``token_ids`` output → the contract's padded int64 inputs, with [CLS]/[SEP]."""
        width = max((len(p) for p in pieces), default=0) + 2
        input_ids = np.full((len(pieces), width), self.pad_id, dtype=np.int64)
        mask = np.zeros((len(pieces), width), dtype=np.int64)
        for row, ids in enumerate(pieces):
            n = len(ids) + 2
            input_ids[row, 0] = self.cls_id
            input_ids[row, 1 : n - 1] = ids
            input_ids[row, n - 1] = self.sep_id
            mask[row, :n] = 1
        return {"input_ids": input_ids, "attention_mask": mask}


DISABLED_OPTIMIZERS = ("SkipLayerNormFusion",)
"""ONNX Runtime graph rewrites the CPU sessions skip. SkipLayerNormFusion folds each
residual Add into the LayerNorm after it; in the int8 graph, ONNX Runtime 1.32's fused
CPU kernel took ~230 µs per call at 128 tokens where the plain Add + LayerNorm take ~50,
so the whole graph ran 13-15 % slower on one thread (``bench/graph_variants.py``,
variant ``skipln``; docs/BENCHMARKS.md)."""


def session_options(intra_op_threads: int) -> ort.SessionOptions:
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = intra_op_threads
    opts.inter_op_num_threads = 1
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    opts.log_severity_level = 3
    return opts


def cpu_session(onnx_path: Path, intra_op_threads: int = 0) -> ort.InferenceSession:
    """The CPU session every runtime path uses (in-process backend, PyTriton, encoder)."""
    return ort.InferenceSession(
        str(onnx_path),
        session_options(intra_op_threads),
        providers=["CPUExecutionProvider"],
        disabled_optimizers=list(DISABLED_OPTIMIZERS),
    )


class EncoderSession:
    """Encoder-only graph: texts → L2-normalised 384-d MiniLM sentence embeddings."""

    def __init__(self, encoder_dir: Path, intra_op_threads: int = 0) -> None:
        onnx_path = encoder_dir / contract.ONNX_FILE
        if not onnx_path.is_file():
            raise ModelFilesMissingError(
                f"encoder graph not found: {onnx_path} (run `make models`)"
            )
        self.tokenizer = PromptTokenizer(encoder_dir / contract.TOKENIZER_FILE)
        self._session = cpu_session(onnx_path, intra_op_threads)

    def embed(self, texts: Sequence[str], batch_size: int = 32) -> NDArray[Any]:
        """Embeddings in input order; batches are formed from length-sorted texts."""
        out = np.zeros((len(texts), contract.EMBEDDING_DIM), dtype=np.float32)
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        for start in range(0, len(order), batch_size):
            idx = order[start : start + batch_size]
            batch = self.tokenizer.encode([texts[i] for i in idx])
            (emb,) = self._session.run([contract.EMBEDDING], batch)
            out[idx] = emb
        return out
