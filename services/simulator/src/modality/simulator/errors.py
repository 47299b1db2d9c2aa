"""Errors on the OpenAI wire format: ``{"error": {"message", "type", "param", "code"}}``."""

from __future__ import annotations

import orjson
from aiohttp import web

SIMULATOR_HEADER = "x-modality-simulator"


class SimulatorError(Exception):
    """Base class: every error the simulator answers with carries its HTTP status and shape."""

    status: int = 500
    error_type: str = "server_error"

    def __init__(
        self,
        message: str,
        *,
        param: str | None = None,
        code: str | None = None,
        status: int | None = None,
        error_type: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.param = param
        self.code = code
        if status is not None:
            self.status = status
        if error_type is not None:
            self.error_type = error_type
        self.headers = headers or {}

    def body(self) -> bytes:
        return orjson.dumps(
            {
                "error": {
                    "message": self.message,
                    "type": self.error_type,
                    "param": self.param,
                    "code": self.code,
                }
            }
        )

    def response(self) -> web.Response:
        return web.Response(
            body=self.body(),
            status=self.status,
            content_type="application/json",
            headers=self.headers,
        )


class InvalidRequest(SimulatorError):
    status = 400
    error_type = "invalid_request_error"


class Unauthorized(SimulatorError):
    status = 401
    error_type = "invalid_request_error"


class NotFound(SimulatorError):
    status = 404
    error_type = "invalid_request_error"


class NotSimulated(SimulatorError):
    """An endpoint a real provider has that the simulator does not imitate yet."""

    status = 501
    error_type = "not_implemented"


class InjectedFault(SimulatorError):
    """A failure the caller asked for (header) or configured (model profile)."""


def invalid_type(param: str, expected: str, value: object) -> InvalidRequest:
    return InvalidRequest(
        f"Invalid type for '{param}': expected {expected}, but got {json_type(value)} instead.",
        param=param,
        code="invalid_type",
    )


def json_type(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return "an integer"
    if isinstance(value, float):
        return "a decimal"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__
