"""Receipts of what the intake has queued (models/intake.py): a message that Postfix hands
over again after the intake died between its commit and its 250 is not queued twice."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta

from sqlalchemy import delete, insert, select
from sqlalchemy.orm import Session

from mailplane.config import Settings
from mailplane.models import IntakeReceipt, utcnow

# Postfix gives up on a message after maximal_queue_lifetime (5 days by default); a
# receipt kept twice as long outlives every retry.
KEEP = timedelta(days=10)


def queue_key(settings: Settings, ident: str) -> str:
    return f"{settings.mail_hostname}/{ident}"[:300]


def already_queued(session: Session, key: str, recipients: Sequence[str]) -> dict[str, str]:
    """recipient -> the message it was queued in, for those already taken."""
    if not recipients:
        return {}
    rows = session.execute(
        select(IntakeReceipt.recipient, IntakeReceipt.message_id).where(
            IntakeReceipt.queue_id == key, IntakeReceipt.recipient.in_(list(recipients))
        )
    )
    return {str(recipient): str(message_id) for recipient, message_id in rows}


def record(session: Session, key: str, queued: Iterable[tuple[str, str]]) -> None:
    """(recipient, message id) pairs just queued; the unique (queue id, recipient)
    refuses a second copy even from a concurrent handover."""
    now = utcnow()
    rows = [
        {"queue_id": key, "recipient": recipient, "message_id": message_id, "created_at": now}
        for recipient, message_id in queued
    ]
    if rows:
        session.execute(insert(IntakeReceipt), rows)


def forget_old(session: Session, now: datetime | None = None) -> int:
    cutoff = (now or utcnow()) - KEEP
    result = session.execute(delete(IntakeReceipt).where(IntakeReceipt.created_at < cutoff))
    return int(getattr(result, "rowcount", 0) or 0)
