"""What every source does with what it saw: events on the bus, the sender as a contact."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session

from mailplane import contacts
from mailplane.db import Database
from mailplane.live_events import bus
from mailplane.models import utcnow


@dataclass(frozen=True)
class NewMessage:
    folder: str
    uid: int
    from_name: str
    from_addr: str
    subject: str


@dataclass(frozen=True)
class Counts:
    folder: str
    unseen: int
    exists: int


def publish_changes(
    database: Database,
    mailbox_id: int,
    tenant_id: int,
    source: bus.Source,
    messages: list[NewMessage],
    counts: Counts | None,
) -> None:
    now = utcnow()
    with database.transaction() as session:
        for message in messages:
            data = bus.new_message(message.folder, message.uid, message.from_addr, message.subject)
            first = not bus.delivered_before(session, mailbox_id, message.folder, message.uid, now)
            if bus.publish(session, mailbox_id, bus.NEW_MESSAGE, data, source, now) and first:
                record_received_contact(
                    session, tenant_id, mailbox_id, message.from_addr, message.from_name, now
                )
        if counts is not None:
            data = bus.folder_update(counts.folder, counts.unseen, counts.exists)
            bus.publish(session, mailbox_id, bus.FOLDER_UPDATE, data, source, now)


def record_received_contact(
    session: Session, tenant_id: int, mailbox_id: int, address: str, name: str, now: datetime
) -> None:
    """The sender of a new message becomes a "received" contact (autocomplete), once per
    delivery: the caller records only when no source has reported the message before."""
    if address:
        contacts.record(session, tenant_id, mailbox_id, [(address, name)], "received", now)
