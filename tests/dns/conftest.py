"""Fixtures for the DNS tests: one Knot server per session, the platform's own zone, and an
API whose resolver is that Knot server (never the system resolver)."""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    from fastapi.testclient import TestClient

from mailplane.api.app import create_app
from mailplane.config import Settings
from mailplane.db import Database
from tests.conftest import make_settings
from tests.support.api import Api
from tests.support.knot import KEY_NAME, Knot, knot_server

PLATFORM_ZONE = "mailplane.test"
SENDING_IPS = ["192.0.2.10", "2001:db8::10"]
SPF_INCLUDE = f"_spf.{PLATFORM_ZONE}"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/dns/" in str(item.fspath):
            item.add_marker(pytest.mark.dns)


@pytest.fixture(scope="session")
def knot() -> Iterator[Knot]:
    with knot_server() as server:
        server.add_zone(
            PLATFORM_ZONE,
            [
                {"type": "A", "name": f"mail.{PLATFORM_ZONE}", "value": "192.0.2.10"},
                {"type": "AAAA", "name": f"mail.{PLATFORM_ZONE}", "value": "2001:db8::10"},
                {
                    "type": "TXT",
                    "name": SPF_INCLUDE,
                    "value": "v=spf1 ip4:192.0.2.10 ip6:2001:db8::10 -all",
                },
            ],
        )
        yield server


@pytest.fixture(scope="session")
def dns_settings(
    state_dir: Path, database_url: str | None, knot: Knot, database: Database
) -> Settings:
    return make_settings(
        state_dir,
        database_url,
        dns_resolvers=["127.0.0.1"],
        dns_port=knot.port,
        dns_timeout_seconds=2.0,
        mail_hostname=f"mail.{PLATFORM_ZONE}",
        mx_hosts=[f"mail.{PLATFORM_ZONE}"],
        sending_ips=SENDING_IPS,
        spf_include=SPF_INCLUDE,
        rfc2136_server="127.0.0.1",
        rfc2136_port=knot.port,
        rfc2136_key_name=KEY_NAME,
        rfc2136_key_algorithm="hmac-sha256",
        rfc2136_key_secret=knot.secret,
        verification_grace_hours=72,
        dkim_retire_after_hours=48,
    )


class Clock:
    """A clock the tests move; the app reads it through ``app.state.clock``."""

    def __init__(self) -> None:
        self.now = datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clock(dns_client: TestClient) -> Iterator[Clock]:
    value = Clock()
    dns_client.app.state.clock = value  # type: ignore[attr-defined]
    yield value
    del dns_client.app.state.clock  # type: ignore[attr-defined]


@pytest.fixture(scope="session")
def dns_client(dns_settings: Settings, database: Database) -> Iterator[TestClient]:
    with TestClient(create_app(dns_settings, database), base_url="http://testserver") as client:
        yield client


@pytest.fixture(scope="session")
def dns_api(dns_client: TestClient, service_token: str) -> Api:
    return Api(dns_client, {"x-service-token": service_token})


@pytest.fixture
def tenant(dns_api: Api) -> dict[str, Any]:
    return dns_api.tenant()
