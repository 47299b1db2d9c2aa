"""Latency and failure injection, from the model's profile and per-request headers.

Headers (all optional):
  x-sim-fail-status: 429|500|503|...   answer with this error status
  x-sim-fail-rate: 0..1                probability of that failure (default 1)
  x-sim-timeout: 1                     never answer; hold the connection until the client
                                       gives up (bounded by max_hang_s, then 504)
  x-sim-cut-after-chunks: N            streaming: drop the connection after N SSE events,
                                       without [DONE]; non-streaming: drop it before answering
  x-sim-ttft-ms, x-sim-tokens-per-s    override the latency profile
  x-sim-completion-tokens: N           override the natural completion length
"""

from __future__ import annotations

import asyncio
import math
import random
from collections.abc import Mapping
from dataclasses import dataclass

from aiohttp import web

from modality.simulator.errors import InjectedFault, InvalidRequest
from modality.simulator.settings import ModelProfile, SimulatorSettings

FAIL_STATUS = "x-sim-fail-status"
FAIL_RATE = "x-sim-fail-rate"
TIMEOUT = "x-sim-timeout"
CUT_AFTER = "x-sim-cut-after-chunks"
TTFT = "x-sim-ttft-ms"
TOKENS_PER_S = "x-sim-tokens-per-s"
COMPLETION_TOKENS = "x-sim-completion-tokens"
TRUTHY = ("1", "true", "yes", "on")


@dataclass(slots=True)
class Plan:
    ttft_s: float
    token_interval_s: float  # 0: tokens come at once
    completion_tokens: int
    context_window: int
    fail_status: int | None = None
    hang: bool = False
    cut_after_chunks: int | None = None

    def total_delay_s(self, tokens: int) -> float:
        return self.ttft_s + tokens * self.token_interval_s


def _number(headers: Mapping[str, str], name: str, low: float, high: float) -> float | None:
    raw = headers.get(name)
    if raw is None:
        return None
    try:
        value = float(raw)
    except ValueError:
        value = math.nan
    if not low <= value <= high:
        raise InvalidRequest(
            f"Invalid header '{name}': expected a number in [{low}, {high}], got '{raw}'.",
            param=name,
            code="invalid_value",
        )
    return value


def plan_for(
    headers: Mapping[str, str],
    settings: SimulatorSettings,
    profile: ModelProfile | None,
    rng: random.Random,
) -> Plan:
    ttft = settings.ttft_ms
    rate = settings.tokens_per_s
    length = settings.completion_tokens
    window = settings.context_window
    fail_rate, fail_status = 0.0, 500
    if profile is not None:
        ttft = profile.ttft_ms if profile.ttft_ms is not None else ttft
        rate = profile.tokens_per_s if profile.tokens_per_s is not None else rate
        length = profile.completion_tokens or length
        window = profile.context_window or window
        fail_rate, fail_status = profile.fail_rate, profile.fail_status
    if not any(name.lower().startswith("x-sim-") for name in headers):  # the common, fast path
        plan = Plan(ttft / 1000, 1 / rate if rate else 0.0, length, window)
    else:
        plan = _with_headers(headers, ttft, rate, length, window)
        status = _number(headers, FAIL_STATUS, 400, 599)
        if status is not None:
            fail_status = int(status)
            rate_header = _number(headers, FAIL_RATE, 0, 1)
            fail_rate = 1.0 if rate_header is None else rate_header
    if fail_rate and rng.random() < fail_rate:
        plan.fail_status = fail_status
    return plan


def _with_headers(
    headers: Mapping[str, str], ttft: float, rate: float, length: int, window: int
) -> Plan:
    ttft_header = _number(headers, TTFT, 0, 600_000)
    rate_header = _number(headers, TOKENS_PER_S, 0, 1e9)
    length_header = _number(headers, COMPLETION_TOKENS, 1, 1_000_000)
    cut = _number(headers, CUT_AFTER, 0, 1_000_000)
    ttft = ttft if ttft_header is None else ttft_header
    rate = rate if rate_header is None else rate_header
    return Plan(
        ttft_s=ttft / 1000,
        token_interval_s=1 / rate if rate else 0.0,
        completion_tokens=length if length_header is None else int(length_header),
        context_window=window,
        hang=headers.get(TIMEOUT, "").strip().lower() in TRUTHY,
        cut_after_chunks=None if cut is None else int(cut),
    )


_MESSAGES = {
    400: ("invalid_request_error", None, "Simulated bad request."),
    401: ("invalid_request_error", "invalid_api_key", "Simulated invalid API key."),
    403: ("permission_denied", None, "Simulated permission denied."),
    404: ("invalid_request_error", "model_not_found", "Simulated missing model."),
    408: ("timeout", None, "Simulated request timeout."),
    429: ("requests", "rate_limit_exceeded", "Rate limit reached for {model} (simulated)."),
    500: ("server_error", None, "The server had an error while processing your request."),
    502: ("server_error", None, "Bad gateway."),
    503: ("server_error", None, "The engine is currently overloaded, please try again later."),
    504: ("timeout", None, "Gateway timeout."),
}


def injected_error(status: int, model: str, retry_after_s: float) -> InjectedFault:
    error_type, code, message = _MESSAGES.get(
        status, ("server_error" if status >= 500 else "invalid_request_error", None, "")
    )
    message = (message or f"Simulated failure with status {status}.").format(model=model)
    headers = {}
    if status == 429:
        headers = {
            "Retry-After": str(max(0, math.ceil(retry_after_s))),
            "retry-after-ms": str(int(retry_after_s * 1000)),
        }
        message += f" Please try again in {retry_after_s:g}s."
    return InjectedFault(
        message + " [modality simulator]",
        status=status,
        error_type=error_type,
        code=code,
        headers=headers,
    )


async def hang(request: web.Request, max_s: float) -> InjectedFault:
    """Hold the request open until the client disconnects or ``max_s`` passes."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + max_s
    while loop.time() < deadline:
        transport = request.transport
        if transport is None or transport.is_closing():
            break
        await asyncio.sleep(min(0.1, max(0.0, deadline - loop.time())))
    return InjectedFault(
        f"Simulated timeout: no answer after {max_s:g}s (x-sim-timeout). [modality simulator]",
        status=504,
        error_type="timeout",
    )
