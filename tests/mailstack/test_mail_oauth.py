"""OAuth2 for mail clients (SPEC section E): mailbox logins, mail tokens, XOAUTH2 and
OAUTHBEARER at the managed Dovecot (which introspects at the real API) and, through
Dovecot's SASL, at Postfix's submission port.

Each refused login costs Dovecot's flush delay (pitfall P20), so the refusals are grouped:
one test runs every case that must fail over IMAP, one over SMTP.
"""

from __future__ import annotations

import imaplib
import secrets
import smtplib
import subprocess
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest

from mailplane.auth import mail_tokens
from mailplane.config import Settings
from mailplane.db import Database
from mailplane.mailserver import oauth2_check
from mailplane.mailserver.dovecot_config import oauth2_conf
from mailplane.mailserver.layout import layout
from mailplane.models import Mailbox, utcnow
from tests.mailstack.support import MailStack, message
from tests.support.api import Api
from tests.support.ports import free_port

pytestmark = pytest.mark.mailstack

PASSWORD = "correct-horse-1"


def xoauth2(user: str, token: str) -> bytes:
    return f"user={user}\x01auth=Bearer {token}\x01\x01".encode()


def oauthbearer(user: str, token: str, host: str, port: int) -> bytes:
    """RFC 7628 section 3.1: a GS2 header naming the user, then key=value pairs."""
    return f"n,a={user},\x01host={host}\x01port={port}\x01auth=Bearer {token}\x01\x01".encode()


def _answer(first: bytes) -> Callable[[bytes], bytes]:
    """The initial response, then an empty one to the server's error challenge (RFC 7628
    section 3.2.3: the client answers the JSON error with a dummy reply)."""
    sent: list[bool] = []

    def reply(_challenge: bytes) -> bytes:
        if sent:
            return b""
        sent.append(True)
        return first

    return reply


def imap_auth(stack: MailStack, mechanism: str, user: str, token: str) -> imaplib.IMAP4:
    client = imaplib.IMAP4(stack.host, stack.settings.imap_port, timeout=10)
    if mechanism == "XOAUTH2":
        first = xoauth2(user, token)
    else:
        first = oauthbearer(user, token, stack.host, stack.settings.imap_port)
    try:
        client.authenticate(mechanism, _answer(first))
    except BaseException:
        client.shutdown()
        raise
    return client


def imap_opens_inbox(stack: MailStack, mechanism: str, user: str, token: str) -> bool:
    try:
        client = imap_auth(stack, mechanism, user, token)
    except imaplib.IMAP4.error:
        return False
    try:
        status, _ = client.select("INBOX")
        return status == "OK"
    finally:
        client.logout()


def smtp_xoauth2(stack: MailStack, user: str, token: str) -> smtplib.SMTP:
    client = stack.submission()
    first = xoauth2(user, token).decode()
    try:
        # smtplib sends the first answer as the initial response, then answers Dovecot's
        # JSON error challenge (if any) with an empty line.
        client.auth("XOAUTH2", lambda challenge=None: first if challenge is None else "")
    except BaseException:
        client.close()
        raise
    return client


class Mailboxes:
    """Builds mailboxes of one fresh tenant and gets tokens for them."""

    def __init__(self, api: Api) -> None:
        self.api = api
        self.tenant = api.tenant()
        self.domain = api.domain(self.tenant["id"])

    def make(self, local_part: str | None = None) -> dict[str, Any]:
        return self.api.mailbox(
            self.domain["id"], local_part or f"u{secrets.token_hex(3)}", PASSWORD
        )

    def session(self, email: str) -> dict[str, Any]:
        login = self.api.client.post(
            "/api/v1/auth/login", json={"email": email, "password": PASSWORD}
        )
        assert login.status_code == 200, login.text
        result: dict[str, Any] = login.json()
        return result

    def mail_token(self, email: str) -> str:
        session = self.session(email)
        minted = self.api.client.post(
            "/api/v1/auth/mail-token",
            headers={"Authorization": f"Bearer {session['access_token']}"},
        )
        assert minted.status_code == 200, minted.text
        token: str = minted.json()["access_token"]
        return token


@pytest.fixture
def boxes(api: Api, mailstack: MailStack, mail_api: str) -> Mailboxes:
    return Mailboxes(api)


