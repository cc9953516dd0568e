"""One outbound path, through the real stack: Postfix hands non-local mail to a real
``mailplane intake`` process; the submission milter holds users to their own header From.
"""

from __future__ import annotations

import smtplib
import subprocess
import time
from typing import Any

import pytest
import srslib

from mailplane.config import Settings
from mailplane.intake.marker import make_marker
from mailplane.intake.srs import srs_secret
from mailplane.mailserver.layout import layout
from tests.mailstack.outbox import IntakeProcess, Outbox
from tests.mailstack.support import MailStack, message
from tests.support.api import Api

pytestmark = pytest.mark.mailstack

PASSWORD = "correct-horse-1"


@pytest.fixture
def user(api: Api, uid: str) -> dict[str, Any]:
    """A mailbox with an alias and an alias domain, and another tenant's mailbox."""
    domain = api.domain(api.tenant()["id"])
    box = api.mailbox(domain["id"], "me", PASSWORD)
    api.alias(domain["id"], "sales", box["email"])
    alias_domain = f"alias-{uid}.test"
    api.ok(
        "POST",
        f"/api/v1/mail/domains/{domain['id']}/alias-domains",
        201,
        json={"name": alias_domain, "owned": True},
    )
    stranger_domain = api.domain(api.tenant()["id"])
    stranger = api.mailbox(stranger_domain["id"], "boss", PASSWORD)
    return {
        "email": box["email"],
        "domain": domain["domain_ascii"],
        "alias_domain": alias_domain,
        "stranger": stranger["email"],
    }


def _text(error: bytes | str) -> str:
    return error.decode() if isinstance(error, bytes) else error


def _submit(mailstack: MailStack, login: str, raw: bytes, rcpts: list[str]) -> None:
    with mailstack.submission(login, PASSWORD) as client:
        client.sendmail(login, rcpts, raw)


def test_a_forged_header_from_is_refused_for_local_and_outside_recipients(
    mailstack: MailStack, outbox: Outbox, user: dict[str, Any]
) -> None:
    """The envelope is the user's own (Postfix lets it through); the header From is
    another tenant's mailbox. Before, it was delivered locally as is."""
    for rcpt in (user["stranger"], "friend@outside.test"):
        forged = message(user["stranger"], rcpt)
        with pytest.raises(smtplib.SMTPDataError) as refused:
            _submit(mailstack, user["email"], forged.as_bytes(), [rcpt])
        assert refused.value.smtp_code == 550
        text = _text(refused.value.smtp_error)
        assert text == f"5.7.1 <{user['stranger']}> is not an address of {user['email']}"
        assert outbox.find(str(forged["Subject"])) == []
    assert mailstack.fetch(user["stranger"], PASSWORD, str(forged["Subject"])) == []


@pytest.mark.parametrize(
    "header_from",
    [
        "Other Person <someone@outside.test>",
        "{me}, someone@outside.test",  # one of several not owned
        # No From at all is refused too (tests/intake); from loopback Postfix would add
        # one from the envelope sender first (local_header_rewrite_clients).
    ],
)
def test_from_headers_the_login_does_not_own_entirely_are_refused(
    mailstack: MailStack, outbox: Outbox, user: dict[str, Any], header_from: str
) -> None:
    msg = message(user["email"], "friend@outside.test")
    del msg["From"]
    msg["From"] = header_from.format(me=user["email"])
    with pytest.raises(smtplib.SMTPDataError) as refused:
        _submit(mailstack, user["email"], msg.as_bytes(), ["friend@outside.test"])
    assert refused.value.smtp_code == 550
    assert _text(refused.value.smtp_error).startswith("5.7.1 ")
    assert outbox.find(str(msg["Subject"])) == []


def test_a_sender_header_must_be_owned_too(
    mailstack: MailStack, outbox: Outbox, user: dict[str, Any]
) -> None:
    msg = message(user["email"], "friend@outside.test")
    msg["Sender"] = user["stranger"]
    with pytest.raises(smtplib.SMTPDataError) as refused:
        _submit(mailstack, user["email"], msg.as_bytes(), ["friend@outside.test"])
    assert refused.value.smtp_code == 550


def test_own_alias_and_alias_domain_forms_are_allowed(
    mailstack: MailStack, outbox: Outbox, user: dict[str, Any]
) -> None:
    local_copy_to = user["email"]
    for header_from in (
        f"Sales <SALES@{user['domain'].upper()}>",
        f"me@{user['alias_domain']}",
        f"sales@{user['alias_domain']}",
    ):
        msg = message(header_from, "friend@outside.test")
        _submit(mailstack, user["email"], msg.as_bytes(), ["friend@outside.test", local_copy_to])
        (out,) = outbox.wait_for(str(msg["Subject"]))
        # Only the outside recipient leaves through the intake; the local one is delivered.
        assert out.rcpt_tos == ["friend@outside.test"]
        assert out.message.source == "smtp"
        assert out.message.submitted_by == user["email"]
        assert out.message.sign_domain == header_from.split("@")[1].rstrip(">").lower()
        (local,) = mailstack.wait_for(user["email"], PASSWORD, str(msg["Subject"]))
        assert b"X-Mailplane-Submission" not in local


