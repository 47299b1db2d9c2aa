"""Raw-ASGI handlers of the data plane: validate → route → call upstream → respond → record.

Every request after authentication ends in exactly one usage event and one metrics
sample (``_finish``), whatever happened; a 401 ends in metrics only (no customer to bill).
Upstream answers are relayed byte for byte: ``model`` in the body stays the provider's
model id, the public name the client asked for (or auto chose) is in ``x-modality-model``.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from typing import Any

import orjson
from pydantic import ValidationError

from modality.common.errors import InvalidRequestError, ModalityError
from modality.common.ids import new_request_id
from modality.common.routing import RouteReason
from modality.gateway.data.asgi import (
    RawHeaders,
    Receive,
    RequestHeaders,
    Scope,
    Send,
    read_body,
    send_bytes,
    send_error,
    send_json,
    server_error_bytes,
)
from modality.gateway.data.catalog import ModelEntry
from modality.gateway.data.errors import (
    AllUpstreamsFailedError,
    InvalidApiKeyError,
    InvalidJsonError,
    ModelNotFoundError,
)
from modality.gateway.data.keys import Caller
from modality.gateway.data.protocol import (
    AUTO_MODEL,
    ChatRequest,
    GenerationRequest,
    GenerationResponse,
    parse_chat_request,
)
from modality.gateway.data.routing import RoutePlan, explicit_plan
from modality.gateway.data.state import DataPlane
from modality.gateway.data.streaming import StreamOutcome, relay
from modality.gateway.data.upstream import OpenStream, UpstreamReply
from modality.gateway.data.usage import usage_payload

log = logging.getLogger(__name__)

CLIENT_CLOSED = 499  # nginx's code for "client went away before the answer was complete"


@dataclass(slots=True)
class Exchange:
    """What is known about one request so far; feeds headers, metrics and the usage event."""

    request_id: str
    started: float
    endpoint: str
    caller: Caller | None = None
    model: ModelEntry | None = None
    requested_model: str = ""  # what the client asked for, recorded when no model serves
    reason: str = ""
    policy: str = ""
    status: int = 200
    prompt_tokens: int = 0
    completion_tokens: int = 0
    stream: bool = False
    attempts: int = 0
    upstream_s: float = 0.0
    committed: bool = False  # a streamed response has started: no error response possible

    def headers(self) -> RawHeaders:
        out: RawHeaders = [(b"x-modality-request-id", self.request_id.encode())]
        if self.model is not None:
            out.append((b"x-modality-model", self.model.name.encode()))
        if self.reason:
            out.append((b"x-modality-route-reason", self.reason.encode()))
        if self.policy:
            out.append((b"x-modality-policy", self.policy.encode()))
        return out

    def served(self, plan: RoutePlan, model: ModelEntry, attempts: int, upstream_s: float) -> bool:
        """Record who answered; True when that was not the plan's first choice."""
        self.model = model
        self.attempts = attempts
        self.upstream_s = upstream_s
        if model is not plan.attempts[0]:
            self.reason = RouteReason.ESCALATED.value
            return True
        return False

    def take_usage(self, usage: object) -> None:
        if isinstance(usage, dict):
            self.prompt_tokens = _count(usage.get("prompt_tokens"))
            self.completion_tokens = _count(usage.get("completion_tokens"))


def _count(value: object) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else 0


