"""Running the simulator: in this process, as several SO_REUSEPORT worker processes, or on
a background thread (for tests of code that calls a provider)."""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import signal
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path
from types import FrameType

from aiohttp import web

from modality.simulator.app import create_app
from modality.simulator.settings import SimulatorSettings
from modality.simulator.store import Store

logger = logging.getLogger("modality.simulator")
SHUTDOWN_TIMEOUT_S = 2.0  # in-flight requests (a simulated hang, say) get this long


async def serve(
    settings: SimulatorSettings,
    stop: asyncio.Event,
    *,
    reuse_port: bool = False,
    on_ready: Callable[[int], None] | None = None,
) -> None:
    """Serve until ``stop`` is set; ``on_ready`` gets the bound port."""
    runner = web.AppRunner(
        create_app(settings),
        access_log=logger if settings.access_log else None,
        shutdown_timeout=SHUTDOWN_TIMEOUT_S,
    )
    await runner.setup()
    try:
        site = web.TCPSite(
            runner, settings.host, settings.port, reuse_port=reuse_port or None, backlog=1024
        )
        await site.start()
        port = int(runner.addresses[0][1])
        if on_ready is not None:
            on_ready(port)
        await stop.wait()
    finally:
        await runner.cleanup()


def _event_loop_policy() -> None:
    try:
        import uvloop
    except ImportError:  # uvloop is optional: plain asyncio works, only slower
        return
    asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())


def configure_logging(level: str) -> None:
    logging.basicConfig(level=level.upper(), format="%(asctime)s %(process)d %(name)s %(message)s")


def run_worker(settings: SimulatorSettings, reuse_port: bool = False, log_level: str = "") -> None:
    """One serving process; SIGTERM and SIGINT stop it cleanly."""
    if log_level:  # a spawned worker starts with no logging configured
        configure_logging(log_level)
    _event_loop_policy()

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)

        def ready(port: int) -> None:
            logger.info(
                "provider simulator (not a real model) listening on http://%s:%d",
                settings.host,
                port,
            )

        await serve(settings, stop, reuse_port=reuse_port, on_ready=ready)

    asyncio.run(main())


def run(settings: SimulatorSettings, log_level: str = "INFO") -> None:
    """Serve with ``settings.workers`` processes sharing the port (SO_REUSEPORT)."""
    configure_logging(log_level)
    if settings.workers == 1:
        run_worker(settings)
        return
    if settings.port == 0:
        raise ValueError("several workers need a fixed port (port 0 would give each its own)")
    with tempfile.TemporaryDirectory(prefix="modality-simulator-") as tmp:
        if settings.state_path is None:  # workers must share files and fine-tuning jobs
            settings = settings.model_copy(update={"state_path": str(Path(tmp) / "state.db")})
        Store(settings.state_path).close()  # create the schema once, before workers race
        _run_workers(settings, log_level)


def _run_workers(settings: SimulatorSettings, log_level: str) -> None:
    context = multiprocessing.get_context("spawn")
    workers = [
        context.Process(target=run_worker, args=(settings, True, log_level), name=f"simulator-{i}")
        for i in range(settings.workers)
    ]
    for worker in workers:
        worker.start()

    def forward(signum: int, frame: FrameType | None) -> None:
        for worker in workers:
            if worker.is_alive() and worker.pid is not None:
                worker.terminate()

    previous = {sig: signal.signal(sig, forward) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        for worker in workers:
            worker.join()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    failed = [w.name for w in workers if w.exitcode not in (0, -signal.SIGTERM)]
    if failed:
        raise RuntimeError(f"simulator workers exited abnormally: {', '.join(failed)}")


class BackgroundSimulator:
    """The simulator on a daemon thread with its own event loop, on a free port.

    ``with BackgroundSimulator(settings) as sim: OpenAI(base_url=sim.base_url, ...)``
    """

    def __init__(self, settings: SimulatorSettings) -> None:
        self.settings = settings.model_copy(update={"port": 0, "workers": 1})
        self.port = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._main, name="simulator", daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://{self.settings.host}:{self.port}/v1"

    def _main(self) -> None:
        async def main() -> None:
            self._loop = asyncio.get_running_loop()
            self._stop = asyncio.Event()

            def ready(port: int) -> None:
                self.port = port
                self._ready.set()

            await serve(self.settings, self._stop, on_ready=ready)

        try:
            asyncio.run(main())
        except BaseException as exc:
            if self._ready.is_set():
                raise
            self._error = exc  # a failure to start is raised in the caller by start()
            self._ready.set()

    def start(self, timeout: float = 10.0) -> BackgroundSimulator:
        self._thread.start()
        if not self._ready.wait(timeout):
            raise TimeoutError("the simulator did not start in time")
        if self._error is not None:
            raise RuntimeError("the simulator failed to start") from self._error
        return self

    def stop(self, timeout: float = 10.0) -> None:
        if self._loop is not None and self._stop is not None and self._thread.is_alive():
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(timeout)

    def __enter__(self) -> BackgroundSimulator:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
