"""One place that turns every failure into OpenAI's error body.

- ``ModalityError`` subclasses carry their own status, type, param and code.
- Validation errors are 400 (not FastAPI's 422) with ``param`` naming the field.
- Unknown routes and methods are 404/405; the database or bus being down is 503;
  anything else is a 500 whose details stay in the log.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import InterfaceError, OperationalError
from starlette.exceptions import HTTPException

from modality.common.errors import ModalityError, error_body

log = logging.getLogger(__name__)

_LOCATIONS = frozenset({"body", "query", "path", "header", "cookie"})
_HTTP_TYPES = {401: "authentication_error", 403: "permission_error"}
_HTTP_CODES = {404: "unknown_url", 405: "method_not_allowed"}


def _param(loc: Sequence[Any]) -> str | None:
    """``("body", "tools", 0, "name")`` -> ``"tools.0.name"``."""
    parts = list(loc)
    if parts and parts[0] in _LOCATIONS:
        parts = parts[1:]
    return ".".join(str(x) for x in parts) or None


def validation_error_response(exc: RequestValidationError) -> JSONResponse:
    errors = exc.errors()
    first = errors[0] if errors else {}
    if first.get("type") == "json_invalid":
        return JSONResponse(
            error_body(
                "The request body is not valid JSON.", "invalid_request_error", None, "invalid_json"
            ),
            status_code=400,
        )
    param = _param(first.get("loc", ()))
    message = str(first.get("msg", "Invalid request."))
    if param:
        message = f"{message}: '{param}'"
    if len(errors) > 1:
        message += f" (and {len(errors) - 1} more problem(s))"
    return JSONResponse(
        error_body(message, "invalid_request_error", param, "invalid_value"), status_code=400
    )


def install_error_handlers(app: FastAPI) -> None:
    async def on_modality_error(_: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, ModalityError)
        if exc.status_code >= 500:
            log.warning("%s: %s", type(exc).__name__, exc.message)
        return JSONResponse(exc.body(), status_code=exc.status_code, headers=exc.headers or None)

    async def on_validation_error(_: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        return validation_error_response(exc)

    async def on_http_error(_: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, HTTPException)
        status = exc.status_code
        return JSONResponse(
            error_body(
                str(exc.detail),
                _HTTP_TYPES.get(
                    status, "invalid_request_error" if status < 500 else "server_error"
                ),
                None,
                _HTTP_CODES.get(status),
            ),
            status_code=status,
            headers=exc.headers,
        )

    async def on_database_down(_: Request, exc: Exception) -> JSONResponse:
        log.error("database unavailable: %r", exc)
        return JSONResponse(
            error_body(
                "The database is unavailable; retry later.",
                "server_error",
                None,
                "service_unavailable",
            ),
            status_code=503,
        )

    async def on_unexpected(_: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error", exc_info=exc)
        return JSONResponse(
            error_body("The server had an error while processing your request.", "server_error"),
            status_code=500,
        )

    app.add_exception_handler(ModalityError, on_modality_error)
    app.add_exception_handler(RequestValidationError, on_validation_error)
    app.add_exception_handler(HTTPException, on_http_error)
    for db_error in (OperationalError, InterfaceError, ConnectionError):
        app.add_exception_handler(db_error, on_database_down)
    app.add_exception_handler(Exception, on_unexpected)
