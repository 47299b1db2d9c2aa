"""The whole system as real processes: every service started by the same orchestrator
``make run`` uses, on free ports, against the session's real NATS, Postgres and Redis."""

from __future__ import annotations

import io
import os
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from modality.devstack.ports import free_port
from modality.devstack.settings import StackSettings
from modality.devstack.stack import SERVICES, Stack


@dataclass(frozen=True)
class RunningStack:
    data_url: str
    control_url: str
    simulator_url: str
    admin_token: str
    log: io.StringIO

    def control(self) -> httpx.Client:
        return httpx.Client(
            base_url=self.control_url,
            headers={"Authorization": f"Bearer {self.admin_token}"},
            timeout=10.0,
        )


@pytest.fixture(scope="package")
def stack(
    nats_url: str, database_url: str, redis_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RunningStack]:
    ports = {var: free_port() for spec in SERVICES for var in spec.ports}
    env = {k: v for k, v in os.environ.items() if not k.startswith("MODALITY_")}
    env.update({var: str(port) for var, port in ports.items()})
    env["MODALITY_CLASSIFIER_JWT_SECRET"] = secrets.token_urlsafe(32)
    env["MODALITY_CLASSIFIER_STATE_DIR"] = str(tmp_path_factory.mktemp("classifier"))
    admin_token = secrets.token_urlsafe(24)
    settings = StackSettings(
        state_dir=Path(tmp_path_factory.mktemp("stack")),
        nats_url=nats_url,
        database_url=database_url,
        redis_url=redis_url,
        admin_token=admin_token,
        stack_durable=False,
        stack_health_timeout=90.0,
    )
    log = io.StringIO()
    running = Stack(settings, base_env=env, out=log)
    try:
        running.start()
    except Exception:
        print(log.getvalue())
        raise
    try:
        yield RunningStack(
            data_url=f"http://127.0.0.1:{ports['MODALITY_GATEWAY_PORT']}",
            control_url=f"http://127.0.0.1:{ports['MODALITY_GATEWAY_CONTROL_PORT']}",
            simulator_url=f"http://127.0.0.1:{ports['MODALITY_SIMULATOR_PORT']}/v1",
            admin_token=admin_token,
            log=log,
        )
    finally:
        running.stop()
