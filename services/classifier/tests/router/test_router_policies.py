"""Routing policies and the decide logic, with a fake classifier and an in-memory store."""

from __future__ import annotations

import math
from typing import Any

import pytest

from modality.classifier.router.policies import FALLBACK_ENTRY_REASON, RouterParams, request_cost
from modality.classifier.router.registry import Registry
from modality.classifier.router.service import RouterService
from modality.common.pricing import Price
from modality.common.routing import RouteDecision, RouteRequest

FALLBACK = "gpt-4o"
LEGAL = "review lease contract clause termination landlord tenant"
BANKING = "card payment refund transfer bank account"


def params(**kw: Any) -> RouterParams:
    base: dict[str, Any] = {
        "fallback_model": FALLBACK,
        "fallback_price": Price(2.5, 10.0),
        "threshold": 0.5,
    }
    base.update(kw)
    return RouterParams(**base)


def request(prompt: str, customer_id: str = "cus_a", **kw: Any) -> RouteRequest:
    return RouteRequest(request_id="req_1", customer_id=customer_id, prompt=prompt, **kw)


@pytest.fixture
def router(fake_classifier: Any, store: Any) -> Any:
    def build(**kw: Any) -> RouterService:
        return RouterService(fake_classifier, Registry(store, fake_classifier.embed), params(**kw))

    return build


async def decide(service: RouterService, prompt: str, **kw: Any) -> RouteDecision:
    return await service.decide(request(prompt, **kw))


# --- embedding ---------------------------------------------------------------------------
async def test_embedding_routes_a_matching_prompt_to_the_domain_model(
    router: Any, store: Any, records: Any
) -> None:
    store.add(
        records.customer(),
        records.model("legal-small", domain_description=LEGAL),
        records.model("bank-small", domain_description=BANKING),
    )
    d = await decide(
        router(), "review this lease contract clause about termination by the landlord"
    )
    assert (d.model, d.policy, d.reason) == ("legal-small", "embedding", "domain_match")
    assert [c.model for c in d.candidates] == ["legal-small", FALLBACK]
    assert (
        d.candidates[0].reason == "domain_match"
        and d.candidates[-1].reason == FALLBACK_ENTRY_REASON
    )
    assert d.candidates[0].score >= 0.5 and 0.5 <= d.confidence <= 1.0
    assert d.fallback_model == FALLBACK
    assert d.classification is not None and d.classification[
        "small_model_failure"
    ] == pytest.approx(0.1)


async def test_embedding_ranks_every_eligible_model_by_cosine(
    router: Any, store: Any, records: Any
) -> None:
    store.add(
        records.customer(),
        records.model("a", domain_description="card payment refund"),
        records.model("b", domain_description="card payment refund transfer bank account"),
    )
    d = await decide(router(threshold=0.3), "card payment refund transfer bank account please")
    assert [c.model for c in d.candidates] == ["b", "a", FALLBACK]
    assert d.candidates[0].score > d.candidates[1].score


async def test_embedding_below_threshold_falls_back(router: Any, store: Any, records: Any) -> None:
    store.add(records.customer(), records.model("legal-small", domain_description=LEGAL))
    d = await decide(router(), "what is a good recipe for banana bread")
    assert (d.model, d.reason) == (FALLBACK, "below_threshold")
    assert [c.model for c in d.candidates] == [FALLBACK]
    assert d.confidence > 0.5


async def test_threshold_is_a_parameter(router: Any, store: Any, records: Any) -> None:
    store.add(records.customer(), records.model("legal-small", domain_description=LEGAL))
    prompt = "the tenant asks about the lease"  # shares two words out of six
    low, high = (
        await decide(router(threshold=0.2), prompt),
        await decide(router(threshold=0.9), prompt),
    )
    assert (low.model, high.model, high.reason) == ("legal-small", FALLBACK, "below_threshold")


@pytest.mark.parametrize(
    ("flags", "model_kw", "expected"),
    [
        ({"has_tools": True}, {}, (FALLBACK, "capability")),
        ({"has_tools": True}, {"supports_tools": True}, ("legal-small", "domain_match")),
        ({"has_vision": True}, {"supports_tools": True}, (FALLBACK, "capability")),
        ({"has_vision": True}, {"supports_vision": True}, ("legal-small", "domain_match")),
        ({"token_estimate": 8000}, {"context_window": 8192}, (FALLBACK, "capability")),
        ({"token_estimate": 8000}, {"context_window": 32768}, ("legal-small", "domain_match")),
    ],
)
async def test_capabilities_the_model_lacks_fall_back(
    router: Any,
    store: Any,
    records: Any,
    flags: dict[str, Any],
    model_kw: dict[str, Any],
    expected: tuple[str, str],
) -> None:
    store.add(
        records.customer(), records.model("legal-small", domain_description=LEGAL, **model_kw)
    )
    d = await decide(router(), LEGAL, **flags)
    assert (d.model, d.reason) == expected


