"""Calibrate the domain threshold for each precision of the served graph; record it.

The router compares a prompt's embedding with domain embeddings computed by the same
graph, so the threshold belongs to the graph that runs: the fp32 classifier graph
(Triton, the reference) and its int8 copy (the CPU default of the in-process backend)
give slightly different cosines. For each precision this embeds banking77 and the far
out-of-domain prompts with that graph (``Classifier.embed_sync``, exactly the run-time
path), picks the threshold with ``domain_calibration.calibrate_domains`` and writes
``domain_threshold.by_precision.<precision>`` into ``artifacts/manifest.json``.

Reads: ../shared/data/banking77/{train,test}.csv,
../shared/data/llmrouter/scores_{train,test}.json (its test questions are the far
out-of-domain ones), services/classifier/data/labelled_prompts.jsonl; needs the exported
graphs (``make models``). Run by ``train_router.py`` after training; on its own:

    .venv/bin/python services/classifier/scripts/calibrate_precisions.py --data-dir ../shared/data
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import get_args

sys.path.insert(0, str(Path(__file__).resolve().parent))

import router_data as rd
from domain_calibration import calibrate_domains, far_ood_texts

from modality.classifier.heads import MANIFEST_FILE
from modality.classifier.pipeline import Classifier, Precision, resolve_model_dir


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", type=Path, default=rd.DEFAULT_DATA_DIR)
    parser.add_argument("--model-dir", type=Path, default=None)
    parser.add_argument("--threads", type=int, default=0, help="ONNX Runtime threads")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    model_dir = resolve_model_dir(args.model_dir)
    data_dir: Path = args.data_dir.resolve()

    bank = rd.load_banking77(data_dir)
    far = far_ood_texts(rd.load_labelled(), rd.load_llmrouter(data_dir))
    manifest = json.loads(MANIFEST_FILE.read_text())
    by_precision: dict[str, object] = {}
    for precision in get_args(Precision):
        classifier = Classifier.from_model_dir(
            model_dir, intra_op_threads=args.threads, precision=precision
        )
        result = calibrate_domains(bank, lambda t, c=classifier: c.embed_sync(t), far)
        by_precision[precision] = {"threshold": result["threshold"], "test": result["test"]}
        print(f"{precision}: threshold {result['threshold']}", json.dumps(result["test"]))
    manifest["domain_threshold"]["by_precision"] = by_precision
    manifest["domain_threshold"]["by_precision_command"] = (
        "services/classifier/scripts/calibrate_precisions.py --data-dir ../shared/data"
    )
    MANIFEST_FILE.write_text(json.dumps(manifest, indent=2) + "\n")
    print("files read:", *rd.FILES_READ, sep="\n  ")
    print(f"wrote {MANIFEST_FILE} in {time.perf_counter() - started:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
