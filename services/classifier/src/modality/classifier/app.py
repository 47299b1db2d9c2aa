"""The classifier process: ``POST /classify`` over HTTP and the ``route.decide`` worker over NATS.

``create_app(settings)`` builds everything in its lifespan: the classifier over the
configured backend (in-process ONNX Runtime or Triton), then — unless the router is
disabled — the NATS connection, the Postgres-backed registry and the router worker.
Tests inject a classifier and/or a registry store through the keyword arguments.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from typing import Any

from fastapi import FastAPI
from nats.aio.client import Client as NATS

from modality.classifier import contract, domains
from modality.classifier.backends import BackendInfo, TimedClassifier, build_classifier
from modality.classifier.batching import BatchingClassifier
from modality.classifier.errors import ModelFilesMissingError
from modality.classifier.metrics import ServiceMetrics
from modality.classifier.router.handlers import RouterWorker
from modality.classifier.router.http import HttpState, api, install_error_handlers
from modality.classifier.router.policies import RouterParams
from modality.classifier.router.registry import Registry
from modality.classifier.router.repository import PostgresRegistryStore
from modality.classifier.router.service import RouterService
from modality.classifier.router.types import PromptClassifier, RegistryStore
from modality.classifier.settings import ClassifierSettings
from modality.common import bus
from modality.common.db.session import create_engine, session_factory
from modality.common.pricing import Price

log = logging.getLogger(__name__)


def domain_threshold(settings: ClassifierSettings) -> tuple[float, str]:
    """The embedding policy's threshold and where it came from."""
    if settings.domain_threshold is not None:
        return settings.domain_threshold, "setting"
    try:
        return domains.calibrated_threshold(settings.precision), "calibrated"
    except ModelFilesMissingError as exc:
        log.warning(
            "%s; using the documented default %.2f", exc, domains.DOCUMENTED_DEFAULT_THRESHOLD
        )
        return domains.DOCUMENTED_DEFAULT_THRESHOLD, "documented_default"


def router_params(settings: ClassifierSettings, threshold: float) -> RouterParams:
    return RouterParams(
        fallback_model=settings.fallback_model,
        fallback_price=Price(
            settings.fallback_input_price_per_m or 0.0, settings.fallback_output_price_per_m or 0.0
        ),
        threshold=threshold,
        default_complexity_ceiling=settings.default_complexity_ceiling,
        expected_completion_tokens=settings.expected_completion_tokens,
        long_prompt_tokens=settings.long_prompt_tokens,
    )


def create_app(
    settings: ClassifierSettings,
    *,
    classifier: PromptClassifier | None = None,
    backend_info: BackendInfo | None = None,
    store: RegistryStore | None = None,
) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        metrics = ServiceMetrics()
        async with AsyncExitStack() as stack:
            if classifier is None:
                runtime = await build_classifier(settings)
                stack.push_async_callback(runtime.close)
                inner: PromptClassifier = runtime.classifier
                info = runtime.info
            else:
                inner, info = classifier, backend_info or BackendInfo("injected", "unknown")
            # Timed inside the batcher, so the metrics see the batches the backend runs.
            batched = BatchingClassifier(
                TimedClassifier(inner, metrics, info.name),
                max_batch=settings.batch_size,
                max_in_flight=settings.max_inflight_batches,
            )
            stack.push_async_callback(batched.aclose)
            status: dict[str, Any] = {"enabled": settings.router_enabled}
            state = HttpState(settings, batched, info, metrics, lambda: _router_status(status, nc))
            nc: NATS | None = None
            if settings.router_enabled:
                nc = await bus.connect(settings.nats_url, "modality-classifier")
                stack.push_async_callback(_close_nats, nc)
                registry_store = store
                if registry_store is None:
                    engine = create_engine(settings.database_url, pool_size=settings.db_pool_size)
                    stack.push_async_callback(engine.dispose)
                    registry_store = PostgresRegistryStore(session_factory(engine))
                threshold, source = domain_threshold(settings)
                status.update(threshold=threshold, threshold_source=source)
                registry = Registry(
                    registry_store,
                    batched.embed,
                    embedding_model=contract.embedding_model_tag(settings.precision),
                    on_reload=lambda scope: metrics.registry_reloads.labels(scope).inc(),
                    on_embedding=metrics.embeddings_computed.inc,
                )
                worker = RouterWorker(
                    nc,
                    RouterService(batched, registry, router_params(settings, threshold)),
                    registry,
                    metrics,
                    decide_timeout_s=settings.decide_timeout_ms / 1000.0,
                    max_concurrency=settings.max_concurrency,
                    reload_period_s=settings.registry_reload_s,
                )
                await worker.start()
                stack.push_async_callback(worker.stop)
                status["registry"] = registry
                app.state.router = worker
                log.info(
                    "router worker serving route.decide (threshold %.3f from %s, fallback %s)",
                    threshold,
                    source,
                    settings.fallback_model,
                )
            app.state.http = state
            yield

    app = FastAPI(title="Modality classifier", lifespan=lifespan, docs_url=None, redoc_url=None)
    app.include_router(api)
    install_error_handlers(app)
    return app


def _router_status(status: dict[str, Any], nc: NATS | None) -> dict[str, Any]:
    out = {k: v for k, v in status.items() if k != "registry"}
    if nc is not None:
        out["connected"] = nc.is_connected
    registry = status.get("registry")
    if registry is not None:
        out["customers"] = len(registry)
    return out


async def _close_nats(nc: NATS) -> None:
    if not nc.is_closed:
        await nc.drain()
