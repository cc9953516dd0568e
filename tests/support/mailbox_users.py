"""Mailbox users logged in to the webmail API (no mail servers needed)."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Any

from tests.support.api import Api

PASSWORD = "correct-horse-1"


@dataclass(frozen=True)
class WebUser:
    mailbox_id: int
    email: str
    tenant_id: int
    domain_id: int
    web: Api  # the API with this mailbox user's Bearer token


def web_user(api: Api, tenant_id: int | None = None) -> WebUser:
    """A fresh mailbox (in a fresh tenant unless one is given), logged in."""
    tenant_id = tenant_id or api.tenant()["id"]
    domain_id = api.domain(tenant_id)["id"]
    box: dict[str, Any] = api.mailbox(domain_id, f"u{secrets.token_hex(3)}", PASSWORD)
    login = api.client.post(
        "/api/v1/auth/login",
        json={"email": box["email"], "password": PASSWORD, "account": "mailbox"},
    )
    assert login.status_code == 200, login.text
    token = login.json()["access_token"]
    return WebUser(
        mailbox_id=box["id"],
        email=box["email"],
        tenant_id=tenant_id,
        domain_id=domain_id,
        web=Api(api.client, {"Authorization": f"Bearer {token}"}),
    )
