"""HTTP handlers for ``/v1/files`` and ``/v1/fine_tuning/jobs`` (OpenAI's shapes)."""

from __future__ import annotations

import math
import os
import time
from typing import Any

from aiohttp import web

from modality.simulator import finetune
from modality.simulator.errors import InvalidRequest, NotFound, invalid_type
from modality.simulator.faults import TRUTHY
from modality.simulator.handlers import SIMULATOR, json_response, read_json
from modality.simulator.jsonl import validate_training_file
from modality.simulator.protocol import invalid_value, missing

PURPOSES = ("fine-tune", "batch", "assistants", "user_data", "evals", "vision")
FINETUNE_FAIL = "x-sim-finetune-fail"


def _public(meta: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in meta.items() if not k.startswith("_")}


def _limit(request: web.Request, default: int = 20) -> int:
    raw = request.query.get("limit", str(default))
    if not raw.isdigit() or not 1 <= int(raw) <= 100:
        raise InvalidRequest(
            f"Invalid 'limit': expected an integer in [1, 100], got '{raw}'.", param="limit"
        )
    return int(raw)


async def create_file(request: web.Request) -> web.Response:
    sim = request.app[SIMULATOR]
    if not request.content_type.startswith("multipart/"):
        raise InvalidRequest(
            "Expected a multipart/form-data body with 'file' and 'purpose'.", param="file"
        )
    form = await request.post()
    purpose = form.get("purpose")
    if not purpose:
        raise missing("purpose")
    if purpose not in PURPOSES:
        raise invalid_value("purpose", purpose, PURPOSES)
    upload = form.get("file")
    if not isinstance(upload, web.FileField):
        raise missing("file")
    content = upload.file.read()
    meta: dict[str, Any] = {
        "id": "file-" + os.urandom(12).hex(),
        "object": "file",
        "bytes": len(content),
        "created_at": int(time.time()),
        "filename": upload.filename,
        "purpose": purpose,
        "status": "processed",
        "expires_at": None,
        "status_details": None,
    }
    if purpose == "fine-tune":
        if not upload.filename.endswith(".jsonl"):
            raise InvalidRequest(
                "Invalid file format for Fine-Tuning API. Must be .jsonl",
                param="file",
                code="invalid_file_format",
            )
        summary = validate_training_file(content)
        meta["_examples"], meta["_tokens"] = summary.examples, summary.tokens
    sim.store.put_file(meta, content)
    return json_response(_public(meta))


def _file_or_404(request: web.Request) -> dict[str, Any]:
    file_id = request.match_info["file_id"]
    meta = request.app[SIMULATOR].store.get_file(file_id)
    if meta is None:
        raise NotFound(f"No such File object: {file_id}", param="id")
    return meta


async def get_file(request: web.Request) -> web.Response:
    return json_response(_public(_file_or_404(request)))


async def file_content(request: web.Request) -> web.Response:
    meta = _file_or_404(request)
    content = request.app[SIMULATOR].store.file_content(meta["id"]) or b""
    return web.Response(body=content, content_type="application/octet-stream")


async def list_files(request: web.Request) -> web.Response:
    files = [_public(m) for m in request.app[SIMULATOR].store.list_files()]
    purpose = request.query.get("purpose")
    if purpose:
        files = [f for f in files if f["purpose"] == purpose]
    return json_response(finetune.page(files, request.query.get("after"), _limit(request, 100)))


async def delete_file(request: web.Request) -> web.Response:
    meta = _file_or_404(request)
    request.app[SIMULATOR].store.delete_file(meta["id"])
    return json_response({"id": meta["id"], "object": "file", "deleted": True})


def _training_file(request: web.Request, body: dict[str, Any], name: str) -> dict[str, Any]:
    file_id = body.get(name)
    if not isinstance(file_id, str):
        raise invalid_type(name, "a string", file_id)
    meta = request.app[SIMULATOR].store.get_file(file_id)
    if meta is None or meta["purpose"] != "fine-tune":
        raise InvalidRequest(f"invalid {name}: {file_id}", param=name, code="invalid_file")
    return meta


