"""API keys: create (the secret is shown once), list (never the secret), revoke."""

from __future__ import annotations

from fastapi import APIRouter

from modality.gateway.control import protocol as p
from modality.gateway.control.deps import ServiceDep

router = APIRouter(tags=["api-keys"])


@router.post(
    "/customers/{customer_id}/api-keys", status_code=201, response_model=p.ApiKeyCreatedResponse
)
async def create_api_key(
    customer_id: str, service: ServiceDep, req: p.ApiKeyCreateRequest | None = None
) -> p.ApiKeyCreatedResponse:
    return await service.create_api_key(customer_id, req or p.ApiKeyCreateRequest())


@router.get("/customers/{customer_id}/api-keys", response_model=p.ListResponse[p.ApiKeyResponse])
async def list_api_keys(customer_id: str, service: ServiceDep) -> p.ListResponse[p.ApiKeyResponse]:
    return await service.list_api_keys(customer_id)


@router.delete("/api-keys/{key_id}", response_model=p.ApiKeyResponse)
async def revoke_api_key(key_id: str, service: ServiceDep) -> p.ApiKeyResponse:
    """Revoke: ``revoked_at`` set, Redis entry deleted, ``ApiKeyRevoked`` published; the
    key stops working on every data-plane replica within a second. Idempotent."""
    return await service.revoke_api_key(key_id)
