"""Control plane: admin auth, OpenAI-shaped errors (400 not 422), health, metrics, docs."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from modality.gateway.control.app import create_control_app
from modality.gateway.settings import GatewaySettings

pytestmark = pytest.mark.integration


def openai_error(response: httpx.Response, status: int, error_type: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"}
    error: dict[str, Any] = body["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert error["type"] == error_type
    assert error["message"]
    return error


ADMIN_ROUTES = [
    ("GET", "/customers"),
    ("POST", "/customers"),
    ("GET", "/customers/{customer_id}"),
    ("PATCH", "/customers/{customer_id}"),
    ("POST", "/customers/{customer_id}/api-keys"),
    ("GET", "/customers/{customer_id}/api-keys"),
    ("DELETE", "/api-keys/{key_id}"),
    ("GET", "/models"),
    ("POST", "/models"),
    ("GET", "/models/{model_id}"),
    ("POST", "/models/{model_id}/promote"),
    ("POST", "/models/{model_id}/demote"),
    ("GET", "/customers/{customer_id}/usage"),
]


def concrete(path: str) -> str:
    return path.format(customer_id="cus_x", key_id="key_x", model_id="mdl_x")


async def test_every_admin_route_refuses_missing_and_wrong_tokens(
    control_app: FastAPI, anonymous: httpx.AsyncClient, admin_token: str
) -> None:
    documented = {
        (method.upper(), path)
        for path, item in control_app.openapi()["paths"].items()
        for method in item
        if path != "/health"
    }
    assert documented == set(ADMIN_ROUTES)  # a new route must be added to this test
    for method, template in ADMIN_ROUTES:
        path = concrete(template)
        missing = await anonymous.request(method, path, json={})
        assert openai_error(missing, 401, "authentication_error")["code"] == "missing_admin_token"
        for header in ("Bearer not-the-token", f"Basic {admin_token}", f"Bearer {admin_token}x"):
            wrong = await anonymous.request(
                method, path, json={}, headers={"Authorization": header}
            )
            assert openai_error(wrong, 401, "authentication_error")["code"] in (
                "invalid_admin_token",
                "missing_admin_token",
            ), (method, path, header)


async def test_right_token_passes(admin: httpx.AsyncClient) -> None:
    assert (await admin.get("/customers")).status_code == 200


async def test_empty_admin_token_refuses_everything(control_settings: GatewaySettings) -> None:
    settings = control_settings.model_copy(update={"admin_token": ""})
    app = create_control_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://control") as client:
            for header in ({}, {"Authorization": "Bearer "}, {"Authorization": "Bearer anything"}):
                response = await client.get("/customers", headers=header)
                error = openai_error(response, 401, "authentication_error")
                assert error["code"] == "admin_token_not_configured"
            assert (await client.get("/health")).status_code == 200


async def test_validation_errors_are_400_naming_the_field(admin: httpx.AsyncClient) -> None:
    cases: list[tuple[dict[str, Any], str]] = [
        ({}, "name"),
        ({"name": ""}, "name"),
        ({"name": "acme", "routing_policy": "random"}, "routing_policy"),
        ({"name": "acme", "routing_alpha": -1}, "routing_alpha"),
        ({"name": "acme", "surprise": 1}, "surprise"),
    ]
    for body, param in cases:
        error = openai_error(
            await admin.post("/customers", json=body), 400, "invalid_request_error"
        )
        assert error["param"] == param, (body, error)

    not_json = await admin.post(
        "/customers", content=b"{not json", headers={"content-type": "application/json"}
    )
    assert openai_error(not_json, 400, "invalid_request_error")["code"] == "invalid_json"

    bad_query = await admin.get("/customers", params={"limit": 0})
    assert openai_error(bad_query, 400, "invalid_request_error")["param"] == "limit"


async def test_unknown_route_and_method_are_openai_shaped(admin: httpx.AsyncClient) -> None:
    assert (
        openai_error(await admin.get("/nope"), 404, "invalid_request_error")["code"]
        == "unknown_url"
    )
    assert (
        openai_error(await admin.put("/customers"), 405, "invalid_request_error")["code"]
        == "method_not_allowed"
    )


async def test_health_metrics_and_docs_need_no_token(anonymous: httpx.AsyncClient) -> None:
    health = await anonymous.get("/health")
    assert health.status_code == 200
    assert health.json() == {"status": "ok", "database": "ok", "nats": "ok"}

    await anonymous.get("/customers")  # one refused request, counted below
    metrics = await anonymous.get("/metrics")
    assert metrics.status_code == 200
    assert (
        'modality_control_requests_total{method="GET",route="/customers",status="401"}'
        in metrics.text
    )

    assert (await anonymous.get("/docs")).status_code == 200
    spec = (await anonymous.get("/openapi.json")).json()
    assert "/customers/{customer_id}/usage" in spec["paths"]
    assert "AdminToken" in spec["components"]["securitySchemes"]
    operations = [op for item in spec["paths"].values() for op in item.values()]
    assert all("422" not in op["responses"] for op in operations)  # invalid input is a 400
    assert all(
        "400" in op["responses"] for op in operations if op["operationId"] != "health_health_get"
    )


async def test_health_reports_an_unreachable_database(control_settings: GatewaySettings) -> None:
    settings = control_settings.model_copy(
        update={"database_url": "postgresql://nobody@127.0.0.1:9/none"}
    )
    app = create_control_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://control") as client:
            response = await client.get("/health")
            assert response.status_code == 503
            assert response.json()["database"] == "unreachable"
            down = await client.get(
                "/customers", headers={"Authorization": f"Bearer {settings.admin_token}"}
            )
            assert openai_error(down, 503, "server_error")["code"] == "service_unavailable"
