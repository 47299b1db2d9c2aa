"""``create_control_app(settings)``: the admin API on ``settings.control_port``.

The lifespan opens Postgres, Redis and NATS (declaring the JetStream streams) into
``app.state.control``. Every route except /health, /metrics, /docs and /openapi.json
needs ``Authorization: Bearer <MODALITY_ADMIN_TOKEN>``.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from functools import partial
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from redis.asyncio import Redis

from modality.common.bus import connect, ensure_streams
from modality.common.db.session import create_engine, session_factory
from modality.gateway.control.adapters import JetStreamPublisher, RedisKeyCache
from modality.gateway.control.deps import AdminDep, ControlState
from modality.gateway.control.errors import install_error_handlers
from modality.gateway.control.metrics import ControlMetrics, MetricsMiddleware
from modality.gateway.control.protocol import ErrorResponse
from modality.gateway.control.responses import FallbackModel
from modality.gateway.control.routers import api_keys, customers, health, models, usage
from modality.gateway.settings import GatewaySettings

log = logging.getLogger(__name__)

NATS_CLIENT_NAME = "modality-gateway-control"


def create_control_app(settings: GatewaySettings) -> FastAPI:
    metrics = ControlMetrics()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if not settings.admin_token:
            log.error(
                "MODALITY_ADMIN_TOKEN is empty: the control plane will refuse every admin request"
            )
        async with AsyncExitStack() as stack:
            engine = create_engine(settings.database_url)
            stack.push_async_callback(engine.dispose)
            redis = Redis.from_url(settings.redis_url)
            stack.push_async_callback(redis.aclose)
            nc = await connect(settings.nats_url, NATS_CLIENT_NAME)
            stack.push_async_callback(nc.drain)
            js = nc.jetstream()
            await ensure_streams(js)
            app.state.control = ControlState(
                settings=settings,
                metrics=metrics,
                fallback=FallbackModel.from_settings(settings),
                engine=engine,
                sessions=session_factory(engine),
                redis=redis,
                nats=nc,
                publisher=JetStreamPublisher(js, metrics),
                key_cache=RedisKeyCache(redis),
            )
            log.info("control plane ready (fallback model %s)", settings.fallback_model)
            yield

    app = FastAPI(
        title="Modality control plane",
        summary="Customers, API keys, models and usage. Admin token required.",
        version="0.1.0",
        lifespan=lifespan,
    )
    install_error_handlers(app)
    app.add_middleware(MetricsMiddleware, metrics=metrics)
    app.include_router(health.router)
    errors: dict[int | str, dict[str, Any]] = {
        status: {"model": ErrorResponse, "description": description}
        for status, description in ERROR_RESPONSES.items()
    }
    for admin_router in (customers.router, api_keys.router, models.router, usage.router):
        app.include_router(admin_router, dependencies=[AdminDep], responses=errors)
    app.openapi = partial(_openapi_without_422, app)  # type: ignore[method-assign]
    return app


ERROR_RESPONSES = {
    400: "Invalid request; `param` names the field.",
    401: "Missing or wrong admin token.",
    404: "No such resource.",
    409: "Conflicts with an existing resource.",
    503: "Database or event bus unavailable; safe to retry.",
}


def _openapi_without_422(app: FastAPI) -> dict[str, Any]:
    """FastAPI documents a 422 on every route; this API answers invalid input with 400."""
    if app.openapi_schema is None:
        schema = get_openapi(
            title=app.title,
            version=app.version,
            summary=app.summary,
            routes=app.routes,
        )
        for item in schema.get("paths", {}).values():
            for operation in item.values():
                operation.get("responses", {}).pop("422", None)
        for unused in ("HTTPValidationError", "ValidationError"):
            schema.get("components", {}).get("schemas", {}).pop(unused, None)
        app.openapi_schema = schema
    return app.openapi_schema
