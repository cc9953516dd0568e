"""The asyncio IMAP client against the managed Dovecot: what the webmail relies on."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from mailplane.protocols.imap import ImapClient, ImapCommandError
from tests.mailstack.support import MailStack, message
from tests.support.api import Api

pytestmark = pytest.mark.mailstack

PASSWORD = "correct-horse-1"


def _mail_token(mail_api: str, email: str) -> str:
    with httpx.Client(base_url=mail_api, timeout=10) as http:
        login = http.post(
            "/api/v1/auth/login", json={"email": email, "password": PASSWORD, "account": "mailbox"}
        )
        assert login.status_code == 200, login.text
        minted = http.post(
            "/api/v1/auth/mail-token",
            headers={"Authorization": f"Bearer {login.json()['access_token']}"},
        )
        assert minted.status_code == 200, minted.text
        token: str = minted.json()["access_token"]
        return token


def test_folders_messages_search_and_idle(api: Api, mailstack: MailStack, mail_api: str) -> None:
    domain = api.domain(api.tenant()["id"])
    box = api.mailbox(domain["id"], "info", PASSWORD)
    token = _mail_token(mail_api, box["email"])
    first = message("alice@outside.test", box["email"], subject="Gruesse aus Koeln")
    mailstack.deliver(first, box["email"])
    mailstack.wait_for(box["email"], PASSWORD, "Gruesse aus Koeln")

    async def scenario() -> None:
        host, port = mailstack.host, mailstack.settings.imap_port
        client = await ImapClient.connect(host, port)
        try:
            await client.authenticate_xoauth2(box["email"], token)
            assert "IDLE" in client.capabilities
            await client.create("Entwürfe/Ünter 😀")
            names = {f.name: f for f in await client.list_folders()}
            assert "Entwürfe/Ünter 😀" in names
            assert names["INBOX"].messages == 1
            assert names["INBOX"].unseen == 0  # wait_for read it with imaplib
            assert names["Sent"].special_use == "\\Sent"
            uid = await client.append("Entwürfe/Ünter 😀", bytes(first), flags=["\\Seen"])
            assert uid is not None
            selected = await client.select("INBOX")
            assert selected.exists == 1
            (item,) = await client.fetch(
                "1:*", "(UID FLAGS RFC822.SIZE ENVELOPE BODY.PEEK[HEADER.FIELDS (SUBJECT)])"
            )
            assert item["UID"] >= 1
            assert item["RFC822.SIZE"] > 100
            assert b"Subject:" in item["BODY[HEADER.FIELDS (SUBJECT)]"]
            assert await client.search("FROM", '"alice@outside.test"') == [item["UID"]]
            with pytest.raises(ImapCommandError) as missing:
                await client.select("does-not-exist")
            assert missing.value.missing_mailbox

            await client.select("INBOX")
            await client.idle_start()
            second = message("bob@outside.test", box["email"], subject="während idle")
            await asyncio.to_thread(mailstack.deliver, second, box["email"])
            seen = await client.idle_wait(10)
            await client.idle_done()
            assert any(r.name == "EXISTS" and r.number == 2 for r in seen)
        finally:
            await client.logout()

    asyncio.run(scenario())


def test_a_token_of_one_mailbox_does_not_open_another(
    api: Api, mailstack: MailStack, mail_api: str
) -> None:
    domain = api.domain(api.tenant()["id"])
    alice = api.mailbox(domain["id"], "alice", PASSWORD)
    bob = api.mailbox(domain["id"], "bob", PASSWORD)
    token = _mail_token(mail_api, alice["email"])

    async def scenario() -> None:
        client = await ImapClient.connect(mailstack.host, mailstack.settings.imap_port)
        try:
            with pytest.raises(ImapCommandError):
                await client.authenticate_xoauth2(bob["email"], token)
        finally:
            await client.close()

    asyncio.run(scenario())
