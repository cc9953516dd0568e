"""Helpers for the circuit breaker's tests."""

from __future__ import annotations

import time
from typing import Any

from sqlalchemy import select

from mailplane.db import Database
from mailplane.models import AuditEvent, Delivery, Event
from mailplane.models.statuses import DeliveryStatus
from tests.delivery.support import deliveries


def settled(database: Database, ids: list[int], timeout: float = 60.0) -> list[Delivery]:
    """Wait until every delivery is final or paused (nothing left to send)."""
    deadline = time.monotonic() + timeout
    rows: list[Delivery] = []
    while time.monotonic() < deadline:
        rows = deliveries(database, ids)
        if all(DeliveryStatus(r.status).is_final or r.status == "paused" for r in rows):
            return rows
        time.sleep(0.1)
    raise AssertionError(f"not settled after {timeout}s: {sorted({r.status for r in rows})}")


def by_status(rows: list[Delivery]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for row in rows:
        counts[row.status] = counts.get(row.status, 0) + 1
    return counts


def events(database: Database, tenant_id: int, type: str) -> list[dict[str, Any]]:
    with database.session(write=False) as session:
        rows = session.scalars(
            select(Event).where(Event.tenant_id == tenant_id, Event.type == type).order_by(Event.id)
        )
        return [dict(row.payload) for row in rows]


def audited(database: Database, tenant_id: int, action: str) -> list[AuditEvent]:
    with database.session(write=False) as session:
        return list(
            session.scalars(
                select(AuditEvent)
                .where(AuditEvent.tenant_id == tenant_id, AuditEvent.action == action)
                .order_by(AuditEvent.id)
            )
        )
