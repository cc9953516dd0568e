"""Bounces that come back: a DSN sent to a delivery's VERP return path through the
managed Postfix's inbound port reaches mailplane's bounce receiver and marks that
delivery bounced (what the send API then shows); forged return paths are refused at RCPT;
auto-replies change nothing; a bounce to an SRS address goes back to the original sender.
"""

from __future__ import annotations

import time
from typing import Any

import pytest
from sqlalchemy import select

from mailplane.config import Settings
from mailplane.db import Database
from mailplane.delivery.envelope import parse_verp, verp_address
from mailplane.intake.srs import rewriter
from mailplane.mailserver.layout import layout
from mailplane.models import Delivery
from tests.bounces import samples
from tests.delivery.support import deliver, mx_zone
from tests.mailstack.conftest import OUTSIDE_MX_HOST
from tests.mailstack.outbox import IntakeProcess, Outbox
from tests.mailstack.support import MailStack
from tests.support.api import Api
from tests.support.knot import Knot
from tests.support.mx import RemoteMx
from tests.support.senders import Sender, make_sender

pytestmark = pytest.mark.mailstack

WAIT_SECONDS = 30.0


@pytest.fixture
def zone(knot: Knot, uid: str) -> str:
    name = f"far-{uid}.test"
    mx_zone(knot, name, [(10, "mx")], {"mx": OUTSIDE_MX_HOST})
    return name


def _sent_and_delivered(
    api: Api, database: Database, engine: Settings, outside: RemoteMx, recipient: str
) -> tuple[Sender, str, str]:
    """A message through the send API, delivered to the outside MX: (the sender, its
    message id, the VERP return path it left with)."""
    sender = make_sender(api, database)
    response = sender.send(
        {"from": f"app@{sender.domain}", "to": [recipient], "subject": "receipt", "text": "hi"}
    )
    assert response.status_code == 202, response.text
    sent = response.json()
    [delivered] = deliver(engine, database, [r["id"] for r in sent["recipients"]])
    assert delivered.status == "delivered"
    [arrived] = outside.to(recipient)
    assert parse_verp(engine, arrived.mail_from) == delivered.id
    return sender, sent["id"], arrived.mail_from


def _bounce_back(mailstack: MailStack, return_path: str, raw: bytes) -> None:
    """What the remote's MTA does: a message with the null sender to the return path, to
    the platform's MX (the managed Postfix's inbound port)."""
    with mailstack.mx() as client:
        client.sendmail("", [return_path], raw)


def _recipient_once(sender: Sender, message_id: str, status: str) -> dict[str, Any]:
    deadline = time.monotonic() + WAIT_SECONDS
    while True:
        shown = sender.api.client.get(f"/api/v1/messages/{message_id}", headers=sender.headers())
        assert shown.status_code == 200, shown.text
        [recipient] = shown.json()["recipients"]
        if recipient["status"] == status or time.monotonic() > deadline:
            result: dict[str, Any] = recipient
            return result
        time.sleep(0.1)


def test_a_dsn_marks_its_delivery_bounced_with_the_remote_reply(
    mailstack: MailStack,
    api: Api,
    database: Database,
    engine: Settings,
    outside: RemoteMx,
    zone: str,
) -> None:
    recipient = f"gone@{zone}"
    sender, message_id, return_path = _sent_and_delivered(api, database, engine, outside, recipient)
    _bounce_back(
        mailstack,
        return_path,
        samples.render(samples.POSTFIX_UNKNOWN, rcpt=recipient, sender=return_path),
    )
    shown = _recipient_once(sender, message_id, "bounced")
    # A later report wins over the earlier "delivered".
    assert shown["status"] == "bounced"
    assert shown["bounce_type"] == "hard"
    assert shown["bounce_classification"] == "invalid_address"
    assert shown["last_enhanced_code"] == "5.1.1"
    assert shown["last_code"] == 550
    assert "User unknown in virtual mailbox table" in shown["last_reply"]
    assert [a["outcome"] for a in shown["attempt_log"]] == ["delivered", "bounced"]
    assert shown["attempt_log"][-1]["remote_host"] == "mx.example.net"

    # A hard bounce for an invalid address means never again (seed 002): the address is
    # on the tenant's suppression list, and the next send to it is not attempted.
    listed = sender.api.ok(
        "GET", "/api/v1/suppressions", params={"tenant_id": sender.tenant_id, "q": recipient}
    )["items"]
    assert [(e["address"], e["reason"], e["message_id"]) for e in listed] == [
        (recipient, "hard_bounce", message_id)
    ]
    again = sender.send(
        {"from": f"shop@{sender.domain}", "to": [recipient], "subject": "again", "text": "x"}
    )
    assert again.status_code == 202
    assert [r["status"] for r in again.json()["recipients"]] == ["suppressed"]