async def test_a_capable_second_model_serves_when_the_best_match_lacks_a_capability(
    router: Any, store: Any, records: Any
) -> None:
    store.add(
        records.customer(),
        records.model("exact", domain_description=LEGAL),
        records.model("close", domain_description=LEGAL + " lawyer", supports_tools=True),
    )
    d = await decide(router(), LEGAL, has_tools=True)
    assert (d.model, d.reason) == ("close", "domain_match")
    assert [c.model for c in d.candidates] == ["close", FALLBACK]


async def test_complexity_above_the_ceiling_falls_back(
    router: Any, store: Any, records: Any, fake_classifier: Any
) -> None:
    store.add(
        records.customer(),
        records.model("legal-small", domain_description=LEGAL, complexity_ceiling=0.5),
    )
    fake_classifier.complexity = 0.4
    assert (await decide(router(), LEGAL)).model == "legal-small"
    fake_classifier.complexity = 0.7
    d = await decide(router(), LEGAL)
    assert (d.model, d.reason) == (FALLBACK, "too_complex")
    assert d.confidence == pytest.approx(0.5 + 0.5 * 0.2 / 0.5)


async def test_default_ceiling_applies_to_models_without_one(
    router: Any, store: Any, records: Any, fake_classifier: Any
) -> None:
    store.add(records.customer(), records.model("legal-small", domain_description=LEGAL))
    fake_classifier.complexity = 0.7
    assert (await decide(router(), LEGAL)).model == "legal-small"
    d = await decide(router(default_complexity_ceiling=0.6), LEGAL)
    assert (d.model, d.reason) == (FALLBACK, "too_complex")


async def test_no_active_models_means_no_candidates_without_calling_the_model(
    router: Any, store: Any, records: Any, fake_classifier: Any
) -> None:
    store.add(
        records.customer(), records.model("retired", domain_description=LEGAL, status="retired")
    )
    d = await decide(router(), LEGAL)
    assert (d.model, d.reason, d.confidence) == (FALLBACK, "no_candidates", 1.0)
    assert d.classification is None and fake_classifier.classify_calls == []


async def test_a_model_without_embedding_or_description_is_never_matched(
    router: Any, store: Any, records: Any
) -> None:
    store.add(records.customer(), records.model("mystery"))
    d = await decide(router(), LEGAL)
    assert (d.model, d.reason) == (FALLBACK, "below_threshold")


async def test_unknown_customer_gets_the_default_policy(router: Any) -> None:
    d = await decide(router(), LEGAL, customer_id="cus_nobody")
    assert (d.model, d.policy, d.reason) == (FALLBACK, "embedding", "no_candidates")


# --- passthrough -------------------------------------------------------------------------
async def test_passthrough_uses_the_default_model_else_the_fallback(
    router: Any, store: Any, records: Any, fake_classifier: Any
) -> None:
    store.add(
        records.customer("cus_a", "passthrough", default_model="legal-small"),
        records.customer("cus_b", "passthrough"),
        records.model("legal-small", domain_description=LEGAL),
    )
    service = router()
    a = await decide(service, "anything at all", customer_id="cus_a")
    b = await decide(service, "anything at all", customer_id="cus_b")
    assert (a.model, a.policy, a.reason) == ("legal-small", "passthrough", "default_model")
    assert [c.model for c in a.candidates] == ["legal-small", FALLBACK]
    assert (b.model, b.reason) == (FALLBACK, "default_model")
    assert [c.model for c in b.candidates] == [FALLBACK]
    assert fake_classifier.classify_calls == []


# --- rules -------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("prompt", "flags", "expected"),
    [
        ("Summarise the attached lease in two sentences.", {}, ("newest", "rules")),
        ("Fix this:\n```python\ndef f(x):\n    return x +\n```", {}, (FALLBACK, "rules")),
        (
            "Solve the equation 3x + 7 = 22 and prove it is the only integer solution.",
            {},
            (FALLBACK, "rules"),
        ),
        ("Summarise this.", {"token_estimate": 5000}, (FALLBACK, "rules")),
        ("Summarise this.", {"has_tools": True}, (FALLBACK, "capability")),
        ("Describe the picture.", {"has_vision": True}, ("newest", "rules")),
    ],
)
async def test_rules_policy(
    router: Any,
    store: Any,
    records: Any,
    fake_classifier: Any,
    prompt: str,
    flags: dict[str, Any],
    expected: tuple[str, str],
) -> None:
    from datetime import UTC, datetime

    store.add(
        records.customer(policy="rules"),
        records.model("older", promoted_at=datetime(2025, 1, 1, tzinfo=UTC)),
        records.model("newest", supports_vision=True, promoted_at=datetime(2026, 6, 1, tzinfo=UTC)),
    )
    d = await decide(router(), prompt, **flags)
    assert (d.model, d.reason) == expected and d.policy == "rules"
    assert d.candidates[-1].model == FALLBACK and d.candidates[0].model == d.model
    assert fake_classifier.classify_calls == []


