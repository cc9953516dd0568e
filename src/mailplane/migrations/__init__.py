"""Alembic migrations. The same revisions serve SQLite (batch mode) and PostgreSQL."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config

from mailplane.config import Settings
from mailplane.db import create_private_sqlite_file, normalize_url

HERE = Path(__file__).parent


def alembic_config(settings: Settings) -> Config:
    config = Config()
    config.set_main_option("script_location", str(HERE))
    # Percent signs in passwords would be read as interpolation by configparser.
    url = normalize_url(settings.resolved_database_url).replace("%", "%%")
    config.set_main_option("sqlalchemy.url", url)
    return config


def upgrade(settings: Settings, revision: str = "head") -> None:
    create_private_sqlite_file(settings.resolved_database_url)
    command.upgrade(alembic_config(settings), revision)