def test_an_alias_forwarding_outside_gets_an_srs_sender_and_no_signature(
    api: Api, mailstack: MailStack, outbox: Outbox, mail_settings: Settings, uid: str
) -> None:
    tenant = api.tenant()["id"]
    domain = api.domain(tenant)
    api.alias(domain["id"], "team", [f"team-{uid}@outside.test"])
    alias = f"team@{domain['domain_ascii']}"
    # Written by someone on the internet, with a marker copied from elsewhere: a marker
    # that verifies, but for another queue id, makes nothing a submission.
    inbound = message(f"ceo@{domain['domain_ascii']}", alias)
    copied = make_marker(mail_settings.effective_secret(), f"me@{domain['domain_ascii']}", "4XyZ")
    inbound["X-Mailplane-Submission"] = copied
    mailstack.deliver(inbound, alias, sender="alice@sender.test")

    (out,) = outbox.wait_for(str(inbound["Subject"]))
    assert out.rcpt_tos == [f"team-{uid}@outside.test"]
    assert out.message.source == "forward"
    assert out.message.tenant_id == tenant
    assert out.message.sign_domain is None  # a From from the internet is never signed by us
    assert out.message.submitted_by is None
    bounce_domain = mail_settings.effective_bounce_domain
    assert out.mail_from.startswith("SRS0=")
    assert out.mail_from.endswith(f"@{bounce_domain}")
    assert srslib.SRS(srs_secret(mail_settings)).reverse(out.mail_from) == "alice@sender.test"
    assert b"X-Mailplane-Submission" not in out.data

    # A bounce (the null sender) forwarded stays a bounce: SRS never invents a sender.
    bounce = message("MAILER-DAEMON@sender.test", alias)
    with mailstack.mx() as client:
        client.sendmail("<>", [alias], bounce.as_bytes())
    (out,) = outbox.wait_for(str(bounce["Subject"]))
    assert out.mail_from == ""


def _postfix_queue(settings: Settings) -> str:
    config = str(layout(settings).postfix_config)
    listing = subprocess.run(
        ["postqueue", "-c", config, "-p"], capture_output=True, text=True, timeout=30, check=True
    )
    return listing.stdout


def test_intake_down_mail_waits_in_postfix_and_milter_down_means_4xx(
    api: Api,
    mailstack: MailStack,
    outbox: Outbox,
    intake: IntakeProcess,
    mail_settings: Settings,
    uid: str,
) -> None:
    domain = api.domain(api.tenant()["id"])
    api.alias(domain["id"], "later", [f"later-{uid}@outside.test"])
    box = api.mailbox(domain["id"], "writer", PASSWORD)
    alias = f"later@{domain['domain_ascii']}"
    waiting = message("alice@sender.test", alias)
    submitted = message(box["email"], "friend@outside.test")

    intake.stop()
    try:
        # Inbound mail is still accepted; Postfix keeps it queued for the intake.
        mailstack.deliver(waiting, alias, sender="alice@sender.test")
        deadline = time.monotonic() + 15
        while f"later-{uid}@outside.test" not in _postfix_queue(mail_settings):
            assert time.monotonic() < deadline, "the message never showed in Postfix's queue"
            time.sleep(0.1)
        # A submission needs the milter: refused for now (4xx, from the first command
        # Postfix cannot check), never passed unchecked.
        with pytest.raises(smtplib.SMTPResponseException) as deferred:
            _submit(mailstack, box["email"], submitted.as_bytes(), ["friend@outside.test"])
        assert 400 <= deferred.value.smtp_code < 500
        assert outbox.find(str(waiting["Subject"])) == []
    finally:
        intake.start()

    config = str(layout(mail_settings).postfix_config)
    subprocess.run(["postqueue", "-c", config, "-f"], check=True, timeout=30)
    (out,) = outbox.wait_for(str(waiting["Subject"]), timeout=30)
    assert out.message.source == "forward"
    deadline = time.monotonic() + 15
    while f"later-{uid}@outside.test" in _postfix_queue(mail_settings):
        assert time.monotonic() < deadline, "Postfix kept its copy after the intake took it"
        time.sleep(0.1)
    time.sleep(1)  # time for a duplicate, had there been one
    assert len(outbox.find(str(waiting["Subject"]))) == 1
    # And the user's retry now goes through.
    _submit(mailstack, box["email"], submitted.as_bytes(), ["friend@outside.test"])
    outbox.wait_for(str(submitted["Subject"]))


def test_the_intake_speaks_what_postfix_needs(
    mailstack: MailStack, outbox: Outbox, mail_settings: Settings, uid: str
) -> None:
    """XFORWARD and DSN parameters, as Postfix's smtp client sends them (Postfix itself
    is exercised by the tests above); a marker for another queue id is not a submission."""
    host, port = mail_settings.mail_listen_address, mail_settings.intake_port
    subject = f"intake-{uid}"
    raw = (
        f"From: someone@sender.test\r\nSubject: {subject}\r\nMessage-ID: <{uid}@x>\r\n\r\nhi\r\n"
    ).encode()
    with smtplib.SMTP(host, port, timeout=10) as client:
        client.ehlo("postfix.local")
        assert client.has_extn("xforward")
        assert client.has_extn("dsn")
        assert client.has_extn("smtputf8")
        assert client.docmd("XFORWARD", "NAME=spike.porcupine.org ADDR=192.0.2.1")[0] == 250
        assert client.docmd("XFORWARD", "IDENT=4AbCdEf HELO=x+2By")[0] == 250
        assert client.docmd("XFORWARD", "COLOR=red")[0] == 501
        assert client.mail("someone@sender.test", ["RET=HDRS", "ENVID=abc+2B1"])[0] == 250
        assert client.docmd("XFORWARD", "IDENT=4Late")[0] == 503  # belongs before MAIL
        code, _ = client.rcpt("x@outside.test", ["NOTIFY=FAILURE", "ORCPT=rfc822;a+2Bb@x.test"])
        assert code == 250
        code, reply = client.data(raw)
        assert code == 250, reply
        assert reply.startswith(b"2.0.0 Ok: queued as ")
    (out,) = outbox.wait_for(subject)
    assert out.message.source == "forward"
    assert out.message.message_metadata["forwarded_for"] == ["a+b@x.test"]
    assert out.message.message_metadata["original_sender"] == "someone@sender.test"
