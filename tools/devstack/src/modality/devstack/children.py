"""Stack children (migrations, services): output to a log file and, prefixed, to the terminal."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TextIO

from modality.devstack.process import log_tail, rotate_log, spawn, stop_process


class Echo:
    """Writes whole lines to a stream from several threads without interleaving them."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream
        # RLock: the signal handler (main thread) may echo while the main thread is echoing
        self._lock = threading.RLock()

    def __call__(self, line: str) -> None:
        with self._lock:
            self._stream.write(line + "\n")
            self._stream.flush()


class Child:
    def __init__(
        self,
        name: str,
        argv: Sequence[str],
        *,
        env: Mapping[str, str],
        cwd: Path,
        log_path: Path,
        echo: Echo,
    ) -> None:
        self.name = name
        self.argv = list(argv)
        self.log_path = log_path
        self._env = dict(env)
        self._cwd = cwd
        self._echo = echo
        self._proc: subprocess.Popen[bytes] | None = None
        self._pump: threading.Thread | None = None

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    def start(self) -> None:
        rotate_log(self.log_path)
        self._proc = spawn(self.argv, stdout=subprocess.PIPE, env=self._env, cwd=self._cwd)
        self._pump = threading.Thread(
            target=self._copy_output, name=f"pump-{self.name}", daemon=True
        )
        self._pump.start()

    def _copy_output(self) -> None:
        assert self._proc is not None and self._proc.stdout is not None
        prefix = f"[{self.name}] "
        with self.log_path.open("ab") as log, self._proc.stdout as out:
            for raw in out:
                log.write(raw)
                log.flush()
                self._echo(prefix + raw.decode("utf-8", errors="replace").rstrip("\r\n"))

    def poll(self) -> int | None:
        if self._proc is None:
            raise RuntimeError(f"{self.name} was never started")
        return self._proc.poll()

    def stop(self, timeout: float) -> int | None:
        if self._proc is None:
            return None
        code = stop_process(self._proc, sig=signal.SIGTERM, timeout=timeout)
        self.flush_output()
        return code

    def kill_now(self) -> None:
        """SIGKILL the child's whole process group (second Ctrl-C)."""
        if self._proc is not None and self._proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):  # exited meanwhile
                os.killpg(self._proc.pid, signal.SIGKILL)

    def flush_output(self, timeout: float = 2.0) -> None:
        """Wait for the output pump to copy what the (exited) child wrote."""
        if self._pump is not None:
            self._pump.join(timeout)

    def tail(self, lines: int = 40) -> str:
        if self._proc is not None and self._proc.poll() is not None:
            self.flush_output()
        return log_tail(self.log_path, lines)
