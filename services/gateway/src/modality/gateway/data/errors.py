"""Data-plane errors, all rendered on OpenAI's wire format by ``responses.error_response``."""

from __future__ import annotations

from modality.common.errors import (
    AuthenticationError,
    InvalidRequestError,
    ModalityError,
    NotFoundError,
    UpstreamError,
)


class InvalidApiKeyError(AuthenticationError):
    """401 with OpenAI's own shape: type ``invalid_request_error``, code ``invalid_api_key``."""

    error_type = "invalid_request_error"


class ModelNotFoundError(NotFoundError):
    """Unknown model, or one the key's customer may not call (same answer: no leak)."""

    code = "model_not_found"

    def __init__(self, model: str) -> None:
        super().__init__(
            f"The model '{model}' does not exist or you do not have access to it.", param="model"
        )


class RouteNotFoundError(NotFoundError):
    code = "unknown_url"


class MethodNotAllowedError(ModalityError):
    status_code = 405
    error_type = "invalid_request_error"
    code = "method_not_allowed"


class InvalidJsonError(InvalidRequestError):
    code = "invalid_json"


class AllUpstreamsFailedError(UpstreamError):
    """Every model of the plan failed before answering; says how many were tried."""

    def __init__(self, message: str, *, attempts: int, upstream_s: float) -> None:
        super().__init__(message)
        self.attempts = attempts
        self.upstream_s = upstream_s
