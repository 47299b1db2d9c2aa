# ruff: noqa: RUF001  (CJK test prompts, long expectation lists)
"""The exported classifier: schema, ranges, golden outputs, graph vs numpy heads."""

from __future__ import annotations

import json
import random
import re
from pathlib import Path

import numpy as np
import pytest

from modality.classifier import contract, encoder
from modality.classifier.domains import (
    DOCUMENTED_DEFAULT_THRESHOLD,
    best_match,
    calibrated_threshold,
    similarities,
)
from modality.classifier.encoder import EncoderSession
from modality.classifier.errors import ModelFilesMissingError
from modality.classifier.features import (
    MATH_PATTERN,
    MATH_REGEX,
    MATH_WORDS,
    feature_matrix,
    feature_vector,
    signals,
)
from modality.classifier.heads import ARTIFACTS_DIR, HeadSet
from modality.classifier.pipeline import Classifier

GOLDEN = json.loads((Path(__file__).parent / "data" / "golden_outputs.json").read_text())
PROMPTS = [
    "",
    "hi",
    "Write a haiku about autumn leaves.",
    "def f(x):\n    return x * 2\n\nWhat does this function return for 3?",
    "计算 12 乘以 7 等于多少？",
    "Summarize: " + "The quick brown fox jumps over the lazy dog. " * 200,
]


def test_fields_and_ranges(classifier: Classifier) -> None:
    results = classifier.classify_sync(PROMPTS)
    assert len(results) == len(PROMPTS)
    for res in results:
        c = res.classification
        assert c.task_type_1 in contract.TASK_TYPES
        assert c.task_type_2 in (*contract.TASK_TYPES, "NA")
        assert c.task_type_1 != c.task_type_2
        for name in (
            "creativity_scope",
            "reasoning",
            "contextual_knowledge",
            "domain_knowledge",
            "constraint_ct",
            "prompt_complexity_score",
            "small_model_failure",
        ):
            assert 0.0 <= getattr(c, name) <= 1.0, name
        assert 0.0 <= c.number_of_few_shots <= 5.0
        assert res.embedding.shape == (contract.EMBEDDING_DIM,)
        assert np.linalg.norm(res.embedding) == pytest.approx(1.0, abs=1e-4)


@pytest.mark.parametrize("case", GOLDEN, ids=["code", "mystery", "antibiotics"])
def test_golden_outputs(classifier: Classifier, case: dict) -> None:
    (res,) = classifier.classify_sync([case["prompt"]])
    got = res.classification.model_dump(exclude={"signals"})
    for key, want in case["output"].items():
        if isinstance(want, str):
            assert got[key] == want, key
        else:
            assert got[key] == pytest.approx(want, abs=2e-3), key
    assert res.embedding[:8] == pytest.approx(case["embedding_head"], abs=1e-4)


def test_golden_prompts_get_sensible_task_types(classifier: Classifier) -> None:
    # the three model-card prompts; NVIDIA's model says Code Generation / Text Generation /
    # Summarization — ours must at least rank those first
    results = classifier.classify_sync([c["prompt"] for c in GOLDEN])
    assert [r.classification.task_type_1 for r in results] == [
        "Code Generation",
        "Text Generation",
        "Summarization",
    ]


def test_output_order_and_batching_do_not_change_results(classifier: Classifier) -> None:
    one_by_one = [classifier.classify_sync([p])[0] for p in PROMPTS]
    batched = classifier.classify_sync(PROMPTS)
    for a, b in zip(one_by_one, batched, strict=True):
        assert a.classification.task_type_1 == b.classification.task_type_1
        assert a.classification.small_model_failure == pytest.approx(
            b.classification.small_model_failure, abs=1e-3
        )
        assert a.embedding == pytest.approx(b.embedding, abs=1e-4)


async def test_async_classify_matches_sync(classifier: Classifier) -> None:
    sync = classifier.classify_sync(PROMPTS[:3])
    got = await classifier.classify(PROMPTS[:3], has_tools=[True, False, False])
    assert [g.classification.task_type_1 for g in got] == [
        s.classification.task_type_1 for s in sync
    ]
    assert got[0].classification.signals is not None and got[0].classification.signals.has_tools
    emb = await classifier.embed(["a", "b"])
    assert emb.shape == (2, contract.EMBEDDING_DIM)


