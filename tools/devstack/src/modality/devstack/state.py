"""The stack's state folder (``var/``): data of each server, logs and ``stack.json``.

``stack.json`` remembers the ports chosen and the admin token, so a second run reuses
the same ports, data and token. A lock file keeps two runs off the same folder.
"""

from __future__ import annotations

import fcntl
import os
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from pydantic import BaseModel, ConfigDict

from modality.devstack.errors import StackLockedError


class StackState(BaseModel):
    model_config = ConfigDict(extra="ignore")

    nats_port: int | None = None
    nats_monitor_port: int | None = None
    postgres_port: int | None = None
    redis_port: int | None = None
    admin_token: str | None = None


def repo_root(start: Path | None = None) -> Path:
    """The closest folder at or above ``start`` (default: cwd) holding ``.git``; else cwd."""
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if (folder / ".git").exists():
            return folder
    return here


@dataclass(frozen=True)
class StatePaths:
    root: Path

    @property
    def nats(self) -> Path:
        return self.root / "nats"

    @property
    def postgres(self) -> Path:
        return self.root / "postgres"

    @property
    def redis(self) -> Path:
        return self.root / "redis"

    @property
    def logs(self) -> Path:
        return self.root / "logs"

    @property
    def state_file(self) -> Path:
        return self.root / "stack.json"

    @property
    def lock_file(self) -> Path:
        return self.root / "stack.lock"

    def log(self, name: str) -> Path:
        return self.logs / f"{name}.log"

    def load(self) -> StackState:
        if not self.state_file.exists():
            return StackState()
        return StackState.model_validate_json(self.state_file.read_text())

    def save(self, state: StackState) -> None:
        """Write atomically, readable by the owner only (it holds the admin token)."""
        self.root.mkdir(parents=True, exist_ok=True)
        tmp = self.state_file.with_suffix(".json.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(state.model_dump_json(indent=2) + "\n")
        tmp.replace(self.state_file)


class StateLock:
    """An exclusive flock on ``stack.lock``, released when we exit, however we exit."""

    def __init__(self, path: Path) -> None:
        self._path = path
        self._fh: IO[str] | None = None

    def acquire(self) -> None:
        self._path.parent.mkdir(parents=True, exist_ok=True)
        fh = self._path.open("a+")
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            fh.seek(0)
            holder = fh.read().strip() or "unknown"
            fh.close()
            raise StackLockedError(
                f"another modality-stack (pid {holder}) is using {self._path.parent}; "
                "stop it first or set MODALITY_STATE_DIR to another folder"
            ) from None
        fh.seek(0)
        fh.truncate()
        fh.write(str(os.getpid()))
        fh.flush()
        self._fh = fh

    def release(self) -> None:
        if self._fh is not None:
            fcntl.flock(self._fh, fcntl.LOCK_UN)
            self._fh.close()
            self._fh = None
