"""Errors on OpenAI's wire format.

Every HTTP error Modality returns has the body ``{"error": {"message", "type", "param",
"code"}}`` and the status the official ``openai`` SDK maps to its exception classes.
"""

from __future__ import annotations

from typing import Any

import orjson


class ModalityError(Exception):
    """Base error: carries everything needed to render an OpenAI-shaped response."""

    status_code: int = 500
    error_type: str = "server_error"
    code: str | None = None

    def __init__(
        self,
        message: str,
        *,
        param: str | None = None,
        code: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.param = param
        if code is not None:
            self.code = code
        self.headers = headers or {}

    def body(self) -> dict[str, Any]:
        return error_body(self.message, self.error_type, self.param, self.code)


class InvalidRequestError(ModalityError):
    status_code = 400
    error_type = "invalid_request_error"


class AuthenticationError(ModalityError):
    status_code = 401
    error_type = "authentication_error"
    code = "invalid_api_key"


class PermissionDeniedError(ModalityError):
    status_code = 403
    error_type = "permission_error"


class NotFoundError(ModalityError):
    status_code = 404
    error_type = "invalid_request_error"
    code = "not_found"


class ConflictError(ModalityError):
    status_code = 409
    error_type = "invalid_request_error"
    code = "conflict"


class PayloadTooLargeError(ModalityError):
    status_code = 413
    error_type = "invalid_request_error"
    code = "request_too_large"


class RateLimitError(ModalityError):
    status_code = 429
    error_type = "rate_limit_exceeded"
    code = "rate_limit_exceeded"


class UpstreamError(ModalityError):
    status_code = 502
    error_type = "upstream_error"
    code = "upstream_error"


class ServiceUnavailableError(ModalityError):
    status_code = 503
    error_type = "server_error"
    code = "service_unavailable"


class UpstreamTimeoutError(ModalityError):
    status_code = 504
    error_type = "upstream_error"
    code = "upstream_timeout"


def error_body(
    message: str, error_type: str, param: str | None = None, code: str | None = None
) -> dict[str, Any]:
    return {"error": {"message": message, "type": error_type, "param": param, "code": code}}


def error_bytes(
    message: str, error_type: str, param: str | None = None, code: str | None = None
) -> bytes:
    return orjson.dumps(error_body(message, error_type, param, code))