async def create_job(request: web.Request) -> web.Response:
    sim = request.app[SIMULATOR]
    settings = sim.settings
    body = await read_json(request)
    if not isinstance(body, dict):
        raise invalid_type("body", "an object", body)
    for name in ("model", "training_file"):
        if body.get(name) is None:
            raise missing(name)
    model = body["model"]
    if not isinstance(model, str):
        raise invalid_type("model", "a string", model)
    try:
        sim.resolve_model(model)
    except NotFound as exc:
        raise InvalidRequest(
            f"Model {model} is not available for fine-tuning or does not exist.",
            param="model",
            code="model_not_available",
        ) from exc
    training = _training_file(request, body, "training_file")
    validation = None
    if body.get("validation_file") is not None:
        validation = _training_file(request, body, "validation_file")["id"]
    suffix = body.get("suffix")
    if suffix is not None and (not isinstance(suffix, str) or len(suffix) > 64 or ":" in suffix):
        raise InvalidRequest(
            "Invalid 'suffix': expected a string of at most 64 characters without ':'.",
            param="suffix",
            code="invalid_value",
        )
    given = body.get("hyperparameters")
    method = body.get("method")
    if isinstance(method, dict) and isinstance(method.get("supervised"), dict):
        given = method["supervised"].get("hyperparameters", given)
    if given is not None and not isinstance(given, dict):
        raise invalid_type("hyperparameters", "an object", given)
    hyper = finetune.resolve_hyperparameters(given or {})
    seed = body.get("seed")
    if seed is None:
        seed = sim.rng.randrange(2**31)
    elif isinstance(seed, bool) or not isinstance(seed, int):
        raise invalid_type("seed", "an integer", seed)

    now = time.time()
    job_id = "ftjob-" + os.urandom(12).hex()
    validated = now + settings.finetune_validating_s
    started = validated + settings.finetune_queued_s
    examples = int(training.get("_examples", 0))
    error: dict[str, str | None] | None = None
    if examples < settings.finetune_min_examples:
        error = {
            "phase": "validation",
            "code": "invalid_n_examples",
            "param": "training_file",
            "message": f"Training file has {examples} example(s), but must have at least "
            f"{settings.finetune_min_examples} examples.",
        }
    elif request.headers.get(FINETUNE_FAIL, "").strip().lower() in TRUTHY:
        error = {
            "phase": "training",
            "code": "simulated_failure",
            "param": None,
            "message": "Fine-tuning failed: simulated by the x-sim-finetune-fail header.",
        }
    record = {
        "id": job_id,
        "created_at": now,
        "validated_at": validated,
        "started_at": started,
        "finished_at": started + settings.finetune_running_s,
        "model": model,
        "training_file": training["id"],
        "validation_file": validation,
        "suffix": suffix,
        "hyperparameters": hyper,
        "seed": seed,
        "metadata": body.get("metadata"),
        "organization_id": settings.organization,
        "fine_tuned_model": finetune.fine_tuned_model_name(
            finetune.base_of(model), settings.organization, suffix, job_id
        ),
        "total_steps": max(1, math.ceil(examples * hyper["n_epochs"] / hyper["batch_size"])),
        "trained_tokens": int(training.get("_tokens", 0)) * hyper["n_epochs"],
        "error": error,
        "cancelled_at": None,
    }
    sim.store.put_job(record)
    return json_response(finetune.job_view(record, now))


def _job_or_404(request: web.Request) -> dict[str, Any]:
    job_id = request.match_info["job_id"]
    record = request.app[SIMULATOR].store.get_job(job_id)
    if record is None:
        raise NotFound(f"Could not find fine-tune job: {job_id}", param="fine_tuning_job_id")
    return record


async def get_job(request: web.Request) -> web.Response:
    return json_response(finetune.job_view(_job_or_404(request), time.time()))


async def list_jobs(request: web.Request) -> web.Response:
    now = time.time()
    jobs = [finetune.job_view(r, now) for r in request.app[SIMULATOR].store.list_jobs()]
    return json_response(finetune.page(jobs, request.query.get("after"), _limit(request)))


async def cancel_job(request: web.Request) -> web.Response:
    now = time.time()
    record = finetune.cancel(_job_or_404(request), now)
    request.app[SIMULATOR].store.put_job(record)
    return json_response(finetune.job_view(record, now))


async def job_events(request: web.Request) -> web.Response:
    events = finetune.job_events(_job_or_404(request), time.time())
    return json_response(finetune.page(events, request.query.get("after"), _limit(request)))