def test_a_mailbox_user_logs_in_and_reads_mail_with_a_minted_token(
    api: Api, mailstack: MailStack, mail_api: str
) -> None:
    """The whole flow against the real API: login, mail-token, IMAP XOAUTH2."""
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
    assert token["token_type"] == "Bearer"
    assert token["expires_in"] == 3600
    client = imap_auth(mailstack, "XOAUTH2", box["email"], token["access_token"])
    try:
        status, _ = client.select("INBOX")
        assert status == "OK"
    finally:
        client.logout()


def test_oauthbearer_opens_the_mailbox_and_sees_its_mail(
    boxes: Mailboxes, mailstack: MailStack
) -> None:
    box = boxes.make()
    subject = f"bearer {secrets.token_hex(4)}"
    mailstack.deliver(message("someone@outside.test", box["email"], subject), box["email"])
    mailstack.wait_for(box["email"], PASSWORD, subject)
    client = imap_auth(mailstack, "OAUTHBEARER", box["email"], boxes.mail_token(box["email"]))
    try:
        client.select("INBOX", readonly=True)
        _, found = client.search(None, "SUBJECT", f'"{subject}"')
        assert len(found[0].split()) == 1
    finally:
        client.logout()


def test_imap_refuses_every_token_that_is_not_this_mailboxs_valid_mail_token(
    api: Api, boxes: Mailboxes, mailstack: MailStack, database: Database, settings: Settings
) -> None:
    """Expired, revoked, foreign (another mailbox's, forged, an admin's or a webmail
    session's token), suspended, disabled, password changed, deleted and recreated."""
    box, other = boxes.make(), boxes.make()
    email = box["email"]
    good = boxes.mail_token(email)
    session = boxes.session(email)
    cases: dict[str, tuple[str, str, str]] = {}

    with database.transaction() as db:
        row = db.get(Mailbox, box["id"])
        assert row is not None
        # Minted two hours ago: its row and its JWT have both expired.
        expired = mail_tokens.mint(db, settings, row, "mailbox", utcnow() - timedelta(hours=2))
    cases["expired"] = ("XOAUTH2", email, expired.access_token)

    revoked = boxes.mail_token(email)
    answer = api.client.post("/api/v1/auth/token/revoke", data={"token": revoked})
    assert answer.status_code == 200
    cases["revoked"] = ("XOAUTH2", email, revoked)
    cases["revoked (OAUTHBEARER)"] = ("OAUTHBEARER", email, revoked)

    cases["another mailbox's token"] = ("XOAUTH2", other["email"], good)
    cases["another mailbox's token (OAUTHBEARER)"] = ("OAUTHBEARER", other["email"], good)
    claims = jwt.decode(good, options={"verify_signature": False})
    cases["signed with another secret"] = (
        "XOAUTH2",
        email,
        jwt.encode(claims, "not-the-platform-secret-" + "x" * 32, algorithm="HS256"),
    )
    cases["unsigned (alg none)"] = ("XOAUTH2", email, jwt.encode(claims, "", algorithm="none"))
    admin_login = api.client.post(
        "/api/v1/auth/login",
        json={"email": _admin_email(api, boxes.tenant["id"]), "password": "admin-password-1"},
    )
    assert admin_login.status_code == 200, admin_login.text
    cases["a tenant admin's access token"] = ("XOAUTH2", email, admin_login.json()["access_token"])
    cases["a webmail session token"] = ("XOAUTH2", email, session["access_token"])
    cases["a refresh token"] = ("XOAUTH2", email, session["refresh_token"])

    suspended = boxes.make()
    suspended_token = boxes.mail_token(suspended["email"])
    api.ok("POST", f"/api/v1/mail/accounts/{suspended['id']}/suspend")
    cases["suspended after minting"] = ("XOAUTH2", suspended["email"], suspended_token)

    disabled = boxes.make()
    disabled_token = boxes.mail_token(disabled["email"])
    api.ok("PUT", f"/api/v1/mail/accounts/{disabled['id']}", json={"status": "disabled"})
    cases["disabled after minting"] = ("XOAUTH2", disabled["email"], disabled_token)

    changed = boxes.make()
    changed_token = boxes.mail_token(changed["email"])
    api.ok("PUT", f"/api/v1/mail/accounts/{changed['id']}", json={"password": "another-pw-2"})
    cases["password changed after minting"] = ("XOAUTH2", changed["email"], changed_token)

    recycled = boxes.make()
    recycled_token = boxes.mail_token(recycled["email"])
    api.ok("DELETE", f"/api/v1/mail/accounts/{recycled['id']}", 204)
    again = boxes.make(recycled["email"].split("@")[0])
    assert again["email"] == recycled["email"]
    cases["the deleted mailbox's token at its successor"] = (
        "XOAUTH2",
        again["email"],
        recycled_token,
    )

    # The good token works (so each refusal is about its case, not the setup) ...
    assert imap_opens_inbox(mailstack, "XOAUTH2", email, good)
    assert imap_opens_inbox(mailstack, "XOAUTH2", again["email"], boxes.mail_token(again["email"]))
    # ... and none of these does.
    opened = [name for name, case in cases.items() if imap_opens_inbox(mailstack, *case)]
    assert opened == []
    # Dovecot logs every refusal (auth_verbose): never a token nor its client secret.
    log = layout(mailstack.settings).dovecot_log.read_text(errors="replace")
    assert "refused" in log or "failed" in log
    for secret in [good, revoked, mail_tokens.dovecot_client_secret(mailstack.settings)]:
        assert secret not in log


