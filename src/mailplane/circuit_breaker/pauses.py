"""Active sending pauses as values the delivery engine reads."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from mailplane.models import SendingPause
from mailplane.models.statuses import MessageType


@dataclass(frozen=True)
class PauseRule:
    id: int
    tenant_id: int
    scope: str  # bulk | all

    def applies(self, message_type: str) -> bool:
        return self.scope == "all" or message_type == MessageType.BULK.value


def load(session: Session) -> dict[int, PauseRule]:
    """The active pause of each paused tenant; one that pauses everything wins."""
    found: dict[int, PauseRule] = {}
    query = select(SendingPause).where(SendingPause.resumed_at.is_(None))
    for row in session.scalars(query.order_by(SendingPause.id)):
        rule = PauseRule(row.id, row.tenant_id, row.scope)
        if row.tenant_id not in found or rule.scope == "all":
            found[row.tenant_id] = rule
    return found
