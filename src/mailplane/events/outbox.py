"""Writes events into the outbox, inside the caller's transaction."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from mailplane.models import Event, utcnow


def emit(
    session: Session,
    event_type: str,
    *,
    tenant_id: int | None,
    object_type: str,
    object_id: int | None,
    payload: dict[str, Any] | None = None,
    at: datetime | None = None,
) -> Event:
    event = Event(
        type=event_type,
        tenant_id=tenant_id,
        object_type=object_type,
        object_id=object_id,
        payload=payload or {},
        at=at or utcnow(),
    )
    session.add(event)
    return event
