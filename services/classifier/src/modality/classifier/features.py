# ruff: noqa: RUF001, E501  (the regexes match full-width CJK punctuation and are long)
"""Cheap regex features of a prompt (well under 1 ms for ordinary prompts).

``feature_vector`` gives the model's ``features`` input (column order in
``contract.FEATURE_NAMES``, each roughly on a 0-1 scale); ``PromptSignals`` gives the same
facts in readable form for routing policies, together with the caller's tools/vision flags
(those never enter the model: no training data carries them).
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from typing import Any

import numpy as np
from numpy.typing import NDArray
from pydantic import BaseModel, ConfigDict

from modality.classifier import contract

_SCAN_CHARS = 20_000
"""Regexes look at most at this many characters (start and end of the prompt)."""

_CODE_BLOCK = re.compile(r"```|~~~")
_CODE_LINE = re.compile(
    r"^\s*(?:def |class |import |from \S+ import |#include|public |private |static |"
    r"function\b|const |let |var |return\b|if\s*\(|for\s*\(|while\s*\(|}\s*$|\{\s*$|"
    r"SELECT |INSERT |CREATE TABLE|<\w+[^>]*>|@\w+|\w+\s*=\s*[^=]|//|/\*|\*/|>>>)",
    re.MULTILINE,
)
_CODE_TOKEN = re.compile(
    r"[{};]|==|!=|=>|->|::|\+\+|&&|\|\||\w+\(\)|\w+\.\w+\(|\b(?:def|lambda|async|await|"
    r"elif|println|printf|console\.log|std::|null|None|True|False|nullptr)\b|[a-z]+_[a-z_]+"
)
MATH_WORDS = (
    "sum", "product", "integer", "equation", "solve", "probability", "derivative",
    "integral", "remainder", "divisible", "prime", "percent", "ratio", "average",
    "polynomial", "sqrt", "log", "sin", "cos", "matrix", "vector", "theorem", "prove",
)  # fmt: skip
_MATH_SYMBOLS = "∑∫√π≤≥≠∞"
MATH_PATTERN = (
    r"\d+(?:\.\d+)?\s*[-+*/^×÷=<>]\s*\(?\d"
    rf"|\b(?:{'|'.join(MATH_WORDS)})\b|[{_MATH_SYMBOLS}]|%|\d+/\d+"
)
"""What counts as math (case-insensitive); the heads were trained on its match counts."""
_MATH_STARTS = "".join(sorted({w[0] for w in MATH_WORDS}))
MATH_REGEX = re.compile(
    # The lookahead lists every character a match can start with, so the engine skips the
    # other positions cheaply: the same matches as MATH_PATTERN alone (tested), in about
    # half the time on long prompts, where this regex was the costliest feature.
    rf"(?=[\d%{_MATH_SYMBOLS}{_MATH_STARTS}])(?:{MATH_PATTERN})",
    re.IGNORECASE,
)
_LATEX = re.compile(r"\$[^$\n]+\$|\\(?:frac|sqrt|cdot|times|left|right|begin|sum|int|pi)\b")
_CJK = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff]")
_QUESTION = re.compile(r"[?？]")
_FEW_SHOT = re.compile(
    r"^(?:Answer|A|Output|Label|Sentiment|Category|Response|Solution|Example \d+)\s*[:：]"
    r"|^(?:Q|Question|Input|Text|Review|Sentence|Example)\s*\d*\s*[:：]|答案[:：]",
    re.MULTILINE | re.IGNORECASE,
)
_CHOICE = re.compile(r"^\s*\(?[A-Ea-e][).:]\s+\S", re.MULTILINE)
_LIST_ITEM = re.compile(r"^\s*(?:[-*•]|\d+[.)])\s+\S", re.MULTILINE)
_WORD = re.compile(r"\w+")

_INSTRUCTION_CHARS = 300
"""Instruction verbs are looked for where instructions sit: the start and end of a prompt."""
_VERBS = {
    "verb_summarize": r"\b(?:summari[sz]e|summary|tl;?dr|key points|main points|in (?:one|a single|two) sentences?|gist)\b",
    "verb_rewrite": r"\b(?:rewrite|rephrase|paraphrase|reword|proofread|fix (?:the )?(?:grammar|spelling|typos)|make (?:it|this) (?:more|less|sound)|simplify|polish|edit this)\b",
    "verb_extract": r"\b(?:extract|pull out|list (?:all|every) (?:the )?(?:names|dates|numbers|entities)|identify (?:all|every)|find (?:all|every)|parse|which (?:ingredients|dates|names))\b",
    "verb_classify": r"\b(?:classify|categori[sz]e|label|sentiment|which (?:category|class)|is (?:this|the following) (?:email|message|text|review) (?:spam|positive|negative)|spam or not|assign (?:each|a|one) (?:\w+ )?(?:to|category))\b",
    "verb_write": r"\b(?:write|compose|draft|create|generate) (?:a|an|me|the|some|\d+)\b|\b(?:story|poem|haiku|sonnet|limerick|essay|lyrics|blog post|cover letter|product description)\b",
    "verb_brainstorm": r"\b(?:brainstorm|ideas?|suggest(?:ions)?|come up with|list (?:\d+|some|a few|ten|five)|name ideas|what are some)\b",
    "verb_translate": r"\b(?:translate|translation|in (?:french|spanish|german|japanese|chinese|english|italian|portuguese))\b",
    "verb_code": r"\b(?:function|script|code|program|implement|sql|query|regex|class|api|algorithm|debug|compile|python|javascript|java|rust|golang|typescript|c\+\+)\b",
}
_VERB_RES = {name: re.compile(pattern, re.IGNORECASE) for name, pattern in _VERBS.items()}
_WH = re.compile(
    r"^\s*(?:who|what|when|where|why|how|which|is|are|can|does|do|did|should|could)\b",
    re.IGNORECASE,
)


class PromptSignals(BaseModel):
    """Readable cheap signals for policies (capabilities, context length, language)."""

    model_config = ConfigDict(frozen=True)

    chars: int
    token_estimate: int
    has_code: bool
    has_math: bool
    language: str  # "en" (mostly ASCII), "cjk", or "other"
    questions: int
    has_tools: bool = False
    has_vision: bool = False


def _scan_text(text: str) -> str:
    if len(text) <= _SCAN_CHARS:
        return text
    return text[: _SCAN_CHARS // 4] + "\n" + text[-(3 * _SCAN_CHARS) // 4 :]


def _log_scaled(count: float, scale: float) -> float:
    return math.log1p(count) / math.log1p(scale)


def token_estimate(text: str) -> int:
    """Rough LLM token count: ~4 characters a token for Latin text, ~1 per CJK character."""
    cjk = (
        len(_CJK.findall(text))
        if len(text) <= _SCAN_CHARS
        else int(len(text) * len(_CJK.findall(_scan_text(text))) / _SCAN_CHARS)
    )
    return max(1, math.ceil((len(text) - cjk) / 4 + cjk))


def feature_vector(text: str) -> NDArray[Any]:
    """The model's ``features`` row for one prompt (float32, ``NUM_FEATURES`` long)."""
    scan = _scan_text(text)
    n_scan = max(len(scan), 1)
    lines = scan.count("\n") + 1
    code_lines = len(_CODE_LINE.findall(scan))
    words = max(len(_WORD.findall(scan)), 1)
    ascii_chars = len(scan.encode("ascii", "ignore"))  # the characters below 128
    cjk = len(_CJK.findall(scan))
    zone = (
        text
        if len(text) <= 2 * _INSTRUCTION_CHARS
        else (text[:_INSTRUCTION_CHARS] + "\n" + text[-_INSTRUCTION_CHARS:])
    )
    values = (
        _log_scaled(len(text), 20_000),
        _log_scaled(token_estimate(text), 5_000),
        _log_scaled(text.count("\n") + 1, 500),
        1.0 if _CODE_BLOCK.search(scan) else 0.0,
        min(code_lines / lines, 1.0),
        min(len(_CODE_TOKEN.findall(scan)) / words, 1.0),
        min(len(MATH_REGEX.findall(scan)) / words * 4, 1.0),
        1.0 if _LATEX.search(scan) else 0.0,
        ascii_chars / n_scan,
        cjk / n_scan,
        _log_scaled(len(_QUESTION.findall(scan)), 50),
        _log_scaled(len(_FEW_SHOT.findall(scan)), 50),
        min(len(_CHOICE.findall(scan)) / 4, 1.0),
        _log_scaled(len(_LIST_ITEM.findall(scan)), 50),
        *(1.0 if rx.search(zone) else 0.0 for rx in _VERB_RES.values()),
        1.0 if _WH.search(text[:_INSTRUCTION_CHARS]) else 0.0,
    )
    return np.asarray(values, dtype=np.float32)


def feature_matrix(texts: Sequence[str]) -> NDArray[Any]:
    if not texts:
        return np.zeros((0, contract.NUM_FEATURES), dtype=np.float32)
    return np.stack([feature_vector(t) for t in texts])


def signals(
    text: str, row: NDArray[Any], *, has_tools: bool = False, has_vision: bool = False
) -> PromptSignals:
    """Readable signals from a prompt and its already computed feature row."""
    col = {name: float(row[i]) for i, name in enumerate(contract.FEATURE_NAMES)}
    if col["cjk_ratio"] >= 0.2:
        language = "cjk"
    elif col["ascii_ratio"] >= 0.9:
        language = "en"
    else:
        language = "other"
    scan = _scan_text(text)
    return PromptSignals(
        chars=len(text),
        token_estimate=token_estimate(text),
        has_code=col["code_block"] > 0 or col["code_line_ratio"] >= 0.3,
        has_math=col["latex"] > 0 or col["math_density"] >= 0.2,
        language=language,
        questions=len(_QUESTION.findall(scan)),
        has_tools=has_tools,
        has_vision=has_vision,
    )
