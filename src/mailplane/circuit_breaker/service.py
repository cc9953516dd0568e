"""Tripping, pausing and resuming. Services flush; the caller (the outcome transaction,
the bounce receiver, an API request) commits.

A pause holds a tenant's queued and deferred deliveries at once (status ``paused``,
``held_by`` ``pause:<id>``, not due); the admission step (``delivery/admission.py``)
holds whatever a worker claims later, including mail enqueued after the pause. Resuming
releases every paused delivery of the tenant.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Table, case, func, select, update
from sqlalchemy.orm import Session

from mailplane.audit.service import record
from mailplane.auth.principals import SYSTEM, Principal
from mailplane.circuit_breaker import counters
from mailplane.config import Settings
from mailplane.errors import Conflict
from mailplane.models import Delivery, OutboundMessage, SendingPause, Tenant
from mailplane.models.statuses import DeliveryStatus, MessageType
from mailplane.suppressions.policy import settings_of

deliveries = cast(Table, Delivery.__table__)
HELD = (DeliveryStatus.QUEUED.value, DeliveryStatus.DEFERRED.value)


@dataclass(frozen=True)
class Thresholds:
    window_minutes: int
    min_sample: int
    hard_bounce_rate: float
    complaint_rate: float

    @classmethod
    def of(cls, settings: Settings) -> Thresholds:
        return cls(
            settings.breaker_window_minutes,
            settings.breaker_min_sample,
            settings.breaker_hard_bounce_rate,
            settings.breaker_complaint_rate,
        )

    def overridden(
        self, min_sample: int | None, hard_bounce_rate: float | None, complaint_rate: float | None
    ) -> Thresholds:
        """A tenant's own thresholds (set by an operator in its limits) where it has any."""
        return Thresholds(
            self.window_minutes,
            self.min_sample if min_sample is None else min_sample,
            self.hard_bounce_rate if hard_bounce_rate is None else hard_bounce_rate,
            self.complaint_rate if complaint_rate is None else complaint_rate,
        )

    def for_tenant(self, tenant: Tenant) -> Thresholds:
        return self.overridden(
            tenant.breaker_min_sample,
            tenant.breaker_hard_bounce_rate,
            tenant.breaker_complaint_rate,
        )


def thresholds_of(
    session: Session, defaults: Thresholds, tenant_ids: Iterable[int]
) -> dict[int, Thresholds]:
    """Each tenant's thresholds: one query for the tenants of a batch."""
    rows = session.execute(
        select(
            Tenant.id,
            Tenant.breaker_min_sample,
            Tenant.breaker_hard_bounce_rate,
            Tenant.breaker_complaint_rate,
        ).where(Tenant.id.in_(sorted(set(tenant_ids))))
    )
    return {row[0]: defaults.overridden(row[1], row[2], row[3]) for row in rows}


@dataclass(frozen=True)
class Trip:
    trigger: str  # hard_bounce_rate | complaint_rate
    rate: float
    threshold: float
    sample: int


def verdict(window: counters.Window, thresholds: Thresholds) -> Trip | None:
    """Whether a scope's window trips the breaker: a minimum sample, then a rate strictly
    over its threshold (hard bounces first: they are the stronger signal)."""
    if window.deliveries < thresholds.min_sample:
        return None
    bounces = window.rate("hard_bounces")
    if bounces > thresholds.hard_bounce_rate:
        return Trip("hard_bounce_rate", bounces, thresholds.hard_bounce_rate, window.deliveries)
    complaints = window.rate("complaints")
    if complaints > thresholds.complaint_rate:
        return Trip("complaint_rate", complaints, thresholds.complaint_rate, window.deliveries)
    return None


def active_pause(session: Session, tenant_id: int) -> SendingPause | None:
    return session.scalars(
        select(SendingPause)
        .where(SendingPause.tenant_id == tenant_id, SendingPause.resumed_at.is_(None))
        .order_by(SendingPause.id.desc())
        .limit(1)
    ).first()


def last_resumed(session: Session, tenant_ids: Iterable[int]) -> dict[int, datetime]:
    """When each of these tenants was last resumed (tenants never paused are absent)."""
    wanted = sorted(set(tenant_ids))
    if not wanted:
        return {}
    rows = session.execute(
        select(SendingPause.tenant_id, func.max(SendingPause.resumed_at))
        .where(SendingPause.tenant_id.in_(wanted), SendingPause.resumed_at.is_not(None))
        .group_by(SendingPause.tenant_id)
    )
    return {tenant_id: at for tenant_id, at in rows if at is not None}


def window_of(session: Session, tenant_id: int, now: datetime, minutes: int) -> counters.Window:
    """The tenant's window as the breaker sees it (for the sending-state route)."""
    scope = counters.Scope(counters.tenant_scope(tenant_id), tenant_id, None)
    found = counters.windows(session, [scope], now, minutes, last_resumed(session, [tenant_id]))
    return found.get(scope.name, counters.Window())


def outcomes_recorded(session: Session, settled: Sequence[counters.Settled], now: datetime) -> None:
    """The observer (``delivery/observers.py``): count, then check what got worse."""
    check_scopes(session, counters.record_outcomes(session, settled, now), now)


