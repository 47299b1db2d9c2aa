"""POST /classify: HS256 service tokens, batch limits, OpenAI-shaped errors; /health, /metrics."""

from __future__ import annotations

import time
import warnings
from collections.abc import AsyncIterator
from typing import Any

import httpx
import jwt
import pytest
from jwt.warnings import InsecureKeyLengthWarning

from modality.classifier.app import create_app
from modality.classifier.backends import BackendInfo
from modality.classifier.protocol import RESULT_FIELDS
from modality.classifier.settings import ClassifierSettings
from modality.common.auth import issue_service_token

SECRET = "s" * 32


def settings(**kw: Any) -> ClassifierSettings:
    base: dict[str, Any] = {
        "env": "test",
        "jwt_secret": SECRET,
        "router_enabled": False,
        "max_batch_prompts": 4,
    }
    base.update(kw)
    return ClassifierSettings(**base)


@pytest.fixture
async def http(fake_classifier: Any) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(
        settings(), classifier=fake_classifier, backend_info=BackendInfo("onnx", "cpu")
    )
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://classifier") as client:
            yield client


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def signed(claims: dict[str, Any], key: str, alg: str = "HS256") -> str:
    """A token as an attacker or a misconfigured caller would make it (short keys allowed)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", InsecureKeyLengthWarning)
        return jwt.encode(claims, key, alg)


def valid_claims() -> dict[str, Any]:
    now = int(time.time())
    return {"sub": "x", "iat": now, "exp": now + 60}


def token(**claims: Any) -> str:
    now = int(time.time())
    payload = {"sub": "evaluator", "iat": now, "exp": now + 60}
    payload.update(claims)
    return jwt.encode({k: v for k, v in payload.items() if v is not None}, SECRET, "HS256")


async def test_classify_returns_the_schema_for_each_prompt(http: httpx.AsyncClient) -> None:
    r = await http.post(
        "/classify",
        json={"prompts": ["Write a poem.", "Sum 2 and 2."], "extra": 1},
        headers=bearer(issue_service_token(SECRET, "evaluator")),
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert (body["model"], body["backend"]) == ("prompt_classifier", "onnx")
    assert len(body["results"]) == 2
    for result in body["results"]:
        assert set(RESULT_FIELDS) <= set(result) and result["embedding"] is None
        assert result["small_model_failure"] == pytest.approx(0.1)


async def test_classify_can_return_embeddings(http: httpx.AsyncClient) -> None:
    r = await http.post(
        "/classify", json={"prompts": ["hello"], "return_embeddings": True}, headers=bearer(token())
    )
    assert r.status_code == 200 and len(r.json()["results"][0]["embedding"]) == 384


@pytest.mark.parametrize(
    ("headers", "code"),
    [
        ({}, "missing_token"),
        ({"Authorization": "Basic abc"}, "missing_token"),
        (bearer("not-a-jwt"), "invalid_token"),
        (bearer(token(exp=int(time.time()) - 120)), "token_expired"),
        (
            bearer(token(iat=int(time.time()) + 600, exp=int(time.time()) + 900)),
            "token_not_yet_valid",
        ),
        (bearer(token(sub=None)), "invalid_token"),
        (bearer(token(sub="")), "invalid_token"),
        (bearer(token(iat=None)), "invalid_token"),
        (bearer(signed(valid_claims(), "o" * 32)), "invalid_token"),
        (bearer(signed(valid_claims(), SECRET, "HS512")), "invalid_token"),
    ],
    ids=[
        "none",
        "basic",
        "garbage",
        "expired",
        "future-iat",
        "no-sub",
        "empty-sub",
        "no-iat",
        "bad-signature",
        "wrong-alg",
    ],
)
async def test_bad_tokens_get_a_401_on_openai_wire_format(
    http: httpx.AsyncClient, headers: dict[str, str], code: str, fake_classifier: Any
) -> None:
    r = await http.post("/classify", json={"prompts": ["hi"]}, headers=headers)
    assert r.status_code == 401
    assert r.headers["www-authenticate"] == "Bearer"
    error = r.json()["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert (error["type"], error["code"]) == ("authentication_error", code)
    assert fake_classifier.classify_calls == []


async def test_a_classifier_without_a_real_secret_rejects_every_token(fake_classifier: Any) -> None:
    app = create_app(settings(jwt_secret="short"), classifier=fake_classifier)
    async with app.router.lifespan_context(app):
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://c"
        ) as client:
            r = await client.post(
                "/classify",
                json={"prompts": ["hi"]},
                headers=bearer(signed(valid_claims(), "short")),
            )
    assert r.status_code == 401 and r.json()["error"]["code"] == "auth_not_configured"


def test_production_refuses_placeholder_and_short_secrets() -> None:
    with pytest.raises(ValueError, match="real secret"):
        ClassifierSettings(env="production", jwt_secret="changeme")
    with pytest.raises(ValueError, match="at least 32 bytes"):
        ClassifierSettings(env="production", jwt_secret="a-real-but-short-secret")
    assert ClassifierSettings(env="production", jwt_secret="k" * 32).jwt_secret == "k" * 32


@pytest.mark.parametrize(
    ("body", "status", "param"),
    [
        ({"prompts": ["p"] * 5}, 413, "prompts"),
        ({"prompts": []}, 400, "prompts"),
        ({"prompts": "just a string"}, 400, "prompts"),
        ({}, 400, "prompts"),
        ({"prompts": ["a", "b"], "has_tools": [True]}, 400, "has_tools"),
        ({"prompts": ["x" * 100_001]}, 413, "prompts"),
    ],
)
async def test_invalid_bodies(
    http: httpx.AsyncClient, body: dict[str, Any], status: int, param: str
) -> None:
    r = await http.post("/classify", json=body, headers=bearer(token()))
    assert r.status_code == status, r.text
    error = r.json()["error"]
    assert error["type"] == "invalid_request_error" and error["param"] == param


async def test_malformed_json_is_a_400(http: httpx.AsyncClient) -> None:
    r = await http.post(
        "/classify",
        content=b"{not json",
        headers={**bearer(token()), "content-type": "application/json"},
    )
    assert r.status_code == 400 and r.json()["error"]["type"] == "invalid_request_error"


async def test_unknown_route_is_an_openai_404(http: httpx.AsyncClient) -> None:
    r = await http.get("/nope")
    assert r.status_code == 404 and r.json()["error"]["code"] == "not_found"


async def test_health_and_metrics(http: httpx.AsyncClient) -> None:
    await http.post("/classify", json={"prompts": ["a", "b"]}, headers=bearer(token()))
    await http.post("/classify", json={"prompts": ["a"]})
    health = await http.get("/health")
    assert health.status_code == 200
    assert health.json() == {
        "status": "ok",
        "model": "prompt_classifier",
        "backend": "onnx",
        "device": "cpu",
        "detail": {},
        "router": {"enabled": False},
    }
    text = (await http.get("/metrics")).text
    assert 'modality_classifier_http_requests_total{status="200"} 1.0' in text
    assert 'modality_classifier_http_requests_total{status="401"} 1.0' in text
    assert "modality_classifier_batch_prompts_sum 2.0" in text


@pytest.mark.parametrize("precision", ["fp32", "int8"])
async def test_the_service_builds_the_onnx_backend_from_settings(
    model_dir: Any, precision: str
) -> None:
    """No injected classifier: the lifespan loads the exported graph of the chosen precision."""
    app = create_app(settings(model_dir=model_dir, precision=precision))
    async with app.router.lifespan_context(app):
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://c"
        ) as client:
            health = (await client.get("/health")).json()
            r = await client.post(
                "/classify", json={"prompts": ["Write a sonnet."]}, headers=bearer(token())
            )
    assert health["backend"] == "onnx" and health["detail"]["precision"] == precision
    assert r.status_code == 200 and r.json()["results"][0]["task_type_1"]
