"""Submission (587 STARTTLS, 465 implicit TLS): SASL via Dovecot, sender rights, no relay."""

from __future__ import annotations

import smtplib
from email import policy

import pytest

from tests.mailstack.outbox import Outbox
from tests.mailstack.support import MailStack, message
from tests.support.api import Api

pytestmark = pytest.mark.mailstack

PASSWORD = "correct-horse-1"


@pytest.fixture
def sender(api: Api) -> dict[str, object]:
    domain = api.domain(api.tenant()["id"])
    box = api.mailbox(domain["id"], "me", PASSWORD)
    api.alias(domain["id"], "sales", box["email"])
    other = api.mailbox(domain["id"], "colleague", PASSWORD)
    return {"domain": domain, "box": box, "other": other}


def test_authenticated_send_to_outside_is_queued_for_the_delivery_engine(
    mailstack: MailStack, outbox: Outbox, sender: dict[str, object]
) -> None:
    box = sender["box"]
    assert isinstance(box, dict)
    domain = box["email"].split("@")[1]
    msg = message(box["email"], "friend@outside.test")
    msg["Cc"] = "other@elsewhere.test"
    with mailstack.submission(box["email"], PASSWORD) as client:
        client.send_message(msg)
    (out,) = outbox.wait_for(str(msg["Subject"]))
    assert out.mail_from == box["email"]
    # One delivery per outside recipient, in one message stored once.
    assert sorted(out.rcpt_tos) == ["friend@outside.test", "other@elsewhere.test"]
    assert out.message.source == "smtp"
    assert out.message.sign_domain == domain
    assert out.message.submitted_by == box["email"]
    assert out.message.header_from == box["email"]
    assert out.message.message_id_header == str(msg["Message-ID"])
    # The marker that told the intake who submitted it is gone before anyone sees it.
    assert b"X-Mailplane-Submission" not in out.data
    assert str(msg["Message-ID"]).encode() in out.data

    # The same over implicit TLS (RFC 8314), as an alias the login owns.
    alias_msg = message(f"sales@{domain}", "friend@outside.test")
    with mailstack.submissions(box["email"], PASSWORD) as client:
        client.send_message(alias_msg)
    (out,) = outbox.wait_for(str(alias_msg["Subject"]))
    assert out.mail_from == f"sales@{domain}"
    assert out.message.sign_domain == domain
    assert out.message.submitted_by == box["email"]


def test_sending_as_someone_else_is_refused(
    mailstack: MailStack, outbox: Outbox, sender: dict[str, object]
) -> None:
    box, other = sender["box"], sender["other"]
    assert isinstance(box, dict)
    assert isinstance(other, dict)
    for forged in (other["email"], "ceo@outside.test"):
        msg = message(forged, "friend@outside.test")
        with (
            mailstack.submission(box["email"], PASSWORD) as client,
            pytest.raises(smtplib.SMTPRecipientsRefused) as refused,
        ):
            client.send_message(msg)
        code, text = refused.value.recipients["friend@outside.test"]
        assert code == 553, text
        assert b"not owned by user" in text
        assert outbox.find(str(msg["Subject"])) == []


def test_submission_requires_tls_before_auth(mailstack: MailStack) -> None:
    client = smtplib.SMTP(mailstack.host, mailstack.settings.submission_port, timeout=10)
    with client:
        client.ehlo("laptop.outside.test")
        assert not client.has_extn("auth")  # no AUTH offered in cleartext
        code, _ = client.mail("me@outside.test")
        assert code == 530  # Must issue a STARTTLS command first


RELAY_TRICKS = [
    "victim@outside.test",
    "victim%outside.test@{domain}",
    "outside.test!victim@{domain}",
    '"victim@outside.test"@{domain}',
    "@{domain}:victim@outside.test",
    "victim",
]


@pytest.mark.parametrize("port", ["inbound", "submission"])
def test_unauthenticated_relay_tricks_are_refused(
    api: Api, mailstack: MailStack, outbox: Outbox, port: str
) -> None:
    domain = api.domain(api.tenant()["id"])
    api.mailbox(domain["id"], "victim", PASSWORD)
    name = domain["domain_ascii"]
    client = mailstack.mx() if port == "inbound" else mailstack.submission()
    with client:
        for trick in RELAY_TRICKS:
            rcpt = trick.format(domain=name)
            client.rset()
            code, text = client.mail("spammer@outside.test")
            assert code == 250, text
            code, text = client.docmd("RCPT", f"TO:<{rcpt}>")
            assert 500 <= code < 600, (rcpt, code, text)
        code, _ = client.docmd("DATA")
        assert code >= 500  # no valid recipient: nothing can be queued
        if port == "inbound":
            # The same session still takes mail for the real mailbox: the refusals above
            # came from the relay rules, not from a broken connection.
            client.rset()
            client.mail("spammer@outside.test")
            code, text = client.rcpt(f"victim@{name}")
            assert code == 250, text
    assert outbox.with_envelope_from("spammer@outside.test") == []


def test_own_address_in_unicode_form_is_accepted_with_smtputf8(
    api: Api, mailstack: MailStack, outbox: Outbox, uid: str
) -> None:
    """RFC 6531: an SMTPUTF8 client may write its domain as U-labels. The login owns
    info@xn--bckerei-....test, and so info@bäckerei-....test too (issue 7, defect 8)."""
    tenant = api.tenant()["id"]
    domain = api.domain(tenant, f"bäckerei-{uid}.test")
    alias_domain_name = f"müller-{uid}.test"
    api.ok(
        "POST",
        f"/api/v1/mail/domains/{domain['id']}/alias-domains",
        201,
        json={"name": alias_domain_name, "owned": True},
    )
    box = api.mailbox(domain["id"], "info", PASSWORD)
    assert box["email"].startswith("info@xn--")
    foreign = api.domain(api.tenant()["id"], f"fremdö-{uid}.test")
    api.mailbox(foreign["id"], "info", PASSWORD)

    for sender in (f"info@bäckerei-{uid}.test", f"info@{alias_domain_name}"):
        msg = message(sender, "friend@outside.test")
        with mailstack.submission(box["email"], PASSWORD) as client:
            client.sendmail(
                sender,
                ["friend@outside.test"],
                msg.as_bytes(policy=policy.SMTPUTF8),
                mail_options=["SMTPUTF8"],
            )
        (out,) = outbox.wait_for(str(msg["Subject"]))
        assert out.mail_from == sender

    # The Unicode form grants nothing the ASCII form does not: another tenant's address.
    forged = f"info@fremdö-{uid}.test"
    with mailstack.submission(box["email"], PASSWORD) as client:
        code, text = client.mail(forged, ["SMTPUTF8"])
        if code == 250:
            code, text = client.rcpt("friend@outside.test")
        assert code == 553, text
