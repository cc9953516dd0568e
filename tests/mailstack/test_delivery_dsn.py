"""A mailbox user whose message fails gets a standard DSN (RFC 3464) in their INBOX, read
over IMAP; while Postfix cannot take it, the DSN stays due as a job."""

from __future__ import annotations

import email
import email.message

import pytest
from sqlalchemy import select

from mailplane.config import Settings
from mailplane.db import Database
from mailplane.delivery.dsn import send_dsn_job
from mailplane.models import Job
from mailplane.models.statuses import MessageSource
from tests.delivery.support import deliver, queue
from tests.mailstack.support import MailStack
from tests.support.api import Api
from tests.support.mx import RemoteMx
from tests.support.ports import free_port

pytestmark = pytest.mark.mailstack

PASSWORD = "correct-horse-1"
DSN_SUBJECT = "Undelivered Mail Returned to Sender"


def dsn_jobs(database: Database, recipient: str) -> list[Job]:
    with database.session(write=False) as session:
        jobs = session.scalars(select(Job).where(Job.kind == "dsn.send"))
        return [j for j in jobs if j.payload.get("recipient") == recipient]


def test_a_bounced_submission_leaves_a_dsn_in_the_senders_inbox(
    mailstack: MailStack, mail_settings: Settings, database: Database, api: Api, uid: str
) -> None:
    domain = api.domain(api.tenant()["id"])
    box = api.mailbox(domain["id"], "writer", PASSWORD)
    remote = RemoteMx("127.0.0.6", free_port())
    remote.start()
    try:
        engine = mail_settings.model_copy(
            update={"relay_host": f"127.0.0.6:{remote.port}", "relay_tls": "none"}
        )
        refused, api_refused = f"perm-{uid}@outside.test", f"perm-api-{uid}@outside.test"
        ids = queue(
            database,
            [refused],
            sender=box["email"],
            source=MessageSource.SMTP,
            submitted_by=box["email"],
        )
        api_ids = queue(database, [api_refused], sender=box["email"])
        # Postfix's injection port unreachable at first: the DSN waits as a due job.
        closed = engine.model_copy(update={"inject_port": free_port()})
        rows = deliver(closed, database, ids + api_ids)
    finally:
        remote.stop()
    assert [r.status for r in rows] == ["bounced", "bounced"]
    [job] = dsn_jobs(database, refused)
    assert job.run_at is not None
    assert job.finished_at is None
    assert "Connection refused" in (job.last_error or "")
    assert dsn_jobs(database, api_refused) == []  # the send API reports, it does not mail
    assert mailstack.fetch(box["email"], PASSWORD, DSN_SUBJECT) == []

    send_dsn_job(mail_settings, job.payload)  # what the job runner does when it is due

    [raw] = mailstack.wait_for(box["email"], PASSWORD, DSN_SUBJECT)
    report = email.message_from_bytes(raw)
    assert report.get_content_type() == "multipart/report"
    assert report.get_param("report-type") == "delivery-status"
    parts = {p.get_content_type() for p in report.walk()}
    assert {"text/plain", "message/delivery-status", "text/rfc822-headers"} <= parts
    text = raw.decode()
    assert f"Final-Recipient: rfc822; {refused}" in text
    assert "Action: failed" in text
    assert "Status: 5.1.1" in text
    assert "Diagnostic-Code: smtp; 550 5.1.1" in text
    assert "Remote-MTA: dns; 127.0.0.6" in text
    assert f"From: Sender <{box['email']}>" in text  # the original's header came back
    assert report["Auto-Submitted"] == "auto-replied"
