"""Fixtures for the classifier's model tests: the exported model folder.

If the exported graphs are missing, the session builds them once with the export script
(a build step that needs torch/transformers/onnx from `make install`); if that is not
possible the model tests are skipped with the reason.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from modality.classifier import contract
from modality.classifier.pipeline import Classifier, resolve_model_dir

EXPORT_SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "export_encoder.py"


@pytest.fixture(scope="session")
def model_dir() -> Path:
    root = resolve_model_dir()
    graphs = [
        root / contract.CLASSIFIER_DIR / contract.ONNX_FILE,
        root / contract.CLASSIFIER_DIR / contract.ONNX_INT8_FILE,
        root / contract.ENCODER_DIR / contract.ONNX_FILE,
    ]
    if not all(p.is_file() for p in graphs):
        proc = subprocess.run(
            [sys.executable, str(EXPORT_SCRIPT), "--out", str(root)],
            capture_output=True,
            text=True,
            timeout=600,
        )
        if proc.returncode != 0:
            pytest.skip(f"models missing in {root} and the export failed: {proc.stderr[-800:]}")
    return root


@pytest.fixture(scope="session")
def classifier(model_dir: Path) -> Classifier:
    return Classifier.from_model_dir(model_dir, intra_op_threads=2)
