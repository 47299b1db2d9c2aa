"""One logging set-up for every process: level from settings, one line per record."""

from __future__ import annotations

import logging
import sys


def configure_logging(level: str = "INFO", service: str = "modality") -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        logging.Formatter(f"%(asctime)s %(levelname)s {service} %(name)s: %(message)s")
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # Per-request access logs cost real CPU at thousands of requests per second.
    logging.getLogger("uvicorn.access").setLevel(logging.WARNING)
