"""Other ways to build the CPU classifier graph, against the shipped int8 graph.

Why ``models/classifier/model.int8.onnx`` is what it is: this script builds the
alternatives into a scratch folder from the same weights and heads, and compares them
with the shipped graph on the bench prompts (the labelled prompts cut to <= 128 tokens).

Variants:
- ``shipped``: what ``make models`` builds (eager attention export, dynamic int8).
- ``sdpa``:    exported with transformers' SDPA attention (its default; shipped until
               2026-12-03), dynamic int8: extra shape and NaN-guard nodes (877 vs 724).
- ``skipln``:  the shipped int8 graph with ONNX Runtime's SkipLayerNormFusion applied
               (saved after ORT's extended optimisations): what the service ran until
               2026-12-03, when its sessions started to skip that rewrite
               (``encoder.DISABLED_OPTIMIZERS``).
- ``fused``:   the shipped fp32 graph + ONNX Runtime's BERT fusions (Attention,
               SkipLayerNorm, BiasGelu, EmbedLayerNorm) before dynamic int8 (QAttention):
               191 nodes.
- ``nbits8``:  MatMulNBits, 8-bit weights in blocks of 32, accuracy level 4 (activations
               quantised per row): batch-independent by construction, so it could batch.
               Needs the ``onnx_ir`` package; skipped without it.

Per variant: embedding cosine to the fp32 graph (median, min), largest
``small_model_failure`` difference, largest embedding difference between a prompt run in a
batch of 16 and alone; then, each in a fresh process and alternated ``--rounds`` times,
one prompt at a time with 1 and 2 intra-op threads (p50/p99 ms, CPU ms per prompt) and
length-sorted batches of 16 on one thread (ms and CPU ms per prompt).

Usage (build time deps, i.e. after ``make install``):
    .venv/bin/python bench/graph_variants.py [--rounds 2]
        [--variants shipped,skipln,sdpa,fused,nbits8]
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import statistics
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "services" / "classifier" / "scripts"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from router_latency import (  # noqa: E402
    bench_prompts,
    graph_feeds,
    graph_mix_child,
    percentile,
)

from modality.classifier.encoder import cpu_session  # noqa: E402

MODEL_DIR = REPO / "models" / "classifier"
VARIANTS = ("shipped", "skipln", "sdpa", "fused", "nbits8")


def build(variant: str, scratch: Path) -> Path | None:
    """The variant's graph file, built into ``scratch`` (None when it cannot be built)."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    if variant == "shipped":
        return MODEL_DIR / "model.int8.onnx"
    if variant == "skipln":
        import onnxruntime as ort

        out = scratch / "skipln.int8.onnx"
        opts = ort.SessionOptions()
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED
        opts.optimized_model_filepath = str(out)
        ort.InferenceSession(
            str(MODEL_DIR / "model.int8.onnx"), opts, providers=["CPUExecutionProvider"]
        )
        return out
    if variant == "nbits8":
        try:
            import onnx
            from onnxruntime.quantization.matmul_nbits_quantizer import (
                DefaultWeightOnlyQuantConfig,
                MatMulNBitsQuantizer,
            )
        except ImportError as exc:
            print(f"nbits8 skipped: {exc}")
            return None
        out = scratch / "nbits8.onnx"
        config = DefaultWeightOnlyQuantConfig(
            block_size=32, is_symmetric=True, accuracy_level=4, bits=8
        )
        quantizer = MatMulNBitsQuantizer(
            onnx.load(str(MODEL_DIR / "model.onnx")), algo_config=config
        )
        quantizer.process()
        quantizer.model.save_model_to_file(str(out), use_external_data_format=False)
        return out
    if variant == "sdpa":
        source = scratch / "sdpa.fp32.onnx"
        export_sdpa(source)
    else:
        from onnxruntime.transformers.optimizer import optimize_model

        fused = optimize_model(
            str(MODEL_DIR / "model.onnx"), model_type="bert", num_heads=12, hidden_size=384
        )
        print(f"fused: {fused.get_fused_operator_statistics()}")
        source = scratch / "fused.fp32.onnx"
        fused.save_model_to_file(str(source))
    import onnx

    out = scratch / f"{variant}.int8.onnx"
    # the fused graph's contrib ops defeat shape inference; their outputs are float
    quantize_dynamic(
        str(source),
        str(out),
        weight_type=QuantType.QInt8,
        per_channel=True,
        extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT},
    )
    return out


