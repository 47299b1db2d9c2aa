"""/health (database reachable) and /metrics (Prometheus); both without the admin token."""

from __future__ import annotations

import asyncio
import logging

from fastapi import APIRouter, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST
from sqlalchemy import text

from modality.gateway.control import protocol as p
from modality.gateway.control.deps import StateDep

log = logging.getLogger(__name__)

router = APIRouter(tags=["operations"])

HEALTH_TIMEOUT_S = 2.0


@router.get(
    "/health", response_model=p.HealthResponse, responses={503: {"model": p.HealthResponse}}
)
async def health(state: StateDep) -> JSONResponse:
    database: str = "ok"
    try:
        async with asyncio.timeout(HEALTH_TIMEOUT_S), state.engine.connect() as conn:
            await conn.execute(text("SELECT 1"))
    except Exception as exc:  # any failure to reach Postgres is "unreachable", reported below
        log.warning("health: database unreachable: %r", exc)
        database = "unreachable"
    body = p.HealthResponse(
        status="ok" if database == "ok" else "degraded",
        database="unreachable" if database != "ok" else "ok",
        nats="ok" if state.nats.is_connected else "disconnected",
    )
    return JSONResponse(body.model_dump(), status_code=200 if database == "ok" else 503)


@router.get("/metrics", include_in_schema=False)
async def metrics(state: StateDep) -> Response:
    return Response(state.metrics.render(), media_type=CONTENT_TYPE_LATEST)
