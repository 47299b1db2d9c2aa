"""``modality-router score < in.jsonl > out.jsonl`` — batch scoring of prompts.

Input lines: ``{"id": ..., "prompt": "...", "domains": [{"name": ..., "description": ...}]}``
(``domains`` optional or null; a domain without a description is matched on its name).
Output lines, in input order: ``id``, the NVIDIA-schema fields,
``small_model_failure``, ``domain_similarity`` ({name: cosine}) and ``domain_match`` (best
domain at or above the threshold, else null). A bad line gives an output line with an
OpenAI-style ``error`` object (and a message on stderr) instead of stopping the run.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np
from numpy.typing import NDArray
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from modality.classifier.domains import (
    DOCUMENTED_DEFAULT_THRESHOLD,
    best_match,
    calibrated_threshold,
    cosine_matrix,
)
from modality.classifier.errors import ClassifierError
from modality.classifier.pipeline import ClassifiedPrompt, Classifier
from modality.classifier.postprocess import SCHEMA_FIELDS

CHUNK_LINES = 2048


class DomainSpec(BaseModel):
    model_config = ConfigDict(extra="ignore")

    name: str = Field(min_length=1)
    description: str | None = None

    @property
    def text(self) -> str:
        """What is embedded: the description, or the name when there is none."""
        return self.description or self.name


class ScoreRequest(BaseModel):
    model_config = ConfigDict(extra="ignore")

    id: Any = None
    prompt: str
    domains: list[DomainSpec] = Field(default_factory=list)

    @field_validator("domains", mode="before")
    @classmethod
    def _null_is_none(cls, value: Any) -> Any:
        return [] if value is None else value


def error_line(line_no: int, request_id: Any, message: str, param: str | None) -> dict[str, Any]:
    return {
        "id": request_id,
        "line": line_no,
        "error": {
            "message": message,
            "type": "invalid_request_error",
            "param": param,
            "code": "invalid_line",
        },
    }


def parse_line(line_no: int, raw: str) -> ScoreRequest | dict[str, Any]:
    try:
        data = json.loads(raw)
    except json.JSONDecodeError as exc:
        return error_line(line_no, None, f"line {line_no}: not valid JSON ({exc.msg})", None)
    request_id = data.get("id") if isinstance(data, dict) else None
    if not isinstance(data, dict):
        return error_line(line_no, None, f"line {line_no}: expected a JSON object", None)
    try:
        return ScoreRequest.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        param = ".".join(str(p) for p in first["loc"]) or None
        return error_line(line_no, request_id, f"line {line_no}: {param}: {first['msg']}", param)


class DomainCache:
    """Embeddings of domain descriptions, computed once per distinct description."""

    def __init__(self, classifier: Classifier) -> None:
        self._clf = classifier
        self._emb: dict[str, NDArray[Any]] = {}

    def ensure(self, descriptions: Iterable[str]) -> None:
        todo = sorted({d for d in descriptions if d not in self._emb})
        if todo:
            self._emb.update(zip(todo, self._clf.embed_sync(todo), strict=True))

    def matrix(self, domains: list[DomainSpec]) -> NDArray[Any]:
        return np.stack([self._emb[d.text] for d in domains])


class ParallelScorer:
    """Scores prompts in ``batch_size`` slices on a pool of threads, answers in input order.

    ONNX Runtime releases the GIL while it runs, so one single-threaded session call per
    core keeps every core busy; this matters most for the int8 graph, which runs one prompt
    per call (``pipeline.run_rowwise``) and so cannot use a second core within a call.
    """

    def __init__(self, classifier: Classifier, pool: ThreadPoolExecutor) -> None:
        self.classifier = classifier
        self.pool = pool

    def classify(self, prompts: list[str]) -> list[ClassifiedPrompt]:
        size = self.classifier.batch_size
        parts = [
            self.pool.submit(self.classifier.classify_sync, prompts[i : i + size])
            for i in range(0, len(prompts), size)
        ]
        return [result for part in parts for result in part.result()]


def score_chunk(
    scorer: ParallelScorer, cache: DomainCache, lines: list[tuple[int, str]], threshold: float
) -> Iterator[dict[str, Any]]:
    parsed = [(n, parse_line(n, raw)) for n, raw in lines]
    good = [(n, r) for n, r in parsed if isinstance(r, ScoreRequest)]
    cache.ensure(d.text for _, r in good for d in r.domains)
    results = iter(scorer.classify([r.prompt for _, r in good]))
    for _line_no, req in parsed:
        if not isinstance(req, ScoreRequest):
            print(req["error"]["message"], file=sys.stderr)
            yield req
            continue
        cls, emb = next(results)
        out: dict[str, Any] = {"id": req.id}
        out.update(cls.model_dump(include=set(SCHEMA_FIELDS)))
        out["small_model_failure"] = cls.small_model_failure
        sims: dict[str, float] = {}
        if req.domains:
            row = cosine_matrix(emb.reshape(1, -1), cache.matrix(req.domains))[0]
            sims = {d.name: round(float(c), 4) for d, c in zip(req.domains, row, strict=True)}
        out["domain_similarity"] = sims
        out["domain_match"] = best_match(sims, threshold)
        yield out


def read_chunks(stream: BinaryIO, size: int) -> Iterator[list[tuple[int, str]]]:
    """Numbered non-empty lines; bytes that are not UTF-8 become U+FFFD, never an abort."""
    chunk: list[tuple[int, str]] = []
    for line_no, data in enumerate(stream, start=1):
        raw = data.decode("utf-8", "replace")
        if not raw.strip():
            continue
        chunk.append((line_no, raw))
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def score(args: argparse.Namespace) -> int:
    if args.domain_threshold is not None:
        threshold = args.domain_threshold
    else:
        threshold = calibrated_threshold(args.precision)
    classifier = Classifier.from_model_dir(
        args.model_dir, args.threads, args.batch_size, args.precision
    )
    cache = DomainCache(classifier)
    started = time.perf_counter()
    n_ok = n_bad = 0
    out = sys.stdout
    with ThreadPoolExecutor(max(1, args.workers), thread_name_prefix="score") as pool:
        scorer = ParallelScorer(classifier, pool)
        for chunk in read_chunks(sys.stdin.buffer, CHUNK_LINES):
            for row in score_chunk(scorer, cache, chunk, threshold):
                if "error" in row:
                    n_bad += 1
                else:
                    n_ok += 1
                out.write(json.dumps(row, ensure_ascii=False) + "\n")
            out.flush()
    elapsed = time.perf_counter() - started
    rate = n_ok / elapsed if elapsed > 0 else 0.0
    print(
        f"modality-router: scored {n_ok} prompts ({n_bad} bad lines) in {elapsed:.1f} s "
        f"({rate:.0f}/s, {args.precision}), domain threshold {threshold}",
        file=sys.stderr,
    )
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="modality-router", description="Modality prompt router tools."
    )
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("score", help="score JSONL prompts from stdin to stdout")
    p.add_argument(
        "--model-dir",
        type=Path,
        default=None,
        help="exported models (default: MODALITY_CLASSIFIER_MODEL_DIR, else the repo's models/)",
    )
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument(
        "--workers",
        type=int,
        default=os.cpu_count() or 1,
        help="batches scored at once, each on its own thread (default: one per core)",
    )
    p.add_argument(
        "--threads",
        type=int,
        default=1,
        help="ONNX Runtime intra-op threads per worker (0 = all cores)",
    )
    p.add_argument(
        "--precision",
        choices=("int8", "fp32"),
        default="int8",
        help="int8 (default): the dynamically quantised graph, about twice as fast on CPU; "
        "fp32: the reference graph the service and Triton serve",
    )
    p.add_argument(
        "--domain-threshold",
        type=float,
        default=None,
        help="cosine needed for domain_match (default: the calibrated value in the artefact "
        f"manifest; the documented product default is {DOCUMENTED_DEFAULT_THRESHOLD})",
    )
    p.set_defaults(func=score)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args))
    except ClassifierError as exc:
        print(f"modality-router: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
