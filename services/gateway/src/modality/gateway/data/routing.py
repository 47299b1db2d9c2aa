"""Turning a request into an ordered list of models to try.

Explicit model: that model only (reason ``explicit``, policy ``passthrough``), no NATS
hop. ``auto``: ask the router over NATS request/reply within ``router_timeout_ms``; its
decision's model and ranked candidates are tried in order, then the fallback. If the
router is silent (timeout, no responders) or answers with an error or garbage, the
request goes to the fallback with reason ``router_timeout``/``router_error`` — the
router never fails a request. Candidates the customer may not call (or that no longer
exist) are skipped, whatever the router said.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

import nats.errors
import orjson
from nats.aio.client import Client as NATS
from pydantic import ValidationError

from modality.common import subjects
from modality.common.routing import Policy, RouteDecision, RouteError, RouteReason, RouteRequest
from modality.gateway.data.catalog import Catalog, ModelEntry
from modality.gateway.data.metrics import DataPlaneMetrics
from modality.gateway.data.protocol import ChatRequest, prompt_features

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class RoutePlan:
    attempts: tuple[ModelEntry, ...]  # never empty
    reason: str
    policy: str


def explicit_plan(model: ModelEntry) -> RoutePlan:
    return RoutePlan((model,), RouteReason.EXPLICIT.value, Policy.PASSTHROUGH.value)


def fallback_plan(catalog: Catalog, customer_id: str, reason: RouteReason) -> RoutePlan:
    return RoutePlan((catalog.fallback,), reason.value, catalog.policy(customer_id))


def plan_from_decision(decision: RouteDecision, catalog: Catalog, customer_id: str) -> RoutePlan:
    ordered: list[ModelEntry] = []
    seen: set[str] = set()
    for name in (decision.model, *(c.model for c in decision.candidates)):
        if name in seen:
            continue
        seen.add(name)
        entry = catalog.resolve(customer_id, name)
        if entry is None:
            log.warning(
                "router proposed %r, which customer %s cannot call; skipped", name, customer_id
            )
            continue
        ordered.append(entry)
    if catalog.fallback.name not in seen:
        ordered.append(catalog.fallback)
    return RoutePlan(tuple(ordered), decision.reason, decision.policy)


class RouterClient:
    def __init__(
        self, nc: NATS, metrics: DataPlaneMetrics, *, timeout_ms: float, prompt_max_chars: int
    ) -> None:
        self._nc = nc
        self._metrics = metrics
        self._timeout_s = timeout_ms / 1000.0
        self._prompt_max_chars = prompt_max_chars

    async def plan(
        self,
        request_id: str,
        customer_id: str,
        chat: ChatRequest,
        session_id: str | None,
        catalog: Catalog,
    ) -> RoutePlan:
        features = prompt_features(chat.body["messages"], self._prompt_max_chars)
        route_request = RouteRequest(
            request_id=request_id,
            customer_id=customer_id,
            prompt=features.last_user_text,
            system_prompt_digest=features.system_digest,
            token_estimate=features.token_estimate,
            has_tools=chat.has_tools,
            has_vision=features.has_vision,
            session_id=session_id or chat.user,
        )
        started = time.perf_counter()
        try:
            reply = await self._nc.request(
                subjects.ROUTE_DECIDE,
                route_request.model_dump_json().encode(),
                timeout=self._timeout_s,
            )
        except (nats.errors.TimeoutError, nats.errors.NoRespondersError) as exc:
            self._metrics.router_outcomes.labels("timeout").inc()
            log.debug("router silent for %s: %r", request_id, exc)
            return fallback_plan(catalog, customer_id, RouteReason.ROUTER_TIMEOUT)
        except nats.errors.Error as exc:
            self._metrics.router_outcomes.labels("error").inc()
            log.warning("route.decide failed for %s: %r", request_id, exc)
            return fallback_plan(catalog, customer_id, RouteReason.ROUTER_ERROR)
        finally:
            self._metrics.router_latency.observe(time.perf_counter() - started)
        try:
            decision = RouteDecision.model_validate_json(reply.data)
        except ValidationError:
            self._metrics.router_outcomes.labels("error").inc()
            log.warning(
                "router could not decide %s: %s", request_id, _router_error_text(reply.data)
            )
            return fallback_plan(catalog, customer_id, RouteReason.ROUTER_ERROR)
        self._metrics.router_outcomes.labels("decided").inc()
        return plan_from_decision(decision, catalog, customer_id)


def _router_error_text(data: bytes) -> str:
    try:
        return RouteError.model_validate_json(data).error
    except ValidationError:
        try:
            return f"unreadable reply {orjson.loads(data)!r:.200}"
        except orjson.JSONDecodeError:
            return f"unreadable reply {data[:200]!r}"