def test_a_policy_dsn_is_classified_policy(
    mailstack: MailStack,
    api: Api,
    database: Database,
    engine: Settings,
    outside: RemoteMx,
    zone: str,
) -> None:
    recipient = f"picky@{zone}"
    sender, message_id, return_path = _sent_and_delivered(api, database, engine, outside, recipient)
    _bounce_back(
        mailstack,
        return_path,
        samples.render(samples.OFFICE365_BLOCKED, rcpt=recipient, sender=return_path),
    )
    shown = _recipient_once(sender, message_id, "bounced")
    assert (shown["status"], shown["bounce_type"], shown["bounce_classification"]) == (
        "bounced",
        "hard",
        "policy",
    )
    assert "banned sending IP" in shown["last_reply"]


def test_forged_and_unknown_bounce_addresses_are_refused_at_rcpt(
    mailstack: MailStack, mail_settings: Settings
) -> None:
    domain = mail_settings.effective_bounce_domain
    for address in (
        f"b+1-0123456789abcdef@{domain}",  # a made-up token
        f"b+1@{domain}",
        f"postmaster@{domain}",
        f"SRS0=AAAA=AA=example.com=alice@{domain}",  # a hash that does not verify
    ):
        with mailstack.mx() as client:
            client.mail("")
            code, reply = client.rcpt(address)
            assert code == 550, (address, code, reply)
            if address.startswith(("b+1-", "SRS0")):
                # Well-formed, so only the bounce policy service can have said no.
                assert b"No such bounce address" in reply


def test_an_auto_reply_to_the_return_path_changes_nothing(
    mailstack: MailStack,
    api: Api,
    database: Database,
    engine: Settings,
    outside: RemoteMx,
    zone: str,
) -> None:
    recipient = f"away@{zone}"
    sender, message_id, return_path = _sent_and_delivered(api, database, engine, outside, recipient)
    _bounce_back(
        mailstack,
        return_path,
        samples.render(samples.OUT_OF_OFFICE, rcpt=recipient, sender=return_path),
    )
    # The receiver answers 250 after its commit: once Postfix's queue is empty the
    # auto-reply has been handled.
    _wait_until_postfix_queue_empty(mailstack)
    shown = _recipient_once(sender, message_id, "delivered")
    assert shown["status"] == "delivered"
    assert shown["bounce_type"] is None
    assert [a["outcome"] for a in shown["attempt_log"]] == ["delivered"]


def _wait_until_postfix_queue_empty(mailstack: MailStack) -> None:
    queue = layout(mailstack.settings).postfix_queue
    deadline = time.monotonic() + WAIT_SECONDS
    time.sleep(0.5)
    while time.monotonic() < deadline:
        busy = [
            path
            for name in ("incoming", "active", "deferred")
            for path in (queue / name).rglob("*")
            if path.is_file()
        ]
        if not busy:
            return
        time.sleep(0.1)
    raise AssertionError("Postfix did not hand the message over")


def test_a_bounce_to_an_srs_address_goes_back_to_the_original_sender(
    mailstack: MailStack,
    outbox: Outbox,
    database: Database,
    engine: Settings,
    outside: RemoteMx,
    zone: str,
) -> None:
    original = f"alice@{zone}"
    srs = str(rewriter(engine).forward(original, engine.effective_bounce_domain))
    raw = samples.render(samples.POSTFIX_UNKNOWN, rcpt="someone@else.test", sender=srs)
    subject = f"Undelivered Mail Returned to Sender {zone}"
    raw = raw.replace(
        b"Subject: Undelivered Mail Returned to Sender", f"Subject: {subject}".encode()
    )
    with mailstack.mx() as client:
        client.sendmail("", [srs], raw)
    [queued] = outbox.wait_for(subject)
    assert queued.rcpt_tos == [original]
    assert queued.mail_from == ""  # the null sender: it can never bounce again
    assert queued.message.tenant_id is None
    with database.session(write=False) as session:
        ids = list(
            session.scalars(select(Delivery.id).where(Delivery.message_id == queued.message.id))
        )
    [done] = deliver(engine, database, ids)
    assert done.status == "delivered"
    [arrived] = outside.to(original)
    assert arrived.mail_from == "<>"  # aiosmtpd's way of writing the null sender
    assert subject.encode() in arrived.data


def test_with_the_intake_down_bounce_addresses_are_deferred_not_accepted(
    mailstack: MailStack, mail_settings: Settings, intake: IntakeProcess
) -> None:
    """Without the policy service Postfix cannot tell a forged token from a real one: the
    remote MTA is asked to retry, and nothing unchecked enters the queue."""
    address = verp_address(mail_settings, 1)
    intake.stop()
    try:
        with mailstack.mx() as client:
            client.mail("")
            code, reply = client.rcpt(address)
        assert code == 451, reply
        assert b"Bounce address check unavailable" in reply
    finally:
        intake.start()
