"""LedgerService logic with an in-memory store: verdicts per message, no network."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from decimal import Decimal

import orjson
import pytest
from sqlalchemy.exc import DBAPIError, OperationalError

from modality.billing.metrics import BillingMetrics
from modality.billing.service import LedgerService, Verdict, is_row_error, to_money
from modality.billing.settings import BillingSettings
from modality.billing.types import LedgerRow
from modality.common.events import UsageRecorded


class Driver(Exception):
    def __init__(self, sqlstate: str | None) -> None:
        super().__init__(f"sqlstate {sqlstate}")
        self.sqlstate = sqlstate


def db_error(sqlstate: str | None) -> DBAPIError:
    return DBAPIError("INSERT", {}, Driver(sqlstate))


class MemoryStore:
    """Keeps rows by request id; refuses rows whose model is 'refused' like Postgres would
    (SQLSTATE 22021), or fails every write with ``down`` set."""

    def __init__(self) -> None:
        self.rows: dict[str, LedgerRow] = {}
        self.down: BaseException | None = None
        self.calls: list[int] = []

    async def insert(self, rows: Sequence[LedgerRow]) -> int:
        self.calls.append(len(rows))
        if self.down is not None:
            raise self.down
        if any(r["model"] == "refused" for r in rows):
            raise db_error("22021")
        new = [r for r in rows if r["request_id"] not in self.rows]
        self.rows.update({r["request_id"]: r for r in new})
        return len(new)


def event(request_id: str, **fields: object) -> bytes:
    values: dict[str, object] = {
        "request_id": request_id,
        "customer_id": "cus_1",
        "api_key_id": "key_1",
        "model": "small",
        "provider": "simulator",
        "tier": "small",
        "policy": "embedding",
        "route_reason": "domain_match",
        "prompt_tokens": 10,
        "completion_tokens": 5,
        "latency_ms": 3.0,
        "cost_usd": 0.00125,
        "fallback_model": "gpt-4o",
        "fallback_cost_usd": 0.0075,
        "status": "ok",
        "status_code": 200,
        "occurred_at": datetime(2026, 1, 1, tzinfo=UTC),
    }
    values.update(fields)
    return UsageRecorded.model_validate(values).to_bytes()


@pytest.fixture
def store() -> MemoryStore:
    return MemoryStore()


@pytest.fixture
def service(store: MemoryStore) -> LedgerService:
    return LedgerService(store, BillingMetrics())


async def test_one_verdict_per_message_in_order(service: LedgerService, store: MemoryStore) -> None:
    payloads = [
        event("req_a"),
        b"not json",
        event("req_b"),
        event("req_a"),  # the same request twice in one batch
        orjson.dumps({"request_id": "req_c"}),
        event("req_d", prompt_tokens=2**31),  # does not fit the INTEGER column
        event("req_e", customer_id="c" * 41),  # does not fit VARCHAR(40)
        event("req_f", cost_usd=1e12),  # does not fit NUMERIC(20, 10)
    ]
    verdicts = await service.ingest(payloads)
    A, T = Verdict.ACK, Verdict.TERM
    assert verdicts == [A, T, A, A, T, T, T, T]
    assert sorted(store.rows) == ["req_a", "req_b"]
    assert store.calls == [2]  # one write for the batch, duplicates folded


async def test_money_is_the_floats_decimal_repr_rounded_to_the_column(
    service: LedgerService, store: MemoryStore
) -> None:
    await service.ingest([event("req_a", cost_usd=0.1 + 0.2, fallback_cost_usd=2.5e-11)])
    row = store.rows["req_a"]
    assert row["cost_usd"] == Decimal("0.3000000000")  # not 0.30000000000000004441
    assert row["fallback_cost_usd"] == Decimal("0.0000000000")  # below 1e-10, half-up rounds down
    assert to_money(5e-11) == Decimal("0.0000000001")


async def test_database_down_retries_every_valid_message(
    service: LedgerService, store: MemoryStore
) -> None:
    store.down = OperationalError("INSERT", {}, ConnectionRefusedError("down"))
    verdicts = await service.ingest([event("req_a"), b"{}", event("req_b")])
    assert verdicts == [Verdict.RETRY, Verdict.TERM, Verdict.RETRY]
    assert store.calls == [2]  # no row-by-row attempts against a database that is down

    store.down = None
    assert await service.ingest([event("req_a"), event("req_b")]) == [Verdict.ACK, Verdict.ACK]
    assert sorted(store.rows) == ["req_a", "req_b"]


async def test_a_refused_row_is_isolated_and_terminated(
    service: LedgerService, store: MemoryStore
) -> None:
    payloads = [event("req_a"), event("req_x", model="refused"), event("req_b"), event("req_a")]
    verdicts = await service.ingest(payloads)
    assert verdicts == [Verdict.ACK, Verdict.TERM, Verdict.ACK, Verdict.ACK]
    assert sorted(store.rows) == ["req_a", "req_b"]
    assert store.calls == [3, 1, 1, 1]  # the batch, then each distinct request alone


@pytest.mark.parametrize(
    ("exc", "row"),
    [
        (db_error("22021"), True),  # character_not_in_repertoire
        (db_error("22003"), True),  # numeric_value_out_of_range
        (db_error("23502"), True),  # not_null_violation
        (db_error("08006"), False),  # connection_failure
        (db_error("57P01"), False),  # admin_shutdown
        (db_error("42P01"), False),  # undefined_table: migrations missing, retry later
        (db_error(None), False),
        (ConnectionRefusedError(), False),
    ],
)
def test_row_errors_are_told_apart_by_sqlstate(exc: BaseException, row: bool) -> None:
    assert is_row_error(exc) is row


def test_settings_defaults_and_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MODALITY_BILLING_PORT", "9123")
    monkeypatch.setenv("MODALITY_NATS_URL", "nats://10.0.0.1:4222")
    settings = BillingSettings()
    assert settings.port == 9123
    assert settings.nats_url == "nats://10.0.0.1:4222"
    assert settings.consumer_name == "billing-usage"
    assert settings.filter_subject == "usage.recorded.>"
    with pytest.raises(ValueError, match=r"usage\.recorded"):
        BillingSettings(filter_subject="model.>")
