"""Routing policies: pure functions from what is known about a prompt to a ranked choice.

Every policy returns an ``Outcome``: the model to serve, the reason, a confidence in [0, 1]
and the ranked ``candidates`` the gateway tries in order on upstream errors. The ranking
always ends with the fallback model (it is never listed twice), so ``candidates[0]`` is the
chosen model and the gateway can escalate down the list without knowing any policy.
Models a policy rejected are not listed: the reason of the decision says why the fallback
was chosen.

Hard constraints (every policy but ``passthrough``): a candidate must support tools or
vision when the request uses them, must fit ``token_estimate + expected_completion_tokens``
in its context window (``capability``), and, when a classification is available, the
prompt's ``prompt_complexity_score`` must not exceed its ``complexity_ceiling``
(``too_complex``; models without a ceiling take the configured default, none by default).

- ``passthrough``: the customer's ``default_model``, else the fallback (reason
  ``default_model``). No classification.
- ``rules``: regex signals only (no model call). Code, maths or a long prompt
  (``> long_prompt_tokens``) → fallback (``rules``); else the customer's ``default_model``,
  else its most recently promoted active model (``rules``), unless that model lacks a
  capability the request needs (``capability``). Nothing to choose → ``no_candidates``.
- ``embedding``: cosine(prompt embedding, domain embedding) per active model. The most
  similar model with cosine ≥ threshold that passes the hard constraints is served
  (``domain_match``); otherwise the fallback, with the reason of the most similar model
  (``below_threshold``, ``capability`` or ``too_complex``).
- ``learned``: expected utility, see ``learned``'s docstring for the formula.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from modality.classifier.features import PromptSignals
from modality.classifier.postprocess import Classification
from modality.classifier.router.types import CandidateModel, CustomerRouting, FloatArray
from modality.common.pricing import PER_MILLION, Price
from modality.common.routing import Policy, RouteCandidate, RouteReason, RouteRequest

FALLBACK_ENTRY_REASON = "fallback"
"""Reason of the fallback's entry in ``candidates`` when a policy ranked it but did not
choose it (the escalation tail). ``RouteReason`` has no member for it."""

LEARNED_CONFIDENCE_SCALE = 0.05
"""Utility margin that gives a learned decision a confidence of ~0.73 (logistic scale)."""


@dataclass(frozen=True, slots=True)
class RouterParams:
    """Service-wide knobs the policies read (from settings)."""

    fallback_model: str
    fallback_price: Price
    threshold: float
    default_complexity_ceiling: float | None = None
    expected_completion_tokens: int = 256
    long_prompt_tokens: int = 2000


@dataclass(frozen=True, slots=True)
class PolicyInput:
    request: RouteRequest
    routing: CustomerRouting
    params: RouterParams
    signals: PromptSignals | None = None
    classification: Classification | None = None
    embedding: FloatArray | None = None  # L2-normalised prompt embedding

    @property
    def token_estimate(self) -> int:
        """The gateway's estimate of the whole request; the prompt's own if it sent none."""
        if self.request.token_estimate > 0:
            return self.request.token_estimate
        return self.signals.token_estimate if self.signals is not None else 0


@dataclass(frozen=True, slots=True)
class Outcome:
    model: str
    reason: str
    confidence: float
    candidates: list[RouteCandidate]


PolicyFn = Callable[[PolicyInput], Outcome]


# --- shared helpers ---------------------------------------------------------------------
def capability_ok(model: CandidateModel, inp: PolicyInput) -> bool:
    req = inp.request
    if req.has_tools and not model.supports_tools:
        return False
    if req.has_vision and not model.supports_vision:
        return False
    return inp.token_estimate + inp.params.expected_completion_tokens <= model.context_window


def too_complex(model: CandidateModel, inp: PolicyInput) -> bool:
    if inp.classification is None:
        return False
    ceiling = model.complexity_ceiling
    if ceiling is None:
        ceiling = inp.params.default_complexity_ceiling
    return ceiling is not None and inp.classification.prompt_complexity_score > ceiling


def rejection(model: CandidateModel, inp: PolicyInput) -> RouteReason | None:
    """Why ``model`` may not serve this request under the hard constraints, or None."""
    if not capability_ok(model, inp):
        return RouteReason.CAPABILITY
    if too_complex(model, inp):
        return RouteReason.TOO_COMPLEX
    return None


def request_cost(price: Price, prompt_tokens: int, completion_tokens: int) -> float:
    return (
        prompt_tokens * price.input_per_m + completion_tokens * price.output_per_m
    ) / PER_MILLION


def _with_fallback_tail(
    ranked: list[RouteCandidate], fallback: str, fallback_score: float, reason: str
) -> list[RouteCandidate]:
    if any(c.model == fallback for c in ranked):
        return ranked
    return [*ranked, RouteCandidate(model=fallback, score=fallback_score, reason=reason)]


def _fallback(inp: PolicyInput, reason: str, confidence: float, score: float = 0.0) -> Outcome:
    fb = inp.params.fallback_model
    return Outcome(
        fb, reason, _clip01(confidence), [RouteCandidate(model=fb, score=score, reason=reason)]
    )


def _clip01(x: float) -> float:
    return float(min(1.0, max(0.0, x)))


def _or_minus_inf(x: float | None) -> float:
    return -math.inf if x is None else x


def _r4(x: float) -> float:
    return round(float(x), 4)


# --- passthrough ------------------------------------------------------------------------
def passthrough(inp: PolicyInput) -> Outcome:
    model = inp.routing.default_model or inp.params.fallback_model
    reason = RouteReason.DEFAULT_MODEL.value
    ranked = [RouteCandidate(model=model, score=1.0, reason=reason)]
    return Outcome(
        model,
        reason,
        1.0,
        _with_fallback_tail(ranked, inp.params.fallback_model, 0.0, FALLBACK_ENTRY_REASON),
    )


# --- rules ------------------------------------------------------------------------------
def _rules_target(routing: CustomerRouting) -> tuple[str, CandidateModel | None] | None:
    by_name = {m.name: m for m in routing.models}
    if routing.default_model:
        return routing.default_model, by_name.get(routing.default_model)
    if not routing.models:
        return None
    newest = max(routing.models, key=lambda m: (m.promoted_at is not None, m.promoted_at, m.name))
    return newest.name, newest


def rules(inp: PolicyInput) -> Outcome:
    target = _rules_target(inp.routing)
    if target is None:
        return _fallback(inp, RouteReason.NO_CANDIDATES.value, 1.0)
    sig = inp.signals
    if sig is None:
        raise ValueError("the rules policy needs prompt signals")
    if sig.has_code or sig.has_math or inp.token_estimate > inp.params.long_prompt_tokens:
        return _fallback(inp, RouteReason.RULES.value, 1.0)
    name, model = target
    if model is not None:
        if not capability_ok(model, inp):
            return _fallback(inp, RouteReason.CAPABILITY.value, 1.0)
    elif inp.request.has_tools or inp.request.has_vision:
        # A default model outside the registry: its capabilities are unknown.
        return _fallback(inp, RouteReason.CAPABILITY.value, 1.0)
    reason = RouteReason.RULES.value
    ranked = [RouteCandidate(model=name, score=1.0, reason=reason)]
    return Outcome(
        name,
        reason,
        1.0,
        _with_fallback_tail(ranked, inp.params.fallback_model, 0.0, FALLBACK_ENTRY_REASON),
    )


# --- embedding similarity ---------------------------------------------------------------
def cosines(routing: CustomerRouting, embedding: FloatArray) -> list[float | None]:
    """Cosine of the prompt with each model's domain (None: the model has no embedding)."""
    out: list[float | None] = [None] * len(routing.models)
    if routing.matchable:
        sims = routing.domain_matrix @ embedding.astype(np.float32)
        for idx, sim in zip(routing.matchable, sims.tolist(), strict=True):
            out[idx] = float(sim)
    return out


