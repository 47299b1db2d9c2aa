"""The orchestrator, driven with stand-in services (tiny HTTP servers) instead of the real ones."""

from __future__ import annotations

import io
import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

import psutil
import pytest

from modality.devstack.errors import ChildFailedError, PortBusyError, StackLockedError
from modality.devstack.ports import free_port
from modality.devstack.settings import StackSettings
from modality.devstack.stack import ServiceSpec, Stack
from modality.devstack.state import StackState, StatePaths

# A stand-in service: serves /health and echoes its MODALITY_* environment as JSON on
# the port named by argv[1]; exits with argv[2] instead when given.
FAKE_SERVICE = textwrap.dedent(
    """
    import http.server, json, os, sys
    if len(sys.argv) > 2:
        print("fake service giving up", flush=True)
        sys.exit(int(sys.argv[2]))
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            env = {k: v for k, v in os.environ.items() if k.startswith("MODALITY_")}
            body = json.dumps(env).encode()
            self.send_response(200)
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
    print("fake service up", flush=True)
    http.server.HTTPServer(("127.0.0.1", int(os.environ[sys.argv[1]])), Handler).serve_forever()
    """
)

# Infrastructure URLs given: the stack starts no servers, only the services.
EXTERNAL_INFRA = {
    "nats_url": "nats://127.0.0.1:1",
    "database_url": "postgresql://postgres@127.0.0.1:1/modality",
    "redis_url": "redis://127.0.0.1:1/0",
}


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    (tmp_path / "fake_service.py").write_text(FAKE_SERVICE)
    return tmp_path


def fake(name: str, *, exit_code: int | None = None, **kwargs: object) -> ServiceSpec:
    var = f"MODALITY_{name.upper()}_PORT"
    args = (var,) if exit_code is None else (var, str(exit_code))
    return ServiceSpec(name, "fake_service", {var: free_port()}, args=args, **kwargs)  # type: ignore[arg-type]


def make_stack(
    workdir: Path, services: list[ServiceSpec], **settings: object
) -> tuple[Stack, io.StringIO]:
    out = io.StringIO()
    stack = Stack(
        StackSettings(state_dir=workdir / "var", stack_health_timeout=20, **settings),  # type: ignore[arg-type]
        services=services,
        migrate_argv=None,
        base_env={"PATH": os.environ.get("PATH", "")},
        cwd=workdir,
        out=out,
    )
    return stack, out


def get_json(url: str) -> dict[str, str]:
    with urllib.request.urlopen(url, timeout=5) as response:
        data: dict[str, str] = json.loads(response.read())
        return data


def test_services_get_the_shared_env_their_ports_and_exports(workdir: Path) -> None:
    alpha = fake("alpha", exports={"MODALITY_GATEWAY_FALLBACK_BASE_URL": "http://sim/v1"})
    beta = fake("beta", env={"MODALITY_BETA_FLAVOUR": "plain"})
    stack, out = make_stack(workdir, [alpha, beta], admin_token="tok", **EXTERNAL_INFRA)
    stack.start()
    try:
        env = get_json(f"http://127.0.0.1:{beta.ports['MODALITY_BETA_PORT']}/env")
        pids = stack.pids()
        assert len(pids) == 2 and all(_running(pid) for pid in pids)
    finally:
        stack.stop()
    assert env["MODALITY_NATS_URL"] == EXTERNAL_INFRA["nats_url"]
    assert env["MODALITY_DATABASE_URL"] == EXTERNAL_INFRA["database_url"]
    assert env["MODALITY_REDIS_URL"] == EXTERNAL_INFRA["redis_url"]
    assert env["MODALITY_ADMIN_TOKEN"] == "tok"
    assert env["MODALITY_ENV"] == "development"
    assert env["MODALITY_BETA_PORT"] == str(beta.ports["MODALITY_BETA_PORT"])
    assert env["MODALITY_BETA_FLAVOUR"] == "plain"
    assert env["MODALITY_GATEWAY_FALLBACK_BASE_URL"] == "http://sim/v1"
    assert "MODALITY_ALPHA_PORT" not in env
    lines = out.getvalue().splitlines()
    assert "[alpha] fake service up" in lines and "[beta] fake service up" in lines
    assert "fake service up" in (workdir / "var" / "logs" / "beta.log").read_text()
    assert not any(_running(pid) for pid in pids)


