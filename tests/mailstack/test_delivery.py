"""Inbound mail: SMTP -> Postfix -> LMTP -> Dovecot -> Maildir, read back over IMAP."""

from __future__ import annotations

import smtplib
from email import message_from_bytes, policy
from typing import Any

import pytest

from tests.mailstack.outbox import Outbox
from tests.mailstack.support import MailStack, message
from tests.support.api import Api

pytestmark = pytest.mark.mailstack

PASSWORD = "correct-horse-1"


def _domain(api: Api) -> dict[str, Any]:
    return api.domain(api.tenant()["id"])


def test_api_mailbox_receives_and_imap_fetches_it_intact(api: Api, mailstack: MailStack) -> None:
    domain = _domain(api)
    box = api.mailbox(domain["id"], "info", PASSWORD)
    msg = message("alice@outside.test", box["email"], body="Grüße,\n\nline two\n.\nlast\n")

    mailstack.deliver(msg, box["email"])

    (raw,) = mailstack.wait_for(box["email"], PASSWORD, str(msg["Subject"]))
    got = message_from_bytes(raw, policy=policy.default)
    assert got["Message-ID"] == msg["Message-ID"]
    # Byte for byte: dot-stuffing (RFC 5321 section 4.5.2) and UTF-8 survived the trip.
    sent_body = msg.as_bytes().split(b"\n\n", 1)[1].replace(b"\n", b"\r\n")
    assert raw.split(b"\r\n\r\n", 1)[1] == sent_body
    assert got.get_content().replace("\r\n", "\n") == msg.get_content()
    assert got["Delivered-To"] == box["email"]


def test_unknown_recipient_is_refused_at_rcpt(api: Api, mailstack: MailStack) -> None:
    domain = _domain(api)
    api.mailbox(domain["id"], "info", PASSWORD)
    with mailstack.mx() as client:
        client.mail("alice@outside.test")
        code, text = client.rcpt(f"nobody@{domain['domain_ascii']}")
    assert code == 550, text
    assert b"User unknown" in text


def test_aliases_multi_destination_and_catch_all(api: Api, mailstack: MailStack) -> None:
    domain = _domain(api)
    name = domain["domain_ascii"]
    info = api.mailbox(domain["id"], "info", PASSWORD)
    bob = api.mailbox(domain["id"], "bob", PASSWORD)
    api.alias(domain["id"], "sales", info["email"])
    api.alias(domain["id"], "team", [info["email"], bob["email"]])
    api.alias(domain["id"], "@", info["email"])

    to_alias = message("alice@outside.test", f"sales@{name}")
    to_team = message("alice@outside.test", f"team@{name}")
    to_random = message("alice@outside.test", f"whoever@{name}")
    to_bob = message("alice@outside.test", bob["email"])
    mailstack.deliver(to_alias, f"sales@{name}")
    mailstack.deliver(to_team, f"team@{name}")
    mailstack.deliver(to_random, f"whoever@{name}")
    mailstack.deliver(to_bob, bob["email"])

    mailstack.wait_for(info["email"], PASSWORD, str(to_alias["Subject"]))
    mailstack.wait_for(info["email"], PASSWORD, str(to_team["Subject"]))
    mailstack.wait_for(bob["email"], PASSWORD, str(to_team["Subject"]))
    mailstack.wait_for(info["email"], PASSWORD, str(to_random["Subject"]))
    # The catch-all does not swallow an existing mailbox.
    mailstack.wait_for(bob["email"], PASSWORD, str(to_bob["Subject"]))
    assert mailstack.fetch(info["email"], PASSWORD, str(to_bob["Subject"])) == []


