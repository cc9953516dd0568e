"""Fixtures for the ``mailplane`` command tests."""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text


@pytest.fixture
def env(tmp_path: Path, db_kind: str, database_url: str | None) -> Iterator[dict[str, str]]:
    values = {
        **os.environ,
        "MAILPLANE_ENV": "test",
        "MAILPLANE_STATE_DIR": str(tmp_path / "state"),
        "MAILPLANE_ARGON2_MEMORY_KIB": "1024",
        "MAILPLANE_ARGON2_TIME_COST": "1",
    }
    values.pop("MAILPLANE_DATABASE_URL", None)
    values.pop("MAILPLANE_SECRET_KEY", None)
    if db_kind == "postgresql":
        assert database_url is not None
        # A database of its own in the test cluster: init must find it empty.
        name = f"cli_{secrets.token_hex(4)}"
        admin = create_engine(database_url, isolation_level="AUTOCOMMIT")
        with admin.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{name}"'))
        values["MAILPLANE_DATABASE_URL"] = database_url.rsplit("/", 1)[0] + "/" + name
        yield values
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE "{name}" WITH (FORCE)'))
        admin.dispose()
        return
    yield values
