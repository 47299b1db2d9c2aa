"""``modality-billing`` / ``python -m modality.billing``: serve the billing worker."""

from __future__ import annotations

import uvicorn

from modality.billing.app import SERVICE, create_app
from modality.billing.settings import BillingSettings
from modality.common.logging import configure_logging
from modality.common.worker import exit_cleanly_on_signals


def main() -> None:
    settings = BillingSettings()
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