def test_forwarding_with_and_without_local_copy(
    api: Api, mailstack: MailStack, outbox: Outbox
) -> None:
    domain = _domain(api)
    plain = api.mailbox(domain["id"], "gone", PASSWORD)
    copy = api.mailbox(domain["id"], "both", PASSWORD)
    api.alias(domain["id"], "gone", "gone-forward@outside.test")
    api.alias(domain["id"], "both", "both-forward@outside.test", keep_copy=True)
    forwarded = message("alice@outside.test", plain["email"])
    copied = message("alice@outside.test", copy["email"])

    mailstack.deliver(forwarded, plain["email"])
    mailstack.deliver(copied, copy["email"])

    (out,) = outbox.wait_for(str(forwarded["Subject"]))
    assert out.rcpt_tos == ["gone-forward@outside.test"]
    (out_copy,) = outbox.wait_for(str(copied["Subject"]))
    assert out_copy.rcpt_tos == ["both-forward@outside.test"]
    mailstack.wait_for(copy["email"], PASSWORD, str(copied["Subject"]))
    assert mailstack.fetch(plain["email"], PASSWORD, str(forwarded["Subject"])) == []


def test_alias_domain_delivers_known_users_and_refuses_unknown(
    api: Api, mailstack: MailStack
) -> None:
    domain = _domain(api)
    box = api.mailbox(domain["id"], "info", PASSWORD)
    api.alias(domain["id"], "sales", box["email"])
    alias_name = f"alias-{domain['domain_ascii']}"
    api.ok(
        "POST",
        f"/api/v1/mail/domains/{domain['id']}/alias-domains",
        201,
        json={"name": alias_name, "owned": True},
    )
    direct = message("alice@outside.test", f"info@{alias_name}")
    via_alias = message("alice@outside.test", f"sales@{alias_name}")

    mailstack.deliver(direct, f"info@{alias_name}")
    mailstack.deliver(via_alias, f"sales@{alias_name}")

    mailstack.wait_for(box["email"], PASSWORD, str(direct["Subject"]))
    mailstack.wait_for(box["email"], PASSWORD, str(via_alias["Subject"]))
    with mailstack.mx() as client:
        client.mail("alice@outside.test")
        code, _ = client.rcpt(f"nobody@{alias_name}")
    assert code == 550


def test_disabled_mailbox_and_disabled_domain_refuse_mail(api: Api, mailstack: MailStack) -> None:
    domain = _domain(api)
    box = api.mailbox(domain["id"], "info", PASSWORD)
    other = _domain(api)
    other_box = api.mailbox(other["id"], "info", PASSWORD)
    api.ok("PUT", f"/api/v1/mail/accounts/{box['id']}", json={"status": "disabled"})
    api.ok("PATCH", f"/api/v1/mail/domains/{other['id']}", json={"status": "disabled"})

    with mailstack.mx() as client:
        client.mail("alice@outside.test")
        mailbox_code, _ = client.rcpt(box["email"])
        domain_code, _ = client.rcpt(other_box["email"])
    assert mailbox_code == 550
    assert domain_code in (550, 554)

    # Re-enabled: mail flows again, without any restart.
    api.ok("PUT", f"/api/v1/mail/accounts/{box['id']}", json={"status": "active"})
    msg = message("alice@outside.test", box["email"])
    mailstack.deliver(msg, box["email"])
    mailstack.wait_for(box["email"], PASSWORD, str(msg["Subject"]))


def test_over_quota_is_deferred_never_lost(api: Api, mailstack: MailStack) -> None:
    domain = _domain(api)
    box = api.mailbox(domain["id"], "small", PASSWORD, quota_mb=1)
    big = message("alice@outside.test", box["email"], body="x" * 76 + "\n")
    big.set_content(("y" * 76 + "\n") * 20_000)  # about 1.5 MB, over the 1 MB quota

    with pytest.raises(smtplib.SMTPRecipientsRefused) as refused:
        mailstack.deliver(big, box["email"])
    code, text = refused.value.recipients[box["email"]]
    assert code == 452, text  # temporary: the sending MTA keeps it and retries
    assert b"full" in text

    api.ok("PUT", f"/api/v1/mail/accounts/{box['id']}", json={"quota_mb": 10})
    mailstack.deliver(big, box["email"])
    (raw,) = mailstack.wait_for(box["email"], PASSWORD, str(big["Subject"]))
    assert len(raw) > 1_500_000
