"""FastAPI dependencies of the control plane, as ``*Dep`` aliases."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from nats.aio.client import Client as NATS
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from modality.common.auth import tokens_equal
from modality.common.errors import AuthenticationError
from modality.gateway.control.metrics import ControlMetrics
from modality.gateway.control.repository import ControlRepository
from modality.gateway.control.responses import FallbackModel
from modality.gateway.control.service import ControlService
from modality.gateway.control.types import EventPublisher, KeyCache
from modality.gateway.settings import GatewaySettings

log = logging.getLogger(__name__)


@dataclass(slots=True)
class ControlState:
    """What the lifespan opens, kept on ``app.state.control``."""

    settings: GatewaySettings
    metrics: ControlMetrics
    fallback: FallbackModel
    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    redis: Redis
    nats: NATS
    publisher: EventPublisher
    key_cache: KeyCache


def get_state(request: Request) -> ControlState:
    state: ControlState = request.app.state.control
    return state


StateDep = Annotated[ControlState, Depends(get_state)]

_bearer = HTTPBearer(
    auto_error=False,
    scheme_name="AdminToken",
    description="The value of MODALITY_ADMIN_TOKEN.",
)


async def require_admin(
    state: StateDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> None:
    expected = state.settings.admin_token
    if not expected:
        raise AuthenticationError(
            "The control plane has no admin token configured (MODALITY_ADMIN_TOKEN); "
            "every request is refused.",
            code="admin_token_not_configured",
        )
    if credentials is None:
        raise AuthenticationError(
            "Missing admin token: send 'Authorization: Bearer <MODALITY_ADMIN_TOKEN>'.",
            code="missing_admin_token",
        )
    if not tokens_equal(credentials.credentials, expected):
        raise AuthenticationError("Incorrect admin token.", code="invalid_admin_token")


AdminDep = Depends(require_admin)


async def get_session(state: StateDep) -> AsyncIterator[AsyncSession]:
    async with state.sessions() as session:
        yield session


SessionDep = Annotated[AsyncSession, Depends(get_session)]


def get_service(state: StateDep, session: SessionDep) -> ControlService:
    return ControlService(
        ControlRepository(session), state.publisher, state.key_cache, state.fallback
    )


ServiceDep = Annotated[ControlService, Depends(get_service)]
