"""Token prices and cost arithmetic.

Prices are US dollars per million tokens. A registered model carries its own prices; the
table below only provides defaults for well-known provider models (public list prices
as of late 2025) so the fallback model has a price without configuration.
"""

from __future__ import annotations

from dataclasses import dataclass

PER_MILLION = 1_000_000


@dataclass(frozen=True, slots=True)
class Price:
    input_per_m: float
    output_per_m: float

    def cost(self, prompt_tokens: int, completion_tokens: int) -> float:
        return (
            prompt_tokens * self.input_per_m + completion_tokens * self.output_per_m
        ) / PER_MILLION


DEFAULT_PRICES: dict[str, Price] = {
    "gpt-4o": Price(2.50, 10.00),
    "gpt-4o-mini": Price(0.15, 0.60),
    "gpt-4.1": Price(2.00, 8.00),
    "gpt-4.1-mini": Price(0.40, 1.60),
    "gpt-4.1-nano": Price(0.10, 0.40),
    "accounts/fireworks/models/llama-v3p1-8b-instruct": Price(0.20, 0.20),
    "accounts/fireworks/models/llama-v3p1-70b-instruct": Price(0.90, 0.90),
}


def default_price(model: str) -> Price | None:
    return DEFAULT_PRICES.get(model)
