"""``python -m modality.gateway``: data plane and control plane in one process tree."""

from __future__ import annotations

import argparse
import sys

from modality.gateway.server import run
from modality.gateway.settings import GatewaySettings


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m modality.gateway", description=__doc__)
    parser.add_argument("--host", help="bind address (MODALITY_GATEWAY_HOST)")
    parser.add_argument("--port", type=int, help="data-plane port (MODALITY_GATEWAY_PORT)")
    parser.add_argument(
        "--control-port", type=int, help="control-plane port (MODALITY_GATEWAY_CONTROL_PORT)"
    )
    parser.add_argument(
        "--workers", type=int, help="data-plane processes (MODALITY_GATEWAY_WORKERS)"
    )
    parser.add_argument("--no-control", action="store_true", help="serve the data plane only")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    overrides = {
        name: value
        for name, value in (
            ("host", args.host),
            ("port", args.port),
            ("control_port", args.control_port),
            ("workers", args.workers),
        )
        if value is not None
    }
    settings = GatewaySettings(**overrides)
    sys.exit(run(settings, control=not args.no_control))


if __name__ == "__main__":
    main()
