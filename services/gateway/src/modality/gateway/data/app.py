"""``create_data_app(settings)``: the data plane as a plain ASGI application.

Not FastAPI/Starlette: a dict lookup on the path and the method is all the routing these
six endpoints need, and it keeps ~160 µs of framework work off every request (measured:
docs/BENCHMARKS.md). The OpenAI API reference is the documentation of this surface.
Unknown paths are 404, known paths with another method 405 (with ``Allow``), both in
OpenAI's error shape; the lifespan opens and closes ``DataPlane``.
"""

from __future__ import annotations

import logging

from modality.common.ids import new_request_id
from modality.gateway.data.asgi import RawHeaders, Receive, Scope, Send, send_error
from modality.gateway.data.errors import MethodNotAllowedError, RouteNotFoundError
from modality.gateway.data.handlers import Handlers
from modality.gateway.data.metrics import DataPlaneMetrics
from modality.gateway.data.state import DataPlane
from modality.gateway.settings import GatewaySettings

log = logging.getLogger(__name__)


class DataPlaneApp:
    def __init__(self, settings: GatewaySettings) -> None:
        self.settings = settings
        self.metrics = DataPlaneMetrics()
        self.plane: DataPlane | None = None
        self._routes: dict[str, dict[str, object]] = {}

    def _wire(self, handlers: Handlers) -> None:
        self._routes = {
            "/v1/chat/completions": {"POST": handlers.chat_completions},
            "/v1/models": {"GET": handlers.list_models},
            "/generate": {"POST": handlers.generate},
            "/health": {"GET": handlers.health},
            "/stats": {"GET": handlers.stats},
            "/metrics": {"GET": handlers.metrics},
        }

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "http":
            path = scope["path"]
            methods = self._routes.get(path)
            if methods is None:
                await send_error(
                    send,
                    RouteNotFoundError(f"Unknown request URL: {scope['method']} {path}."),
                    _request_id_header(),
                )
                return
            handler = methods.get(scope["method"])
            if handler is None:
                allow = ", ".join(methods)
                await send_error(
                    send,
                    MethodNotAllowedError(
                        f"Method {scope['method']} is not allowed on {path} (allowed: {allow}).",
                        headers={"Allow": allow},
                    ),
                    _request_id_header(),
                )
                return
            await handler(scope, receive, send)  # type: ignore[operator]
        elif kind == "lifespan":
            await self._lifespan(receive, send)
        # websocket: not served; the server closes it

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                try:
                    self.plane = await DataPlane.open(self.settings, self.metrics)
                except Exception as exc:
                    log.exception("data plane failed to start")
                    await send({"type": "lifespan.startup.failed", "message": repr(exc)})
                    return
                self._wire(Handlers(self.plane))
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                try:
                    if self.plane is not None:
                        await self.plane.close()
                except Exception as exc:
                    log.exception("data plane did not shut down cleanly")
                    await send({"type": "lifespan.shutdown.failed", "message": repr(exc)})
                    return
                await send({"type": "lifespan.shutdown.complete"})
                return


def _request_id_header() -> RawHeaders:
    return [(b"x-modality-request-id", new_request_id().encode())]


def create_data_app(settings: GatewaySettings) -> DataPlaneApp:
    return DataPlaneApp(settings)
