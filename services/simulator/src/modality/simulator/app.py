"""``create_app(settings)``: the aiohttp application with every route wired."""

from __future__ import annotations

import hmac
import os
from collections.abc import Awaitable, Callable

from aiohttp import web

from modality.simulator import finetune_handlers as ft
from modality.simulator import handlers
from modality.simulator.errors import SIMULATOR_HEADER, SimulatorError, Unauthorized
from modality.simulator.handlers import SIMULATOR
from modality.simulator.service import Simulator
from modality.simulator.settings import SimulatorSettings

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

# OpenAI endpoints a client may reasonably call that the simulator does not imitate.
NOT_SIMULATED = (
    "/v1/completions",
    "/v1/embeddings",
    "/v1/responses",
    "/v1/batches",
    "/v1/moderations",
    "/v1/uploads",
    "/v1/images/generations",
    "/v1/audio/speech",
    "/v1/audio/transcriptions",
)


def _check_key(request: web.Request, key: str) -> None:
    header = request.headers.get("Authorization", "")
    if not header:
        raise Unauthorized(
            "You didn't provide an API key. You need to provide your API key in an "
            "Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY).",
        )
    given = header.removeprefix("Bearer ").strip()
    if not hmac.compare_digest(given.encode(), key.encode()):
        raise Unauthorized(
            "Incorrect API key provided (this simulator requires the key it was started "
            "with: MODALITY_SIMULATOR_REQUIRE_KEY).",
            code="invalid_api_key",
        )


def openai_errors(handler: Handler, require_key: str | None) -> Handler:
    """Answer every :class:`SimulatorError` (and aiohttp's HTTP errors) in OpenAI's shape."""

    async def wrapped(request: web.Request) -> web.StreamResponse:
        try:
            if require_key is not None:
                _check_key(request, require_key)
            return await handler(request)
        except SimulatorError as exc:
            return exc.response()
        except web.HTTPException as exc:
            error_type = "server_error" if exc.status >= 500 else "invalid_request_error"
            message = exc.text or exc.reason
            return SimulatorError(message, status=exc.status, error_type=error_type).response()

    return wrapped


async def _mark_simulated(request: web.Request, response: web.StreamResponse) -> None:
    response.headers[SIMULATOR_HEADER] = "true"
    response.headers["x-request-id"] = "req_" + os.urandom(12).hex()


async def _close_store(app: web.Application) -> None:
    app[SIMULATOR].store.close()


def create_app(settings: SimulatorSettings) -> web.Application:
    app = web.Application(client_max_size=settings.max_upload_mb * 1024 * 1024)
    app[SIMULATOR] = Simulator.from_settings(settings)
    app.on_response_prepare.append(_mark_simulated)
    app.on_cleanup.append(_close_store)
    key = settings.require_key

    def add(method: str, path: str, handler: Handler) -> None:
        app.router.add_route(method, path, openai_errors(handler, key))

    app.router.add_get("/health", handlers.health)
    add("POST", "/v1/chat/completions", handlers.chat_completions)
    add("GET", "/v1/models", handlers.list_models)
    add("GET", "/v1/models/{model:.+}", handlers.get_model)
    add("POST", "/v1/files", ft.create_file)
    add("GET", "/v1/files", ft.list_files)
    add("GET", "/v1/files/{file_id}", ft.get_file)
    add("DELETE", "/v1/files/{file_id}", ft.delete_file)
    add("GET", "/v1/files/{file_id}/content", ft.file_content)
    add("POST", "/v1/fine_tuning/jobs", ft.create_job)
    add("GET", "/v1/fine_tuning/jobs", ft.list_jobs)
    add("GET", "/v1/fine_tuning/jobs/{job_id}", ft.get_job)
    add("POST", "/v1/fine_tuning/jobs/{job_id}/cancel", ft.cancel_job)
    add("GET", "/v1/fine_tuning/jobs/{job_id}/events", ft.job_events)
    add("*", "/v1/accounts/{tail:.*}", handlers.fireworks_not_simulated)
    for path in NOT_SIMULATED:
        add("*", path, handlers.openai_not_simulated)
    add("*", "/{tail:.*}", handlers.unknown_route)
    return app
