"""Control plane: usage totals and breakdowns from ledger rows inserted here."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from modality.common.db.models import UsageEntry
from modality.common.ids import new_request_id

pytestmark = pytest.mark.integration


def ledger_row(
    customer_id: str,
    occurred_at: datetime,
    model: str,
    cost: str,
    fallback_cost: str,
    prompt: int = 100,
    completion: int = 50,
    status: str = "ok",
) -> dict[str, Any]:
    return {
        "request_id": new_request_id(),
        "customer_id": customer_id,
        "api_key_id": "key_test",
        "model": model,
        "provider": "simulator",
        "tier": "large" if model == "gpt-4o" else "small",
        "policy": "embedding",
        "route_reason": "domain_match",
        "endpoint": "chat.completions",
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "latency_ms": 12.5,
        "cost_usd": Decimal(cost),
        "fallback_model": "gpt-4o",
        "fallback_cost_usd": Decimal(fallback_cost),
        "status": status,
        "status_code": 200 if status == "ok" else 502,
        "stream": False,
        "attempts": 1,
        "occurred_at": occurred_at,
    }


async def insert(app: FastAPI, rows: list[dict[str, Any]]) -> None:
    async with app.state.control.sessions() as session:
        await session.execute(UsageEntry.__table__.insert(), rows)
        await session.commit()


async def new_customer(admin: httpx.AsyncClient) -> str:
    customer_id: str = (await admin.post("/customers", json={"name": "usage"})).json()["id"]
    return customer_id


def d(value: str) -> Decimal:
    return Decimal(value)


async def test_totals_breakdowns_range_and_savings(
    admin: httpx.AsyncClient, control_app: FastAPI
) -> None:
    acme, beta = await new_customer(admin), await new_customer(admin)
    t0 = datetime(2026, 1, 10, tzinfo=UTC)
    rows = [
        ledger_row(acme, t0 + timedelta(hours=10), "acme-small", "0.0010000001", "0.0100000000"),
        ledger_row(
            acme,
            t0 + timedelta(hours=23, minutes=59, seconds=59),
            "acme-small",
            "0.002",
            "0.02",
            200,
            80,
        ),
        ledger_row(acme, t0 + timedelta(days=1), "gpt-4o", "0.03", "0.03", 300, 0, status="error"),
        # outside [start, end): just before start, exactly at end
        ledger_row(acme, t0 - timedelta(microseconds=1), "acme-small", "5", "5"),
        ledger_row(acme, t0 + timedelta(days=2), "acme-small", "7", "7"),
        # another customer, inside the range
        ledger_row(beta, t0 + timedelta(hours=12), "acme-small", "11", "11"),
    ]
    await insert(control_app, rows)

    response = await admin.get(
        f"/customers/{acme}/usage",
        params={"start": "2026-01-10T00:00:00Z", "end": "2026-01-12T00:00:00Z"},
    )
    assert response.status_code == 200, response.text
    usage = response.json()
    assert usage["customer_id"] == acme
    totals = usage["totals"]
    assert (totals["requests"], totals["errors"]) == (3, 1)
    assert (totals["prompt_tokens"], totals["completion_tokens"]) == (600, 130)
    assert d(totals["cost_usd"]) == d("0.0330000001")
    assert d(totals["fallback_cost_usd"]) == d("0.06")
    assert d(totals["savings_usd"]) == d("0.0269999999")
    assert totals["cost_usd"] == "0.0330000001"  # an exact decimal string, never rounded

    by_model = {m["model"]: m for m in usage["by_model"]}
    assert set(by_model) == {"acme-small", "gpt-4o"}
    assert by_model["acme-small"]["requests"] == 2
    assert d(by_model["acme-small"]["cost_usd"]) == d("0.0030000001")
    assert d(by_model["acme-small"]["savings_usd"]) == d("0.0269999999")
    assert (by_model["gpt-4o"]["errors"], d(by_model["gpt-4o"]["savings_usd"])) == (1, 0)

    by_day = [(x["day"], x["requests"], d(x["cost_usd"])) for x in usage["by_day"]]
    assert by_day == [("2026-01-10", 2, d("0.0030000001")), ("2026-01-11", 1, d("0.03"))]

    only_model = (
        await admin.get(
            f"/customers/{acme}/usage",
            params={
                "start": "2026-01-10T00:00:00",
                "end": "2026-01-12T00:00:00",
                "group_by": "model",
            },
        )
    ).json()
    assert only_model["by_day"] is None
    assert only_model["totals"] == totals  # naive times are UTC
    assert len(only_model["by_model"]) == 2

    one_day = (
        await admin.get(
            f"/customers/{acme}/usage",
            params={
                "start": "2026-01-11T00:00:00Z",
                "end": "2026-01-12T00:00:00Z",
                "group_by": "day",
            },
        )
    ).json()
    assert one_day["by_model"] is None
    assert one_day["totals"]["requests"] == 1
    assert [x["day"] for x in one_day["by_day"]] == ["2026-01-11"]


async def test_default_window_is_the_last_30_days(
    admin: httpx.AsyncClient, control_app: FastAPI
) -> None:
    customer = await new_customer(admin)
    now = datetime.now(UTC)
    await insert(
        control_app,
        [
            ledger_row(customer, now - timedelta(days=1), "m", "0.5", "1"),
            ledger_row(customer, now - timedelta(days=29), "m", "0.25", "1"),
            ledger_row(customer, now - timedelta(days=31), "m", "100", "100"),
        ],
    )
    usage = (await admin.get(f"/customers/{customer}/usage")).json()
    assert usage["totals"]["requests"] == 2
    assert d(usage["totals"]["cost_usd"]) == d("0.75")
    assert d(usage["totals"]["savings_usd"]) == d("1.25")
    end = datetime.fromisoformat(usage["end"])
    assert end - datetime.fromisoformat(usage["start"]) == timedelta(days=30)
    assert abs((end - now).total_seconds()) < 60
    assert {x["model"] for x in usage["by_model"]} == {"m"}
    assert len(usage["by_day"]) == 2


async def test_empty_range_is_zeros(admin: httpx.AsyncClient) -> None:
    customer = await new_customer(admin)
    usage = (await admin.get(f"/customers/{customer}/usage")).json()
    assert usage["totals"] == {
        "requests": 0,
        "errors": 0,
        "prompt_tokens": 0,
        "completion_tokens": 0,
        "cost_usd": "0.0000000000",
        "fallback_cost_usd": "0.0000000000",
        "savings_usd": "0.0000000000",
    }
    assert usage["by_model"] == [] and usage["by_day"] == []


@pytest.mark.parametrize(
    ("params", "param"),
    [
        ({"start": "2026-01-12T00:00:00Z", "end": "2026-01-10T00:00:00Z"}, "start"),
        ({"start": "2026-01-10T00:00:00Z", "end": "2026-01-10T00:00:00Z"}, "start"),
        ({"start": "yesterday"}, "start"),
        ({"group_by": "week"}, "group_by"),
    ],
)
async def test_bad_usage_queries_are_400(
    admin: httpx.AsyncClient, params: dict[str, str], param: str
) -> None:
    customer = await new_customer(admin)
    response = await admin.get(f"/customers/{customer}/usage", params=params)
    assert response.status_code == 400
    assert response.json()["error"]["param"] == param


async def test_usage_of_unknown_customer_is_404(admin: httpx.AsyncClient) -> None:
    assert (await admin.get("/customers/cus_nope/usage")).status_code == 404
