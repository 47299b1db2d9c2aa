"""NATS subject and JetStream stream names: the only place they are spelled out."""

from __future__ import annotations

# --- core request/reply -------------------------------------------------------------
ROUTE_DECIDE = "route.decide"
ROUTER_QUEUE = "router"

# --- USAGE stream ---------------------------------------------------------------------
USAGE_STREAM = "USAGE"
USAGE_RECORDED_PREFIX = "usage.recorded"
USAGE_RECORDED_ALL = "usage.recorded.>"


def usage_recorded(customer_id: str) -> str:
    return f"{USAGE_RECORDED_PREFIX}.{customer_id}"


# --- JOBS stream ----------------------------------------------------------------------
JOBS_STREAM = "JOBS"
FINETUNE_REQUESTED = "finetune.requested"
FINETUNE_PROGRESS = "finetune.progress"
FINETUNE_SUCCEEDED = "finetune.succeeded"
FINETUNE_FAILED = "finetune.failed"

# --- MODELS stream --------------------------------------------------------------------
MODELS_STREAM = "MODELS"
MODEL_REGISTERED = "model.registered"
MODEL_EVALUATED = "model.evaluated"
MODEL_PROMOTED = "model.promoted"
MODEL_DEMOTED = "model.demoted"
MODEL_REJECTED = "model.rejected"
MODEL_ALL = "model.>"

# --- BILLING stream -------------------------------------------------------------------
BILLING_STREAM = "BILLING"
BUDGET_EXCEEDED = "budget.exceeded"
BUDGET_RESET = "budget.reset"

# --- CONTROL stream: configuration changes every replica must hear --------------------
CONTROL_STREAM = "CONTROL"
CUSTOMER_UPDATED = "control.customer.updated"
API_KEY_REVOKED = "control.apikey.revoked"
CONTROL_ALL = "control.>"

STREAM_SUBJECTS: dict[str, list[str]] = {
    USAGE_STREAM: [USAGE_RECORDED_ALL],
    JOBS_STREAM: ["finetune.>"],
    MODELS_STREAM: [MODEL_ALL],
    BILLING_STREAM: ["budget.>"],
    CONTROL_STREAM: [CONTROL_ALL],
}

# Durable consumer names.
BILLING_USAGE_CONSUMER = "billing-usage"
