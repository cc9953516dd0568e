"""Outbound routes: created, changed and deleted by platform operators only (a route
decides which address the whole platform's mail leaves from). Every write is audited;
the relay password is write-only, stored encrypted (``relay_passwords``)."""

from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from mailplane.audit.service import record
from mailplane.auth.principals import Principal
from mailplane.config import Settings
from mailplane.db.pagination import Page, keyset_page
from mailplane.errors import Conflict, InvalidInput, NotFound
from mailplane.models import OutboundRoute, RouteDayCount, utcnow
from mailplane.outbound_routes import plans, relay_passwords
from mailplane.outbound_routes.schemas import Plan, RouteCreate, RouteUpdate
from mailplane.outbound_routes.selection import day_key


@dataclass(frozen=True)
class Progress:
    state: plans.State
    today_count: int


def _address(value: str) -> str:
    """The canonical form of a local address of this machine (it can be bound)."""
    try:
        address = ipaddress.ip_address(value)
    except ValueError as exc:
        raise InvalidInput(
            f"{value!r} is not an IPv4 or IPv6 address", code="invalid_source_ip"
        ) from exc
    family = socket.AF_INET6 if address.version == 6 else socket.AF_INET
    probe = socket.socket(family, socket.SOCK_STREAM)
    try:
        probe.bind((str(address), 0))
    except OSError as exc:
        raise InvalidInput(
            f"{address} is not an address of this machine (binding it failed: {exc.strerror})",
            code="source_ip_not_local",
        ) from exc
    finally:
        probe.close()
    return str(address)


def _relay_host(value: str) -> str:
    try:
        return str(ipaddress.ip_address(value))
    except ValueError:
        pass
    labels = value.rstrip(".").split(".")
    if not all(
        0 < len(label) <= 63
        and not label.startswith("-")
        and not label.endswith("-")
        and ":" not in label
        for label in labels
    ):
        raise InvalidInput(f"{value!r} is not a host name or address", code="invalid_relay_host")
    return value.rstrip(".").lower()


def _plan(plan: Plan | None) -> dict[str, Any] | None:
    if plan is None:
        return None
    return plans.to_json(plans.parse(plan.model_dump(exclude_none=True)))


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def _check(row: OutboundRoute) -> None:
    if not row.source_ip and not row.relay_host:
        raise InvalidInput(
            "a route needs a source_ip, a relay_host or both", code="route_needs_a_way_out"
        )
    if row.relay_password and not row.relay_username:
        raise InvalidInput("relay_password needs relay_username", code="relay_username_required")
    if row.relay_host is None and (row.relay_port or row.relay_username):
        raise InvalidInput("relay settings need relay_host", code="relay_host_required")


def _details(row: OutboundRoute) -> dict[str, Any]:
    # Never the password: only whether one is set.
    return {
        "name": row.name,
        "source_ip": row.source_ip,
        "relay_host": row.relay_host,
        "relay_port": row.relay_port,
        "relay_tls": row.relay_tls,
        "relay_username": row.relay_username,
        "relay_password_set": row.relay_password is not None,
        "helo_name": row.helo_name,
        "enabled": row.enabled,
        "accepts_retries": row.accepts_retries,
        "plan": row.plan,
        "plan_started_at": row.plan_started_at.isoformat() if row.plan_started_at else None,
    }


def _unique_name(session: Session, name: str, route_id: int | None = None) -> None:
    found = session.scalar(select(OutboundRoute.id).where(OutboundRoute.name == name))
    if found is not None and found != route_id:
        raise Conflict(f"a route named {name!r} exists already", code="route_exists")


