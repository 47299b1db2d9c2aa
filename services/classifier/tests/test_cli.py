"""`modality-router score` contract, end to end through a subprocess."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from modality.classifier.postprocess import SCHEMA_FIELDS

EXPECTED_KEYS = {"id", *SCHEMA_FIELDS, "small_model_failure", "domain_similarity", "domain_match"}
DOMAINS = [
    {"name": "cards", "description": "Customer support for ordering and delivering bank cards."},
    {"name": "recipes", "description": "Cooking recipes and kitchen techniques."},
]


def run_cli(model_dir: Path, lines: list[str], *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "MODALITY_CLASSIFIER_MODEL_DIR": str(model_dir)}
    return subprocess.run(
        [sys.executable, "-m", "modality.classifier.cli", "score", "--threads", "2", *args],
        input="\n".join(lines) + "\n",
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )


def test_score_round_trip_keeps_order_and_reports_bad_lines(model_dir: Path) -> None:
    lines = [
        json.dumps(
            {"id": "a", "prompt": "My card has not arrived yet, can you check?", "domains": DOMAINS}
        ),
        "{not json",
        json.dumps({"id": 7, "prompt": "Write a Python function that merges two sorted lists."}),
        json.dumps({"id": "no-prompt"}),
        json.dumps({"id": "c", "prompt": "How long should I boil an egg?", "domains": DOMAINS}),
        json.dumps(["not", "an", "object"]),
    ]
    proc = run_cli(model_dir, lines)
    assert proc.returncode == 0, proc.stderr
    rows = [json.loads(line) for line in proc.stdout.splitlines()]
    assert len(rows) == len(lines)
    assert [r.get("id") for r in rows] == ["a", None, 7, "no-prompt", "c", None]

    good = [rows[0], rows[2], rows[4]]
    for row in good:
        assert set(row) == EXPECTED_KEYS
        assert 0.0 <= row["small_model_failure"] <= 1.0
    assert rows[2]["task_type_1"] == "Code Generation"
    assert rows[2]["domain_similarity"] == {} and rows[2]["domain_match"] is None
    assert set(rows[0]["domain_similarity"]) == {"cards", "recipes"}
    assert rows[0]["domain_similarity"]["cards"] > rows[0]["domain_similarity"]["recipes"]
    assert rows[4]["domain_similarity"]["recipes"] > rows[4]["domain_similarity"]["cards"]

    for bad, line_no in ((rows[1], 2), (rows[3], 4), (rows[5], 6)):
        assert bad["line"] == line_no
        assert bad["error"]["type"] == "invalid_request_error"
        assert f"line {line_no}" in bad["error"]["message"]
    assert rows[3]["error"]["param"] == "prompt"
    assert "line 2" in proc.stderr and "line 4" in proc.stderr


def test_odd_text_does_not_break_the_batch(model_dir: Path) -> None:
    env = {**os.environ, "MODALITY_CLASSIFIER_MODEL_DIR": str(model_dir)}
    lines = [
        json.dumps({"id": "surrogate", "prompt": "bad \ud800 half"}, ensure_ascii=True).encode(),
        b'{"id": "latin1", "prompt": "caf\xe9 au lait"}',
        json.dumps({"id": "ok", "prompt": "hello"}).encode(),
    ]
    proc = subprocess.run(
        [sys.executable, "-m", "modality.classifier.cli", "score", "--threads", "2"],
        input=b"\n".join(lines) + b"\n",
        capture_output=True,
        env=env,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr.decode()
    rows = [json.loads(line) for line in proc.stdout.decode().splitlines()]
    assert [r["id"] for r in rows] == ["surrogate", "latin1", "ok"]
    assert all("task_type_1" in r for r in rows)


def test_domain_threshold_option(model_dir: Path) -> None:
    line = json.dumps({"id": 1, "prompt": "Where is my new card?", "domains": DOMAINS})
    low = json.loads(run_cli(model_dir, [line], "--domain-threshold", "-1").stdout)
    high = json.loads(run_cli(model_dir, [line], "--domain-threshold", "0.99").stdout)
    assert low["domain_match"] == "cards"
    assert high["domain_match"] is None


def test_missing_model_dir_is_a_clear_error(tmp_path: Path) -> None:
    proc = run_cli(tmp_path / "nowhere", [json.dumps({"id": 1, "prompt": "hi"})])
    assert proc.returncode == 2
    assert "not found" in proc.stderr and "Traceback" not in proc.stderr


def test_parallel_workers_keep_order_and_answers(model_dir: Path) -> None:
    prompts = [
        f"Question {i}: what is {i} times {i + 3}?" + " more words" * (i % 9) for i in range(60)
    ]
    lines = [json.dumps({"id": i, "prompt": p}) for i, p in enumerate(prompts)]
    one = run_cli(model_dir, lines, "--workers", "1", "--batch-size", "8")
    many = run_cli(model_dir, lines, "--workers", "3", "--batch-size", "8")
    assert one.returncode == 0 and many.returncode == 0, one.stderr + many.stderr
    rows = [json.loads(line) for line in many.stdout.splitlines()]
    assert [r["id"] for r in rows] == list(range(60))
    assert many.stdout == one.stdout  # int8 answers do not depend on how prompts are grouped


def test_null_domains_and_domains_without_description(model_dir: Path) -> None:
    lines = [
        json.dumps({"id": "n", "prompt": "hello", "domains": None}),
        json.dumps({"id": "d", "prompt": "My card is lost", "domains": [{"name": "bank cards"}]}),
    ]
    proc = run_cli(model_dir, lines)
    assert proc.returncode == 0, proc.stderr
    null_row, named = (json.loads(line) for line in proc.stdout.splitlines())
    assert null_row["domain_similarity"] == {} and "error" not in null_row
    assert set(named["domain_similarity"]) == {"bank cards"}
