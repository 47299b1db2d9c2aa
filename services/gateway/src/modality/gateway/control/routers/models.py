"""/models: register, list, read, promote, demote."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from modality.gateway.control import protocol as p
from modality.gateway.control.deps import ServiceDep

router = APIRouter(prefix="/models", tags=["models"])

CustomerScope = Annotated[
    str | None,
    Query(max_length=40, description="Only what this customer may see: its own and shared models."),
]


@router.post("", status_code=201, response_model=p.ModelResponse)
async def register_model(req: p.ModelRegisterRequest, service: ServiceDep) -> p.ModelResponse:
    """Register a model (status ``registered``) and publish ``ModelRegistered``."""
    return await service.register_model(req)


@router.get("", response_model=p.ListResponse[p.ModelResponse])
async def list_models(
    service: ServiceDep,
    customer_id: CustomerScope = None,
    status: Annotated[p.ModelStatus | None, Query()] = None,
) -> p.ListResponse[p.ModelResponse]:
    """Registered models plus the fallback (``is_fallback: true``, from settings)."""
    return await service.list_models(customer_id, status)


@router.get("/{model_id}", response_model=p.ModelResponse)
async def get_model(
    model_id: str, service: ServiceDep, customer_id: CustomerScope = None
) -> p.ModelResponse:
    return await service.get_model(model_id, customer_id)


@router.post("/{model_id}/promote", response_model=p.ModelResponse)
async def promote_model(model_id: str, service: ServiceDep) -> p.ModelResponse:
    """Make the model ``active`` (routable by ``model="auto"``); publishes ``ModelPromoted``."""
    return await service.promote_model(model_id)


@router.post("/{model_id}/demote", response_model=p.ModelResponse)
async def demote_model(model_id: str, service: ServiceDep) -> p.ModelResponse:
    """Retire the model (no longer callable); publishes ``ModelDemoted``."""
    return await service.demote_model(model_id)
