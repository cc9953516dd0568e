"""Writes and reads the audit trail. Writes join the caller's transaction, so an audit
row exists exactly when the change it describes was committed."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from mailplane.auth.principals import Principal
from mailplane.db.pagination import Page, keyset_page
from mailplane.events.outbox import emit
from mailplane.models import AuditEvent


def record(
    session: Session,
    principal: Principal,
    action: str,
    *,
    object_type: str,
    object_id: int | None,
    tenant_id: int | None,
    details: dict[str, Any] | None = None,
    event: str | None = None,
    at: datetime | None = None,
) -> None:
    """Audit an admin change; with ``event``, also put it in the events outbox (same
    transaction, same object and details as the payload)."""
    if event is not None:
        emit(
            session,
            event,
            tenant_id=tenant_id,
            object_type=object_type,
            object_id=object_id,
            payload=details,
            at=at,
        )
    session.add(
        AuditEvent(
            actor_type=principal.kind,
            actor_id=principal.id,
            actor_name=principal.name,
            tenant_id=tenant_id,
            action=action,
            object_type=object_type,
            object_id=object_id,
            details=details or {},
        )
    )


def list_events(
    session: Session,
    principal: Principal,
    *,
    limit: int,
    cursor: str | None,
    action: str | None = None,
    object_type: str | None = None,
    tenant_id: int | None = None,
    newest_first: bool = True,
) -> Page[AuditEvent]:
    query = select(AuditEvent).where(principal.tenant_filter(AuditEvent.tenant_id))
    if action:
        query = query.where(AuditEvent.action == action)
    if object_type:
        query = query.where(AuditEvent.object_type == object_type)
    if tenant_id is not None:
        query = query.where(AuditEvent.tenant_id == tenant_id)
    return keyset_page(
        session, query, AuditEvent.id, limit=limit, cursor=cursor, newest_first=newest_first
    )
