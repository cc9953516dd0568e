"""The deliverability report of a tenant or one of its domains: over the last 24 hours
and 7 days, how much was sent and how it fared (delivered, bounced hard and soft, failed,
complaints), by destination (recipient domain) and by outbound route, with the breaker's
state. Read from the deliveries themselves (their final state and when they reached it)
and the complaints, so it agrees with what the message API shows per recipient.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, and_, func, select
from sqlalchemy.orm import Session

from mailplane.models import Complaint, Delivery, OutboundMessage, OutboundRoute, SendingPause
from mailplane.models.statuses import DeliveryStatus

PERIODS = {"24h": timedelta(hours=24), "7d": timedelta(days=7)}
# Destinations shown per period, by volume; the rest are summed into "other".
TOP_DESTINATIONS = 25
SETTLED = (
    DeliveryStatus.DELIVERED.value,
    DeliveryStatus.BOUNCED.value,
    DeliveryStatus.FAILED.value,
)


@dataclass
class Tally:
    sent: int = 0  # settled after an attempt: delivered + bounced + failed
    delivered: int = 0
    bounced_hard: int = 0
    bounced_soft: int = 0
    failed: int = 0
    complaints: int = 0

    def add(self, status: str, bounce_type: str | None, count: int) -> None:
        self.sent += count
        if status == DeliveryStatus.DELIVERED.value:
            self.delivered += count
        elif status == DeliveryStatus.BOUNCED.value:
            if bounce_type == "soft":
                self.bounced_soft += count
            else:
                self.bounced_hard += count
        else:
            self.failed += count

    def merge(self, other: Tally) -> None:
        for name in ("sent", "delivered", "bounced_hard", "bounced_soft", "failed", "complaints"):
            setattr(self, name, getattr(self, name) + getattr(other, name))

    @property
    def rates(self) -> dict[str, float | None]:
        def ratio(part: int, whole: int) -> float | None:
            return round(part / whole, 5) if whole else None

        return {
            "delivery_rate": ratio(self.delivered, self.sent),
            "bounce_rate": ratio(self.bounced_hard + self.bounced_soft, self.sent),
            "hard_bounce_rate": ratio(self.bounced_hard, self.sent),
            # Complaints come from delivered mail: mailbox providers count them that way.
            "complaint_rate": ratio(self.complaints, self.delivered),
        }


@dataclass
class Period:
    name: str
    since: datetime
    totals: Tally = field(default_factory=Tally)
    by_destination: dict[str, Tally] = field(default_factory=dict)
    by_route: dict[int | None, Tally] = field(default_factory=dict)


@dataclass(frozen=True)
class Report:
    tenant_id: int
    domain_id: int | None
    at: datetime
    periods: list[Period]
    route_names: dict[int, str]
    pause: SendingPause | None


def _scope(tenant_id: int, domain_id: int | None) -> ColumnElement[bool]:
    clauses = [Delivery.tenant_id == tenant_id]
    if domain_id is not None:
        clauses.append(OutboundMessage.domain_id == domain_id)
    return and_(*clauses)


def _settled_counts(
    session: Session, tenant_id: int, domain_id: int | None, since: datetime
) -> Iterable[tuple[str, int | None, str, str | None, int]]:
    query = select(
        Delivery.recipient_domain,
        Delivery.route_id,
        Delivery.status,
        Delivery.bounce_type,
        func.count(),
    ).select_from(Delivery)
    if domain_id is not None:
        query = query.join(OutboundMessage, OutboundMessage.id == Delivery.message_id)
    query = query.where(
        _scope(tenant_id, domain_id),
        Delivery.finished_at >= since,
        Delivery.status.in_(SETTLED),
    )
    grouped = query.group_by(
        Delivery.recipient_domain, Delivery.route_id, Delivery.status, Delivery.bounce_type
    )
    return [(r[0], r[1], r[2], r[3], int(r[4])) for r in session.execute(grouped)]


def _complaint_counts(
    session: Session, tenant_id: int, domain_id: int | None, since: datetime
) -> Iterable[tuple[str, int | None, int]]:
    query = (
        select(Delivery.recipient_domain, Delivery.route_id, func.count())
        .select_from(Complaint)
        .join(Delivery, Delivery.id == Complaint.delivery_id)
    )
    if domain_id is not None:
        query = query.join(OutboundMessage, OutboundMessage.id == Delivery.message_id)
    query = query.where(
        Complaint.tenant_id == tenant_id,
        _scope(tenant_id, domain_id),
        Complaint.received_at >= since,
    )
    grouped = query.group_by(Delivery.recipient_domain, Delivery.route_id)
    return [(r[0], r[1], int(r[2])) for r in session.execute(grouped)]


def report(session: Session, tenant_id: int, domain_id: int | None, now: datetime) -> Report:
    periods = []
    route_ids: set[int] = set()
    for name, span in PERIODS.items():
        period = Period(name, now - span)
        for domain, route_id, status, bounce_type, count in _settled_counts(
            session, tenant_id, domain_id, period.since
        ):
            for tally in (
                period.totals,
                period.by_destination.setdefault(domain, Tally()),
                period.by_route.setdefault(route_id, Tally()),
            ):
                tally.add(status, bounce_type, count)
        for domain, route_id, count in _complaint_counts(
            session, tenant_id, domain_id, period.since
        ):
            period.totals.complaints += count
            period.by_destination.setdefault(domain, Tally()).complaints += count
            period.by_route.setdefault(route_id, Tally()).complaints += count
        route_ids.update(r for r in period.by_route if r is not None)
        periods.append(period)
    query = select(OutboundRoute.id, OutboundRoute.name).where(OutboundRoute.id.in_(route_ids))
    names = {row.id: row.name for row in session.execute(query)}
    pause = session.scalar(
        select(SendingPause)
        .where(SendingPause.tenant_id == tenant_id, SendingPause.resumed_at.is_(None))
        .order_by(SendingPause.id.desc())
        .limit(1)
    )
    return Report(tenant_id, domain_id, now, periods, names, pause)


def top_destinations(period: Period) -> list[tuple[str, Tally]]:
    """The busiest destinations, and the rest as one ``(other)`` entry."""
    ranked = sorted(period.by_destination.items(), key=lambda item: (-item[1].sent, item[0]))
    shown = ranked[:TOP_DESTINATIONS]
    if len(ranked) > TOP_DESTINATIONS:
        other = Tally()
        for _, tally in ranked[TOP_DESTINATIONS:]:
            other.merge(tally)
        shown.append(("(other)", other))
    return shown
