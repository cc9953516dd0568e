"""Reading and cancelling sent messages, scoped to who asks.

A tenant admin sees its tenant's messages, an operator every message, an API key the
messages of its own domain; anything else is 404. Lists are keyset pages in
(created_at, id) order, newest first, so the last page costs what the first does.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, String, and_, cast, exists, func, or_, select, true, update
from sqlalchemy.orm import Session

from mailplane.db.pagination import Page
from mailplane.delivery import observers
from mailplane.errors import InvalidInput, NotFound
from mailplane.models import Delivery, DeliveryAttempt, OutboundMessage
from mailplane.models.statuses import DeliveryStatus

CANCELLABLE = (
    DeliveryStatus.QUEUED.value,
    DeliveryStatus.DEFERRED.value,
    DeliveryStatus.HELD.value,
    DeliveryStatus.PAUSED.value,
)


@dataclass(frozen=True)
class Reader:
    """Whose messages: a tenant (None: every tenant) and, for an API key, one domain."""

    tenant_id: int | None
    domain_id: int | None = None

    def scope(self) -> ColumnElement[bool]:
        clauses: list[ColumnElement[bool]] = []
        if self.tenant_id is not None:
            clauses.append(OutboundMessage.tenant_id == self.tenant_id)
        if self.domain_id is not None:
            clauses.append(OutboundMessage.domain_id == self.domain_id)
        return and_(true(), *clauses)


@dataclass(frozen=True)
class Filters:
    status: str | None = None
    domain_id: int | None = None
    tag: str | None = None
    recipient: str | None = None
    since: datetime | None = None
    until: datetime | None = None


def get_message(session: Session, reader: Reader, message_id: str) -> OutboundMessage:
    row = session.scalar(
        select(OutboundMessage).where(OutboundMessage.id == message_id, reader.scope())
    )
    if row is None:
        raise NotFound("message not found", code="message_not_found")
    return row


def deliveries_of(session: Session, message_id: str) -> list[Delivery]:
    return list(
        session.scalars(
            select(Delivery).where(Delivery.message_id == message_id).order_by(Delivery.id)
        )
    )


def attempts_of(session: Session, delivery_ids: list[int]) -> dict[int, list[DeliveryAttempt]]:
    found: dict[int, list[DeliveryAttempt]] = defaultdict(list)
    if delivery_ids:
        rows = session.scalars(
            select(DeliveryAttempt)
            .where(DeliveryAttempt.delivery_id.in_(delivery_ids))
            .order_by(DeliveryAttempt.id)
        )
        for row in rows:
            found[row.delivery_id].append(row)
    return found


def status_counts(session: Session, message_ids: list[str]) -> dict[str, dict[str, int]]:
    counts: dict[str, dict[str, int]] = defaultdict(dict)
    if message_ids:
        rows = session.execute(
            select(Delivery.message_id, Delivery.status, func.count())
            .where(Delivery.message_id.in_(message_ids))
            .group_by(Delivery.message_id, Delivery.status)
        )
        for message_id, status, count in rows:
            counts[message_id][status] = count
    return counts


def _cursor(row: OutboundMessage) -> str:
    text = f"{row.created_at.isoformat()}|{row.id}"
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def _decode_cursor(cursor: str) -> tuple[datetime, str]:
    try:
        text = base64.urlsafe_b64decode((cursor + "=" * (-len(cursor) % 4)).encode()).decode()
        stamp, _, message_id = text.partition("|")
        when = datetime.fromisoformat(stamp)
        if when.tzinfo is None or len(message_id) != 32 or not message_id.isalnum():
            raise ValueError(text)
        return when, message_id
    except (ValueError, binascii.Error, UnicodeDecodeError) as exc:
        raise InvalidInput(
            "the cursor is not one this API handed out", code="invalid_cursor"
        ) from exc


def list_messages(
    session: Session, reader: Reader, filters: Filters, *, limit: int, cursor: str | None
) -> Page[OutboundMessage]:
    query = select(OutboundMessage).where(reader.scope())
    if filters.domain_id is not None:
        query = query.where(OutboundMessage.domain_id == filters.domain_id)
    if filters.since is not None:
        query = query.where(OutboundMessage.created_at >= filters.since)
    if filters.until is not None:
        query = query.where(OutboundMessage.created_at < filters.until)
    if filters.tag is not None:
        # Tags are a JSON list: match the tag's own JSON text (portable across databases).
        needle = json.dumps(filters.tag).replace("\\", "\\\\").replace("%", "\\%")
        needle = needle.replace("_", "\\_")
        query = query.where(cast(OutboundMessage.tags, String).like(f"%{needle}%", escape="\\"))
    delivery_match: list[ColumnElement[bool]] = []
    if filters.status is not None:
        delivery_match.append(Delivery.status == filters.status)
    if filters.recipient is not None:
        delivery_match.append(Delivery.recipient == filters.recipient)
    if delivery_match:
        query = query.where(
            exists().where(Delivery.message_id == OutboundMessage.id, *delivery_match)
        )
    if cursor:
        when, last_id = _decode_cursor(cursor)
        query = query.where(
            or_(
                OutboundMessage.created_at < when,
                and_(OutboundMessage.created_at == when, OutboundMessage.id < last_id),
            )
        )
    rows = list(
        session.scalars(
            query.order_by(OutboundMessage.created_at.desc(), OutboundMessage.id.desc()).limit(
                limit + 1
            )
        )
    )
    more = len(rows) > limit
    rows = rows[:limit]
    return Page(items=rows, next_cursor=_cursor(rows[-1]) if more and rows else None)


def cancel(session: Session, reader: Reader, message_id: str, now: datetime) -> dict[str, int]:
    """Cancel what has not left yet: queued (also scheduled) and deferred deliveries.
    One guarded UPDATE: a worker that claimed a delivery first keeps it."""
    message = get_message(session, reader, message_id)
    ids = list(
        session.scalars(
            update(Delivery)
            .where(Delivery.message_id == message.id, Delivery.status.in_(CANCELLABLE))
            .values(
                status=DeliveryStatus.CANCELLED.value,
                next_attempt_at=None,
                claimed_by=None,
                finished_at=now,
                updated_at=now,
            )
            .returning(Delivery.id)
            .execution_options(synchronize_session=False)
        )
    )
    cancelled = len(ids)
    # Settled like any other outcome: statistics and webhooks see the cancellation.
    observers.outcomes_recorded(
        session,
        [
            observers.Settled(
                delivery_id=delivery_id,
                status=DeliveryStatus.CANCELLED,
                code=None,
                enhanced_code=None,
                reply="cancelled through the messages API",
                at=now,
            )
            for delivery_id in ids
        ],
        now,
    )
    counts = status_counts(session, [message.id])[message.id]
    in_flight = counts.get(DeliveryStatus.SENDING.value, 0)
    return {
        "cancelled": cancelled,
        "in_flight": in_flight,
        "finished": sum(counts.values()) - in_flight - cancelled,
    }
