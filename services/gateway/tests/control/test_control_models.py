"""Control plane: model registration, promotion, demotion, events and customer isolation."""

from __future__ import annotations

import secrets
from typing import Any

import httpx
import pytest

from modality.common import subjects

pytestmark = pytest.mark.integration


def model_body(name: str, customer_id: str | None = None, **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "name": name,
        "provider": "simulator",
        "base_url": "http://127.0.0.1:8090/v1/",
        "provider_model_id": "acme-ft-1",
        "domain": "contracts",
        "domain_description": "Review of commercial contracts: clauses, liabilities, renewals.",
        "tier": "small",
        "input_price_per_m": 0.2,
        "output_price_per_m": 0.8,
        "supports_tools": True,
        "context_window": 16384,
        "complexity_ceiling": 0.6,
    }
    if customer_id is not None:
        body["customer_id"] = customer_id
    body.update(extra)
    return body


async def new_customer(admin: httpx.AsyncClient, name: str = "models-test") -> str:
    response = await admin.post("/customers", json={"name": name})
    assert response.status_code == 201
    customer_id: str = response.json()["id"]
    return customer_id


def unique(prefix: str) -> str:
    return f"{prefix}-{secrets.token_hex(4)}"


async def test_register_promote_demote_with_events(admin: httpx.AsyncClient, events: Any) -> None:
    customer_id = await new_customer(admin)
    name = unique("acme-contracts")
    created = await admin.post("/models", json=model_body(name, customer_id))
    assert created.status_code == 201, created.text
    model = created.json()
    assert model["id"].startswith("mdl_")
    assert model["status"] == "registered"
    assert model["customer_id"] == customer_id
    assert model["base_url"] == "http://127.0.0.1:8090/v1"  # trailing slash dropped
    assert (model["input_price_per_m"], model["output_price_per_m"]) == (0.2, 0.8)
    assert (model["supports_tools"], model["supports_vision"]) == (True, False)
    assert (model["context_window"], model["complexity_ceiling"]) == (16384, 0.6)
    assert model["is_fallback"] is False
    assert model["promoted_at"] is None
    registered = await events.wait_for(subjects.MODEL_REGISTERED, model_id=model["id"])
    assert registered["name"] == name
    assert registered["customer_id"] == customer_id
    assert registered["status"] == "registered"

    promoted = await admin.post(f"/models/{model['id']}/promote")
    assert promoted.status_code == 200, promoted.text
    assert promoted.json()["status"] == "active"
    promoted_at = promoted.json()["promoted_at"]
    assert promoted_at is not None
    event = await events.wait_for(subjects.MODEL_PROMOTED, model_id=model["id"])
    assert event["status"] == "active"

    again = await admin.post(f"/models/{model['id']}/promote")  # idempotent
    assert again.json()["promoted_at"] == promoted_at

    demoted = await admin.post(f"/models/{model['id']}/demote")
    assert demoted.status_code == 200
    assert demoted.json()["status"] == "retired"
    event = await events.wait_for(subjects.MODEL_DEMOTED, model_id=model["id"])
    assert event["status"] == "retired"
    assert (await admin.get(f"/models/{model['id']}")).json()["status"] == "retired"


async def test_register_validation(admin: httpx.AsyncClient) -> None:
    customer_id = await new_customer(admin)
    name = unique("dup")
    assert (await admin.post("/models", json=model_body(name, customer_id))).status_code == 201

    cases: list[tuple[dict[str, Any], int, str | None]] = [
        (model_body(name, customer_id), 409, "name"),  # unique per owner
        (model_body("auto", customer_id), 400, "name"),
        (model_body("AUTO", customer_id), 400, "name"),
        (model_body("gpt-4o", customer_id), 400, "name"),  # the fallback's name
        (model_body(unique("x"), "cus_missing"), 404, "customer_id"),
        (model_body(unique("x"), customer_id, provider="anthropic"), 400, "provider"),
        (model_body(unique("x"), customer_id, tier="medium"), 400, "tier"),
        (model_body(unique("x"), customer_id, base_url="ftp://host/v1"), 400, "base_url"),
        (model_body(unique("x"), customer_id, complexity_ceiling=1.5), 400, "complexity_ceiling"),
        (model_body(unique("x"), customer_id, input_price_per_m=-1), 400, "input_price_per_m"),
        (model_body(unique("x"), customer_id, context_window=0), 400, "context_window"),
    ]
    no_price = model_body(unique("x"), customer_id)
    del no_price["output_price_per_m"]
    cases.append((no_price, 400, "output_price_per_m"))
    for body, status, param in cases:
        response = await admin.post("/models", json=body)
        assert response.status_code == status, (body, response.text)
        assert response.json()["error"]["param"] == param, (body, response.json())


async def test_known_provider_model_gets_list_prices(admin: httpx.AsyncClient) -> None:
    customer_id = await new_customer(admin)
    body = model_body(
        unique("mini"), customer_id, provider="openai", provider_model_id="gpt-4o-mini"
    )
    del body["input_price_per_m"], body["output_price_per_m"]
    created = await admin.post("/models", json=body)
    assert created.status_code == 201, created.text
    assert (created.json()["input_price_per_m"], created.json()["output_price_per_m"]) == (
        0.15,
        0.6,
    )


