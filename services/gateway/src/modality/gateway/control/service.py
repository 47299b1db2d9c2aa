"""Control-plane logic: validation that needs the database, state changes, announcements.

The service is given its I/O (repository, event publisher, key cache). Every change is
committed first and announced second; an announcement that fails surfaces as a 503 and
every mutating call is idempotent, so the caller's retry re-announces it.
"""

from __future__ import annotations

import logging
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from sqlalchemy.exc import IntegrityError

from modality.common import subjects
from modality.common.auth import generate_api_key
from modality.common.db.models import ApiKey, Customer, Model
from modality.common.errors import ConflictError, InvalidRequestError, NotFoundError
from modality.common.events import (
    ApiKeyRevoked,
    CustomerUpdated,
    ModelDemoted,
    ModelPromoted,
    ModelRegistered,
)
from modality.common.ids import new_id
from modality.common.pricing import default_price
from modality.gateway.control import protocol as p
from modality.gateway.control.repository import ControlRepository
from modality.gateway.control.responses import (
    FALLBACK_ID,
    FallbackModel,
    api_key_response,
    customer_response,
    model_response,
    usage_figures,
)
from modality.gateway.control.types import EventPublisher, KeyCache

log = logging.getLogger(__name__)

AUTO_MODEL = "auto"
DEFAULT_USAGE_WINDOW = timedelta(days=30)
# A model still training has nothing to serve yet.
UNPROMOTABLE_STATUSES = frozenset({"training"})


class CustomerNotFoundError(NotFoundError):
    def __init__(self, customer_id: str, param: str | None = None) -> None:
        super().__init__(f"No customer with id '{customer_id}'.", param=param)


class ApiKeyNotFoundError(NotFoundError):
    def __init__(self, key_id: str) -> None:
        super().__init__(f"No API key with id '{key_id}'.")


class ModelNotFoundError(NotFoundError):
    code = "model_not_found"

    def __init__(self, model_id: str) -> None:
        super().__init__(f"No model with id '{model_id}'.")


