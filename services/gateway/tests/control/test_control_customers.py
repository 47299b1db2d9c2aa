"""Control plane: customer CRUD, pagination, PATCH validation and CustomerUpdated."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from modality.common import subjects

pytestmark = pytest.mark.integration


async def create_customer(admin: httpx.AsyncClient, **body: Any) -> dict[str, Any]:
    response = await admin.post("/customers", json={"name": "acme", **body})
    assert response.status_code == 201, response.text
    data: dict[str, Any] = response.json()
    return data


async def test_create_read_and_defaults(admin: httpx.AsyncClient) -> None:
    created = await create_customer(admin, name="Acme Legal")
    assert created["id"].startswith("cus_")
    assert created["name"] == "Acme Legal"
    assert created["routing_policy"] == "embedding"
    assert created["routing_alpha"] == 1.0
    assert created["default_model"] is None
    assert created["created_at"]

    fetched = await admin.get(f"/customers/{created['id']}")
    assert fetched.status_code == 200
    assert fetched.json() == created

    missing = await admin.get("/customers/cus_doesnotexist")
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "not_found"


async def test_create_with_policy_and_fallback_default(admin: httpx.AsyncClient) -> None:
    created = await create_customer(
        admin, routing_policy="learned", routing_alpha=0.25, default_model="gpt-4o"
    )
    assert (created["routing_policy"], created["routing_alpha"], created["default_model"]) == (
        "learned",
        0.25,
        "gpt-4o",
    )
    refused = await admin.post("/customers", json={"name": "x", "default_model": "nobody-has-this"})
    assert refused.status_code == 400
    assert refused.json()["error"]["param"] == "default_model"


async def test_list_paginates_with_limit_and_after(admin: httpx.AsyncClient) -> None:
    mine = [(await create_customer(admin, name=f"page-{i}"))["id"] for i in range(5)]
    seen: list[str] = []
    after: str | None = None
    pages = 0
    while True:
        params: dict[str, Any] = {"limit": 2}
        if after:
            params["after"] = after
        page = (await admin.get("/customers", params=params)).json()
        pages += 1
        assert page["object"] == "list"
        assert len(page["data"]) <= 2
        seen.extend(c["id"] for c in page["data"])
        if not page["has_more"]:
            break
        assert page["last_id"] == page["data"][-1]["id"]
        after = page["last_id"]
    assert len(seen) == len(set(seen))  # no customer twice
    assert [c for c in seen if c in mine] == mine  # oldest first, none missing
    assert pages >= 3

    bad = await admin.get("/customers", params={"after": "cus_unknown"})
    assert bad.status_code == 400
    assert bad.json()["error"]["param"] == "after"


async def test_patch_changes_policy_and_publishes(admin: httpx.AsyncClient, events: Any) -> None:
    customer = await create_customer(admin)
    response = await admin.patch(
        f"/customers/{customer['id']}", json={"routing_policy": "rules", "routing_alpha": 0.5}
    )
    assert response.status_code == 200, response.text
    updated = response.json()
    assert (updated["routing_policy"], updated["routing_alpha"]) == ("rules", 0.5)
    assert updated["name"] == customer["name"]
    assert updated["updated_at"] >= customer["updated_at"]

    event = await events.wait_for(subjects.CUSTOMER_UPDATED, customer_id=customer["id"])
    assert event["routing_policy"] == "rules"
    assert event["routing_alpha"] == 0.5
    assert event["default_model"] is None
    assert (await admin.get(f"/customers/{customer['id']}")).json()["routing_policy"] == "rules"


async def test_patch_default_model_must_be_callable(admin: httpx.AsyncClient, events: Any) -> None:
    customer = await create_customer(admin)
    other = await create_customer(admin, name="other")
    their_model = await admin.post(
        "/models",
        json={
            "customer_id": other["id"],
            "name": f"theirs-{other['id']}",
            "provider": "simulator",
            "base_url": "http://127.0.0.1:9/v1",
            "provider_model_id": "sim-small",
            "input_price_per_m": 0.1,
            "output_price_per_m": 0.2,
        },
    )
    assert their_model.status_code == 201
    for name in ("nonexistent-model", their_model.json()["name"]):
        refused = await admin.patch(f"/customers/{customer['id']}", json={"default_model": name})
        assert refused.status_code == 400, name
        assert refused.json()["error"]["param"] == "default_model"

    ok = await admin.patch(f"/customers/{customer['id']}", json={"default_model": "gpt-4o"})
    assert ok.json()["default_model"] == "gpt-4o"
    event = await events.wait_for(
        subjects.CUSTOMER_UPDATED, customer_id=customer["id"], default_model="gpt-4o"
    )
    assert event["routing_policy"] == "embedding"

    cleared = await admin.patch(f"/customers/{customer['id']}", json={"default_model": None})
    assert cleared.json()["default_model"] is None


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"routing_policy": "smart"}, "routing_policy"),
        ({"routing_alpha": -0.1}, "routing_alpha"),
        ({"routing_policy": None}, "routing_policy"),
        ({"name": None}, "name"),
        ({"id": "cus_new"}, "id"),
    ],
)
async def test_patch_rejects_bad_values(
    admin: httpx.AsyncClient, body: dict[str, Any], param: str
) -> None:
    customer = await create_customer(admin)
    response = await admin.patch(f"/customers/{customer['id']}", json=body)
    assert response.status_code == 400
    assert response.json()["error"]["param"] == param
    assert (await admin.get(f"/customers/{customer['id']}")).json() == customer


async def test_patch_unknown_customer_is_404(admin: httpx.AsyncClient) -> None:
    response = await admin.patch("/customers/cus_nope", json={"routing_policy": "rules"})
    assert response.status_code == 404
