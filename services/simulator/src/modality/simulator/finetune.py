"""Simulated fine-tuning jobs: validating_files → queued → running → succeeded | failed.

A job record stores when each phase ends; its status and events are derived from the
clock when read, so no background task has to advance it and several worker processes
agree on it. ``cancel`` is the only write after creation.
"""

from __future__ import annotations

import math
import random
from typing import Any

from modality.simulator.errors import InvalidRequest

TERMINAL = ("succeeded", "failed", "cancelled")
DEFAULT_EPOCHS = 3
DEFAULT_BATCH_SIZE = 1
DEFAULT_LR_MULTIPLIER = 2.0
METRIC_EVENTS = 10


def fine_tuned_model_name(base: str, organization: str, suffix: str | None, job_id: str) -> str:
    return f"ft:{base}:{organization}:{suffix or ''}:{job_id.removeprefix('ftjob-')[:8]}"


def base_of(model: str) -> str:
    """``ft:gpt-4o-mini:org:suffix:id`` → ``gpt-4o-mini``; other ids are their own base."""
    return model.split(":")[1] if model.startswith("ft:") and model.count(":") >= 4 else model


def resolve_hyperparameters(given: dict[str, Any]) -> dict[str, Any]:
    def pick(name: str, default: float, kind: type, low: float, high: float) -> Any:
        value = given.get(name, "auto")
        if value == "auto" or value is None:
            return default
        if (
            isinstance(value, bool)
            or not isinstance(value, int | float)
            or (kind is int and not isinstance(value, int))
        ):
            raise InvalidRequest(
                f"Invalid 'hyperparameters.{name}': expected 'auto' or a number.",
                param=f"hyperparameters.{name}",
                code="invalid_type",
            )
        if not low <= value <= high:
            raise InvalidRequest(
                f"Invalid 'hyperparameters.{name}': expected a value in [{low}, {high}], "
                f"got {value}.",
                param=f"hyperparameters.{name}",
                code="invalid_value",
            )
        return value

    return {
        "n_epochs": pick("n_epochs", DEFAULT_EPOCHS, int, 1, 50),
        "batch_size": pick("batch_size", DEFAULT_BATCH_SIZE, int, 1, 256),
        "learning_rate_multiplier": pick(
            "learning_rate_multiplier", DEFAULT_LR_MULTIPLIER, float, 1e-6, 100
        ),
    }


def status_at(record: dict[str, Any], now: float) -> str:
    end = _end_time(record)
    cancelled = record.get("cancelled_at")
    if cancelled is not None and now >= cancelled:
        return "cancelled"
    if now >= end:
        return "failed" if record.get("error") else "succeeded"
    if now < record["validated_at"]:
        return "validating_files"
    if now < record["started_at"]:
        return "queued"
    return "running"


def _end_time(record: dict[str, Any]) -> float:
    error = record.get("error")
    if error is not None and error.get("phase") == "validation":
        return float(record["validated_at"])
    return float(record["finished_at"])


def cancel(record: dict[str, Any], now: float) -> dict[str, Any]:
    status = status_at(record, now)
    if status in TERMINAL:
        raise InvalidRequest(
            f"Fine-tuning job {record['id']} has already {status} and cannot be cancelled.",
            param="fine_tuning_job_id",
        )
    return {**record, "cancelled_at": now}


def job_view(record: dict[str, Any], now: float) -> dict[str, Any]:
    """The OpenAI ``fine_tuning.job`` object as of ``now``."""
    status = status_at(record, now)
    finished_at = None
    if status == "cancelled":
        finished_at = int(record["cancelled_at"])
    elif status in TERMINAL:
        finished_at = int(_end_time(record))
    error = None
    if status == "failed":
        error = {k: record["error"][k] for k in ("code", "message", "param")}
    hyper = record["hyperparameters"]
    return {
        "id": record["id"],
        "object": "fine_tuning.job",
        "created_at": int(record["created_at"]),
        "error": error,
        "fine_tuned_model": record["fine_tuned_model"] if status == "succeeded" else None,
        "finished_at": finished_at,
        "hyperparameters": hyper,
        "model": record["model"],
        "organization_id": record["organization_id"],
        "result_files": [],
        "seed": record["seed"],
        "status": status,
        "trained_tokens": record["trained_tokens"] if status == "succeeded" else None,
        "training_file": record["training_file"],
        "validation_file": record["validation_file"],
        "estimated_finish": None if status in TERMINAL else math.ceil(_end_time(record)),
        "integrations": [],
        "metadata": record.get("metadata"),
        "method": {"type": "supervised", "supervised": {"hyperparameters": hyper}},
        "user_provided_suffix": record.get("suffix"),
    }


def job_events(record: dict[str, Any], now: float) -> list[dict[str, Any]]:
    """Events that have happened by ``now``, newest first (as OpenAI lists them)."""
    short = record["id"].removeprefix("ftjob-")[:12]
    timeline: list[tuple[float, str, str, dict[str, Any] | None]] = [
        (record["created_at"], "info", f"Created fine-tuning job: {record['id']}", None),
        (
            record["created_at"],
            "info",
            f"Validating training file: {record['training_file']}",
            None,
        ),
    ]
    error = record.get("error")
    if error is not None and error.get("phase") == "validation":
        timeline.append((record["validated_at"], "error", error["message"], None))
    else:
        timeline += _training_events(record, short)
    cancelled = record.get("cancelled_at")
    if cancelled is not None:
        timeline = [e for e in timeline if e[0] < cancelled]
        timeline.append((cancelled, "info", "Fine-tuning job cancelled", None))
    events = []
    for k, (at, level, message, data) in enumerate(timeline):
        if at > now:
            break
        events.append(
            {
                "id": f"ftevent-{short}{k:04d}",
                "object": "fine_tuning.job.event",
                "created_at": int(at),
                "level": level,
                "message": message,
                "data": data or {},
                "type": "metrics" if data else "message",
            }
        )
    events.reverse()
    return events


def _training_events(
    record: dict[str, Any], short: str
) -> list[tuple[float, str, str, dict[str, Any] | None]]:
    started, finished = record["started_at"], record["finished_at"]
    events: list[tuple[float, str, str, dict[str, Any] | None]] = [
        (record["validated_at"], "info", "Files validated, moving job to queued state", None),
        (started, "info", "Fine-tuning job started", None),
    ]
    total = record["total_steps"]
    shown = min(METRIC_EVENTS, total)
    rng = random.Random(short)
    for i in range(1, shown + 1):
        step = max(1, round(total * i / shown))
        loss = round(2.2 * math.exp(-3.0 * step / total) + 0.05 + rng.random() * 0.05, 4)
        at = started + (finished - started) * i / (shown + 1)
        data = {"step": step, "train_loss": loss, "total_steps": total}
        events.append((at, "info", f"Step {step}/{total}: training loss={loss}", data))
    error = record.get("error")
    if error is not None:
        events.append((finished, "error", error["message"], None))
    else:
        events.append(
            (finished, "info", f"New fine-tuned model created: {record['fine_tuned_model']}", None)
        )
        events.append((finished, "info", "The job has successfully completed", None))
    return events


def page(items: list[dict[str, Any]], after: str | None, limit: int) -> dict[str, Any]:
    """OpenAI cursor page: items after the one with id ``after``, at most ``limit``."""
    if after is not None:
        ids = [item["id"] for item in items]
        items = items[ids.index(after) + 1 :] if after in ids else []
    return {"object": "list", "data": items[:limit], "has_more": len(items) > limit}
