"""HTTP adapter: ``POST /classify`` (HS256 service tokens), ``GET /health``, ``GET /metrics``."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Annotated, Any

import jwt
from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST
from starlette.exceptions import HTTPException as StarletteHTTPException

from modality.classifier.backends import BackendInfo
from modality.classifier.errors import ClassifierError
from modality.classifier.metrics import ServiceMetrics
from modality.classifier.protocol import (
    RESULT_FIELDS,
    ClassificationResult,
    ClassifyRequest,
    ClassifyResponse,
)
from modality.classifier.router.types import PromptClassifier
from modality.classifier.settings import MIN_JWT_SECRET_BYTES, ClassifierSettings
from modality.classifier.triton_backend import TritonUnavailableError
from modality.common.auth import bearer_token, verify_service_token
from modality.common.errors import (
    AuthenticationError,
    InvalidRequestError,
    ModalityError,
    NotFoundError,
    PayloadTooLargeError,
    ServiceUnavailableError,
    error_body,
)

log = logging.getLogger(__name__)


@dataclass
class HttpState:
    settings: ClassifierSettings
    classifier: PromptClassifier
    info: BackendInfo
    metrics: ServiceMetrics
    router_status: Callable[[], dict[str, Any]] = field(default=lambda: {"enabled": False})


def get_state(request: Request) -> HttpState:
    state: HttpState = request.app.state.http
    return state


StateDep = Annotated[HttpState, Depends(get_state)]


def authenticate(request: Request, state: StateDep) -> dict[str, Any]:
    """Claims of a valid HS256 service token, else a 401 on OpenAI's wire format."""
    token = bearer_token(request.headers.get("authorization"))
    if token is None:
        raise AuthenticationError("missing bearer token", code="missing_token")
    secret = state.settings.jwt_secret
    if len(secret.encode()) < MIN_JWT_SECRET_BYTES:
        raise AuthenticationError(
            "service tokens are not configured on this classifier", code="auth_not_configured"
        )
    try:
        return verify_service_token(secret, token, leeway_s=state.settings.jwt_leeway_s)
    except jwt.ExpiredSignatureError:
        raise AuthenticationError("token expired", code="token_expired") from None
    except jwt.ImmatureSignatureError:
        raise AuthenticationError(
            "token issued in the future", code="token_not_yet_valid"
        ) from None
    except jwt.MissingRequiredClaimError as exc:
        raise AuthenticationError(
            f"token lacks the {exc.claim!r} claim", code="invalid_token"
        ) from None
    except jwt.InvalidSignatureError:
        raise AuthenticationError("bad token signature", code="invalid_token") from None
    except jwt.InvalidTokenError as exc:
        raise AuthenticationError(f"invalid token: {exc}", code="invalid_token") from None


ClaimsDep = Annotated[dict[str, Any], Depends(authenticate)]

api = APIRouter()


@api.post("/classify", response_model=ClassifyResponse)
async def classify(body: ClassifyRequest, state: StateDep, claims: ClaimsDep) -> ClassifyResponse:
    settings = state.settings
    n = len(body.prompts)
    if body.model_extra:
        log.info("/classify from %s: ignored fields %s", claims["sub"], sorted(body.model_extra))
    if n > settings.max_batch_prompts:
        raise PayloadTooLargeError(
            f"{n} prompts in one call; the limit is {settings.max_batch_prompts}", param="prompts"
        )
    for i, prompt in enumerate(body.prompts):
        if len(prompt) > settings.max_prompt_chars:
            raise PayloadTooLargeError(
                f"prompt {i} has {len(prompt)} characters; "
                f"the limit is {settings.max_prompt_chars}",
                param="prompts",
            )
    for name, flags in (("has_tools", body.has_tools), ("has_vision", body.has_vision)):
        if flags is not None and len(flags) != n:
            raise InvalidRequestError(f"{name} needs one entry per prompt", param=name)
    try:
        classified = await state.classifier.classify(body.prompts, body.has_tools, body.has_vision)
    except TritonUnavailableError as exc:
        raise ServiceUnavailableError(str(exc)) from exc
    results = []
    for item in classified:
        fields = {k: getattr(item.classification, k) for k in RESULT_FIELDS}
        if body.return_embeddings:
            fields["embedding"] = [float(x) for x in item.embedding]
        results.append(ClassificationResult(**fields))
    state.metrics.classify_requests.labels("200").inc()
    return ClassifyResponse(model=state.info.model, backend=state.info.name, results=results)


@api.get("/health")
async def health(state: StateDep) -> JSONResponse:
    router = state.router_status()
    ok = not router.get("enabled") or bool(router.get("connected"))
    body = {
        "status": "ok" if ok else "degraded",
        "model": state.info.model,
        "backend": state.info.name,
        "device": state.info.device,
        "detail": state.info.detail,
        "router": router,
    }
    return JSONResponse(body, status_code=200 if ok else 503)


@api.get("/metrics")
async def metrics(state: StateDep) -> Response:
    return Response(state.metrics.render(), media_type=CONTENT_TYPE_LATEST)


# --- errors on OpenAI's wire format -------------------------------------------------------
def install_error_handlers(app: FastAPI) -> None:
    def _count(request: Request, status: int) -> None:
        if request.url.path == "/classify":
            request.app.state.http.metrics.classify_requests.labels(str(status)).inc()

    @app.exception_handler(ModalityError)
    async def _modality(request: Request, exc: ModalityError) -> JSONResponse:
        _count(request, exc.status_code)
        headers = dict(exc.headers)
        if exc.status_code == 401:
            headers.setdefault("WWW-Authenticate", "Bearer")
        return JSONResponse(exc.body(), status_code=exc.status_code, headers=headers)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        _count(request, 400)
        first = exc.errors()[0] if exc.errors() else {}
        loc = [str(p) for p in first.get("loc", ()) if p != "body"]
        param = ".".join(loc) or None
        message = (
            f"{param}: {first.get('msg')}" if param else str(first.get("msg", "invalid request"))
        )
        return JSONResponse(
            error_body(message, "invalid_request_error", param, None), status_code=400
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        if exc.status_code == 404:
            err: ModalityError = NotFoundError(f"no route {request.method} {request.url.path}")
        else:
            err = InvalidRequestError(str(exc.detail))
            err.status_code = exc.status_code
        return JSONResponse(err.body(), status_code=err.status_code)

    @app.exception_handler(ClassifierError)
    async def _classifier(request: Request, exc: ClassifierError) -> JSONResponse:
        _count(request, 500)
        log.error("classifier failed: %s", exc, exc_info=exc)
        return JSONResponse(
            error_body(f"classifier failed: {exc}", "server_error", None, None), status_code=500
        )
