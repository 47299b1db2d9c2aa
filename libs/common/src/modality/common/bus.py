"""NATS wiring shared by every service: connect with explicit timeouts, declare streams.

nats-py's defaults retry a dead server for ~2 minutes (60 attempts x 2 s) before the
first connect fails; services must fail fast at start and reconnect forever afterwards.
"""

from __future__ import annotations

import asyncio
import logging

import nats
from nats.aio.client import Client as NATS
from nats.js import JetStreamContext
from nats.js.api import DiscardPolicy, RetentionPolicy, StorageType, StreamConfig
from nats.js.errors import BadRequestError

from modality.common import subjects

log = logging.getLogger(__name__)

# JetStream de-duplicates on Nats-Msg-Id within this window (seconds).
DUPLICATE_WINDOW_S = 120.0

_STREAM_MAX_AGE_S: dict[str, float] = {
    subjects.USAGE_STREAM: 7 * 24 * 3600.0,
    subjects.JOBS_STREAM: 30 * 24 * 3600.0,
    subjects.MODELS_STREAM: 30 * 24 * 3600.0,
    subjects.BILLING_STREAM: 30 * 24 * 3600.0,
    subjects.CONTROL_STREAM: 24 * 3600.0,
}


def stream_configs(replicas: int = 1) -> list[StreamConfig]:
    return [
        StreamConfig(
            name=name,
            subjects=subs,
            retention=RetentionPolicy.LIMITS,
            storage=StorageType.FILE,
            discard=DiscardPolicy.OLD,
            max_age=_STREAM_MAX_AGE_S[name],
            duplicate_window=DUPLICATE_WINDOW_S,
            num_replicas=replicas,
        )
        for name, subs in subjects.STREAM_SUBJECTS.items()
    ]


async def connect(url: str, name: str, *, connect_timeout_s: float = 5.0) -> NATS:
    """Connect once (fail within ``connect_timeout_s``), then reconnect forever."""

    async def _error_cb(exc: Exception) -> None:
        log.warning("nats %s: %s", name, exc)

    try:
        return await asyncio.wait_for(
            nats.connect(
                servers=[url],
                name=name,
                connect_timeout=min(2.0, connect_timeout_s),
                allow_reconnect=True,
                max_reconnect_attempts=-1,
                reconnect_time_wait=0.5,
                error_cb=_error_cb,
            ),
            timeout=connect_timeout_s,
        )
    except (TimeoutError, OSError, nats.errors.NoServersError) as exc:
        raise ConnectionError(f"cannot reach NATS at {url}: {exc!r}") from exc


async def ensure_streams(js: JetStreamContext, replicas: int = 1) -> None:
    """Create every stream Modality uses, or update it to the configuration above.

    ``replicas`` is the JetStream replication factor (3 on a production cluster).
    """
    for config in stream_configs(replicas):
        try:
            await js.add_stream(config)
        except BadRequestError:
            # Exists with another configuration: bring it to ours.
            await js.update_stream(config)
