"""Fixtures for the delivery engine: a Knot server publishing MX records for test
domains, remote MX hosts (aiosmtpd) on 127.0.0.x, and a worker run in a thread."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from mailplane.config import Settings
from mailplane.db import Database
from tests.conftest import make_settings
from tests.support.knot import Knot, knot_server
from tests.support.mx import RemoteMx
from tests.support.ports import free_port

# Two MX hosts answer, one address has nobody listening (a dead MX).
MX1, MX2, DEAD = "127.0.0.2", "127.0.0.3", "127.0.0.9"


@pytest.fixture(scope="session")
def knot() -> Iterator[Knot]:
    with knot_server() as server:
        yield server


@pytest.fixture(scope="session")
def mx_port() -> int:
    return free_port()


@pytest.fixture(scope="session")
def mx1(mx_port: int) -> Iterator[RemoteMx]:
    server = RemoteMx(MX1, mx_port)
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def mx2(mx_port: int) -> Iterator[RemoteMx]:
    server = RemoteMx(MX2, mx_port)
    server.start()
    yield server
    server.stop()


EngineSettings = Callable[..., Settings]


@pytest.fixture
def engine_settings(
    state_dir: Path, database_url: str | None, knot: Knot, mx_port: int, database: Database
) -> EngineSettings:
    def build(**overrides: Any) -> Settings:
        values: dict[str, Any] = {
            "delivery_resolvers": ["127.0.0.1"],
            "dns_port": knot.port,
            "dns_timeout_seconds": 1.0,
            "delivery_smtp_port": mx_port,
            "delivery_retry_base_seconds": 0.2,
            "delivery_retry_max_seconds": 1.0,
            "delivery_lease_seconds": 3.0,
            "delivery_connect_timeout_seconds": 1.0,
            "delivery_command_timeout_seconds": 1.0,
            "mail_hostname": "mail.mailplane.test",
            "bounce_domain": "bounces.mailplane.test",
        }
        values.update(overrides)
        return make_settings(state_dir, database_url, **values)

    return build
