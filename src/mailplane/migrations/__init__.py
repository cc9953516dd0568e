"""Alembic migrations. The same revisions serve SQLite (batch mode) and PostgreSQL."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config

from mailplane.config import Settings
from mailplane.db import normalize_url

HERE = Path(__file__).parent


def alembic_config(settings: Settings) -> Config:
    config = Config()
    config.set_main_option("script_location", str(HERE))
    # Percent signs in passwords would be read as interpolation by configparser.
    url = normalize_url(settings.resolved_database_url).replace("%", "%%")
    config.set_main_option("sqlalchemy.url", url)
    return config


def upgrade(settings: Settings, revision: str = "head") -> None:
    if settings.is_sqlite and settings.database_url is None:
        settings.db_dir.mkdir(parents=True, exist_ok=True)
    command.upgrade(alembic_config(settings), revision)
