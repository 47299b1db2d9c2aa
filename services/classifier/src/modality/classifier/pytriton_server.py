"""A real Triton Inference Server on CPU (PyTriton) serving the classifier graph.

``python -m modality.classifier.pytriton_server`` serves ``<model dir>/classifier/model.onnx``
(or its int8 copy with ``MODALITY_CLASSIFIER_PRECISION=int8``) under the tensor contract's
model name and tensor names, with Triton's dynamic batcher on,
so ``MODALITY_CLASSIFIER_BACKEND=triton`` works on a machine without a GPU or Docker. The
inference callable runs an ONNX Runtime session on each batch Triton forms.

- Ports come from settings (``MODALITY_CLASSIFIER_PYTRITON_{HTTP,GRPC,METRICS}_PORT``,
  default 8100/8101/8102, off Triton's 8000-8002 which the gateway uses).
- PyTriton's workspace goes under ``<state dir>/pytriton/`` (its default leaves ~44 MB in
  ``~/.cache/pytriton`` per run); stale workspaces of dead runs are removed at start.
- SIGTERM or SIGINT stops the server (and cleans the workspace).
- PyTriton's Python-backend stub links libpython; with a non-system (e.g. pyenv) Python it
  only loads models when ``LD_LIBRARY_PATH`` holds ``sysconfig``'s ``LIBDIR``. ``main()``
  re-executes itself with that set; ``spawn()`` starts the server as a subprocess with it.
"""

from __future__ import annotations

import logging
import os
import shutil
import signal
import subprocess
import sys
import sysconfig
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from pathlib import Path
from types import FrameType
from typing import IO, Any

import numpy as np
import numpy.typing as npt

from modality.classifier import contract
from modality.classifier.errors import ClassifierError, ModelFilesMissingError
from modality.classifier.settings import ClassifierSettings

log = logging.getLogger(__name__)

MODULE = "modality.classifier.pytriton_server"
_REEXEC_MARK = "MODALITY_PYTRITON_REEXEC"


LOAD_ATTEMPTS = 8
"""Triton starts tried when binding the model fails with more than one instance. In
PyTriton 0.7.0 the first instance opens a Unix socket that the others read their config
from; another instance that finds the socket file before it listens gets "connection
refused" and the model fails to load. Seen here with two instances: in 4 of 10 bench
starts right after another benchmark, 1 of 10 with both cores busy, 0 of 10 idle; the
next start succeeded every time."""


class PyTritonStartError(ClassifierError):
    """The PyTriton server process exited or did not become ready in time."""


# --- environment ---------------------------------------------------------------------------
def python_libdir() -> str:
    return str(sysconfig.get_config_var("LIBDIR") or "")


def server_env(base: Mapping[str, str] | None = None) -> dict[str, str]:
    """``base`` (default: this process's environment) with LIBDIR first on LD_LIBRARY_PATH."""
    env = dict(os.environ if base is None else base)
    libdir = python_libdir()
    paths = [p for p in env.get("LD_LIBRARY_PATH", "").split(os.pathsep) if p]
    if libdir and libdir not in paths:
        env["LD_LIBRARY_PATH"] = os.pathsep.join([libdir, *paths])
    return env


def _libdir_on_path() -> bool:
    libdir = python_libdir()
    return not libdir or libdir in os.environ.get("LD_LIBRARY_PATH", "").split(os.pathsep)


# --- workspace -----------------------------------------------------------------------------
def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def workspace_for(settings: ClassifierSettings) -> Path:
    """A fresh workspace path for this process; removes those of dead processes."""
    root = settings.pytriton_workspace_root
    root.mkdir(parents=True, exist_ok=True)
    for stale in root.glob("ws-*"):
        pid = stale.name.removeprefix("ws-")
        if pid.isdigit() and not _pid_alive(int(pid)):
            shutil.rmtree(stale, ignore_errors=True)
    path = root / f"ws-{os.getpid()}"
    if path.exists():
        shutil.rmtree(path)
    return path


