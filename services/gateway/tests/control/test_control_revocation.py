"""Across both planes: a key revoked on the control plane stops working on the running
data plane within a second (the shared cache contract), and a new key works at once."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx
import pytest

pytestmark = pytest.mark.integration


async def test_revoked_key_stops_working_on_the_data_plane_within_a_second(
    admin: httpx.AsyncClient, data_gateway: Any
) -> None:
    customer_id = (await admin.post("/customers", json={"name": "revocation"})).json()["id"]
    key = (await admin.post(f"/customers/{customer_id}/api-keys", json={})).json()
    async with httpx.AsyncClient(
        base_url=data_gateway.url, headers={"Authorization": f"Bearer {key['key']}"}
    ) as customer:
        # Warm every cache layer (memory, Redis) with the live key.
        for _ in range(3):
            assert (await customer.get("/v1/models")).status_code == 200

        assert (await admin.delete(f"/api-keys/{key['id']}")).status_code == 200
        revoked_at = time.monotonic()
        while (status := (await customer.get("/v1/models")).status_code) == 200:
            assert time.monotonic() - revoked_at < 1.0, "revoked key still accepted after 1 s"
            await asyncio.sleep(0.02)
        assert status == 401
        await asyncio.sleep(0.2)
        assert (await customer.get("/v1/models")).status_code == 401
