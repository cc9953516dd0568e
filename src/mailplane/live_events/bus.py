"""The event bus between API processes: the ``mail_events`` table.

A source (Dovecot's push report, an IDLE or polling watcher) writes a row; every API
process tails the table by id and hands each row to its own sockets of that mailbox
(hub.py). Rows are pruned after ``RETENTION``: a process that was away longer has no
socket that could still want them.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from mailplane.models import MailEvent

NEW_MESSAGE = "mail.new_message"
FOLDER_UPDATE = "mail.folder_update"
Source = Literal["idle", "push", "poll"]
RETENTION = timedelta(minutes=10)
# One tail read hands at most this many rows on; the next read follows at once.
BATCH = 500


@dataclass(frozen=True)
class LiveEvent:
    id: int
    mailbox_id: int
    type: str
    data: dict[str, Any]
    source: str

    def message(self) -> dict[str, Any]:
        """What a socket receives: exactly ``{"type", "data"}``."""
        return {"type": self.type, "data": self.data}


def new_message(folder: str, uid: int, from_addr: str, subject: str) -> dict[str, Any]:
    return {"folder": folder, "message": {"uid": uid, "from_addr": from_addr, "subject": subject}}


def folder_update(folder: str, unseen: int, exists: int) -> dict[str, Any]:
    return {"folder": folder, "unseen": unseen, "exists": exists}


def _payload(data: dict[str, Any]) -> str:
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def publish(
    session: Session,
    mailbox_id: int,
    type_: str,
    data: dict[str, Any],
    source: Source,
    now: datetime,
) -> bool:
    """Write one event; False (and nothing written) when the same event of the same
    mailbox is already on the bus: two processes watching one mailbox by IDLE or polling
    see the same delivery, and it is one event."""
    payload = _payload(data)
    seen = session.scalar(
        select(MailEvent.id)
        .where(
            MailEvent.mailbox_id == mailbox_id,
            MailEvent.type == type_,
            MailEvent.payload == payload,
            MailEvent.source == source,
            MailEvent.created_at > now - RETENTION,
        )
        .limit(1)
    )
    if seen is not None and type_ == NEW_MESSAGE:
        return False
    session.add(
        MailEvent(mailbox_id=mailbox_id, type=type_, payload=payload, source=source, created_at=now)
    )
    session.flush()
    return True


def delivered_before(
    session: Session, mailbox_id: int, folder: str, uid: int, now: datetime
) -> bool:
    """Whether any source has already reported this message (folder and UID) recently:
    push and an IDLE watcher may both see one delivery, and it is one delivery."""
    head = '{"folder":' + json.dumps(folder, ensure_ascii=False) + ","
    tail = f'"uid":{int(uid)}}}}}'
    seen = session.scalar(
        select(MailEvent.id)
        .where(
            MailEvent.mailbox_id == mailbox_id,
            MailEvent.type == NEW_MESSAGE,
            MailEvent.created_at > now - RETENTION,
            MailEvent.payload.startswith(head, autoescape=True),
            MailEvent.payload.endswith(tail, autoescape=True),
        )
        .limit(1)
    )
    return seen is not None


def latest_id(session: Session) -> int:
    return int(session.scalar(select(func.max(MailEvent.id))) or 0)


def read_after(session: Session, after_id: int, mailbox_ids: list[int]) -> list[LiveEvent]:
    """The rows after ``after_id`` of these mailboxes, oldest first, at most BATCH."""
    if not mailbox_ids:
        return []
    rows = session.execute(
        select(
            MailEvent.id, MailEvent.mailbox_id, MailEvent.type, MailEvent.payload, MailEvent.source
        )
        .where(MailEvent.id > after_id, MailEvent.mailbox_id.in_(mailbox_ids))
        .order_by(MailEvent.id)
        .limit(BATCH)
    ).all()
    return [
        LiveEvent(id=row[0], mailbox_id=row[1], type=row[2], data=json.loads(row[3]), source=row[4])
        for row in rows
    ]


def prune(session: Session, now: datetime) -> int:
    result = session.execute(delete(MailEvent).where(MailEvent.created_at < now - RETENTION))
    return int(getattr(result, "rowcount", 0) or 0)