# --- the server ----------------------------------------------------------------------------
def _stop_on_sigterm() -> None:
    def handler(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt  # pytriton's serve() stops the server on KeyboardInterrupt

    signal.signal(signal.SIGTERM, handler)


def serve(settings: ClassifierSettings) -> None:
    """Run Triton with the classifier graph bound; blocks until SIGTERM/SIGINT."""
    from pytriton.decorators import batch
    from pytriton.model_config import DynamicBatcher, ModelConfig, Tensor
    from pytriton.triton import Triton, TritonConfig
    from tritonclient.utils import InferenceServerException

    from modality.classifier.encoder import cpu_session
    from modality.classifier.pipeline import (
        graph_file,
        resolve_model_dir,
        run_rowwise,
        runs_rowwise,
    )

    graph = graph_file(settings.precision)
    onnx_path = resolve_model_dir(settings.model_dir) / contract.CLASSIFIER_DIR / graph
    if not onnx_path.is_file():
        raise ModelFilesMissingError(f"classifier graph not found: {onnx_path} (run `make models`)")
    output_names = list(contract.OUTPUT_NAMES)
    rowwise = runs_rowwise(settings.precision)

    def make_infer() -> Any:
        session = cpu_session(onnx_path, settings.intra_op_threads)

        def run(feeds: dict[str, npt.NDArray[Any]]) -> list[npt.NDArray[Any]]:
            return list(session.run(output_names, feeds))

        @batch  # type: ignore[untyped-decorator]
        def infer(**inputs: npt.NDArray[Any]) -> dict[str, npt.NDArray[Any]]:
            feeds = {name: inputs[name] for name in contract.INPUT_NAMES}
            # int8: one ORT call per row (see pipeline.run_rowwise); Triton's batching still
            # pays its own per-request cost once per batch.
            values = run_rowwise(run, feeds) if rowwise else run(feeds)
            return dict(zip(output_names, values, strict=True))

        return infer

    def tensor(spec: contract.TensorSpec) -> Any:
        return Tensor(name=spec.name, dtype=np.dtype(spec.numpy_dtype).type, shape=spec.shape[1:])

    config = TritonConfig(
        http_address=settings.host,
        http_port=settings.pytriton_http_port,
        grpc_address=settings.host,
        grpc_port=settings.pytriton_grpc_port,
        metrics_port=settings.pytriton_metrics_port,
        log_verbose=0,
    )
    _stop_on_sigterm()
    for attempt in range(1, LOAD_ATTEMPTS + 1):
        with Triton(config=config, workspace=workspace_for(settings)) as triton:
            try:
                triton.bind(
                    model_name=contract.MODEL_NAME,
                    infer_func=[make_infer() for _ in range(settings.pytriton_instances)],
                    inputs=[tensor(t) for t in contract.INPUTS],
                    outputs=[tensor(t) for t in contract.OUTPUTS],
                    config=ModelConfig(
                        max_batch_size=settings.pytriton_max_batch_size,
                        batcher=DynamicBatcher(
                            max_queue_delay_microseconds=settings.pytriton_max_queue_delay_us
                        ),
                    ),
                    strict=True,
                )
            except InferenceServerException as exc:
                if settings.pytriton_instances == 1 or attempt == LOAD_ATTEMPTS:
                    raise
                log.warning(
                    "model load failed (attempt %d of %d; PyTriton's instances can race "
                    "for its config handshake), restarting Triton: %s",
                    attempt,
                    LOAD_ATTEMPTS,
                    str(exc).splitlines()[0],
                )
                continue  # leaving the block stops this Triton
            log.info(
                "PyTriton serving %s from %s: http %d, grpc %d, metrics %d",
                contract.MODEL_NAME,
                onnx_path,
                settings.pytriton_http_port,
                settings.pytriton_grpc_port,
                settings.pytriton_metrics_port,
            )
            triton.serve()
            return


# --- running it as a separate process ------------------------------------------------------
def ready_url(settings: ClassifierSettings) -> str:
    host = "127.0.0.1" if settings.host in ("0.0.0.0", "") else settings.host
    return f"http://{host}:{settings.pytriton_http_port}/v2/models/{contract.MODEL_NAME}/ready"


def is_ready(settings: ClassifierSettings, timeout_s: float = 1.0) -> bool:
    try:
        with urllib.request.urlopen(ready_url(settings), timeout=timeout_s) as response:
            return int(response.status) == 200
    except (urllib.error.URLError, OSError):
        return False


SERVER_FIELDS = (
    "host",
    "model_dir",
    "state_dir",
    "intra_op_threads",
    "precision",
    "pytriton_http_port",
    "pytriton_grpc_port",
    "pytriton_metrics_port",
    "pytriton_max_batch_size",
    "pytriton_max_queue_delay_us",
    "pytriton_instances",
    "log_level",
)


def settings_env(settings: ClassifierSettings) -> dict[str, str]:
    """The environment variables that give a server process these settings."""
    env: dict[str, str] = {}
    for name in SERVER_FIELDS:
        value = getattr(settings, name)
        if value is None:
            continue
        key = "MODALITY_LOG_LEVEL" if name == "log_level" else f"MODALITY_CLASSIFIER_{name.upper()}"
        env[key] = str(value)
    return env


def spawn(
    settings: ClassifierSettings,
    *,
    log_file: IO[bytes] | None = None,
    ready_timeout_s: float = 90.0,
) -> subprocess.Popen[bytes]:
    """Start the server as a subprocess (LIBDIR on LD_LIBRARY_PATH) and wait until it is ready.

    Stop it with ``stop(process)``.
    """
    env = server_env()
    env.update(settings_env(settings))
    env[_REEXEC_MARK] = "1"
    process = subprocess.Popen(
        [sys.executable, "-m", MODULE],
        env=env,
        stdout=log_file if log_file is not None else subprocess.DEVNULL,
        stderr=subprocess.STDOUT if log_file is not None else subprocess.DEVNULL,
        start_new_session=True,
    )
    deadline = time.monotonic() + ready_timeout_s
    while not is_ready(settings):
        if process.poll() is not None:
            raise PyTritonStartError(
                f"PyTriton server exited with {process.returncode} before ready"
                + _log_tail(log_file)
            )
        if time.monotonic() > deadline:
            stop(process)
            raise PyTritonStartError(
                f"PyTriton server not ready within {ready_timeout_s:.0f} s" + _log_tail(log_file)
            )
        time.sleep(0.2)
    return process


def _log_tail(log_file: IO[bytes] | None, max_bytes: int = 3000) -> str:
    """The end of the server's log, when it was written to a named file, for start errors."""
    name = getattr(log_file, "name", None)
    if log_file is None or not isinstance(name, str) or not os.path.isfile(name):
        return ""
    log_file.flush()
    with open(name, "rb") as fh:
        fh.seek(max(0, os.path.getsize(name) - max_bytes))
        tail = fh.read().decode("utf-8", "replace")
    return f"; the end of its log ({name}):\n{tail}"


def stop(process: subprocess.Popen[bytes], timeout_s: float = 30.0) -> int:
    """SIGTERM, wait, then SIGKILL the server's process group; returns the exit code."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout_s)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(10)
    return int(process.returncode)


def main() -> None:
    from modality.common.logging import configure_logging

    if not _libdir_on_path() and not os.environ.get(_REEXEC_MARK):
        env = server_env()
        env[_REEXEC_MARK] = "1"
        os.execve(sys.executable, [sys.executable, "-m", MODULE, *sys.argv[1:]], env)
    settings = ClassifierSettings()
    configure_logging(settings.log_level, "pytriton")
    serve(settings)


if __name__ == "__main__":
    main()
