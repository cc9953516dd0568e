"""Webmail fixtures: the API in process (TestClient) on the mail stack's settings, so that
its IMAP pool reaches the managed Dovecot; Dovecot introspects the pool's tokens at the
real API (``mail_api``), which shares the database and the secret."""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from fastapi.testclient import TestClient

from mailplane.api.app import create_app
from mailplane.config import Settings
from mailplane.db import Database
from tests.mailstack.support import MailStack
from tests.support.api import Api

PASSWORD = "correct-horse-1"


@pytest.fixture(scope="session")
def mail_client(
    mail_settings: Settings, database: Database, mailstack: MailStack, mail_api: str
) -> Iterator[TestClient]:
    with TestClient(create_app(mail_settings, database)) as client:
        yield client


@dataclass(frozen=True)
class MailUser:
    """A mailbox and its logged-in webmail session."""

    id: int
    email: str
    password: str
    tenant_id: int
    domain_id: int
    token: str
    web: Api  # the webmail API as this user (Authorization: Bearer)


@pytest.fixture
def mail_user(api: Api, mail_client: TestClient) -> Callable[..., MailUser]:
    """Makes a fresh mailbox (in a fresh tenant unless one is given) and logs it in."""

    def make(
        tenant_id: int | None = None, domain_id: int | None = None, local_part: str = ""
    ) -> MailUser:
        if domain_id is None:
            tenant_id = tenant_id or api.tenant()["id"]
            domain_id = api.domain(tenant_id)["id"]
        box: dict[str, Any] = api.mailbox(
            domain_id, local_part or f"u{secrets.token_hex(3)}", PASSWORD
        )
        login = mail_client.post(
            "/api/v1/auth/login",
            json={"email": box["email"], "password": PASSWORD, "account": "mailbox"},
        )
        assert login.status_code == 200, login.text
        token = login.json()["access_token"]
        return MailUser(
            id=box["id"],
            email=box["email"],
            password=PASSWORD,
            tenant_id=box["customer_id"],
            domain_id=domain_id,
            token=token,
            web=Api(mail_client, {"Authorization": f"Bearer {token}"}),
        )

    return make
