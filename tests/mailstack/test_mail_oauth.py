"""OAuth2 for mail clients (SPEC section E): mailbox logins, mail tokens, XOAUTH2 and
OAUTHBEARER at the managed Dovecot (which introspects at the real API) and Postfix."""

from __future__ import annotations

import imaplib

import httpx
import pytest

from tests.mailstack.support import MailStack
from tests.support.api import Api

pytestmark = pytest.mark.mailstack

PASSWORD = "correct-horse-1"


def xoauth2(user: str, token: str) -> bytes:
    return f"user={user}\x01auth=Bearer {token}\x01\x01".encode()


def imap_xoauth2(mailstack: MailStack, user: str, token: str) -> imaplib.IMAP4:
    client = imaplib.IMAP4(mailstack.host, mailstack.settings.imap_port, timeout=10)
    try:
        client.authenticate("XOAUTH2", lambda _challenge: xoauth2(user, token))
    except BaseException:
        client.shutdown()
        raise
    return client


def test_a_mailbox_user_logs_in_and_reads_mail_with_a_minted_token(
    api: Api, mailstack: MailStack, mail_api: str
) -> None:
    domain = api.domain(api.tenant()["id"])
    box = api.mailbox(domain["id"], "info", PASSWORD)
    with httpx.Client(base_url=mail_api, timeout=10) as http:
        login = http.post("/api/v1/auth/login", json={"email": box["email"], "password": PASSWORD})
        assert login.status_code == 200, login.text
        session = login.json()
        assert session["account"] == "mailbox"
        minted = http.post(
            "/api/v1/auth/mail-token",
            headers={"Authorization": f"Bearer {session['access_token']}"},
        )
        assert minted.status_code == 200, minted.text
    token = minted.json()
    assert token["email"] == box["email"]
    assert token["expires_in"] == 3600
    client = imap_xoauth2(mailstack, box["email"], token["access_token"])
    try:
        status, _ = client.select("INBOX")
        assert status == "OK"
    finally:
        client.logout()
