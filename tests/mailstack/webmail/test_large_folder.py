"""A folder of 20,000 messages through the webmail API: the first and a deep page, threads
and a search whose answer is one long line (the stdlib imaplib's line limit is what
broke Modoboa's webmail on large folders)."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from mailplane.config import Settings
from mailplane.db import Database
from tests.mailstack.webmail.conftest import MailUser
from tests.support.maildir import fill_inbox

pytestmark = pytest.mark.mailstack

COUNT = 20_000


def test_a_large_inbox(
    mail_user: Callable[..., MailUser], mail_settings: Settings, database: Database
) -> None:
    user = mail_user()
    fill_inbox(mail_settings, database, user.id, COUNT)
    first = user.web.ok("GET", "/api/v1/mail/webmail/messages/INBOX?per_page=50")
    assert first["total"] == COUNT
    assert first["pages"] == COUNT // 50
    assert first["messages"][0]["subject"] == f"Re: Topic {(COUNT - 1) // 5}"
    deep = user.web.ok("GET", "/api/v1/mail/webmail/messages/INBOX?per_page=50&page=399")
    # Page 399 of 400 holds messages 99 .. 50 counted from the oldest (index 0).
    assert deep["messages"][0]["preview"].startswith("Hello, this is message 99 ")
    assert len(deep["messages"]) == 50

    everything = user.web.ok("GET", "/api/v1/mail/webmail/search/INBOX?text=Hello&per_page=10")
    assert everything["total"] == COUNT
    unread = user.web.ok("GET", "/api/v1/mail/webmail/search/INBOX?unseen=true&per_page=10")
    assert unread["total"] == len(range(0, COUNT, 3))
    threads = user.web.ok("GET", "/api/v1/mail/webmail/threads/INBOX?per_page=5")
    assert threads["total"] == COUNT // 5
    assert threads["threads"][0]["count"] == 5
