"""Child processes that never outlive us: spawn, wait until ready, stop, read a log tail.

Every child runs in its own session (so a Ctrl-C in the terminal reaches only us and we
stop things in order) and, on Linux, gets a parent-death signal (so nothing is left
running if we are killed with SIGKILL). The parent-death signal fires when the *thread*
that spawned the child exits: spawn from a long-lived thread (the main thread).
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from modality.devstack.errors import ServerStartError

_PR_SET_PDEATHSIG = 1


@dataclass(frozen=True)
class RunAs:
    """A system user to drop to before exec (Postgres refuses to run as root)."""

    name: str
    uid: int
    gid: int


def _die_with_parent(sig: int) -> Callable[[], None] | None:
    if not sys.platform.startswith("linux"):
        return None
    prctl = ctypes.CDLL(None, use_errno=True).prctl
    parent = os.getpid()

    def preexec() -> None:
        if prctl(_PR_SET_PDEATHSIG, int(sig), 0, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), "prctl(PR_SET_PDEATHSIG) failed")
        if os.getppid() != parent:  # the parent died before prctl took effect
            os.kill(os.getpid(), sig)

    return preexec


def spawn(
    argv: Sequence[str | os.PathLike[str]],
    *,
    stdout: int | IO[bytes],
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    run_as: RunAs | None = None,
    parent_death_signal: int = signal.SIGTERM,
) -> subprocess.Popen[bytes]:
    """Start ``argv`` in its own session; stderr goes wherever stdout goes."""
    return subprocess.Popen(
        [os.fspath(a) for a in argv],
        stdin=subprocess.DEVNULL,
        stdout=stdout,
        stderr=subprocess.STDOUT,
        env=dict(env) if env is not None else None,
        cwd=cwd,
        start_new_session=True,
        preexec_fn=_die_with_parent(parent_death_signal),
        user=run_as.uid if run_as else None,
        group=run_as.gid if run_as else None,
        extra_groups=[] if run_as else None,
    )


def stop_process(
    proc: subprocess.Popen[bytes], *, sig: int = signal.SIGTERM, timeout: float = 10.0
) -> int:
    """Send ``sig``, wait up to ``timeout``, then SIGKILL; also clear its process group.

    Returns the exit code. Each child leads its own session, so anything it forked and
    left behind is still in the process group ``proc.pid`` and is stopped the same way.
    """
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):  # it exited after poll()
            proc.send_signal(sig)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    _stop_group(proc.pid, timeout=min(timeout, 3.0))
    return proc.returncode


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # members exist but belong to someone we cannot signal
        return True
    return True


def _stop_group(pgid: int, *, timeout: float) -> None:
    if not _group_alive(pgid):
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pgid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not _group_alive(pgid):
            return
        time.sleep(0.05)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pgid, signal.SIGKILL)


def log_tail(path: Path, lines: int = 40) -> str:
    """The last ``lines`` lines of a log file ('' when it does not exist yet)."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return ""
    text = data[-64_000:].decode("utf-8", errors="replace")
    return "\n".join(text.splitlines()[-lines:])


def rotate_log(path: Path) -> None:
    """Keep the previous run's log as ``<name>.log.1`` so a crash can still be read."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.exists():
        path.replace(path.with_name(path.name + ".1"))


def wait_until_ready(
    name: str,
    proc: subprocess.Popen[bytes],
    ready: Callable[[], bool],
    *,
    timeout: float,
    log_path: Path,
) -> None:
    """Poll ``ready()`` until it is true; raise with the log tail if the process dies or
    the deadline passes (and stop the process in that case)."""
    deadline = time.monotonic() + timeout
    delay = 0.01
    while True:
        code = proc.poll()
        if code is not None:
            stop_process(proc)
            raise ServerStartError(name, f"exited with code {code}", log_tail(log_path))
        if ready():
            return
        if time.monotonic() > deadline:
            stop_process(proc)
            raise ServerStartError(name, f"not ready after {timeout:.0f} s", log_tail(log_path))
        time.sleep(delay)
        delay = min(delay * 2, 0.2)
