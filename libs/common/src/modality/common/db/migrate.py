"""Apply database migrations: ``python -m modality.common.db.migrate``.

Reads MODALITY_DATABASE_URL."""

from __future__ import annotations

import logging
import sys
from pathlib import Path

from alembic import command
from alembic.config import Config

from modality.common.settings import InfraSettings, async_database_url

MIGRATIONS_DIR = Path(__file__).parent / "migrations"


def alembic_config(database_url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    # '%' must be escaped for configparser interpolation (URLs may carry %-encoding).
    config.set_main_option("sqlalchemy.url", async_database_url(database_url).replace("%", "%%"))
    return config


def upgrade(database_url: str, revision: str = "head") -> None:
    """Bring the database at ``database_url`` to ``revision`` (blocking; runs its own loop)."""
    command.upgrade(alembic_config(database_url), revision)


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    settings = InfraSettings()
    upgrade(settings.database_url)
    print("migrations applied", file=sys.stderr)


if __name__ == "__main__":
    main()
