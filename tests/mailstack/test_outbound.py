"""The whole outbound path, end to end: a mailbox user's submission on 587 and an alias
forward leave through Postfix, the intake, mailplane's queue and a delivery worker, and
arrive at an outside MX found through DNS (Knot): the submission DKIM-signed by the
user's domain (verified by dkimpy against the key Knot serves) with a VERP return path,
the forward unsigned by us with an SRS sender that reverses to the original one."""

from __future__ import annotations

import email
from typing import Any

import dkim
import pytest
import srslib
from sqlalchemy import select, update

from mailplane.config import Settings
from mailplane.db import Database
from mailplane.delivery.envelope import parse_verp
from mailplane.dkim import keys
from mailplane.intake.srs import srs_secret
from mailplane.models import Delivery, DkimKey, Domain
from mailplane.models.statuses import VerificationStatus
from tests.delivery.support import deliver, knot_txt, mx_zone
from tests.mailstack.conftest import OUTSIDE_MX_HOST
from tests.mailstack.outbox import Outbox
from tests.mailstack.support import MailStack, message
from tests.support.api import Api
from tests.support.knot import Knot
from tests.support.mx import RemoteMx

pytestmark = pytest.mark.mailstack

PASSWORD = "correct-horse-1"


def _outside_domain(knot: Knot, uid: str) -> str:
    zone = f"outside-{uid}.test"
    mx_zone(knot, zone, [(10, "mx")], {"mx": OUTSIDE_MX_HOST})
    return zone


def _sending_domain(api: Api, database: Database, knot: Knot) -> dict[str, Any]:
    """A hosted domain whose DNS verified (set directly: verification has its own tests)
    and whose DKIM key Knot serves."""
    domain = api.domain(api.tenant()["id"])
    name = domain["domain_ascii"]
    with database.transaction() as session:
        session.execute(
            update(Domain)
            .where(Domain.id == domain["id"])
            .values(verification_status=VerificationStatus.VERIFIED)
        )
        key = session.scalars(select(DkimKey).where(DkimKey.domain_id == domain["id"])).one()
        selector, algorithm, public = key.selector, key.algorithm, key.public_key_b64
    chunks = keys.split_txt(keys.txt_value(algorithm, public))
    knot.add_zone(name, [{"type": "TXT", "name": f"{selector}._domainkey.{name}", "value": chunks}])
    return domain


def _through_the_platform(
    outbox: Outbox, engine: Settings, database: Database, mail: Any
) -> list[Delivery]:
    """Wait for mailplane's queue to have ``mail`` (by its subject), then run a worker
    until its deliveries end."""
    [queued] = outbox.wait_for(str(mail["Subject"]))
    with database.session(write=False) as session:
        ids = list(
            session.scalars(select(Delivery.id).where(Delivery.message_id == queued.message.id))
        )
    return deliver(engine, database, ids)


def _submit(mailstack: MailStack, login: str, mail: Any) -> None:
    with mailstack.submission(login, PASSWORD) as client:
        client.sendmail(login, [str(mail["To"])], mail.as_bytes())


def test_a_submission_reaches_the_outside_mx_signed(
    mailstack: MailStack,
    outbox: Outbox,
    engine: Settings,
    api: Api,
    database: Database,
    knot: Knot,
    outside: RemoteMx,
    uid: str,
) -> None:
    domain = _sending_domain(api, database, knot)
    box = api.mailbox(domain["id"], "writer", PASSWORD)
    friend = f"ok-{uid}@{_outside_domain(knot, uid)}"
    mail = message(box["email"], friend)
    _submit(mailstack, box["email"], mail)
    rows = _through_the_platform(outbox, engine, database, mail)
    assert [row.status for row in rows] == ["delivered"]

    [received] = outside.to(friend)
    assert dkim.verify(received.data, dnsfunc=knot_txt(knot))
    signature = received.data.split(b"DKIM-Signature:", 1)[1].split(b";")
    assert f" d={domain['domain_ascii']}".encode() in signature
    # The return path is a VERP address of the platform's bounce domain, naming the delivery.
    assert parse_verp(engine, received.mail_from) == rows[0].id
    assert b"X-Mailplane-Submission" not in received.data


def test_an_alias_forward_arrives_with_an_srs_sender(
    mailstack: MailStack,
    outbox: Outbox,
    engine: Settings,
    api: Api,
    database: Database,
    knot: Knot,
    outside: RemoteMx,
    uid: str,
) -> None:
    domain = api.domain(api.tenant()["id"])
    target = f"ok-fwd-{uid}@{_outside_domain(knot, uid)}"
    api.alias(domain["id"], "forward", target)
    alias = f"forward@{domain['domain_ascii']}"
    original = f"someone-{uid}@origin.test"
    mail = message(original, alias)
    mailstack.deliver(mail, alias, sender=original)
    rows = _through_the_platform(outbox, engine, database, mail)
    assert [row.status for row in rows] == ["delivered"]

    [received] = outside.to(target)
    assert received.mail_from.startswith("SRS0=")
    assert received.mail_from.endswith(f"@{engine.effective_bounce_domain}")
    assert srslib.SRS(srs_secret(engine)).reverse(received.mail_from) == original
    # Not signed by the platform: a forward's From is not ours to vouch for.
    assert b"DKIM-Signature" not in received.data


def test_a_refused_submission_leaves_a_dsn_in_the_senders_inbox(
    mailstack: MailStack,
    outbox: Outbox,
    engine: Settings,
    api: Api,
    database: Database,
    knot: Knot,
    uid: str,
) -> None:
    """Submitted on 587, refused by the outside MX with 550: the writer finds a standard
    report (RFC 3464) in their INBOX over IMAP, naming the recipient and the reply."""
    domain = _sending_domain(api, database, knot)
    box = api.mailbox(domain["id"], "writer", PASSWORD)
    stranger = f"perm-{uid}@{_outside_domain(knot, uid)}"
    mail = message(box["email"], stranger)
    _submit(mailstack, box["email"], mail)
    rows = _through_the_platform(outbox, engine, database, mail)
    assert [(row.status, row.last_code) for row in rows] == [("bounced", 550)]

    [report] = mailstack.wait_for(box["email"], PASSWORD, "Undelivered Mail Returned to Sender")
    parsed = email.message_from_bytes(report)
    assert parsed.get_content_type() == "multipart/report"
    assert parsed.get_param("report-type") == "delivery-status"
    status = next(p for p in parsed.walk() if p.get_content_type() == "message/delivery-status")
    text = status.as_string()
    assert f"Final-Recipient: rfc822; {stranger}" in text
    assert "Action: failed" in text
    assert "Status: 5.1.1" in text
    assert str(mail["Subject"]) in report.decode(errors="replace")
