"""Logins: suspend semantics and password changes, live from the database.

Every failed login costs 0.5-1 s even with Dovecot's penalty disabled (pitfall P20), so
the negative cases are grouped into few tests.
"""

from __future__ import annotations

import smtplib

import pytest

from tests.mailstack.support import MailStack, message
from tests.support.api import Api

pytestmark = pytest.mark.mailstack

PASSWORD = "correct-horse-1"


def test_suspended_mailbox_cannot_log_in_but_still_receives(api: Api, mailstack: MailStack) -> None:
    domain = api.domain(api.tenant()["id"])
    box = api.mailbox(domain["id"], "info", PASSWORD)
    assert mailstack.can_log_in(box["email"], PASSWORD)

    api.ok("POST", f"/api/v1/mail/accounts/{box['id']}/suspend")
    assert not mailstack.can_log_in(box["email"], PASSWORD)
    with pytest.raises(smtplib.SMTPAuthenticationError):
        mailstack.submission(box["email"], PASSWORD).close()
    msg = message("alice@outside.test", box["email"])
    mailstack.deliver(msg, box["email"])  # accepted while suspended

    api.ok("POST", f"/api/v1/mail/accounts/{box['id']}/unsuspend")
    (raw,) = mailstack.wait_for(box["email"], PASSWORD, str(msg["Subject"]))
    assert msg["Message-ID"].encode() in raw
    with mailstack.submission(box["email"], PASSWORD):
        pass


def test_suspended_domain_blocks_logins_of_its_mailboxes(api: Api, mailstack: MailStack) -> None:
    domain = api.domain(api.tenant()["id"])
    box = api.mailbox(domain["id"], "info", PASSWORD)
    api.ok("POST", f"/api/v1/mail/domains/{domain['id']}/suspend")
    assert not mailstack.can_log_in(box["email"], PASSWORD)
    msg = message("alice@outside.test", box["email"])
    mailstack.deliver(msg, box["email"])
    api.ok("POST", f"/api/v1/mail/domains/{domain['id']}/unsuspend")
    mailstack.wait_for(box["email"], PASSWORD, str(msg["Subject"]))


def test_password_change_takes_effect_at_next_login(api: Api, mailstack: MailStack) -> None:
    domain = api.domain(api.tenant()["id"])
    box = api.mailbox(domain["id"], "info", PASSWORD)
    assert mailstack.can_log_in(box["email"], PASSWORD)
    api.ok("PUT", f"/api/v1/mail/accounts/{box['id']}", json={"password": "new-password-22"})
    assert mailstack.can_log_in(box["email"], "new-password-22")
    assert not mailstack.can_log_in(box["email"], PASSWORD)
    with mailstack.submission(box["email"], "new-password-22"):
        pass
