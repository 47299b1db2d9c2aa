"""`modality-classifier` (`python -m modality.classifier`): HTTP /classify + router worker."""

from __future__ import annotations

import uvicorn

from modality.classifier.app import create_app
from modality.classifier.settings import ClassifierSettings
from modality.common.logging import configure_logging


def main() -> None:
    settings = ClassifierSettings()
    configure_logging(settings.log_level, "classifier")
    uvicorn.run(
        create_app(settings),
        host=settings.host,
        port=settings.port,
        log_config=None,
        access_log=False,
        timeout_graceful_shutdown=10,
    )


if __name__ == "__main__":
    main()
