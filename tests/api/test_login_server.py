"""Login throttling through a real ``mailplane serve`` (uvicorn): the TestClient does not
pass through uvicorn's proxy-header handling, which is where X-Forwarded-For is believed
or not, and a real server answers concurrent requests from its own thread pool."""

from __future__ import annotations

import secrets
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager

import httpx
import pytest
from sqlalchemy import select

from mailplane.config import Settings
from mailplane.db import Database
from mailplane.models import ThrottleCounter
from tests.support.api import Api
from tests.support.live_api import live_api

PASSWORD = "admin-password-1"
PAIR_LIMIT = 5
ACCOUNT_LIMIT = 8


def _serve(settings: Settings, **overrides: str) -> AbstractContextManager[str]:
    """``mailplane serve`` on the tests' database, cheap hashes, these settings."""
    return live_api(settings, login_max_failures_per_source=str(PAIR_LIMIT), **overrides)


@pytest.fixture(scope="module")
def untrusting(settings: Settings, database: Database) -> Iterator[str]:
    """The default: no trusted proxies. The account ceiling is out of reach here, so only
    the (account, address) limit can stop the rotation below."""
    with _serve(settings, login_max_failures_per_account="1000") as url:
        yield url


@pytest.fixture(scope="module")
def behind_proxy(settings: Settings, database: Database) -> Iterator[str]:
    """Loopback is a trusted proxy: X-Forwarded-For names the client."""
    with _serve(
        settings,
        trusted_proxies='["127.0.0.1"]',
        login_max_failures_per_account=str(ACCOUNT_LIMIT),
    ) as url:
        yield url


def _admin(api: Api) -> str:
    tenant = api.tenant()
    email = f"admin-{secrets.token_hex(4)}@admins.test"
    api.ok(
        "POST",
        f"/api/v1/tenants/{tenant['id']}/admins",
        201,
        json={"email": email, "password": PASSWORD},
    )
    return email


def _login(url: str, email: str, password: str, forwarded_for: str | None = None) -> int:
    headers = {"X-Forwarded-For": forwarded_for} if forwarded_for else {}
    response = httpx.post(
        f"{url}/api/v1/auth/login",
        json={"email": email, "password": password},
        headers=headers,
        timeout=60,
    )
    return response.status_code


def _random_ip() -> str:
    return f"203.0.{secrets.randbelow(256)}.{secrets.randbelow(254) + 1}"


def test_rotating_x_forwarded_for_does_not_bypass_the_limit(untrusting: str, api: Api) -> None:
    """Defect fixed: uvicorn believed X-Forwarded-For from loopback, so each guess could
    claim a new address."""
    email = _admin(api)
    for _ in range(PAIR_LIMIT):
        assert _login(untrusting, email, "bad-password", _random_ip()) == 401
    assert _login(untrusting, email, PASSWORD, _random_ip()) == 429


def test_trusted_proxy_passes_the_client_address(behind_proxy: str, api: Api) -> None:
    """Behind a configured proxy the client's own address counts: the attacker's failures
    do not stop the admin at another address, nor at its usual one once the account's
    ceiling is reached."""
    email = _admin(api)
    home = _random_ip()
    assert _login(behind_proxy, email, PASSWORD, home) == 200
    attacker = _random_ip()
    for _ in range(PAIR_LIMIT):
        assert _login(behind_proxy, email, "bad-password", attacker) == 401
    assert _login(behind_proxy, email, PASSWORD, attacker) == 429
    assert _login(behind_proxy, email, PASSWORD, _random_ip()) == 200

    # A botnet, one guess per address, uses up what is left of the account's ceiling.
    for _ in range(ACCOUNT_LIMIT - PAIR_LIMIT):
        assert _login(behind_proxy, email, "bad-password", _random_ip()) == 401
    assert _login(behind_proxy, email, PASSWORD, _random_ip()) == 429
    assert _login(behind_proxy, email, PASSWORD, home) == 200


def test_concurrent_failed_logins_are_counted_exactly(
    behind_proxy: str, api: Api, database: Database
) -> None:
    """Defect fixed: on PostgreSQL, 60 concurrent failed logins gave 500s (UniqueViolation
    on the counter's first insert) and lost counts."""
    email = _admin(api)
    addresses = [f"198.18.{i // 250}.{i % 250 + 1}" for i in range(60)]
    with ThreadPoolExecutor(max_workers=60) as pool:
        statuses = list(
            pool.map(lambda ip: _login(behind_proxy, email, "bad-password", ip), addresses)
        )
    assert Counter(statuses) == {401: ACCOUNT_LIMIT, 429: 60 - ACCOUNT_LIMIT}
    with database.session(write=False) as session:
        counted = session.scalar(
            select(ThrottleCounter.count).where(ThrottleCounter.key == f"login:account:{email}")
        )
    assert counted == ACCOUNT_LIMIT
