"""The enabled outbound routes as values the delivery engine reads."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from mailplane.models import OutboundRoute


@dataclass(frozen=True)
class RouteConfig:
    id: int
    name: str
    source_ip: str | None
    relay_host: str | None
    relay_port: int | None
    relay_tls: str
    relay_username: str | None
    relay_password: str | None = field(repr=False)
    helo_name: str | None
    plan: dict[str, Any] | None
    plan_started_at: datetime | None
    accepts_retries: bool


def load(session: Session) -> dict[int, RouteConfig]:
    """The enabled routes, by id."""
    rows = session.scalars(select(OutboundRoute).where(OutboundRoute.enabled.is_(True)))
    return {row.id: of(row) for row in rows}


def load_all(session: Session) -> list[RouteConfig]:
    """Every route, enabled or not."""
    return [of(row) for row in session.scalars(select(OutboundRoute))]


def of(row: OutboundRoute) -> RouteConfig:
    return RouteConfig(
        id=row.id,
        name=row.name,
        source_ip=row.source_ip,
        relay_host=row.relay_host,
        relay_port=row.relay_port,
        relay_tls=row.relay_tls,
        relay_username=row.relay_username,
        relay_password=row.relay_password,
        helo_name=row.helo_name,
        plan=row.plan,
        plan_started_at=row.plan_started_at,
        accepts_retries=row.accepts_retries,
    )
