"""Recording a feedback report: match it to the delivery it reports, store a Complaint,
count it for the circuit breaker, suppress the recipient for the tenant and emit
``message.complained``. The caller (the bounce receiver) owns the transaction and answers
250 after its commit, for unmatched reports too: a report is never bounced back.

Matching, most certain first:

1. the reported message's Return-Path is one of our VERP addresses (its HMAC verifies):
   that delivery;
2. its Message-ID names one of our messages and the recipient (Original-Rcpt-To, else
   To, lower case as reporters write it) is one of its deliveries: that one.

Anything else is kept with tenant NULL (an operator can read it in the database, a
tenant never sees it).
"""

from __future__ import annotations

import logging
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from mailplane.circuit_breaker import counters, service
from mailplane.complaints import arf
from mailplane.complaints.arf import Report
from mailplane.config import Settings
from mailplane.delivery.envelope import parse_verp
from mailplane.events.outbox import emit
from mailplane.models import Complaint, Delivery, OutboundMessage
from mailplane.suppressions import policy as suppressions

log = logging.getLogger(__name__)
MESSAGE_ID_CANDIDATES = 10


def match(session: Session, settings: Settings, report: Report) -> Delivery | None:
    if report.return_path:
        delivery_id = parse_verp(settings, report.return_path)
        if delivery_id is not None:
            found = session.get(Delivery, delivery_id)
            if found is not None:
                return found
    recipient = report.original_rcpt_to or report.to
    if report.message_id and recipient:
        # deliveries.recipient is indexed; the Message-ID narrows it to our message.
        candidates = list(
            session.scalars(
                select(Delivery)
                .join(OutboundMessage, OutboundMessage.id == Delivery.message_id)
                .where(
                    Delivery.recipient == recipient,
                    OutboundMessage.message_id_header == report.message_id,
                )
                .order_by(Delivery.id.desc())
                .limit(MESSAGE_ID_CANDIDATES)
            )
        )
        # A Message-ID is chosen by whoever sends: one that two tenants' mail to the same
        # recipient carries matches neither, so that no tenant can aim a complaint at
        # another's reputation by copying its Message-ID.
        if candidates and len({d.tenant_id for d in candidates}) == 1:
            return candidates[0]
    return None


def record(session: Session, settings: Settings, report: Report, now: datetime) -> str:
    """What was done, for the log."""
    delivery = match(session, settings, report)
    tenant_id = delivery.tenant_id if delivery is not None else None
    recipient = (
        delivery.recipient.lower()
        if delivery is not None
        else (report.original_rcpt_to or report.to)
    )
    repeated = (
        delivery is not None
        and (
            session.scalar(
                select(func.count())
                .select_from(Complaint)
                .where(Complaint.delivery_id == delivery.id)
            )
            or 0
        )
        > 0
    )
    complaint = Complaint(
        tenant_id=tenant_id,
        delivery_id=delivery.id if delivery is not None else None,
        message_id=delivery.message_id if delivery is not None else None,
        recipient=recipient[:320],
        feedback_type=report.feedback_type[:32],
        user_agent=report.user_agent,
        reporter=report.reporter,
        arrival_date=report.arrival_date,
        detail=report.detail,
        received_at=now,
    )
    session.add(complaint)
    session.flush()
    if delivery is None or tenant_id is None:
        log.info("feedback report from %s matches no delivery; kept", report.reporter)
        return "unmatched"
    if repeated:
        # The same complaint again (reporters resend): stored, counted once.
        return f"repeated complaint about delivery {delivery.id}"
    if report.feedback_type == "not-spam":
        return f"not-spam report about delivery {delivery.id}"
    batch_id = session.scalar(
        select(OutboundMessage.batch_id).where(OutboundMessage.id == delivery.message_id)
    )
    scopes = counters.scopes_of(tenant_id, batch_id)
    counters.add(session, {scope: {"complaints": 1} for scope in scopes}, now)
    suppressions.upsert(
        session,
        [
            suppressions.NewEntry(
                tenant_id,
                recipient,
                suppressions.Reason.COMPLAINT,
                f"{report.feedback_type} report by {report.reporter or 'unknown'}"
                f" ({report.user_agent or 'no user agent'})",
                delivery.id,
                delivery.message_id,
                None,  # a complaint does not expire: the recipient asked not to be mailed
            )
        ],
        now,
    )
    emit(
        session,
        "message.complained",
        tenant_id=tenant_id,
        object_type="message",
        object_id=None,
        payload={
            "message_id": delivery.message_id,
            "delivery_id": delivery.id,
            "recipient": recipient,
            "complaint_id": complaint.id,
            "feedback_type": report.feedback_type,
            "user_agent": report.user_agent,
            "reporter": report.reporter,
            "arrival_date": report.arrival_date.isoformat() if report.arrival_date else None,
        },
        at=now,
    )
    service.check_scopes(session, scopes, now)
    return f"complaint about delivery {delivery.id}"


def receive(session: Session, settings: Settings, raw: bytes, now: datetime) -> str:
    """A message to the feedback address: a report is recorded, anything else ignored
    (and still answered 250: nothing sent to this address is ever bounced)."""
    report = arf.read(raw)
    if report is None:
        log.info("message to the feedback address is no feedback report; ignored")
        return "ignored (no feedback report)"
    return record(session, settings, report, now)