def test_a_service_that_dies_stops_the_others_and_shows_its_log(workdir: Path) -> None:
    healthy = fake("healthy")
    broken = fake("broken", exit_code=3)
    stack, out = make_stack(workdir, [healthy, broken], **EXTERNAL_INFRA)
    with pytest.raises(ChildFailedError) as caught:
        stack.start()
    lines = out.getvalue().splitlines()
    failed = next(i for i, line in enumerate(lines) if line.startswith("[stack] failed: broken"))
    assert failed < lines.index("[stack] healthy stopped (exit -15)")  # reported first
    assert caught.value.name == "broken"
    assert "exited with code 3" in str(caught.value)
    assert "fake service giving up" in caught.value.log_tail
    # the healthy one was stopped and its port released
    assert _port_closed(healthy.ports["MODALITY_HEALTHY_PORT"])


@pytest.mark.parametrize(
    ("env", "runs"), [({"MODALITY_OPENAI_API_KEY": "sk-real"}, False), ({}, True)]
)
def test_a_service_is_skipped_when_its_unless_env_is_set(
    workdir: Path, env: dict[str, str], runs: bool
) -> None:
    sim = fake("sim", unless_env="MODALITY_OPENAI_API_KEY")
    stack = Stack(
        StackSettings(state_dir=workdir / "var", **EXTERNAL_INFRA),  # type: ignore[arg-type]
        services=[sim, fake("other")],
        migrate_argv=None,
        base_env=env,
        cwd=workdir,
        out=io.StringIO(),
    )
    names = [svc.spec.name for svc in stack.services]
    assert names == (["sim", "other"] if runs else ["other"])