def _admin_email(api: Api, tenant_id: int) -> str:
    email = f"admin-{secrets.token_hex(4)}@admins.test"
    api.ok(
        "POST",
        f"/api/v1/tenants/{tenant_id}/admins",
        201,
        json={"email": email, "password": "admin-password-1"},
    )
    return email


def test_smtp_submission_with_xoauth2_sends_as_the_tokens_mailbox(
    api: Api, boxes: Mailboxes, mailstack: MailStack
) -> None:
    sender, rcpt, stranger = boxes.make(), boxes.make(), boxes.make()
    token = boxes.mail_token(sender["email"])
    subject = f"xoauth2 submission {secrets.token_hex(4)}"
    with smtp_xoauth2(mailstack, sender["email"], token) as client:
        refused = client.send_message(
            message(sender["email"], rcpt["email"], subject),
            from_addr=sender["email"],
            to_addrs=[rcpt["email"]],
        )
        assert refused == {}
        # Authenticated as the token's mailbox: another mailbox's address is not its own.
        with pytest.raises(smtplib.SMTPRecipientsRefused):
            client.sendmail(stranger["email"], [rcpt["email"]], b"Subject: not mine\r\n\r\nx")
    raw = mailstack.wait_for(rcpt["email"], PASSWORD, subject)[0]
    assert f"From: {sender['email']}".encode() in raw

    revoked = boxes.mail_token(sender["email"])
    assert api.client.post("/api/v1/auth/token/revoke", data={"token": revoked}).status_code == 200
    with pytest.raises(smtplib.SMTPAuthenticationError):
        smtp_xoauth2(mailstack, sender["email"], revoked)
    with pytest.raises(smtplib.SMTPAuthenticationError):
        smtp_xoauth2(mailstack, rcpt["email"], token)  # a token of another mailbox


def _check(program: Path, user: str, token: str) -> tuple[int, str]:
    """Runs the checkpassword program as Dovecot does: the login on fd 3, the reply on fd 4."""
    login, reply = program.with_name("login"), program.with_name("reply")
    login.write_bytes(f"{user}\0{token}\0".encode())
    reply.write_bytes(b"")
    done = subprocess.run(
        ["/bin/sh", "-c", 'exec "$0" /bin/true 3<"$1" 4>"$2"', program, login, reply],
        timeout=30,
        check=False,
    )
    return done.returncode, reply.read_text()


def test_the_postgresql_checkpassword_program(
    boxes: Mailboxes, tmp_path: Path, mail_settings: Settings
) -> None:
    """What Dovecot runs on PostgreSQL instead of its oauth2 passdb (oauth2_check.py): it
    accepts a token of this user only, and tells a refused token (1) from an API it cannot
    reach (111, a temporary failure: password logins are unaffected)."""
    config = tmp_path / "dovecot-oauth2.conf.ext"
    config.write_text(oauth2_conf(mail_settings))
    program = tmp_path / "mailplane-oauth2-check"
    program.write_text(oauth2_check.program(str(config)))
    program.chmod(0o700)
    box, other = boxes.make(), boxes.make()
    token = boxes.mail_token(box["email"])
    assert _check(program, box["email"], token) == (0, f"user={box['email']}\t")
    assert _check(program, box["email"].upper(), token) == (0, f"user={box['email']}\t")
    assert _check(program, other["email"], token)[0] == 1
    assert _check(program, box["email"], token[:-2] + "xx")[0] == 1
    assert _check(program, box["email"], "")[0] == 1

    down = mail_settings.model_copy(update={"api_port": free_port()})
    config.write_text(oauth2_conf(down))
    assert _check(program, box["email"], token)[0] == 111