def create(
    session: Session, settings: Settings, principal: Principal, body: RouteCreate
) -> OutboundRoute:
    principal.require_platform()
    principal.require_write()
    now = utcnow()
    row = OutboundRoute(
        name=body.name,
        source_ip=_address(body.source_ip) if body.source_ip else None,
        relay_host=_relay_host(body.relay_host) if body.relay_host else None,
        relay_port=body.relay_port,
        relay_tls=body.relay_tls,
        relay_username=body.relay_username,
        relay_password=(
            relay_passwords.encrypt(settings, body.relay_password) if body.relay_password else None
        ),
        helo_name=body.helo_name.lower() if body.helo_name else None,
        enabled=body.enabled,
        accepts_retries=body.accepts_retries,
        plan=_plan(body.plan),
        plan_started_at=_aware(body.plan_started_at) if body.plan_started_at else now,
        created_at=now,
        updated_at=now,
    )
    _check(row)
    _unique_name(session, row.name)
    session.add(row)
    session.flush()
    record(
        session,
        principal,
        "outbound_route.create",
        object_type="outbound_route",
        object_id=row.id,
        tenant_id=None,
        details=_details(row),
        event="outbound_route.created",
    )
    return row


def get(session: Session, principal: Principal, route_id: int) -> OutboundRoute:
    principal.require_platform()
    row = session.get(OutboundRoute, route_id)
    if row is None:
        raise NotFound(f"outbound route {route_id} not found", code="outbound_route_not_found")
    return row


def list_routes(
    session: Session, principal: Principal, *, limit: int, cursor: str | None
) -> Page[OutboundRoute]:
    principal.require_platform()
    return keyset_page(session, select(OutboundRoute), OutboundRoute.id, limit=limit, cursor=cursor)


def update(
    session: Session, settings: Settings, principal: Principal, route_id: int, body: RouteUpdate
) -> OutboundRoute:
    principal.require_platform()
    principal.require_write()
    row = get(session, principal, route_id)
    sent = body.model_fields_set
    for required in ("name", "enabled", "accepts_retries", "relay_tls"):
        if required in sent and getattr(body, required) is None:
            raise InvalidInput(f"{required} cannot be null", code="invalid_input")
    if body.name is not None:
        _unique_name(session, body.name, row.id)
        row.name = body.name
    if "source_ip" in sent:
        row.source_ip = _address(body.source_ip) if body.source_ip else None
    if "relay_host" in sent:
        row.relay_host = _relay_host(body.relay_host) if body.relay_host else None
    if "relay_port" in sent:
        row.relay_port = body.relay_port
    if body.relay_tls is not None:
        row.relay_tls = body.relay_tls
    if "relay_username" in sent:
        row.relay_username = body.relay_username
    if "relay_password" in sent:
        row.relay_password = (
            relay_passwords.encrypt(settings, body.relay_password) if body.relay_password else None
        )
    if "helo_name" in sent:
        row.helo_name = body.helo_name.lower() if body.helo_name else None
    if body.enabled is not None:
        row.enabled = body.enabled
    if body.accepts_retries is not None:
        row.accepts_retries = body.accepts_retries
    if "plan" in sent:
        row.plan = _plan(body.plan)
    if "plan_started_at" in sent:
        row.plan_started_at = _aware(body.plan_started_at) if body.plan_started_at else utcnow()
    _check(row)
    row.updated_at = utcnow()
    session.flush()
    record(
        session,
        principal,
        "outbound_route.update",
        object_type="outbound_route",
        object_id=row.id,
        tenant_id=None,
        details=_details(row),
        event="outbound_route.updated",
    )
    return row


def delete(session: Session, principal: Principal, route_id: int) -> None:
    """Deliveries that had it take the routes' choice again on their next attempt."""
    principal.require_platform()
    principal.require_write()
    row = get(session, principal, route_id)
    record(
        session,
        principal,
        "outbound_route.delete",
        object_type="outbound_route",
        object_id=row.id,
        tenant_id=None,
        details={"name": row.name},
        event="outbound_route.deleted",
    )
    session.delete(row)
    session.flush()


def progress(session: Session, rows: list[OutboundRoute], now: datetime) -> dict[int, Progress]:
    """Each route's warm-up now, with today's count."""
    ids = [row.id for row in rows]
    rows_now = session.execute(
        select(RouteDayCount.route_id, RouteDayCount.count).where(
            RouteDayCount.route_id.in_(ids), RouteDayCount.day == day_key(now)
        )
    )
    counts: dict[int, int] = dict(rows_now.all())
    return {
        row.id: Progress(
            plans.state_of(row.plan, row.plan_started_at, now), int(counts.get(row.id, 0))
        )
        for row in rows
    }
