"""Shared fixtures. The database is SQLite by default; ``--db postgresql`` (or
MAILPLANE_TEST_DB=postgresql) runs the same suite against a private PostgreSQL cluster.

One database per test session, migrated once; tests isolate themselves by creating
their own tenants, domains and mailboxes with unique names (``uid``).
"""

from __future__ import annotations

import os
import secrets
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from mailplane import migrations
from mailplane.api.app import create_app
from mailplane.auth import service_tokens
from mailplane.config import Settings
from mailplane.db import Database
from tests.support.api import Api


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--db",
        choices=["sqlite", "postgresql"],
        default=os.environ.get("MAILPLANE_TEST_DB", "sqlite"),
        help="database the suite runs against",
    )


@pytest.fixture(scope="session")
def db_kind(request: pytest.FixtureRequest) -> str:
    return str(request.config.getoption("--db"))


@pytest.fixture(scope="session")
def state_dir() -> Iterator[Path]:
    # Short path: Postfix and Dovecot sockets live below it (107-byte limit on unix sockets).
    path = Path(tempfile.mkdtemp(prefix="mp-", dir="/tmp"))
    os.chmod(path, 0o755)
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope="session")
def database_url(db_kind: str) -> Iterator[str | None]:
    if db_kind == "sqlite":
        yield None
        return
    from tests.support.postgres import postgres_cluster

    with postgres_cluster() as url:
        yield url


def make_settings(state_dir: Path, database_url: str | None, **overrides: object) -> Settings:
    values: dict[str, object] = {
        "env": "test",
        "state_dir": state_dir,
        "database_url": database_url,
        "secret_key": secrets.token_urlsafe(48),
        # Cheap hashes: the cost is a production setting, not something tests measure.
        "argon2_memory_kib": 1024,
        "argon2_time_cost": 1,
        "bcrypt_rounds": 4,
        # Never the system resolver: a closed loopback port answers at once with an error.
        # The DNS tests (tests/dns) point these at their own Knot server.
        "dns_resolvers": ["127.0.0.1"],
        "dns_port": 9,
        "dns_timeout_seconds": 0.5,
    }
    values.update(overrides)
    return Settings(**values)  # type: ignore[arg-type]


@pytest.fixture(scope="session")
def settings(state_dir: Path, database_url: str | None) -> Settings:
    return make_settings(state_dir, database_url)


@pytest.fixture(scope="session")
def database(settings: Settings) -> Iterator[Database]:
    migrations.upgrade(settings)
    db = Database(settings)
    yield db
    db.dispose()


@pytest.fixture(scope="session")
def service_token(database: Database) -> str:
    with database.transaction() as session:
        _, secret = service_tokens.create(session, "tests", ["admin", "read"])
    return secret


@pytest.fixture(scope="session")
def client(settings: Settings, database: Database) -> Iterator[TestClient]:
    with TestClient(create_app(settings, database)) as test_client:
        yield test_client


@pytest.fixture(scope="session")
def api(client: TestClient, service_token: str) -> Api:
    """The API as a platform operator."""
    return Api(client, {"x-service-token": service_token})


@pytest.fixture
def uid() -> str:
    return secrets.token_hex(4)