def embedding(inp: PolicyInput) -> Outcome:
    """Serve the most similar eligible model whose cosine reaches the threshold.

    Confidence is the distance from the decision boundary: a match at cosine ``c`` has
    ``0.5 + 0.5 (c - t) / (1 - t)``; a fallback below the threshold has
    ``0.5 + 0.5 (t - c_best) / (1 + t)``; a fallback for a hard constraint (capability,
    complexity) has 1.0 (capability) or ``0.5 + 0.5 (score - ceiling) / (1 - ceiling)``.
    """
    models = inp.routing.models
    if not models:
        return _fallback(inp, RouteReason.NO_CANDIDATES.value, 1.0)
    if inp.embedding is None:
        raise ValueError("the embedding policy needs the prompt embedding")
    t = inp.params.threshold
    sims = cosines(inp.routing, inp.embedding)
    order = sorted(range(len(models)), key=lambda i: _or_minus_inf(sims[i]), reverse=True)
    eligible: list[RouteCandidate] = []
    first_rejection: tuple[RouteReason, int] | None = None
    for i in order:
        sim = sims[i]
        if sim is None or sim < t:
            reason: RouteReason | None = RouteReason.BELOW_THRESHOLD
        else:
            reason = rejection(models[i], inp)
        if reason is None:
            eligible.append(
                RouteCandidate(
                    model=models[i].name,
                    score=_r4(sim or 0.0),
                    reason=RouteReason.DOMAIN_MATCH.value,
                )
            )
        elif first_rejection is None:
            first_rejection = (reason, i)
    if eligible:
        best = eligible[0].score
        confidence = 0.5 + 0.5 * (best - t) / (1.0 - t) if t < 1.0 else 1.0
        ranked = _with_fallback_tail(
            eligible, inp.params.fallback_model, _r4(t), FALLBACK_ENTRY_REASON
        )
        return Outcome(
            eligible[0].model, RouteReason.DOMAIN_MATCH.value, _clip01(confidence), ranked
        )
    assert first_rejection is not None
    reason, i = first_rejection
    best_sim = sims[i]
    if reason is RouteReason.BELOW_THRESHOLD:
        c = -1.0 if best_sim is None else best_sim
        confidence = 0.5 + 0.5 * (t - c) / (1.0 + t) if t > -1.0 else 1.0
    elif reason is RouteReason.TOO_COMPLEX and inp.classification is not None:
        ceiling = models[i].complexity_ceiling
        if ceiling is None:
            ceiling = inp.params.default_complexity_ceiling or 0.0
        excess = inp.classification.prompt_complexity_score - ceiling
        confidence = 0.5 + 0.5 * excess / (1.0 - ceiling) if ceiling < 1.0 else 1.0
    else:
        confidence = 1.0
    return _fallback(inp, reason.value, confidence, score=_r4(t))