async def test_rules_prefers_the_default_model_and_needs_a_target(
    router: Any, store: Any, records: Any
) -> None:
    store.add(
        records.customer("cus_a", "rules", default_model="gpt-4o-mini"),
        records.customer("cus_b", "rules"),
        records.model("newest"),
    )
    service = router()
    assert (await decide(service, "Hello there", customer_id="cus_a")).model == "gpt-4o-mini"
    d = await decide(service, "Hello there", customer_id="cus_b")
    assert (d.model, d.reason) == (FALLBACK, "no_candidates")
    tools = await decide(service, "Hello there", customer_id="cus_a", has_tools=True)
    assert (tools.model, tools.reason) == (FALLBACK, "capability")


# --- learned -----------------------------------------------------------------------------
async def test_learned_trades_quality_for_cost_with_alpha(
    router: Any, store: Any, records: Any, fake_classifier: Any
) -> None:
    fake_classifier.failure = 0.3
    store.add(
        records.customer("cus_cheap", "learned", alpha=1.0),
        records.customer("cus_quality", "learned", alpha=0.1),
        records.model("small", "cus_cheap", id="m1", input_price_per_m=0.2, output_price_per_m=0.2),
        records.model(
            "small", "cus_quality", id="m2", input_price_per_m=0.2, output_price_per_m=0.2
        ),
    )
    service = router(expected_completion_tokens=200)
    req_kw = {"token_estimate": 1000}
    cheap = await decide(service, "Summarise this report.", customer_id="cus_cheap", **req_kw)
    quality = await decide(service, "Summarise this report.", customer_id="cus_quality", **req_kw)

    fb_cost = request_cost(Price(2.5, 10.0), 1000, 200)
    small_cost = request_cost(Price(0.2, 0.2), 1000, 200)
    scores = {c.model: c.score for c in cheap.candidates}
    assert scores["small"] == pytest.approx(1 - 0.3 - 1.0 * small_cost / fb_cost, abs=1e-4)
    assert scores[FALLBACK] == pytest.approx(1 - 1.0, abs=1e-4)
    assert quality.candidates[0].score == pytest.approx(1 - 0.1, abs=1e-4)
    # U(small) = 0.7 - 0.1 * cost ratio < U(fallback) = 0.9
    assert (cheap.model, cheap.reason) == ("small", "learned")
    assert [c.model for c in cheap.candidates] == ["small", FALLBACK]
    assert cheap.candidates[-1].reason == FALLBACK_ENTRY_REASON
    assert (quality.model, quality.reason) == (FALLBACK, "learned")
    assert [c.model for c in quality.candidates] == [FALLBACK]  # the small model is worth less
    margin = 0.9 - (0.7 - 0.1 * small_cost / fb_cost)
    assert quality.confidence == pytest.approx(1 / (1 + math.exp(-margin / 0.05)), abs=1e-3)
    assert cheap.confidence > quality.confidence


async def test_learned_follows_the_predicted_failure(
    router: Any, store: Any, records: Any, fake_classifier: Any
) -> None:
    store.add(records.customer(policy="learned", alpha=0.5), records.model("small"))
    service = router()
    fake_classifier.failure = 0.05
    assert (await decide(service, "Classify this ticket.")).model == "small"
    fake_classifier.failure = 0.9
    assert (await decide(service, "Classify this ticket.")).model == FALLBACK


async def test_learned_treats_large_tier_models_as_full_quality(
    router: Any, store: Any, records: Any, fake_classifier: Any
) -> None:
    fake_classifier.failure = 0.9
    store.add(
        records.customer(policy="learned", alpha=1.0),
        records.model("own-large", tier="large", input_price_per_m=1.0, output_price_per_m=1.0),
        records.model("small"),
    )
    d = await decide(router(), "Draft a reply.", token_estimate=500)
    assert d.model == "own-large"
    assert d.candidates[0].model == "own-large"


async def test_learned_respects_hard_constraints(
    router: Any, store: Any, records: Any, fake_classifier: Any
) -> None:
    fake_classifier.failure = 0.0
    store.add(records.customer(policy="learned"), records.model("small"))
    d = await decide(router(), "Call the weather tool.", has_tools=True)
    assert (d.model, d.reason) == (FALLBACK, "capability")


async def test_learned_tie_goes_to_the_fallback(
    router: Any, store: Any, records: Any, fake_classifier: Any
) -> None:
    # Free small model, alpha 0.5, failure 0.5: U(small) = 0.5 = U(fallback).
    fake_classifier.failure = 0.5
    store.add(
        records.customer(policy="learned", alpha=0.5),
        records.model("small", input_price_per_m=0.0, output_price_per_m=0.0),
    )
    d = await decide(router(), "Anything.")
    assert d.model == FALLBACK and d.confidence == pytest.approx(0.5)