def test_busy_service_ports_are_refused_before_anything_starts(workdir: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        spec = ServiceSpec("busy", "fake_service", {"MODALITY_BUSY_PORT": taken.getsockname()[1]})
        stack, _ = make_stack(workdir, [spec], **EXTERNAL_INFRA)
        with pytest.raises(PortBusyError, match="MODALITY_BUSY_PORT"):
            stack.start()
    assert not (workdir / "var" / "logs" / "busy.log").exists()


def test_a_second_stack_on_the_same_state_folder_is_refused(workdir: Path) -> None:
    first, _ = make_stack(workdir, [fake("one")], **EXTERNAL_INFRA)
    first.start()
    try:
        second, _ = make_stack(workdir, [fake("two")], **EXTERNAL_INFRA)
        with pytest.raises(StackLockedError, match=str(os.getpid())):
            second.start()
    finally:
        first.stop()


@pytest.mark.integration
def test_migration_failure_stops_the_servers_and_shows_its_output(workdir: Path) -> None:
    out = io.StringIO()
    # real NATS and Redis (fast to start); the migration never reaches a database
    ports = {"nats_port": free_port(), "nats_monitor_port": free_port(), "redis_port": free_port()}
    StatePaths(workdir / "var").save(StackState(**ports))
    stack = Stack(
        StackSettings(state_dir=workdir / "var", database_url=EXTERNAL_INFRA["database_url"]),
        services=[fake("never")],
        migrate_argv=[sys.executable, "-c", "import sys; print('schema is broken'); sys.exit(2)"],
        base_env={},
        cwd=workdir,
        out=out,
    )
    with pytest.raises(ChildFailedError) as caught:
        stack.start()
    assert caught.value.name == "migrate"
    assert "schema is broken" in caught.value.log_tail
    state = json.loads((workdir / "var" / "stack.json").read_text())
    assert state["postgres_port"] is None
    for key in ("nats_port", "redis_port"):
        assert _port_closed(state[key])
    assert not (workdir / "var" / "logs" / "never.log").exists()


# Runs the real CLI loop (signals included) in a child process, with real servers, a
# migration that checks the database URL it was given, and one stand-in service.
RUNNER = textwrap.dedent(
    r"""
    import sys
    from pathlib import Path
    from modality.devstack import cli
    from modality.devstack.settings import StackSettings
    from modality.devstack.stack import ServiceSpec, Stack
    workdir = Path(sys.argv[1])
    migrate = [sys.executable, "-c",
        "import asyncio, os, asyncpg\n"
        "async def main():\n"
        "    conn = await asyncpg.connect(os.environ['MODALITY_DATABASE_URL'], timeout=5)\n"
        "    print('migrated', await conn.fetchval('SELECT current_database()'))\n"
        "    await conn.close()\n"
        "asyncio.run(main())\n"]
    spec = ServiceSpec("solo", "fake_service", {"MODALITY_SOLO_PORT": int(sys.argv[2])},
                       args=("MODALITY_SOLO_PORT",))
    settings = StackSettings(state_dir=workdir / "var", stack_durable=False)
    stack = Stack(settings, services=[spec], migrate_argv=migrate, cwd=workdir)
    sys.exit(cli.run(stack))
    """
)


StartStack = Callable[[], "subprocess.Popen[str]"]


@pytest.fixture
def run_stack(workdir: Path) -> Iterator[StartStack]:
    procs: list[subprocess.Popen[str]] = []

    def start() -> subprocess.Popen[str]:
        proc = subprocess.Popen(
            [sys.executable, "-c", RUNNER, str(workdir), str(free_port())],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        procs.append(proc)
        return proc

    yield start
    for proc in procs:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def _wait_for_line(proc: subprocess.Popen[str], needle: str, seen: list[str]) -> None:
    assert proc.stdout is not None
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            raise AssertionError("stack exited early:\n" + "".join(seen))
        seen.append(line)
        if needle in line:
            return
    raise AssertionError(f"{needle!r} not seen:\n" + "".join(seen))


@pytest.mark.integration
def test_ctrl_c_stops_everything_and_a_second_run_reuses_ports_and_token(
    workdir: Path, run_stack: StartStack
) -> None:
    # free ports rather than the defaults, so a developer's stack is never in the way
    ports = {
        k: free_port() for k in ("nats_port", "nats_monitor_port", "postgres_port", "redis_port")
    }
    StatePaths(workdir / "var").save(StackState(**ports))
    seen: list[str] = []
    proc = run_stack()
    _wait_for_line(proc, "Ctrl-C stops everything", seen)
    assert any("[migrate] migrated modality" in line for line in seen)
    descendants = psutil.Process(proc.pid).children(recursive=True)
    assert len(descendants) >= 4  # nats, postgres (+ its workers), redis, the service
    first_state = json.loads((workdir / "var" / "stack.json").read_text())
    assert first_state == {**ports, "admin_token": first_state["admin_token"]}
    assert first_state["admin_token"] and any(first_state["admin_token"] in line for line in seen)

    proc.send_signal(signal.SIGINT)
    out, _ = proc.communicate(timeout=30)
    assert proc.returncode == 0, out
    assert "solo stopped" in out and "postgres stopped" in out
    _gone, alive = psutil.wait_procs(descendants, timeout=5)
    assert alive == []

    seen.clear()
    again = run_stack()
    _wait_for_line(again, "Ctrl-C stops everything", seen)
    assert json.loads((workdir / "var" / "stack.json").read_text()) == first_state
    again.send_signal(signal.SIGTERM)
    again.communicate(timeout=30)
    assert again.returncode == 0


def _port_closed(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) != 0


def _running(pid: int) -> bool:
    try:
        return bool(psutil.Process(pid).status() != psutil.STATUS_ZOMBIE)
    except psutil.NoSuchProcess:
        return False
