"""Embeddings of training/eval texts with the exported encoder, cached under the model dir.

The cache (``<model dir>/cache/embeddings-<encoder tag>.npz``) is keyed by the SHA-1 of
each text's token ids after head + tail truncation — exactly what the embedding depends
on — so re-running training (or changing the token budget) re-embeds only what changed.
"""

from __future__ import annotations

import hashlib
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from modality.classifier import contract
from modality.classifier.encoder import EncoderSession, PromptTokenizer

SAVE_EVERY = 2048


def _encoder_tag(model_dir: Path) -> str:
    path = model_dir / contract.ENCODER_DIR / contract.ONNX_FILE
    digest = hashlib.sha1()
    with path.open("rb") as fh:
        digest.update(fh.read(1 << 22))
    digest.update(str(path.stat().st_size).encode())
    return digest.hexdigest()[:12]


def _save(cache_path: Path, cache: dict[str, np.ndarray]) -> None:
    keys = sorted(cache)
    cache_path.parent.mkdir(parents=True, exist_ok=True)
    tmp = cache_path.with_name(cache_path.stem + ".tmp.npz")
    np.savez(tmp, keys=np.array(keys), emb=np.stack([cache[k] for k in keys]))
    tmp.replace(cache_path)


def embed_texts(texts: Sequence[str], model_dir: Path, batch_size: int = 32) -> np.ndarray:
    cache_path = model_dir / "cache" / f"embeddings-{_encoder_tag(model_dir)}.npz"
    cache: dict[str, np.ndarray] = {}
    if cache_path.is_file():
        with np.load(cache_path) as data:
            cache = dict(zip(data["keys"].tolist(), data["emb"], strict=True))
    tok = PromptTokenizer(model_dir / contract.ENCODER_DIR / contract.TOKENIZER_FILE)
    keys = [
        hashlib.sha1(np.asarray(ids, dtype=np.int64).tobytes()).hexdigest()
        for ids in tok.token_ids(texts)
    ]
    todo = sorted(
        {k: t for k, t in zip(keys, texts, strict=True) if k not in cache}.items(),
        key=lambda kv: len(kv[1]),
    )
    if todo:
        print(
            f"embedding {len(todo)} new texts ({len(texts) - len(todo)} cached) ...",
            file=sys.stderr,
        )
        started = time.perf_counter()
        session = EncoderSession(model_dir / contract.ENCODER_DIR)
        for start in range(0, len(todo), SAVE_EVERY):
            part = todo[start : start + SAVE_EVERY]
            cache.update(
                zip(
                    (k for k, _ in part),
                    session.embed([t for _, t in part], batch_size=batch_size),
                    strict=True,
                )
            )
            _save(cache_path, cache)
            print(
                f"  {start + len(part)}/{len(todo)} in {time.perf_counter() - started:.0f} s",
                file=sys.stderr,
            )
    return np.stack([cache[k] for k in keys]).astype(np.float32)