# --- learned: quality - alpha·cost ----------------------------------------------------------
def learned(inp: PolicyInput) -> Outcome:
    """Maximise expected utility ``U(m) = q(m) - alpha · cost(m) / cost(fallback)``.

    - ``q(m) = 1 - small_model_failure`` for a ``small``-tier model (the classifier's
      predicted probability that a small model fails this prompt), ``q = 1`` for a
      ``large``-tier model and for the fallback;
    - ``cost(m) = (T_in · price_in(m) + T_out · price_out(m)) / 10⁶`` dollars with
      ``T_in`` the request's token estimate and ``T_out`` the expected completion length;
    - ``alpha`` is the customer's ``routing_alpha``: how much quality (in probability of a
      good answer) the customer gives up to save the full price of one fallback call.
      ``U(fallback) = 1 - alpha``, so a small model wins when
      ``small_model_failure < alpha · (1 - cost(m)/cost(fallback))``.
    - If the fallback has no price, costs are divided by the largest candidate cost
      instead (or not at all when every price is zero).

    Candidates failing a hard constraint are not scored. The ranking lists every scored
    model down to the fallback (models worth less than the fallback are never tried).
    Confidence is ``sigmoid((U₁ - U₂) / 0.05)`` with ``U₂`` the runner-up, 1.0 when alone.
    """
    models = inp.routing.models
    if not models:
        return _fallback(inp, RouteReason.NO_CANDIDATES.value, 1.0)
    cls = inp.classification
    if cls is None:
        raise ValueError("the learned policy needs a classification")
    t_in, t_out = inp.token_estimate, inp.params.expected_completion_tokens
    fb = inp.params.fallback_model
    fb_cost = request_cost(inp.params.fallback_price, t_in, t_out)
    costs = [request_cost(m.price, t_in, t_out) for m in models]
    norm = fb_cost if fb_cost > 0 else (max(costs) if max(costs) > 0 else 1.0)
    alpha = inp.routing.alpha
    p_fail = cls.small_model_failure

    scored: list[tuple[float, str]] = [(1.0 - alpha * fb_cost / norm, fb)]
    rejected: list[tuple[float, RouteReason]] = []
    for m, cost in zip(models, costs, strict=True):
        quality = 1.0 if m.tier == "large" else 1.0 - p_fail
        utility = quality - alpha * cost / norm
        reason = rejection(m, inp)
        if reason is None:
            scored.append((utility, m.name))
        else:
            rejected.append((utility, reason))
    if len(scored) == 1:
        if rejected:
            reason = max(rejected, key=lambda r: r[0])[1]
            return _fallback(inp, reason.value, 1.0, score=_r4(scored[0][0]))
        return _fallback(inp, RouteReason.LEARNED.value, 1.0, score=_r4(scored[0][0]))
    # Stable: on a tie the fallback (listed first) wins.
    scored.sort(key=lambda s: -s[0])
    margin = scored[0][0] - scored[1][0]
    confidence = 1.0 / (1.0 + math.exp(-margin / LEARNED_CONFIDENCE_SCALE))
    ranked: list[RouteCandidate] = []
    for utility, name in scored:
        entry_reason = FALLBACK_ENTRY_REASON if name == fb and ranked else RouteReason.LEARNED.value
        ranked.append(RouteCandidate(model=name, score=_r4(utility), reason=entry_reason))
        if name == fb:
            break
    return Outcome(scored[0][1], RouteReason.LEARNED.value, _clip01(confidence), ranked)


POLICIES: dict[Policy, PolicyFn] = {
    Policy.PASSTHROUGH: passthrough,
    Policy.RULES: rules,
    Policy.EMBEDDING: embedding,
    Policy.LEARNED: learned,
}

NEEDS_MODEL: frozenset[Policy] = frozenset({Policy.EMBEDDING, Policy.LEARNED})
"""Policies that call the classifier (the others use regex signals or nothing)."""
