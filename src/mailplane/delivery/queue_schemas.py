"""What the queue API takes and answers (``delivery/queue_endpoints.py``)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import Field

from mailplane.delivery.queue_tools import MAX_BULK, QueueRow, Selection, Shown, parse_age
from mailplane.models.statuses import DeliveryStatus
from mailplane.schemas import MAX_ID, ObjectId, RequestModel, ResponseModel
from mailplane.sending.message_schemas import AttemptOut

QueueStatus = Literal["queued", "sending", "deferred", "held", "paused", "delivered", "bounced",
                      "failed", "cancelled", "suppressed"]  # fmt: skip
AGE = r"^\d{1,9}[smhdw]$"
DOMAIN = r"^[A-Za-z0-9.-]{1,253}$"


class QueueItem(ResponseModel):
    id: int
    message_id: str
    tenant_id: int | None
    sender: str = Field(description="The envelope sender the submitter gave.")
    recipient: str
    status: str
    attempts: int
    next_attempt_at: datetime | None
    last_code: int | None
    last_reply: str | None
    held_by: str | None = Field(
        description="Why it waits: `limit:<id>` (a throttle), `pause:<id>` (a sending pause)."
    )
    created_at: datetime
    age_seconds: int

    @classmethod
    def of(cls, row: QueueRow, now: datetime) -> QueueItem:
        d, m = row.delivery, row.message
        return cls(
            id=d.id,
            message_id=d.message_id,
            tenant_id=d.tenant_id,
            sender=m.envelope_from,
            recipient=d.recipient,
            status=d.status,
            attempts=d.attempts,
            next_attempt_at=d.next_attempt_at,
            last_code=d.last_code,
            last_reply=d.last_reply,
            held_by=d.held_by,
            created_at=d.created_at,
            age_seconds=max(0, int((now - d.created_at).total_seconds())),
        )


class QueuePage(ResponseModel):
    items: list[QueueItem]
    next_cursor: str | None


class QueueEntry(QueueItem):
    subject: str
    header_from: str
    source: str
    last_enhanced_code: str | None
    last_remote: str | None
    finished_at: datetime | None
    attempt_log: list[AttemptOut]

    @classmethod
    def shown(cls, shown: Shown, now: datetime) -> QueueEntry:
        base = QueueItem.of(QueueRow(shown.delivery, shown.message), now)
        return cls(
            **base.model_dump(),
            subject=shown.message.subject,
            header_from=shown.message.header_from,
            source=shown.message.source,
            last_enhanced_code=shown.delivery.last_enhanced_code,
            last_remote=shown.delivery.last_remote,
            finished_at=shown.delivery.finished_at,
            attempt_log=[AttemptOut.of(a) for a in shown.attempts],
        )


class SelectionIn(RequestModel):
    """Every given criterion must hold."""

    message_id: str | None = Field(default=None, pattern=r"^[0-9a-f]{32}$")
    recipient: str | None = Field(
        default=None,
        min_length=2,
        max_length=320,
        pattern=r"^[^\s\x00-\x1f\x7f]+$",
        description='An address (exact) or "@domain" (its domain part).',
    )
    recipient_domain: str | None = Field(default=None, pattern=DOMAIN)
    customer_id: int | None = Field(default=None, ge=1, le=MAX_ID)
    sending_domain: str | None = Field(default=None, pattern=DOMAIN)
    status: list[QueueStatus] = Field(default_factory=list, max_length=9)
    older_than: str | None = Field(default=None, pattern=AGE, description="e.g. 2h, 3d")
    newer_than: str | None = Field(default=None, pattern=AGE)

    def selection(self, ids: list[int]) -> Selection:
        return Selection(
            ids=tuple(ids),
            message_id=self.message_id,
            recipient=self.recipient,
            recipient_domain=self.recipient_domain,
            tenant_id=self.customer_id,
            sending_domain=self.sending_domain,
            statuses=tuple(DeliveryStatus(s).value for s in self.status),
            older_than=parse_age(self.older_than) if self.older_than else None,
            newer_than=parse_age(self.newer_than) if self.newer_than else None,
        )


class QueueActionIn(RequestModel):
    action: Literal["retry", "flush", "cancel", "hold", "release"]
    ids: list[ObjectId] = Field(default_factory=list, max_length=MAX_BULK)
    select: SelectionIn | None = Field(
        default=None, description="Filters instead of (or with) ids."
    )
    all_matching: bool = Field(
        default=False, description="Required to act on everything visible without a filter."
    )
    limit: int = Field(default=1000, ge=1, le=MAX_BULK)


class QueueActionOut(ResponseModel):
    action: str
    matched: int
    changed: int
    skipped_in_flight: int = Field(description="Being sent by a worker right now: left alone.")
    skipped_other: int = Field(description="Already final, or not in a state the action changes.")
    changed_ids: list[int]
    in_flight_ids: list[int]