class Handlers:
    def __init__(self, plane: DataPlane) -> None:
        self.plane = plane

    # --- chat completions ---------------------------------------------------------------

    async def chat_completions(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self._serve(scope, receive, send, "chat.completions")

    async def generate(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self._serve(scope, receive, send, "generate")

    async def _serve(self, scope: Scope, receive: Receive, send: Send, endpoint: str) -> None:
        plane = self.plane
        ex = Exchange(new_request_id(), time.perf_counter(), endpoint)
        plane.in_flight += 1
        plane.metrics.in_flight.inc()
        try:
            headers = RequestHeaders(scope)
            try:
                ex.caller = await plane.keys.authenticate(headers.authorization)
            except InvalidApiKeyError as exc:
                ex.status = exc.status_code
                await send_error(send, exc, ex.headers())
                return
            await plane.usage.admit()  # back-pressure while usage events cannot be published
            try:
                if endpoint == "generate":
                    await self._generate(ex, headers, receive, send)
                else:
                    await self._chat(ex, headers, receive, send)
            except ModalityError as exc:
                ex.status = exc.status_code
                if isinstance(exc, AllUpstreamsFailedError):
                    ex.attempts, ex.upstream_s = exc.attempts, exc.upstream_s
                await send_error(send, exc, ex.headers())
        except Exception:
            ex.status = 500
            log.exception("unexpected error in request %s", ex.request_id)
            if not ex.committed:
                await send_bytes(send, 500, server_error_bytes(ex.request_id), ex.headers())
        finally:
            plane.in_flight -= 1
            plane.metrics.in_flight.dec()
            self._finish(ex)

    async def _parse(self, headers: RequestHeaders, receive: Receive) -> Any:
        body = await read_body(receive, self.plane.settings.max_body_bytes, headers.content_length)
        try:
            return orjson.loads(body)
        except orjson.JSONDecodeError as exc:
            raise InvalidJsonError(
                f"We could not parse the JSON body of your request ({exc.msg}). The request "
                "body must be a JSON object."
            ) from exc

    async def _plan(self, ex: Exchange, chat: ChatRequest, headers: RequestHeaders) -> RoutePlan:
        assert ex.caller is not None
        catalog = self.plane.live.catalog()
        if chat.model == AUTO_MODEL:
            plan = await self.plane.router.plan(
                ex.request_id, ex.caller.customer_id, chat, headers.session_id, catalog
            )
        else:
            entry = catalog.resolve(ex.caller.customer_id, chat.model)
            if entry is None:
                raise ModelNotFoundError(chat.model)
            plan = explicit_plan(entry)
        ex.model = plan.attempts[0]
        ex.reason = plan.reason
        ex.policy = plan.policy
        return plan

    async def _chat(
        self, ex: Exchange, headers: RequestHeaders, receive: Receive, send: Send
    ) -> None:
        chat = parse_chat_request(await self._parse(headers, receive))
        ex.requested_model = chat.model
        plan = await self._plan(ex, chat, headers)
        if chat.stream:
            ex.stream = True
            await self._stream(ex, chat, plan, receive, send)
            return
        reply = await self.plane.upstream.complete(plan, chat.body)
        self._served(ex, plan, reply)
        if reply.parsed is not None:
            ex.take_usage(reply.parsed.get("usage"))
        await send_bytes(send, reply.status, reply.body, ex.headers(), reply.content_type.encode())

    def _served(self, ex: Exchange, plan: RoutePlan, reply: UpstreamReply | OpenStream) -> None:
        ex.status = reply.status if isinstance(reply, UpstreamReply) else 200
        if ex.served(plan, reply.model, reply.attempts.count, reply.attempts.upstream_s):
            self.plane.metrics.escalations.inc()

    async def _stream(
        self, ex: Exchange, chat: ChatRequest, plan: RoutePlan, receive: Receive, send: Send
    ) -> None:
        options = chat.body.get("stream_options") or {}
        chat.body["stream_options"] = {**options, "include_usage": True}
        opened = await self.plane.upstream.open_stream(plan, chat.body)
        self._served(ex, plan, opened)
        if isinstance(opened, UpstreamReply):  # a 4xx the client must see as it is
            await send_bytes(
                send, opened.status, opened.body, ex.headers(), opened.content_type.encode()
            )
            return
        started = time.perf_counter()
        outcome = StreamOutcome()
        disconnected = asyncio.Event()

        async def watch_disconnect() -> None:
            while (await receive())["type"] != "http.disconnect":
                pass
            disconnected.set()
            opened.response.close()

        watcher = asyncio.create_task(watch_disconnect())
        ex.committed = True
        try:
            await relay(
                send, opened, ex.headers(), strip_usage=not chat.include_usage, outcome=outcome
            )
        finally:
            watcher.cancel()
            ex.upstream_s += time.perf_counter() - started
        ex.prompt_tokens, ex.completion_tokens = outcome.prompt_tokens, outcome.completion_tokens
        if disconnected.is_set():
            ex.status = CLIENT_CLOSED
        elif outcome.error is not None:
            ex.status = 502

    # --- /generate (Flywheel shim) --------------------------------------------------------

    async def _generate(
        self, ex: Exchange, headers: RequestHeaders, receive: Receive, send: Send
    ) -> None:
        raw = await self._parse(headers, receive)
        try:
            request = GenerationRequest.model_validate(raw)
        except ValidationError as exc:
            first = exc.errors()[0]
            param = ".".join(str(p) for p in first["loc"]) or None
            raise InvalidRequestError(
                f"Invalid request: {first['msg']}.", param=param, code="invalid_value"
            ) from exc
        chat = parse_chat_request(request.to_chat_body())
        ex.requested_model = chat.model
        plan = await self._plan(ex, chat, headers)
        reply = await self.plane.upstream.complete(plan, chat.body)
        self._served(ex, plan, reply)
        if reply.parsed is not None:
            ex.take_usage(reply.parsed.get("usage"))
        if reply.status >= 400 or reply.parsed is None:
            await send_bytes(
                send, reply.status, reply.body, ex.headers(), reply.content_type.encode()
            )
            return
        model_name = ex.model.name if ex.model is not None else request.model
        response = GenerationResponse.from_chat_completion(reply.parsed, model_name, ex.request_id)
        await send_bytes(send, 200, response.model_dump_json().encode(), ex.headers())

    # --- bookkeeping ------------------------------------------------------------------------

    def _finish(self, ex: Exchange) -> None:
        plane = self.plane
        elapsed = time.perf_counter() - ex.started
        plane.metrics.observe_request(
            ex.endpoint,
            ex.model.name if ex.model is not None else "none",
            ex.reason or "none",
            ex.status,
            ex.stream,
            elapsed,
            max(0.0, elapsed - ex.upstream_s) if ex.upstream_s else None,
        )
        if ex.caller is None:
            return
        catalog = plane.live.catalog()
        model = ex.model
        p, c = ex.prompt_tokens, ex.completion_tokens
        payload = usage_payload(
            request_id=ex.request_id,
            customer_id=ex.caller.customer_id,
            api_key_id=ex.caller.key_id,
            model=model.name if model is not None else ex.requested_model,
            provider=model.provider if model is not None else "",
            tier=model.tier if model is not None else "",
            policy=ex.policy,
            route_reason=ex.reason,
            prompt_tokens=p,
            completion_tokens=c,
            latency_ms=elapsed * 1000.0,
            cost_usd=model.price.cost(p, c) if model is not None else 0.0,
            fallback_model=catalog.fallback.name,
            fallback_cost_usd=catalog.fallback.price.cost(p, c),
            status_code=ex.status,
            stream=ex.stream,
            attempts=ex.attempts,
            endpoint=ex.endpoint,
        )
        plane.usage.submit(ex.request_id, ex.caller.customer_id, payload)

    # --- listing, health, stats, metrics ------------------------------------------------------

    async def list_models(self, scope: Scope, receive: Receive, send: Send) -> None:
        request_id = new_request_id()
        headers: RawHeaders = [(b"x-modality-request-id", request_id.encode())]
        try:
            caller = await self.plane.keys.authenticate(RequestHeaders(scope).authorization)
        except InvalidApiKeyError as exc:
            await send_error(send, exc, headers)
            return
        models = self.plane.live.catalog().callable_models(caller.customer_id)
        data = [{"id": AUTO_MODEL, "object": "model", "created": 0, "owned_by": "modality"}]
        data.extend(
            {
                "id": m.name,
                "object": "model",
                "created": m.created,
                "owned_by": caller.customer_id if m.customer_id else m.provider,
            }
            for m in models
        )
        await send_json(send, 200, {"object": "list", "data": data}, headers)

    async def health(self, scope: Scope, receive: Receive, send: Send) -> None:
        usable = self.plane.health.usable
        status = 200 if usable > 0 else 503
        await send_json(
            send,
            status,
            {
                "status": "ok" if usable else "no_usable_upstream",
                "usable_upstreams": usable,
                "upstreams": len(self.plane.health.reachable),
            },
        )

    async def stats(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send_json(
            send, 200, {"backlog": self.plane.in_flight, "runners": self.plane.health.usable}
        )

    async def metrics(self, scope: Scope, receive: Receive, send: Send) -> None:
        body, content_type = self.plane.metrics.render()
        await send_bytes(send, 200, body, [], content_type.encode())