def check_scopes(session: Session, scopes: Sequence[counters.Scope], now: datetime) -> None:
    """Trip the breaker for tenants with a scope over a threshold and no active pause."""
    if not scopes:
        return
    defaults = Thresholds.of(settings_of(session))
    tenants = {s.tenant_id for s in scopes}
    sums = counters.windows(
        session, scopes, now, defaults.window_minutes, last_resumed(session, tenants)
    )
    thresholds = thresholds_of(session, defaults, tenants)
    tripped: dict[int, tuple[counters.Scope, Trip, Thresholds]] = {}
    # Tenant scopes first: a tenant-wide trip is reported as such, not as one batch's.
    for scope in sorted(scopes, key=lambda s: (s.batch_id is not None, s.name)):
        own = thresholds.get(scope.tenant_id, defaults)
        trip = verdict(sums.get(scope.name, counters.Window()), own)
        if trip is not None and scope.tenant_id not in tripped:
            tripped[scope.tenant_id] = (scope, trip, own)
    for tenant_id, (scope, trip, own) in sorted(tripped.items()):
        if active_pause(session, tenant_id) is not None:
            continue
        pause(
            session,
            SYSTEM,
            tenant_id,
            scope="bulk",
            trigger=trip.trigger,
            batch_id=scope.batch_id,
            detail={
                "rate": round(trip.rate, 6),
                "threshold": trip.threshold,
                "sample": trip.sample,
                "min_sample": own.min_sample,
                "window_minutes": own.window_minutes,
                "scope": scope.name,
            },
            now=now,
        )


def hold(session: Session, tenant_id: int, pause_id: int, scope: str, now: datetime) -> int:
    """Queued and deferred deliveries of the tenant (bulk ones for a bulk pause) become
    paused; returns how many."""
    query = (
        update(deliveries)
        .where(deliveries.c.tenant_id == tenant_id, deliveries.c.status.in_(HELD))
        .values(
            status=DeliveryStatus.PAUSED.value,
            next_attempt_at=None,
            held_by=f"pause:{pause_id}",
            updated_at=now,
        )
    )
    if scope != "all":
        bulk = select(OutboundMessage.id).where(
            OutboundMessage.tenant_id == tenant_id,
            OutboundMessage.type == MessageType.BULK.value,
        )
        query = query.where(deliveries.c.message_id.in_(bulk))
    result = session.execute(query.execution_options(synchronize_session=False))
    return int(result.rowcount)  # type: ignore[attr-defined]


def _details(row: SendingPause, **extra: Any) -> dict[str, Any]:
    return {
        "tenant_id": row.tenant_id,
        "pause_id": row.id,
        "scope": row.scope,
        "trigger": row.trigger,
        "batch_id": row.batch_id,
        "detail": dict(row.detail or {}),
        **extra,
    }


def pause(
    session: Session,
    principal: Principal,
    tenant_id: int,
    *,
    scope: str,
    trigger: str,
    now: datetime,
    batch_id: str | None = None,
    detail: dict[str, Any] | None = None,
) -> SendingPause:
    """Pause the tenant's sending. An active bulk pause is widened by a pause of all
    sending; any other active pause is a conflict (resume it first)."""
    current = active_pause(session, tenant_id)
    if current is not None:
        if not (current.scope == "bulk" and scope == "all"):
            raise Conflict(
                f"sending is already paused (pause {current.id}, scope {current.scope})",
                code="already_paused",
            )
        current.scope = "all"
        current.detail = {**(current.detail or {}), **(detail or {}), "widened_by": principal.name}
        row = current
    else:
        row = SendingPause(
            tenant_id=tenant_id,
            scope=scope,
            trigger=trigger,
            batch_id=batch_id,
            detail=detail or {},
            created_at=now,
            created_by=principal.name,
        )
        session.add(row)
    session.flush()
    held = hold(session, tenant_id, row.id, row.scope, now)
    record(
        session,
        principal,
        "sending.paused",
        object_type="sending_pause",
        object_id=row.id,
        tenant_id=tenant_id,
        details=_details(row, held=held),
        event="sending.paused",
        at=now,
    )
    session.flush()
    return row


def release(session: Session, tenant_id: int, now: datetime) -> int:
    """Every paused delivery of the tenant back to the queue (deferred after an attempt),
    due at once (admission reads the pauses afresh in its own transaction, so a worker
    whose policy still shows the pause does not hold them again); returns how many."""
    result = session.execute(
        update(deliveries)
        .where(
            deliveries.c.tenant_id == tenant_id,
            deliveries.c.status == DeliveryStatus.PAUSED.value,
        )
        .values(
            status=case(
                (deliveries.c.attempts > 0, DeliveryStatus.DEFERRED.value),
                else_=DeliveryStatus.QUEUED.value,
            ),
            next_attempt_at=now,
            held_by=None,
            updated_at=now,
        )
        .execution_options(synchronize_session=False)
    )
    return int(result.rowcount)  # type: ignore[attr-defined]


def resume(session: Session, principal: Principal, tenant_id: int, now: datetime) -> SendingPause:
    current = active_pause(session, tenant_id)
    if current is None:
        raise Conflict("sending is not paused", code="not_paused")
    # Pauses are one at a time, but end any stale duplicate too (two processes tripping).
    for row in session.scalars(
        select(SendingPause).where(
            SendingPause.tenant_id == tenant_id, SendingPause.resumed_at.is_(None)
        )
    ):
        row.resumed_at = now
        row.resumed_by = principal.name
    session.flush()
    released = release(session, tenant_id, now)
    record(
        session,
        principal,
        "sending.resumed",
        object_type="sending_pause",
        object_id=current.id,
        tenant_id=tenant_id,
        details=_details(current, released=released),
        event="sending.resumed",
        at=now,
    )
    session.flush()
    return current


def paused_count(session: Session, tenant_id: int) -> int:
    return int(
        session.scalar(
            select(func.count())
            .select_from(Delivery)
            .where(Delivery.tenant_id == tenant_id, Delivery.status == DeliveryStatus.PAUSED.value)
        )
        or 0
    )
