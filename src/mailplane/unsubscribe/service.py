"""What an unsubscribe does: the recipient of one delivery leaves the tenant's mail.

A message without a list id: a suppression with reason ``unsubscribed`` for its tenant
(all of the tenant's mail stops; it never expires). A message with a list id: a
``ListUnsubscribe`` row, so only that list's mail stops (``lists.py`` withholds it).
Idempotent: a second request changes nothing. Flushes; the caller commits.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from mailplane.models import Delivery, ListUnsubscribe, OutboundMessage
from mailplane.suppressions.policy import NewEntry, Reason, suppressed_addresses, upsert
from mailplane.webhooks import events


@dataclass(frozen=True)
class Unsubscribed:
    address: str
    list_id: str | None
    # False: it was already done (an earlier click, a mail client that asked twice).
    changed: bool


@dataclass(frozen=True)
class Subject:
    """What the page shows: the address (the recipient knows it) and the list."""

    tenant_id: int
    address: str
    list_id: str | None
    message_id: str


def subject_of(session: Session, delivery_id: int) -> Subject | None:
    """The tenant's recipient a delivery names; None for the platform's own mail."""
    row = session.execute(
        select(Delivery.tenant_id, Delivery.recipient, Delivery.message_id, OutboundMessage.list_id)
        .join(OutboundMessage, OutboundMessage.id == Delivery.message_id)
        .where(Delivery.id == delivery_id, Delivery.tenant_id.is_not(None))
    ).first()
    if row is None:
        return None
    return Subject(row.tenant_id, row.recipient.lower(), row.list_id, row.message_id)


def unsubscribe(
    session: Session, delivery_id: int, source: str, now: datetime
) -> Unsubscribed | None:
    """None when the delivery is unknown (or not a tenant's): the page answers 404."""
    subject = subject_of(session, delivery_id)
    if subject is None:
        return None
    if subject.list_id is not None:
        module = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
        statement = module.insert(ListUnsubscribe).values(
            tenant_id=subject.tenant_id,
            list_id=subject.list_id,
            address=subject.address,
            delivery_id=delivery_id,
            source=source,
            created_at=now,
        )
        result = session.execute(statement.on_conflict_do_nothing())
        changed = bool(result.rowcount)  # type: ignore[attr-defined]
    else:
        found = suppressed_addresses(session, subject.tenant_id, [subject.address], now)
        changed = found.get(subject.address) != Reason.UNSUBSCRIBED
        if changed:
            detail = f"{source} unsubscribe from message {subject.message_id}"
            entry = NewEntry(
                subject.tenant_id, subject.address, Reason.UNSUBSCRIBED, detail,
                delivery_id, subject.message_id, None,
            )  # fmt: skip
            upsert(session, [entry], now)
    if changed:
        events.message_unsubscribed(
            session,
            subject.tenant_id,
            {
                "message_id": subject.message_id,
                "delivery_id": delivery_id,
                "recipient": subject.address,
                "list_id": subject.list_id,
                "source": source,
            },
            now,
        )
    session.flush()
    return Unsubscribed(subject.address, subject.list_id, changed)
