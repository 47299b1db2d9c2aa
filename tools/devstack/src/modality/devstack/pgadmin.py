"""Small Postgres admin operations (create/drop a database) through the wheel's ``psql``.

``psql`` is used instead of a Python driver so these work from synchronous code (pytest
session fixtures, the stack) whatever event loop is or is not running.
"""

from __future__ import annotations

import re
import subprocess
from urllib.parse import urlsplit, urlunsplit

from modality.devstack import binaries
from modality.devstack.errors import DevstackError

_DB_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


def libpq_url(url: str) -> str:
    """``url`` without a SQLAlchemy driver suffix (``postgresql+asyncpg://`` → ``postgresql://``)."""
    scheme, sep, rest = url.partition("://")
    if not sep or scheme.split("+", 1)[0] not in {"postgresql", "postgres"}:
        raise DevstackError(f"not a PostgreSQL URL: {scheme}://...")
    return "postgresql://" + rest


def with_database(url: str, database: str, *, driver: str | None = None) -> str:
    """``url`` pointing at ``database``, optionally with a SQLAlchemy driver (``asyncpg``)."""
    parts = urlsplit(libpq_url(url))
    scheme = f"postgresql+{driver}" if driver else "postgresql"
    return urlunsplit((scheme, parts.netloc, "/" + database, parts.query, parts.fragment))


def _check_name(database: str) -> str:
    if not _DB_NAME.match(database):
        raise DevstackError(f"refusing unusual database name {database!r} (want [a-z_][a-z0-9_]*)")
    return database


def psql(url: str, sql: str, *, timeout: float = 30.0) -> str:
    """Run one statement with ``psql`` against ``url``; return its unaligned output."""
    argv = [
        str(binaries.postgres_bin_dir() / "psql"),
        libpq_url(url),
        "--no-psqlrc",
        "--set=ON_ERROR_STOP=1",
        "--tuples-only",
        "--no-align",
        "--command",
        sql,
    ]
    result = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, check=False)
    if result.returncode != 0:
        where = urlsplit(libpq_url(url))
        raise DevstackError(
            f"psql on {where.hostname}:{where.port}{where.path} failed "
            f"(exit {result.returncode}): {result.stderr.strip()}"
        )
    return result.stdout.strip()


def database_exists(server_url: str, database: str) -> bool:
    name = _check_name(database)
    return psql(server_url, f"SELECT 1 FROM pg_database WHERE datname = '{name}'") == "1"


def create_database(server_url: str, database: str) -> None:
    psql(server_url, f'CREATE DATABASE "{_check_name(database)}"')


def ensure_database(server_url: str, database: str) -> None:
    if not database_exists(server_url, database):
        create_database(server_url, database)


def drop_database(server_url: str, database: str) -> None:
    psql(server_url, f'DROP DATABASE IF EXISTS "{_check_name(database)}" WITH (FORCE)')
