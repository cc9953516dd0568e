"""What the messages API answers: a message, its recipients and their attempts."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import Field

from mailplane.models import Delivery, DeliveryAttempt, OutboundMessage
from mailplane.schemas import ResponseModel


class AttemptOut(ResponseModel):
    started_at: datetime
    duration_ms: int
    outcome: str
    remote_host: str | None
    remote_ip: str | None
    code: int | None
    enhanced_code: str | None
    reply: str | None

    @classmethod
    def of(cls, row: DeliveryAttempt) -> AttemptOut:
        return cls.model_validate(row)


class RecipientStatus(ResponseModel):
    id: int
    email: str
    status: str = Field(
        description=(
            "queued, sending, deferred, held, delivered, bounced, failed, cancelled, suppressed"
        )
    )
    attempts: int
    next_attempt_at: datetime | None
    last_code: int | None
    last_enhanced_code: str | None
    last_reply: str | None
    last_remote: str | None
    bounce_type: str | None = Field(
        default=None, description="hard or soft, when a bounce came back for this recipient"
    )
    bounce_classification: str | None = Field(
        default=None,
        description="invalid_address, mailbox_full, policy, content or technical",
    )
    updated_at: datetime
    finished_at: datetime | None
    attempt_log: list[AttemptOut]

    @classmethod
    def of(cls, row: Delivery, attempts: list[DeliveryAttempt]) -> RecipientStatus:
        return cls(
            id=row.id,
            email=row.recipient,
            status=row.status,
            attempts=row.attempts,
            next_attempt_at=row.next_attempt_at,
            last_code=row.last_code,
            last_enhanced_code=row.last_enhanced_code,
            last_reply=row.last_reply,
            last_remote=row.last_remote,
            bounce_type=row.bounce_type,
            bounce_classification=row.bounce_classification,
            updated_at=row.updated_at,
            finished_at=row.finished_at,
            attempt_log=[AttemptOut.of(a) for a in attempts],
        )


class MessageSummary(ResponseModel):
    id: str
    tenant_id: int | None
    domain_id: int | None
    source: str
    type: str
    message_id: str
    from_: str = Field(alias="from", serialization_alias="from")
    subject: str
    tags: list[str]
    metadata: dict[str, Any]
    size: int
    send_at: datetime | None
    created_at: datetime
    statuses: dict[str, int] = Field(description="How many recipients are in each status.")

    @classmethod
    def of(cls, row: OutboundMessage, statuses: dict[str, int]) -> MessageSummary:
        return cls.model_validate(
            {
                "id": row.id,
                "tenant_id": row.tenant_id,
                "domain_id": row.domain_id,
                "source": row.source,
                "type": row.type,
                "message_id": row.message_id_header,
                "from": row.header_from,
                "subject": row.subject,
                "tags": row.tags,
                "metadata": row.message_metadata,
                "size": row.size,
                "send_at": row.send_at,
                "created_at": row.created_at,
                "statuses": statuses,
            }
        )


class MessageOut(MessageSummary):
    recipients: list[RecipientStatus]


class MessagePage(ResponseModel):
    items: list[MessageSummary]
    next_cursor: str | None


class Cancelled(ResponseModel):
    id: str
    cancelled: int = Field(description="Recipients cancelled now (were queued or deferred).")
    in_flight: int = Field(
        description="Recipients a worker is sending right now: not cancellable; their "
        "outcome shows in the message status."
    )
    finished: int = Field(description="Recipients already delivered, failed or cancelled.")
