"""Mailbox users' webmail sessions: the token opens the webmail side only."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from tests.mailstack.webmail.conftest import MailUser

pytestmark = pytest.mark.mailstack


def test_a_mailbox_token_does_not_open_the_admin_api(mail_user: Callable[..., MailUser]) -> None:
    user = mail_user()
    answer = user.web.get("/api/v1/tenants")
    assert answer.status_code == 403
    assert answer.json()["error"] == "mailbox_token"
