"""Deliveries withheld because their recipient is suppressed, told to the observers
(statistics, webhooks) like any other outcome. Apart from ``policy`` because the observers
call ``policy`` themselves."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy.orm import Session

from mailplane.delivery import observers
from mailplane.models.statuses import DeliveryStatus
from mailplane.suppressions import policy


def record(session: Session, replies: dict[int, str], now: datetime) -> None:
    if not replies:
        return
    observers.outcomes_recorded(
        session,
        [
            observers.Settled(
                delivery_id=delivery_id,
                status=DeliveryStatus.SUPPRESSED,
                code=None,
                enhanced_code=None,
                reply=reply,
                at=now,
            )
            for delivery_id, reply in replies.items()
        ],
        now,
    )


def withhold_claimed(session: Session, delivery_ids: Sequence[int], now: datetime) -> set[int]:
    """Claimed deliveries to suppressed recipients: marked, recorded, their ids returned."""
    replies = policy.withhold(session, delivery_ids, now)
    record(session, replies, now)
    return set(replies)


def withhold_queued(session: Session, reasons: dict[int, str], now: datetime) -> None:
    """Deliveries just queued to suppressed recipients (id → the entry's reason)."""
    record(session, policy.mark_suppressed(session, reasons, now), now)
