"""``modality-simulator`` / ``python -m modality.simulator``: serve the provider simulator."""

from __future__ import annotations

import argparse
from typing import Any

from modality.simulator.server import run
from modality.simulator.settings import load_settings


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="modality-simulator",
        description="OpenAI-compatible provider simulator for tests, demos and benchmarks. "
        "It is not a model: answers are deterministic filler. Settings come from "
        "MODALITY_SIMULATOR_* environment variables; these flags override them.",
    )
    parser.add_argument("--host")
    parser.add_argument("--port", type=int)
    parser.add_argument("--workers", type=int, help="processes sharing the port (SO_REUSEPORT)")
    parser.add_argument("--ttft-ms", type=float, dest="ttft_ms")
    parser.add_argument("--tokens-per-s", type=float, dest="tokens_per_s")
    parser.add_argument("--access-log", action="store_true", default=None, dest="access_log")
    parser.add_argument("--log-level", default="INFO")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    overrides: dict[str, Any] = {
        k: v for k, v in vars(args).items() if k != "log_level" and v is not None
    }
    run(load_settings(**overrides), log_level=args.log_level)


if __name__ == "__main__":
    main()
