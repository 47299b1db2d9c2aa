"""/customers: create, list, read, update (policy changes are announced)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from modality.gateway.control import protocol as p
from modality.gateway.control.deps import ServiceDep

router = APIRouter(prefix="/customers", tags=["customers"])


@router.post("", status_code=201, response_model=p.CustomerResponse)
async def create_customer(req: p.CustomerCreateRequest, service: ServiceDep) -> p.CustomerResponse:
    return await service.create_customer(req)


@router.get("", response_model=p.ListResponse[p.CustomerResponse])
async def list_customers(
    service: ServiceDep,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    after: Annotated[
        str | None, Query(max_length=40, description="last_id of the previous page")
    ] = None,
) -> p.ListResponse[p.CustomerResponse]:
    return await service.list_customers(limit, after)


@router.get("/{customer_id}", response_model=p.CustomerResponse)
async def get_customer(customer_id: str, service: ServiceDep) -> p.CustomerResponse:
    return await service.get_customer(customer_id)


@router.patch("/{customer_id}", response_model=p.CustomerResponse)
async def update_customer(
    customer_id: str, req: p.CustomerUpdateRequest, service: ServiceDep
) -> p.CustomerResponse:
    """Change routing policy, alpha, default model or name; publishes ``CustomerUpdated``
    so routers switch without a restart."""
    return await service.update_customer(customer_id, req)