class ControlService:
    def __init__(
        self,
        repo: ControlRepository,
        publisher: EventPublisher,
        key_cache: KeyCache,
        fallback: FallbackModel,
    ) -> None:
        self.repo = repo
        self.publisher = publisher
        self.key_cache = key_cache
        self.fallback = fallback

    # --- customers -----------------------------------------------------------------------

    async def create_customer(self, req: p.CustomerCreateRequest) -> p.CustomerResponse:
        customer_id = new_id("cus")
        if req.default_model is not None:
            await self._check_default_model(customer_id, req.default_model)
        customer = await self.repo.add_customer(
            Customer(
                id=customer_id,
                name=req.name,
                routing_policy=req.routing_policy.value,
                routing_alpha=req.routing_alpha,
                default_model=req.default_model,
            )
        )
        await self.repo.commit()
        return customer_response(customer)

    async def get_customer(self, customer_id: str) -> p.CustomerResponse:
        return customer_response(await self._customer(customer_id))

    async def list_customers(
        self, limit: int, after: str | None
    ) -> p.ListResponse[p.CustomerResponse]:
        cursor = None
        if after is not None:
            cursor = await self.repo.get_customer(after)
            if cursor is None:
                raise InvalidRequestError(
                    f"No customer with id '{after}' to page after.", param="after"
                )
        rows = await self.repo.list_customers(limit=limit + 1, after=cursor)
        data = [customer_response(c) for c in rows[:limit]]
        return p.ListResponse[p.CustomerResponse](
            data=data,
            has_more=len(rows) > limit,
            first_id=data[0].id if data else None,
            last_id=data[-1].id if data else None,
        )

    async def update_customer(
        self, customer_id: str, req: p.CustomerUpdateRequest
    ) -> p.CustomerResponse:
        """Apply the fields present, commit, then announce ``CustomerUpdated``.

        Announced on every successful call, changed or not: a caller retrying after a 503
        (saved, not announced) must be able to get the announcement out.
        """
        customer = await self._customer(customer_id)
        fields = req.model_fields_set
        if "default_model" in fields and req.default_model is not None:
            await self._check_default_model(customer_id, req.default_model)
        if "name" in fields and req.name is not None:
            customer.name = req.name
        if "routing_policy" in fields and req.routing_policy is not None:
            customer.routing_policy = req.routing_policy.value
        if "routing_alpha" in fields and req.routing_alpha is not None:
            customer.routing_alpha = req.routing_alpha
        if "default_model" in fields:
            customer.default_model = req.default_model
        await self.repo.refresh(customer)
        await self.repo.commit()
        await self._announce_customer(customer)
        return customer_response(customer)

    # --- API keys ------------------------------------------------------------------------

    async def create_api_key(
        self, customer_id: str, req: p.ApiKeyCreateRequest
    ) -> p.ApiKeyCreatedResponse:
        await self._customer(customer_id)
        new_key = generate_api_key()
        row = await self.repo.add_api_key(
            ApiKey(
                id=new_id("key"),
                customer_id=customer_id,
                name=req.name,
                display_prefix=new_key.display_prefix,
                key_hash=new_key.key_hash,
            )
        )
        await self.repo.commit()
        return p.ApiKeyCreatedResponse(**api_key_response(row).model_dump(), key=new_key.secret)

    async def list_api_keys(self, customer_id: str) -> p.ListResponse[p.ApiKeyResponse]:
        await self._customer(customer_id)
        data = [api_key_response(k) for k in await self.repo.list_api_keys(customer_id)]
        return p.ListResponse[p.ApiKeyResponse](
            data=data,
            first_id=data[0].id if data else None,
            last_id=data[-1].id if data else None,
        )

    async def revoke_api_key(self, key_id: str) -> p.ApiKeyResponse:
        """The shared contract, in order: ``revoked_at`` in Postgres, DEL the Redis entry,
        publish ``ApiKeyRevoked``. Idempotent; a repeat redoes the last two steps."""
        key = await self.repo.get_api_key(key_id, for_update=True)
        if key is None:
            raise ApiKeyNotFoundError(key_id)
        key = await self.repo.revoke_api_key(key)
        await self.repo.commit()
        await self.key_cache.forget(key.key_hash)
        await self.publisher.publish(
            subjects.API_KEY_REVOKED,
            ApiKeyRevoked(key_id=key.id, customer_id=key.customer_id, key_hash=key.key_hash),
        )
        log.info("revoked API key %s of customer %s", key.id, key.customer_id)
        return api_key_response(key)

    # --- models --------------------------------------------------------------------------

    async def register_model(self, req: p.ModelRegisterRequest) -> p.ModelResponse:
        if req.name.lower() == AUTO_MODEL:
            raise InvalidRequestError(f"'{AUTO_MODEL}' is reserved for routing.", param="name")
        if req.name == self.fallback.name:
            raise InvalidRequestError(f"'{req.name}' is the fallback model's name.", param="name")
        if req.customer_id is not None:
            await self._customer(req.customer_id, param="customer_id")
        if await self.repo.name_taken(req.name, req.customer_id):
            raise _name_conflict(req.name)
        input_price, output_price = self._prices(req)
        row = Model(
            id=new_id("mdl"),
            name=req.name,
            customer_id=req.customer_id,
            provider=req.provider,
            base_url=req.base_url,
            provider_model_id=req.provider_model_id,
            domain=req.domain,
            domain_description=req.domain_description,
            tier=req.tier,
            input_price_per_m=input_price,
            output_price_per_m=output_price,
            status="registered",
            supports_tools=req.supports_tools,
            supports_vision=req.supports_vision,
            context_window=req.context_window,
            complexity_ceiling=req.complexity_ceiling,
        )
        try:
            row = await self.repo.add_model(row)
            await self.repo.commit()
        except IntegrityError as exc:  # lost a race with a concurrent registration
            await self.repo.rollback()
            raise _name_conflict(req.name) from exc
        await self.publisher.publish(subjects.MODEL_REGISTERED, ModelRegistered(**_model_fact(row)))
        log.info("registered model %s (%s) for %s", row.id, row.name, row.customer_id or "everyone")
        return model_response(row)

    async def list_models(
        self, customer_id: str | None, status: str | None
    ) -> p.ListResponse[p.ModelResponse]:
        if customer_id is not None:
            await self._customer(customer_id, param="customer_id")
        data = [
            model_response(m)
            for m in await self.repo.list_models(customer_id=customer_id, status=status)
        ]
        if status in (None, "active"):
            data.append(self.fallback.response())
        return p.ListResponse[p.ModelResponse](
            data=data,
            first_id=data[0].id if data else None,
            last_id=data[-1].id if data else None,
        )

    async def get_model(self, model_id: str, customer_id: str | None) -> p.ModelResponse:
        if model_id == FALLBACK_ID:
            return self.fallback.response()
        row = await self.repo.get_model(model_id, customer_id=customer_id)
        if row is None:
            raise ModelNotFoundError(model_id)
        return model_response(row)

    async def promote_model(self, model_id: str) -> p.ModelResponse:
        row = await self._model_for_change(model_id)
        if row.status in UNPROMOTABLE_STATUSES:
            raise ConflictError(
                f"Model '{model_id}' is {row.status}; it can be promoted once it is ready."
            )
        row = await self.repo.set_model_status(row, "active", promoted=True)
        await self.repo.commit()
        await self.publisher.publish(subjects.MODEL_PROMOTED, ModelPromoted(**_model_fact(row)))
        log.info("promoted model %s (%s)", row.id, row.name)
        return model_response(row)

    async def demote_model(self, model_id: str) -> p.ModelResponse:
        """Retire the model. Customers whose ``default_model`` it was lose that default
        (it is no longer callable) and are announced as updated."""
        row = await self._model_for_change(model_id)
        row = await self.repo.set_model_status(row, "retired", promoted=False)
        orphaned = await self.repo.clear_default_model(row.name, row.customer_id)
        await self.repo.commit()
        await self.publisher.publish(subjects.MODEL_DEMOTED, ModelDemoted(**_model_fact(row)))
        for customer in orphaned:
            await self._announce_customer(customer)
        log.info("demoted model %s (%s); %d default(s) cleared", row.id, row.name, len(orphaned))
        return model_response(row)

    # --- usage ---------------------------------------------------------------------------

    async def usage(
        self,
        customer_id: str,
        start: datetime | None,
        end: datetime | None,
        group_by: set[str],
    ) -> p.UsageResponse:
        await self._customer(customer_id)
        end = _utc(end) if end is not None else datetime.now(UTC)
        start = _utc(start) if start is not None else end - DEFAULT_USAGE_WINDOW
        if start >= end:
            raise InvalidRequestError("start must be before end.", param="start")
        (totals,) = await self.repo.usage(customer_id, start, end, None)
        response = p.UsageResponse(
            customer_id=customer_id, start=start, end=end, totals=usage_figures(totals)
        )
        if "model" in group_by:
            response.by_model = [
                p.ModelUsage(model=str(row.group), **usage_figures(row).model_dump())
                for row in await self.repo.usage(customer_id, start, end, "model")
            ]
        if "day" in group_by:
            response.by_day = [
                p.DayUsage(day=_as_date(row.group), **usage_figures(row).model_dump())
                for row in await self.repo.usage(customer_id, start, end, "day")
            ]
        return response

    # --- helpers -------------------------------------------------------------------------

    async def _customer(self, customer_id: str, param: str | None = None) -> Customer:
        customer = await self.repo.get_customer(customer_id)
        if customer is None:
            raise CustomerNotFoundError(customer_id, param)
        return customer

    async def _model_for_change(self, model_id: str) -> Model:
        if model_id == FALLBACK_ID:
            raise InvalidRequestError(
                "The fallback model comes from settings and cannot change state here."
            )
        row = await self.repo.get_model(model_id, for_update=True)
        if row is None:
            raise ModelNotFoundError(model_id)
        return row

    async def _check_default_model(self, customer_id: str, name: str) -> None:
        if name == self.fallback.name or await self.repo.callable_model_exists(customer_id, name):
            return
        raise InvalidRequestError(
            f"default_model '{name}' is not a model this customer may call "
            "(its own or a shared model that is not rejected or retired, or the fallback).",
            param="default_model",
            code="model_not_found",
        )

    async def _announce_customer(self, customer: Customer) -> None:
        await self.publisher.publish(
            subjects.CUSTOMER_UPDATED,
            CustomerUpdated(
                customer_id=customer.id,
                routing_policy=customer.routing_policy,
                routing_alpha=customer.routing_alpha,
                default_model=customer.default_model,
            ),
        )

    @staticmethod
    def _prices(req: p.ModelRegisterRequest) -> tuple[Decimal, Decimal]:
        known = default_price(req.provider_model_id)
        prices: list[Decimal] = []
        for field, given, default in (
            ("input_price_per_m", req.input_price_per_m, known.input_per_m if known else None),
            ("output_price_per_m", req.output_price_per_m, known.output_per_m if known else None),
        ):
            if given is not None:
                prices.append(given)
            elif default is not None:
                prices.append(Decimal(str(default)))
            else:
                raise InvalidRequestError(
                    f"{field} is required: no list price is known for '{req.provider_model_id}'.",
                    param=field,
                )
        return prices[0], prices[1]


def _name_conflict(name: str) -> ConflictError:
    return ConflictError(
        f"A model named '{name}' already exists for this owner or as a shared model.",
        param="name",
    )


def _model_fact(row: Model) -> dict[str, str | None]:
    return {
        "model_id": row.id,
        "name": row.name,
        "customer_id": row.customer_id,
        "status": row.status,
    }


def _utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _as_date(value: object) -> date:
    if isinstance(value, date):
        return value
    raise TypeError(f"expected a date group, got {type(value).__name__}")
