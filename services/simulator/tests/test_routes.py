"""Routes outside the simulated OpenAI surface answer in OpenAI's error shape."""

from __future__ import annotations

import httpx
from openai import OpenAI


def test_fireworks_and_unknown_routes(client: OpenAI) -> None:
    base = str(client.base_url).rstrip("/")
    fireworks = httpx.get(f"{base}/accounts/acme/supervisedFineTuningJobs")
    assert fireworks.status_code == 501
    error = fireworks.json()["error"]
    assert error["code"] == "not_simulated" and "Fireworks" in error["message"]
    assert fireworks.headers["x-modality-simulator"] == "true"
    unknown = httpx.post(f"{base}/nothing/here")
    assert unknown.status_code == 404 and unknown.json()["error"]["code"] == "unknown_url"
    assert httpx.post(f"{base}/embeddings", json={}).status_code == 501
    health = httpx.get(base.removesuffix("/v1") + "/health")
    assert health.status_code == 200 and health.json()["simulator"] is True
