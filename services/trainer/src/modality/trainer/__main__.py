"""``modality-trainer`` / ``python -m modality.trainer``: serve the trainer worker."""

from __future__ import annotations

import uvicorn

from modality.common.logging import configure_logging
from modality.common.worker import exit_cleanly_on_signals
from modality.trainer.app import SERVICE, create_app
from modality.trainer.settings import TrainerSettings


def main() -> None:
    settings = TrainerSettings()
    configure_logging(settings.log_level, SERVICE)
    exit_cleanly_on_signals()
    uvicorn.run(
        create_app(settings),
        host=settings.host,
        port=settings.port,
        lifespan="on",
        log_config=None,
        access_log=False,
    )


if __name__ == "__main__":
    main()
