"""Where the classifier graph's time goes: ONNX Runtime's profiler by operator type.

Runs the shipped graph (``--graph``, int8 by default) on one synthetic prompt of each
``--tokens`` length in a session built as the service builds it
(``encoder.cpu_session``), then again with ONNX Runtime's profiler on, and prints per
operator type the microseconds per run and the share of the graph. ``--fused`` lets ORT
apply every graph rewrite (``encoder.DISABLED_OPTIMIZERS`` included) for comparison.

It also times a lone int8 ``MatMulInteger`` of the graph's largest shape (tokens x 384 x
1536) to give the kernel's ceiling in multiply-adds per second, against which the
graph's matrix products can be read.

Usage (after ``make install``):
    .venv/bin/python bench/graph_profile.py [--tokens 37,128] [--threads 1]
        [--graph int8|fp32] [--fused]
"""

from __future__ import annotations

import argparse
import collections
import json
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
from router_latency import length_feeds

HIDDEN, FFN, LAYERS = 384, 1536, 6


def encoder_macs(tokens: int) -> int:
    """Multiply-adds of MiniLM-L6's dense layers for one prompt (attention scores aside)."""
    return LAYERS * tokens * (4 * HIDDEN * HIDDEN + 2 * HIDDEN * FFN)


def timed(session: Any, feed: dict[str, Any], runs: int) -> float:
    """Mean wall ms per run after a warm-up."""
    for _ in range(30):
        session.run(None, feed)
    started = time.perf_counter()
    for _ in range(runs):
        session.run(None, feed)
    return (time.perf_counter() - started) * 1000 / runs


def session(path: Path, threads: int, fused: bool, profile_dir: str | None = None) -> Any:
    import onnxruntime as ort

    from modality.classifier.encoder import DISABLED_OPTIMIZERS, session_options

    opts = session_options(threads)
    if profile_dir is not None:
        opts.enable_profiling = True
        opts.profile_file_prefix = f"{profile_dir}/ort"
    return ort.InferenceSession(
        str(path),
        opts,
        providers=["CPUExecutionProvider"],
        disabled_optimizers=None if fused else list(DISABLED_OPTIMIZERS),
    )


def by_op_type(path: Path, threads: int, fused: bool, feed: dict[str, Any], runs: int) -> str:
    with tempfile.TemporaryDirectory(prefix="modality-ortprof-") as tmp:
        profiled = session(path, threads, fused, tmp)
        for _ in range(runs):
            profiled.run(None, feed)
        events = json.loads(Path(profiled.end_profiling()).read_text())
    micros: collections.Counter[str] = collections.Counter()
    calls: collections.Counter[str] = collections.Counter()
    for event in events:
        if event.get("cat") == "Node" and event["name"].endswith("_kernel_time"):
            op = event["args"]["op_name"]
            micros[op] += event["dur"]
            calls[op] += 1
    total = sum(micros.values())
    lines = ["| operator | µs per run | share | calls per run |", "|---|---|---|---|"]
    for op, us in micros.most_common(12):
        lines.append(f"| {op} | {us / runs:.0f} | {100 * us / total:.1f} % | {calls[op] // runs} |")
    lines.append(f"| (profiled total) | {total / runs:.0f} | | |")
    return "\n".join(lines)


def matmul_ceiling(tokens: int, threads: int) -> float:
    """G multiply-adds/s of one int8 MatMulInteger, [tokens, 384] x [384, 1536]."""
    import onnxruntime as ort
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(0)
    weight = numpy_helper.from_array(rng.integers(-127, 127, (HIDDEN, FFN), dtype=np.int8), "B")
    zero_a = numpy_helper.from_array(np.array(128, dtype=np.uint8), "za")
    zero_b = numpy_helper.from_array(np.array(0, dtype=np.int8), "zb")
    graph = helper.make_graph(
        [helper.make_node("MatMulInteger", ["A", "B", "za", "zb"], ["Y"])],
        "matmul",
        [helper.make_tensor_value_info("A", TensorProto.UINT8, [tokens, HIDDEN])],
        [helper.make_tensor_value_info("Y", TensorProto.INT32, [tokens, FFN])],
        [weight, zero_a, zero_b],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 9
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    sess = ort.InferenceSession(model.SerializeToString(), opts, providers=["CPUExecutionProvider"])
    feed = {"A": rng.integers(0, 255, (tokens, HIDDEN), dtype=np.uint8)}
    ms = timed(sess, feed, 500)
    return tokens * HIDDEN * FFN / (ms / 1000) / 1e9


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tokens", default="37,128", help="prompt lengths, comma-separated")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--graph", choices=("int8", "fp32"), default="int8")
    parser.add_argument("--fused", action="store_true", help="let ORT apply every rewrite")
    parser.add_argument("--runs", type=int, default=200)
    args = parser.parse_args()
    from modality.classifier.pipeline import graph_file, resolve_model_dir

    path = resolve_model_dir() / "classifier" / graph_file(args.graph)
    for tokens in (int(t) for t in args.tokens.split(",")):
        plain = session(path, args.threads, args.fused)
        feed = length_feeds(tokens)
        ms = timed(plain, feed, args.runs)
        ceiling = matmul_ceiling(tokens, args.threads)
        print(
            f"\n### {args.graph} graph, {tokens} tokens, {args.threads} thread(s)"
            f"{', every ORT rewrite' if args.fused else ''}\n\n"
            f"{ms:.2f} ms a run; {encoder_macs(tokens) / 1e6:.0f} M multiply-adds in the "
            f"encoder's dense layers, i.e. {encoder_macs(tokens) / ms / 1e6:.0f} G/s for the "
            f"whole graph; a lone int8 MatMulInteger [{tokens}x384]x[384x1536]: "
            f"{ceiling:.0f} G/s\n"
        )
        print(by_op_type(path, args.threads, args.fused, feed, max(args.runs // 2, 50)))


if __name__ == "__main__":
    main()
