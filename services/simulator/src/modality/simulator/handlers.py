"""HTTP handlers for chat completions, models, health and the endpoints not simulated."""

from __future__ import annotations

import asyncio
from typing import Any

import orjson
from aiohttp import web

from modality.simulator.completions import completion_body
from modality.simulator.errors import InvalidRequest, NotFound, NotSimulated
from modality.simulator.faults import hang, injected_error, plan_for
from modality.simulator.protocol import parse_chat_request
from modality.simulator.service import Simulator, model_not_found
from modality.simulator.streaming import build_frames, cut_connection, write_stream

SIMULATOR = web.AppKey("simulator", Simulator)
PARSE_ERROR = (
    "We could not parse the JSON body of your request. (HINT: This likely means you aren't "
    "using your HTTP library correctly. The OpenAI API expects a JSON payload, but what was "
    "sent was not valid JSON.)"
)


def json_response(payload: Any, status: int = 200) -> web.Response:
    return web.Response(body=orjson.dumps(payload), status=status, content_type="application/json")


async def read_json(request: web.Request) -> Any:
    raw = await request.read()
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise InvalidRequest(PARSE_ERROR) from exc


async def chat_completions(request: web.Request) -> web.StreamResponse:
    sim = request.app[SIMULATOR]
    req = parse_chat_request(await read_json(request))
    profile = sim.resolve_model(req.model)
    plan = plan_for(request.headers, sim.settings, profile, sim.rng)
    if plan.fail_status is not None:
        raise injected_error(plan.fail_status, req.model, sim.settings.retry_after_s)
    if plan.hang:
        raise await hang(request, sim.settings.max_hang_s)
    completion = sim.complete(req, plan)
    if req.stream:
        return await write_stream(request, build_frames(completion, req.include_usage), plan)
    if plan.cut_after_chunks is not None:
        cut_connection(request)  # the client sees the connection drop with no answer
        return web.Response()
    delay = plan.total_delay_s(completion.longest_choice)
    if delay > 0:
        await asyncio.sleep(delay)
    return json_response(completion_body(completion))


async def list_models(request: web.Request) -> web.Response:
    return json_response({"object": "list", "data": request.app[SIMULATOR].model_objects()})


async def get_model(request: web.Request) -> web.Response:
    model = request.match_info["model"]
    for item in request.app[SIMULATOR].model_objects():
        if item["id"] == model:
            return json_response(item)
    raise model_not_found(model)


async def health(request: web.Request) -> web.Response:
    return json_response({"status": "ok", "simulator": True})


async def fireworks_not_simulated(request: web.Request) -> web.Response:
    raise NotSimulated(
        f"The Fireworks API ({request.method} {request.path}) is not simulated yet by the "
        "Modality provider simulator; only the OpenAI-compatible endpoints are.",
        code="not_simulated",
    )


async def openai_not_simulated(request: web.Request) -> web.Response:
    raise NotSimulated(
        f"{request.method} {request.path} is an OpenAI endpoint the Modality provider "
        "simulator does not simulate.",
        code="not_simulated",
    )


async def unknown_route(request: web.Request) -> web.Response:
    raise NotFound(f"Invalid URL ({request.method} {request.path})", code="unknown_url")
