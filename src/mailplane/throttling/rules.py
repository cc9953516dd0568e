"""The configured limits as values the delivery engine reads (refreshed every second)."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from mailplane.models import ThrottleLimit


@dataclass(frozen=True)
class LimitRule:
    id: int
    scope: str  # global | tenant | destination | route
    tenant_id: int | None
    route_id: int | None
    name: str
    domains: tuple[str, ...]
    mx_hosts: tuple[str, ...]
    per_domain: bool
    rate: int
    period_seconds: int
    burst: int


def load(session: Session) -> tuple[LimitRule, ...]:
    return tuple(
        LimitRule(
            id=row.id,
            scope=row.scope,
            tenant_id=row.tenant_id,
            route_id=row.route_id,
            name=row.name,
            domains=tuple(row.domains or ()),
            mx_hosts=tuple(row.mx_hosts or ()),
            per_domain=row.per_domain,
            rate=row.rate,
            period_seconds=row.period_seconds,
            burst=row.burst,
        )
        for row in session.scalars(select(ThrottleLimit).order_by(ThrottleLimit.id))
    )