async def test_customers_are_isolated(admin: httpx.AsyncClient) -> None:
    acme = await new_customer(admin, "acme")
    beta = await new_customer(admin, "beta")
    acme_model = (await admin.post("/models", json=model_body(unique("acme"), acme))).json()
    beta_model = (await admin.post("/models", json=model_body(unique("beta"), beta))).json()
    shared_name = unique("shared")
    shared = (await admin.post("/models", json=model_body(shared_name))).json()
    assert shared["customer_id"] is None

    def ids(listing: dict[str, Any]) -> set[str]:
        return {m["id"] for m in listing["data"]}

    acme_view = (await admin.get("/models", params={"customer_id": acme})).json()
    assert acme_model["id"] in ids(acme_view)
    assert shared["id"] in ids(acme_view)
    assert beta_model["id"] not in ids(acme_view)
    assert all(m["customer_id"] in (acme, None) for m in acme_view["data"])
    fallback = [m for m in acme_view["data"] if m["is_fallback"]]
    assert [(m["id"], m["name"], m["tier"], m["status"]) for m in fallback] == [
        ("fallback", "gpt-4o", "large", "active")
    ]

    # Reading another customer's model through a customer scope looks like "no such model".
    hidden = await admin.get(f"/models/{beta_model['id']}", params={"customer_id": acme})
    assert hidden.status_code == 404
    assert hidden.json()["error"]["code"] == "model_not_found"
    assert (
        await admin.get(f"/models/{shared['id']}", params={"customer_id": acme})
    ).status_code == 200
    assert (await admin.get(f"/models/{beta_model['id']}")).status_code == 200  # admin view

    # Nor may acme make beta's model its default.
    refused = await admin.patch(f"/customers/{acme}", json={"default_model": beta_model["name"]})
    assert refused.status_code == 400
    allowed = await admin.patch(f"/customers/{acme}", json={"default_model": shared_name})
    assert allowed.status_code == 200

    # Names: beta may reuse acme's model name, nobody may reuse a shared model's name,
    # and a shared model may not take a name a customer already uses.
    assert (
        await admin.post("/models", json=model_body(acme_model["name"], beta))
    ).status_code == 201
    assert (await admin.post("/models", json=model_body(shared_name, beta))).status_code == 409
    assert (await admin.post("/models", json=model_body(acme_model["name"]))).status_code == 409

    everything = (await admin.get("/models")).json()
    assert {acme_model["id"], beta_model["id"], shared["id"]} <= ids(everything)

    assert (await admin.get("/models", params={"customer_id": "cus_missing"})).status_code == 404


async def test_status_filter_and_fallback_entry(admin: httpx.AsyncClient) -> None:
    customer_id = await new_customer(admin)
    model = (await admin.post("/models", json=model_body(unique("f"), customer_id))).json()
    # (Shared models registered by other tests are visible too; look at this customer's.)
    registered = (
        await admin.get("/models", params={"customer_id": customer_id, "status": "registered"})
    ).json()
    assert all(m["status"] == "registered" for m in registered["data"])
    assert [m["id"] for m in registered["data"] if m["customer_id"] == customer_id] == [model["id"]]
    assert not any(m["is_fallback"] for m in registered["data"])
    active = (
        await admin.get("/models", params={"customer_id": customer_id, "status": "active"})
    ).json()
    assert all(m["status"] == "active" for m in active["data"])
    assert [m["id"] for m in active["data"] if m["customer_id"] == customer_id] == []
    assert active["data"][-1]["id"] == "fallback"
    assert (await admin.get("/models", params={"status": "bogus"})).status_code == 400

    fallback = (await admin.get("/models/fallback")).json()
    assert fallback["is_fallback"] is True
    assert fallback["name"] == "gpt-4o"
    assert (fallback["input_price_per_m"], fallback["output_price_per_m"]) == (2.5, 10.0)
    assert (await admin.post("/models/fallback/promote")).status_code == 400
    assert (await admin.post("/models/fallback/demote")).status_code == 400
    assert (await admin.post("/models/mdl_missing/promote")).status_code == 404
    assert (await admin.post("/models/mdl_missing/demote")).status_code == 404


async def test_demoting_a_default_model_clears_it_and_announces(
    admin: httpx.AsyncClient, events: Any
) -> None:
    customer_id = await new_customer(admin)
    model = (await admin.post("/models", json=model_body(unique("d"), customer_id))).json()
    await admin.post(f"/models/{model['id']}/promote")
    patched = await admin.patch(f"/customers/{customer_id}", json={"default_model": model["name"]})
    assert patched.json()["default_model"] == model["name"]

    await admin.post(f"/models/{model['id']}/demote")
    assert (await admin.get(f"/customers/{customer_id}")).json()["default_model"] is None
    await events.wait_for(subjects.CUSTOMER_UPDATED, customer_id=customer_id, default_model=None)
    # A retired model is no longer callable, so it cannot become the default again ...
    refused = await admin.patch(f"/customers/{customer_id}", json={"default_model": model["name"]})
    assert refused.status_code == 400
    # ... until it is promoted again.
    await admin.post(f"/models/{model['id']}/promote")
    ok = await admin.patch(f"/customers/{customer_id}", json={"default_model": model["name"]})
    assert ok.status_code == 200