def test_graph_matches_encoder_plus_numpy_heads(classifier: Classifier, model_dir: Path) -> None:
    texts = [
        "Write a SQL query that lists customers by revenue.",
        "tell me a joke",
        "What is 17 * 23?",
    ]
    emb = EncoderSession(model_dir / contract.ENCODER_DIR).embed(texts)
    ref = HeadSet.load().forward(emb, feature_matrix(texts))
    feeds = classifier.tokenizer.encode(texts)
    feeds["features"] = feature_matrix(texts)
    got = classifier.backend.infer_sync(feeds)  # type: ignore[union-attr]
    for name in contract.OUTPUT_NAMES:
        assert got[name].shape == ref[name].shape
        assert np.abs(got[name] - ref[name]).max() < 1e-4, name


def test_long_prompts_keep_head_and_tail(classifier: Classifier) -> None:
    tok = classifier.tokenizer
    text = "alpha " * 50 + "filler " * 1000 + "omega question here"
    feeds = tok.encode([text])
    ids = feeds["input_ids"][0]
    assert len(ids) == contract.MAX_SEQ_LEN
    assert ids[0] == tok.cls_id and ids[-1] == tok.sep_id
    tail = tok.token_ids(["omega question here"])[0]
    assert list(ids[-1 - len(tail) : -1]) == tail
    assert list(ids[1:4]) == tok.token_ids(["alpha alpha alpha"])[0]


def _long_texts() -> list[str]:
    """Long texts of many shapes: prose, code, CJK with and without spaces, odd whitespace,
    words longer than WordPiece's 100-character limit, special-token strings, controls."""
    rng = random.Random(11)
    vocab = [
        "the",
        "lessee",
        "shall",
        "pay",
        "rent",
        "monthly,",
        "clause",
        "4.2(b);",
        "naïve",
        "Straße",
        "def",
        "f(x):",
        "return",
        "x**2",
        "{",
        "}",
        "==",
        "合同",
        "租金",
        "支付",
        "😀",
        "[SEP]",
        "[MASK]",
        "\x00",
        "e=mc^2",
        "x" * 150,
        "don't",
        "U.S.A.",
        "—",
    ]
    seps = [" ", " ", " ", "\n", "\t", "  ", "\n\n", "\r\n", "\u3000", ""]
    texts = []
    for size in (3_500, 4_001, 4_500, 9_000, 20_000, 40_000):
        for _ in range(6):
            parts: list[str] = []
            while sum(map(len, parts)) < size:
                parts.append(rng.choice(vocab) + rng.choice(seps))
            texts.append("".join(parts)[:size])
    texts.append("合同租金支付" * 1_500)  # no whitespace at all: tokenised whole
    texts.append("word " * 900 + "x" * 2_000 + " tail")  # few tokens in the head window
    texts.append("a" * 3_000 + " " + "b " * 2_000)  # one 3,000-character word up front
    return texts


