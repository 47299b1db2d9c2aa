"""/customers/{id}/usage: totals and breakdowns from the usage ledger."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query

from modality.common.errors import InvalidRequestError
from modality.gateway.control import protocol as p
from modality.gateway.control.deps import ServiceDep

router = APIRouter(tags=["usage"])

USAGE_GROUPS = ("model", "day")


@router.get("/customers/{customer_id}/usage", response_model=p.UsageResponse)
async def get_usage(
    customer_id: str,
    service: ServiceDep,
    start: Annotated[
        datetime | None, Query(description="Inclusive; default end - 30 days. Naive = UTC.")
    ] = None,
    end: Annotated[
        datetime | None, Query(description="Exclusive; default now. Naive = UTC.")
    ] = None,
    group_by: Annotated[
        list[str] | None,
        Query(description="model and/or day (repeat or comma-separate); default both."),
    ] = None,
) -> p.UsageResponse:
    """Requests, tokens, cost, fallback cost, savings and errors; money as exact decimal strings."""
    groups = {g.strip() for raw in group_by or ["model,day"] for g in raw.split(",") if g.strip()}
    unknown = groups - set(USAGE_GROUPS)
    if unknown or not groups:
        raise InvalidRequestError(
            f"group_by must be one or more of {', '.join(USAGE_GROUPS)}.", param="group_by"
        )
    return await service.usage(customer_id, start, end, groups)
