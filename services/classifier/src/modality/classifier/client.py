"""Client of ``POST /classify``: service token, timeout, retries with exponential backoff + jitter.

Retried: connection errors, timeouts, 429 (honouring ``Retry-After``) and 5xx. Not retried:
other 4xx (the request itself is wrong). The delay before retry ``k`` (0-based) is drawn
uniformly from ``[0, min(backoff_max_s, backoff_base_s · 2^k)]`` ("full jitter"), or from
``[d·(1-jitter), d]`` for ``0 ≤ jitter ≤ 1`` in general (``jitter=1`` is full jitter,
``jitter=0`` no jitter).
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Any

import httpx

from modality.classifier.errors import ClassifierError
from modality.classifier.protocol import ClassificationResult, ClassifyRequest, ClassifyResponse
from modality.common.auth import issue_service_token

RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})


class ClassifyCallError(ClassifierError):
    """``/classify`` failed for good (a non-retryable answer or retries exhausted)."""

    def __init__(self, message: str, status_code: int | None = None, body: Any = None) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.body = body


@dataclass(frozen=True)
class RetryPolicy:
    retries: int = 3  # attempts after the first
    backoff_base_s: float = 0.1
    backoff_max_s: float = 2.0
    jitter: float = 1.0

    def delay(self, attempt: int, rng: random.Random) -> float:
        cap = min(self.backoff_max_s, self.backoff_base_s * (2**attempt))
        return rng.uniform(cap * (1.0 - self.jitter), cap)


class ClassifierClient:
    """Async client; pass ``token`` or ``jwt_secret`` (+ ``subject``) to authenticate."""

    def __init__(
        self,
        base_url: str,
        *,
        token: str | None = None,
        jwt_secret: str | None = None,
        subject: str = "modality-client",
        token_ttl_s: int = 3600,
        timeout_s: float = 10.0,
        retry: RetryPolicy | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        seed: int | None = None,
    ) -> None:
        if token is None and jwt_secret is None:
            raise ValueError("ClassifierClient needs a token or a jwt_secret")
        self._token = token
        self._secret = jwt_secret
        self._subject = subject
        self._ttl = token_ttl_s
        self._token_expires = 0.0
        self.retry = retry or RetryPolicy()
        self._rng = random.Random(seed)
        self._http = httpx.AsyncClient(base_url=base_url, timeout=timeout_s, transport=transport)

    async def __aenter__(self) -> ClassifierClient:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    def _bearer(self) -> str:
        if self._secret is not None:
            now = time.time()
            if self._token is None or now >= self._token_expires - 30:
                self._token = issue_service_token(self._secret, self._subject, self._ttl)
                self._token_expires = now + self._ttl
        assert self._token is not None
        return self._token

    async def classify(
        self,
        prompts: Sequence[str],
        *,
        has_tools: Sequence[bool] | None = None,
        has_vision: Sequence[bool] | None = None,
        return_embeddings: bool = False,
    ) -> list[ClassificationResult]:
        body = ClassifyRequest(
            prompts=list(prompts),
            has_tools=list(has_tools) if has_tools is not None else None,
            has_vision=list(has_vision) if has_vision is not None else None,
            return_embeddings=return_embeddings,
        ).model_dump(exclude_none=True)
        response = await self._post("/classify", body)
        return ClassifyResponse.model_validate(response).results

    async def _post(self, path: str, body: dict[str, Any]) -> Any:
        last: str = ""
        for attempt in range(self.retry.retries + 1):
            wait: float | None = None
            try:
                r = await self._http.post(
                    path, json=body, headers={"Authorization": f"Bearer {self._bearer()}"}
                )
            except (httpx.TransportError, httpx.TimeoutException) as exc:
                last = f"{type(exc).__name__}: {exc}"
            else:
                if r.status_code < 400:
                    return r.json()
                if r.status_code not in RETRY_STATUSES:
                    raise ClassifyCallError(_message(r), r.status_code, _json(r))
                last = _message(r)
                wait = _retry_after(r)
            if attempt == self.retry.retries:
                break
            delay = self.retry.delay(attempt, self._rng)
            await asyncio.sleep(max(delay, wait or 0.0))
        raise ClassifyCallError(f"/classify failed after {self.retry.retries + 1} attempts: {last}")


def _json(r: httpx.Response) -> Any:
    try:
        return r.json()
    except ValueError:
        return r.text


def _message(r: httpx.Response) -> str:
    body = _json(r)
    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        return f"HTTP {r.status_code}: {body['error'].get('message')}"
    return f"HTTP {r.status_code}: {str(body)[:200]}"


def _retry_after(r: httpx.Response) -> float | None:
    value = r.headers.get("retry-after")
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None
