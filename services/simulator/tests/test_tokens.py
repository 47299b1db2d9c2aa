"""The token estimator against counts o200k_base (tiktoken) gives for the same text."""

from __future__ import annotations

import pytest

from modality.simulator.tokens import count_tokens, split_pieces

# (text, tokens in o200k_base), counted with a real o200k_base tokenizer
REFERENCE = [
    ("Hello, how are you today?", 7),
    ("What's the capital of France?", 6),
    ("Summarize the following contract clause: The party shall pay within 30 days.", 17),
    ("def f(x):\n    return x**2\n", 10),
    (
        "The supplier's aggregate liability under this Agreement shall not exceed the total "
        "fees paid by the Customer in the twelve (12) months preceding the claim.",
        29,
    ),
]


@pytest.mark.parametrize(("text", "expected"), REFERENCE)
def test_close_to_o200k(text: str, expected: int) -> None:
    assert abs(count_tokens(text) - expected) <= max(1, round(expected * 0.1))


def test_empty_and_long_texts() -> None:
    assert count_tokens("") == 0
    assert count_tokens("a") == 1
    long = "The quick brown fox jumps over the lazy dog. " * 500  # 10 tokens a sentence
    assert 4_500 <= count_tokens(long) <= 5_500


@pytest.mark.parametrize(
    "text", ["order_id", '{"a_b": [1, 22, 333, 4444]}', "naïve 東京 ² _x_\n\n\t y  ", "---==="]
)
def test_pieces_rebuild_the_text(text: str) -> None:
    assert "".join(split_pieces(text)) == text