def export_sdpa(path: Path) -> None:
    """The shipped export (``export_encoder.export``) with SDPA attention."""
    import torch
    from export_encoder import CHECK_SENTENCES, export
    from torch_graphs import ClassifierGraph, SentenceEncoder, load_bert

    from modality.classifier import contract
    from modality.classifier.heads import HeadSet

    graph = ClassifierGraph(SentenceEncoder(load_bert("sdpa")), HeadSet.load()).eval()
    feeds = graph_feeds(CHECK_SENTENCES)
    args = tuple(torch.from_numpy(feeds[name]) for name in contract.INPUT_NAMES)
    export(graph, args, path, contract.INPUTS, contract.OUTPUTS)


def quality(path: str) -> tuple[float, float, float, float]:
    """Cosine to fp32 (median, min), max failure difference, max batch-vs-alone difference."""
    import numpy as np

    prompts = bench_prompts()
    ref, graph = cpu_session(MODEL_DIR / "model.onnx", 1), cpu_session(Path(path), 1)
    names = ["embedding", "small_model_failure"]
    cosines, failure = [], []
    alone = []
    for prompt in prompts:
        feeds = graph_feeds([prompt])
        (e0, f0), (e1, f1) = ref.run(names, feeds), graph.run(names, feeds)
        cosines.append(float((e0 * e1).sum()))
        failure.append(abs(float(f0[0, 0] - f1[0, 0])))
        alone.append(e1)
    batched = graph.run(["embedding"], graph_feeds(prompts[:16]))[0]
    drift = float(np.abs(batched - np.concatenate(alone[:16])).max())
    return statistics.median(cosines), min(cosines), max(failure), drift


def batched_child(path: str, batch: int) -> tuple[float, float]:
    """In its own process: wall and CPU ms per prompt over batches of prompts sorted by
    characters, 1 thread."""
    from modality.classifier import contract

    prompts = sorted(bench_prompts(), key=len)
    chunks = [graph_feeds(prompts[i : i + batch]) for i in range(0, len(prompts), batch)]
    session = cpu_session(Path(path), 1)
    outputs = list(contract.OUTPUT_NAMES)
    for feeds in chunks[:3]:
        session.run(outputs, feeds)
    wall, cpu = time.perf_counter(), time.process_time()
    for feeds in chunks:
        session.run(outputs, feeds)
    n = len(prompts)
    return (time.perf_counter() - wall) * 1000 / n, (time.process_time() - cpu) * 1000 / n


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--variants", default=",".join(VARIANTS))
    parser.add_argument("--rounds", type=int, default=2, help="alternated timing rounds")
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    spawn = multiprocessing.get_context("spawn")

    def fresh(fn: Any, *fn_args: Any) -> Any:
        with ProcessPoolExecutor(1, mp_context=spawn) as pool:
            return pool.submit(fn, *fn_args).result()

    with tempfile.TemporaryDirectory(prefix="modality-graphs-") as tmp:
        paths = {}
        for variant in args.variants.split(","):
            path = build(variant, Path(tmp))
            if path is not None:
                paths[variant] = str(path)
        print(
            "| variant | MB | cosine to fp32 median / min | max failure diff "
            "| batch vs alone max diff |\n|---|---|---|---|---|"
        )
        for variant, path in paths.items():
            med, low, fail, drift = fresh(quality, path)
            size = Path(path).stat().st_size / 1e6
            print(f"| {variant} | {size:.0f} | {med:.4f} / {low:.4f} | {fail:.4f} | {drift:.1e} |")
        print()
        print(
            "| round | variant | 1 thread p50 / p99 / CPU ms | 2 threads p50 / p99 / CPU ms "
            "| batches of 16, 1 thread: ms / CPU ms per prompt |\n|---|---|---|---|---|"
        )
        for round_ in range(args.rounds):
            for variant, path in paths.items():
                cells = []
                for threads in (1, 2):
                    wall, cpu = fresh(graph_mix_child, path, threads, 2)
                    cells.append(
                        f"{percentile(wall, 0.5):.2f} / {percentile(wall, 0.99):.2f} / {cpu:.2f}"
                    )
                per_prompt, cpu = fresh(batched_child, path, 16)
                cells.append(f"{per_prompt:.2f} / {cpu:.2f}")
                print(f"| {round_ + 1} | {variant} | " + " | ".join(cells) + " |", flush=True)


if __name__ == "__main__":
    main()