@pytest.mark.parametrize("windows", [(1_000, 3_000), (200, 500), (150, 400)])
def test_long_texts_tokenise_as_if_whole(
    classifier: Classifier, windows: tuple[int, int], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Small windows put the whitespace cuts among the kept tokens, where a wrong cut shows
    # (a window cut mid-word fails at (150, 400) and (200, 500)).
    monkeypatch.setattr(encoder, "WINDOW_HEAD_CHARS", windows[0])
    monkeypatch.setattr(encoder, "WINDOW_TAIL_CHARS", windows[1])
    tok = classifier.tokenizer
    texts = _long_texts()
    assert tok.token_ids(texts) == tok._full_token_ids(texts)
    for text in texts[:6]:  # one at a time too (the router's case)
        assert tok.token_ids([text]) == tok._full_token_ids([text])


def test_cheap_features_and_signals() -> None:
    code = "```python\nimport os\ndef main():\n    return os.getcwd()\n```"
    row = feature_vector(code)
    assert row.shape == (contract.NUM_FEATURES,) and row.dtype == np.float32
    s = signals(code, row, has_vision=True)
    assert s.has_code and s.has_vision and not s.has_tools and s.language == "en"
    zh = "请把这段话翻译成英文，并解释其中的语法。"
    assert signals(zh, feature_vector(zh)).language == "cjk"
    math = "Solve for x: 3x + 7 = 22, then compute 15 / 3 + 2^4."
    assert signals(math, feature_vector(math)).has_math
    plain = "Tell me about your weekend"
    ps = signals(plain, feature_vector(plain))
    assert not ps.has_code and not ps.has_math and ps.questions == 0


def test_math_regex_prefilter_finds_exactly_what_the_pattern_finds() -> None:
    """The lookahead in front of the math regex is a speed-up only: the heads were trained
    on the plain pattern's match counts, so both must match the same spans everywhere."""
    reference = re.compile(MATH_PATTERN, re.IGNORECASE)
    labelled_file = Path(__file__).parents[1] / "data" / "labelled_prompts.jsonl"
    labelled = [json.loads(line)["prompt"] for line in labelled_file.read_text().splitlines()]
    # case folding and non-ASCII digits/letters the prefilter must not lose
    odd = ["ſum of 3", "SUM", "İnteger", "Prove it", "٣ + ٤", "x²+1", "50 %", "1/2", "3.5 * (2"]
    rng = random.Random(7)
    pieces = [*MATH_WORDS, *"SQRT Log \n 3 12.5 + / ( % π ≤ ſ x".split(" "), " "]
    fuzz = ["".join(rng.choices(pieces, k=rng.randint(1, 25))) for _ in range(3000)]
    for text in [*labelled, *odd, *fuzz]:
        assert MATH_REGEX.findall(text) == reference.findall(text), text


def test_domain_similarity_and_threshold(classifier: Classifier) -> None:
    names = ["cards", "cooking"]
    domains = classifier.embed_sync(
        ["Ordering, delivery and activation of bank cards.", "Recipes and cooking techniques."]
    )
    (res,) = classifier.classify_sync(["My new card still has not arrived, where is it?"])
    sims = similarities(res.embedding, names, domains)
    assert sims["cards"] > sims["cooking"]
    assert best_match(sims, threshold=-1.0) == "cards"
    assert best_match(sims, threshold=1.01) is None
    t = calibrated_threshold()
    assert 0.0 < t < 1.0 and DOCUMENTED_DEFAULT_THRESHOLD == 0.7


def test_each_precision_has_its_own_calibrated_threshold(tmp_path: Path) -> None:
    for precision in ("fp32", "int8"):
        assert 0.0 < calibrated_threshold(precision) < 1.0
    old = tmp_path / "manifest.json"  # a manifest from before per-precision calibration
    old.write_text(json.dumps({"domain_threshold": {"threshold": 0.4}}))
    assert calibrated_threshold("fp32", old) == 0.4
    with pytest.raises(ModelFilesMissingError, match="calibrated for the int8 graph"):
        calibrated_threshold("int8", old)


def test_a_new_export_revision_retags_quantised_embeddings(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Stored domain embeddings with another tag are recomputed (registry tests); a
    quantised graph's numbers change between export revisions, so its tag must too."""
    int8_now = contract.embedding_model_tag("int8")
    monkeypatch.setattr(contract, "EXPORT_VERSION", contract.EXPORT_VERSION + 1)
    assert contract.embedding_model_tag("int8") != int8_now
    assert contract.embedding_model_tag("fp32") == contract.ENCODER_NAME  # the reference


def test_int8_graph_agrees_with_fp32(classifier: Classifier, model_dir: Path) -> None:
    int8 = Classifier.from_model_dir(model_dir, intra_op_threads=2, precision="int8")
    texts = [c["prompt"] for c in GOLDEN] + PROMPTS[2:5]
    for a, b in zip(classifier.classify_sync(texts), int8.classify_sync(texts), strict=True):
        assert a.classification.task_type_1 == b.classification.task_type_1
        assert (
            abs(a.classification.small_model_failure - b.classification.small_model_failure) < 0.05
        )
        assert float(a.embedding @ b.embedding) > 0.95


@pytest.mark.parametrize("precision", ["fp32", "int8"])
def test_a_prompt_scores_the_same_alone_and_in_any_batch(model_dir: Path, precision: str) -> None:
    """The router batches concurrent requests; no answer may depend on the batch-mates (the
    int8 graph's per-tensor activation scales would make it so without row-wise runs)."""
    clf = Classifier.from_model_dir(model_dir, intra_op_threads=1, precision=precision)  # type: ignore[arg-type]
    texts = [c["prompt"] for c in GOLDEN] + PROMPTS + ["word " * 200, "ok"]
    alone = [clf.classify_sync([t])[0] for t in texts]
    for batch in (clf.classify_sync(texts), clf.classify_sync(texts[::-1])[::-1]):
        for a, b in zip(alone, batch, strict=True):
            np.testing.assert_allclose(a.embedding, b.embedding, atol=2e-6)
            assert a.classification.task_type_1 == b.classification.task_type_1
            assert a.classification.small_model_failure == pytest.approx(
                b.classification.small_model_failure, abs=2e-6
            )


def test_artifacts_are_small() -> None:
    total = sum(p.stat().st_size for p in ARTIFACTS_DIR.iterdir() if p.is_file())
    assert 0 < total < 2_000_000
    manifest = json.loads((ARTIFACTS_DIR / "manifest.json").read_text())
    assert manifest["encoder"] == contract.ENCODER_NAME
    assert manifest["files_read"], "the manifest must say which data files trained the heads"
