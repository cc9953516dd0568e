"""Delivery status notifications (RFC 3464) for mailbox users whose mail failed.

When a delivery of a message that a mailbox user submitted (source ``smtp``) ends bounced
or failed, the worker adds a ``dsn.send`` job in the same transaction as the outcome; the
job writes a multipart/report (RFC 6522) and hands it to the managed Postfix's injection
port with the null sender, so that it lands in the user's INBOX like any other mail and
can never cause a bounce of its own. Mail from the send API gets no DSN (its status is in
the API), nor does a DSN.
"""

from __future__ import annotations

import secrets
import smtplib
from collections.abc import Sequence
from datetime import datetime, timedelta
from email.utils import format_datetime, make_msgid
from typing import Any

from sqlalchemy import bindparam, update
from sqlalchemy.orm import Session

from mailplane.config import Settings
from mailplane.delivery.claims import MessageData, Outcome, jobs
from mailplane.models import utcnow
from mailplane.models.statuses import MessageSource

# Only the original's header is returned (RFC 3462's text/rfc822-headers): the user
# has the body in their Sent folder, and a DSN must stay small.
MAX_RETURNED_HEADER_BYTES = 32 * 1024


def wants_dsn(message: MessageData) -> bool:
    return message.source == MessageSource.SMTP and bool(message.submitted_by)


def dsn_payload(settings: Settings, message: MessageData, recipient: str,
                outcome: Outcome) -> dict[str, Any]:  # fmt: skip
    """What the job needs, computed when the outcome is known (the job needs no query)."""
    head = message.raw.split(b"\r\n\r\n", 1)[0][:MAX_RETURNED_HEADER_BYTES]
    return {
        "to": message.submitted_by,
        "recipient": recipient,
        "status": outcome.enhanced_code or ("5.0.0" if (outcome.code or 500) >= 500 else "4.0.0"),
        "diagnostic": outcome.reply,
        "remote_mta": outcome.remote_host,
        "reporting_mta": settings.mail_hostname,
        "arrival_date": format_datetime(message.created_at),
        "headers": head.decode("utf-8", "replace"),
        "outcome": outcome.outcome,
    }


def _one_line(value: object) -> str:
    """CR/LF never reach a header (SECURITY.md)."""
    return " ".join(str(value).split())


def build_dsn(payload: dict[str, Any]) -> bytes:
    """The multipart/report, written out by hand: the standard library's generator does
    not serialise message/delivery-status parts it did not parse itself."""
    reporting_mta = _one_line(payload["reporting_mta"])
    recipient = _one_line(payload["recipient"])
    diagnostic = _one_line(payload["diagnostic"])
    boundary = f"=_dsn_{secrets.token_hex(12)}"
    expired = payload.get("outcome") == "failed" and "expired" in diagnostic
    human = (
        f"Your message to {recipient} could not be delivered"
        + (": it stayed undeliverable too long.\r\n" if expired else ".\r\n")
        + f"\r\nThe remote server said: {diagnostic}\r\n"
    )
    per_recipient = [
        f"Final-Recipient: rfc822; {recipient}",
        "Action: failed",
        f"Status: {_one_line(payload['status'])}",
    ]
    if payload.get("remote_mta"):
        per_recipient.append(f"Remote-MTA: dns; {_one_line(payload['remote_mta'])}")
    per_recipient.append(f"Diagnostic-Code: smtp; {diagnostic}")
    headers = "\r\n".join(str(payload["headers"]).replace("\r\n", "\n").split("\n"))
    lines = [
        f"From: Mail Delivery System <MAILER-DAEMON@{reporting_mta}>",
        f"To: <{_one_line(payload['to'])}>",
        "Subject: Undelivered Mail Returned to Sender",
        f"Date: {format_datetime(utcnow())}",
        f"Message-ID: {make_msgid(domain=reporting_mta)}",
        "Auto-Submitted: auto-replied",  # RFC 3834: nobody answers this automatically
        "MIME-Version: 1.0",
        f'Content-Type: multipart/report; report-type=delivery-status; boundary="{boundary}"',
        "",
        "This is a delivery status notification (RFC 3464).",
        "",
        f"--{boundary}",
        "Content-Type: text/plain; charset=utf-8",
        "Content-Transfer-Encoding: 8bit",
        "",
        human,
        f"--{boundary}",
        "Content-Type: message/delivery-status",
        "",
        f"Reporting-MTA: dns; {reporting_mta}",
        f"Arrival-Date: {_one_line(payload['arrival_date'])}",
        "",
        *per_recipient,
        "",
        f"--{boundary}",
        "Content-Type: text/rfc822-headers; charset=utf-8",
        "Content-Transfer-Encoding: 8bit",
        "",
        headers,
        "",
        f"--{boundary}--",
        "",
    ]
    return "\r\n".join(lines).encode()


def send_dsn_job(settings: Settings, payload: dict[str, Any]) -> None:
    """The ``dsn.send`` job: hand the DSN to the managed Postfix (MAIL FROM:<>). Raises
    ``OSError``/``smtplib.SMTPException`` when Postfix is unreachable: the job is retried."""
    data = build_dsn(payload)
    with smtplib.SMTP(settings.mail_listen_address, settings.inject_port, timeout=30) as smtp:
        smtp.sendmail("", [str(payload["to"])], data)


def finish_dsn_jobs(
    session: Session,
    done: Sequence[int],
    failed: Sequence[tuple[int, str]],
    now: datetime,
    retry_seconds: float,
) -> None:
    if done:
        session.execute(
            update(jobs)
            .where(jobs.c.id == bindparam("b_id"))
            .values(run_at=None, finished_at=now, claimed_by=None, attempts=jobs.c.attempts + 1),
            [{"b_id": job_id} for job_id in done],
        )
    if failed:
        session.execute(
            update(jobs)
            .where(jobs.c.id == bindparam("b_id"))
            .values(
                run_at=now + timedelta(seconds=retry_seconds),
                claimed_by=None,
                attempts=jobs.c.attempts + 1,
                last_error=bindparam("b_error"),
            ),
            [{"b_id": job_id, "b_error": error[:1000]} for job_id, error in failed],
        )
