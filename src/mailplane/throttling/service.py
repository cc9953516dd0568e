"""Throttle limits in the admin API: operators set them, tenant admins read the ones that
concern their tenant (its own tenant limit, the default tenant limit, the global ones).

Another tenant's limit, and destination and route limits, do not exist for a tenant admin
(404). Every write is audited; the services flush, the request commits.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, and_, func, or_, select, true
from sqlalchemy import update as sa_update
from sqlalchemy.orm import Session

from mailplane.audit.service import record
from mailplane.auth.principals import Principal
from mailplane.db.pagination import Page, keyset_page
from mailplane.errors import Conflict, InvalidInput, NotFound
from mailplane.models import Delivery, OutboundRoute, Tenant, ThrottleBucket, ThrottleLimit, utcnow
from mailplane.models.statuses import DeliveryStatus
from mailplane.throttling.gcra import Bucket, used
from mailplane.throttling.schemas import ThrottleCreate, ThrottleUpdate

PERIODS = {"minute": 60, "hour": 3600, "day": 86400}
KEYS_SHOWN = 50
_LABEL = re.compile(r"^[a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?$")


def default_burst(rate: int, period_seconds: int) -> int:
    """About one second's worth: a limit per day or hour does not go out all at once."""
    return max(1, math.ceil(rate / period_seconds))


def _pattern(value: str, field: str) -> str:
    """``example.com``, ``*.example.com`` or ``.example.com``, in A-labels, lower case."""
    text = value.strip().lower().rstrip(".")
    stem = text[2:] if text.startswith("*.") else text[1:] if text.startswith(".") else text
    labels = stem.split(".")
    if not stem or len(stem) > 253 or not all(_LABEL.match(label) for label in labels):
        raise InvalidInput(
            f"{field}: {value!r} is not a host name or a *.suffix pattern",
            code="invalid_pattern",
        )
    return text


def _patterns(values: Sequence[str], field: str) -> list[str]:
    return list(dict.fromkeys(_pattern(v, field) for v in values))


def _visible(principal: Principal) -> ColumnElement[bool]:
    if principal.tenant_id is None:
        return true()
    return or_(
        ThrottleLimit.scope == "global",
        and_(
            ThrottleLimit.scope == "tenant",
            or_(ThrottleLimit.tenant_id.is_(None), ThrottleLimit.tenant_id == principal.tenant_id),
        ),
    )


def list_limits(
    session: Session, principal: Principal, *, limit: int, cursor: str | None
) -> Page[ThrottleLimit]:
    query = select(ThrottleLimit).where(_visible(principal))
    return keyset_page(session, query, ThrottleLimit.id, limit=limit, cursor=cursor)


def get(session: Session, principal: Principal, throttle_id: int) -> ThrottleLimit:
    row = session.scalar(
        select(ThrottleLimit).where(ThrottleLimit.id == throttle_id, _visible(principal))
    )
    if row is None:
        raise NotFound("throttle not found", code="throttle_not_found")
    return row


def _period(period_seconds: int | None, per: str | None) -> int | None:
    if period_seconds is not None and per is not None and PERIODS[per] != period_seconds:
        raise InvalidInput("give period_seconds or per, not both", code="invalid_period")
    return PERIODS[per] if per is not None else period_seconds


def _check_targets(session: Session, row: ThrottleLimit) -> None:
    """What each scope needs, and what it must not have."""
    scope = row.scope
    if scope != "tenant" and row.tenant_id is not None:
        raise InvalidInput("tenant_id is for scope tenant", code="invalid_scope_field")
    if scope != "route" and row.route_id is not None:
        raise InvalidInput("route_id is for scope route", code="invalid_scope_field")
    if scope != "destination" and (row.domains or row.mx_hosts or row.per_domain):
        raise InvalidInput(
            "domains, mx_hosts and per_domain are for scope destination",
            code="invalid_scope_field",
        )
    if scope == "destination" and not (row.domains or row.mx_hosts):
        raise InvalidInput(
            "a destination limit needs domains or mx_hosts", code="invalid_scope_field"
        )
    if scope == "route" and row.route_id is None:
        raise InvalidInput("a route limit needs route_id", code="invalid_scope_field")
    if row.tenant_id is not None and session.get(Tenant, row.tenant_id) is None:
        raise NotFound("tenant not found", code="tenant_not_found")
    if row.route_id is not None and session.get(OutboundRoute, row.route_id) is None:
        raise NotFound("outbound route not found", code="route_not_found")
    if not 1 <= row.burst <= row.rate:
        raise InvalidInput("burst must be between 1 and rate", code="invalid_burst")


def _target(row: ThrottleLimit) -> tuple[Any, ...]:
    return (
        row.scope, row.tenant_id, row.route_id, frozenset(row.domains),
        frozenset(row.mx_hosts), row.period_seconds,
    )  # fmt: skip


def _check_unique(session: Session, row: ThrottleLimit) -> None:
    others = session.scalars(
        select(ThrottleLimit).where(
            ThrottleLimit.scope == row.scope,
            ThrottleLimit.period_seconds == row.period_seconds,
            ThrottleLimit.id != (row.id or 0),
        )
    )
    if any(_target(other) == _target(row) for other in others):
        raise Conflict(
            "a limit for the same scope, target and period exists", code="duplicate_throttle"
        )


def _details(row: ThrottleLimit) -> dict[str, Any]:
    return {
        "scope": row.scope, "tenant_id": row.tenant_id, "route_id": row.route_id,
        "domains": row.domains, "mx_hosts": row.mx_hosts, "per_domain": row.per_domain,
        "rate": row.rate, "period_seconds": row.period_seconds, "burst": row.burst,
    }  # fmt: skip


def create(session: Session, principal: Principal, body: ThrottleCreate) -> ThrottleLimit:
    principal.require_write()
    principal.require_platform()
    period = _period(body.period_seconds, body.per)
    if period is None:
        raise InvalidInput("give period_seconds or per", code="invalid_period")
    now = utcnow()
    row = ThrottleLimit(
        scope=body.scope,
        tenant_id=body.tenant_id,
        route_id=body.route_id,
        name=body.name,
        domains=_patterns(body.domains, "domains"),
        mx_hosts=_patterns(body.mx_hosts, "mx_hosts"),
        per_domain=body.per_domain,
        rate=body.rate,
        period_seconds=period,
        burst=body.burst if body.burst is not None else default_burst(body.rate, period),
        created_at=now,
        updated_at=now,
    )
    _check_targets(session, row)
    _check_unique(session, row)
    session.add(row)
    session.flush()
    record(
        session, principal, "throttle.create", object_type="throttle", object_id=row.id,
        tenant_id=row.tenant_id, details=_details(row),
    )  # fmt: skip
    return row


def update(
    session: Session, principal: Principal, throttle_id: int, body: ThrottleUpdate
) -> ThrottleLimit:
    principal.require_write()
    row = get(session, principal, throttle_id)
    principal.require_platform()
    period = _period(body.period_seconds, body.per)
    if body.name is not None:
        row.name = body.name
    if body.domains is not None:
        row.domains = _patterns(body.domains, "domains")
    if body.mx_hosts is not None:
        row.mx_hosts = _patterns(body.mx_hosts, "mx_hosts")
    if body.per_domain is not None:
        row.per_domain = body.per_domain
    if body.rate is not None:
        row.rate = body.rate
    if period is not None:
        row.period_seconds = period
    if body.burst is not None:
        row.burst = body.burst
    else:
        row.burst = min(row.burst, row.rate)  # a lower rate takes the burst down with it
    _check_targets(session, row)
    _check_unique(session, row)
    row.updated_at = utcnow()
    session.flush()
    _release(session, row.id)
    record(
        session, principal, "throttle.update", object_type="throttle", object_id=row.id,
        tenant_id=row.tenant_id, details=_details(row),
    )  # fmt: skip
    return row


def _release(session: Session, limit_id: int) -> None:
    """The deliveries this limit holds are due now (they are counted again against what
    the limit says now), and the return slots it handed out are forgotten."""
    now = utcnow()
    session.execute(
        sa_update(Delivery)
        .where(
            Delivery.held_by == f"limit:{limit_id}",
            Delivery.status.in_([DeliveryStatus.QUEUED.value, DeliveryStatus.DEFERRED.value]),
        )
        .values(next_attempt_at=now, updated_at=now)
    )
    session.execute(
        sa_update(ThrottleBucket).where(ThrottleBucket.limit_id == limit_id).values(next_slot=0.0)
    )


def remove(session: Session, principal: Principal, throttle_id: int) -> None:
    principal.require_write()
    row = get(session, principal, throttle_id)
    principal.require_platform()
    details = _details(row)
    _release(session, row.id)
    session.delete(row)
    session.flush()
    record(
        session, principal, "throttle.delete", object_type="throttle", object_id=throttle_id,
        tenant_id=details["tenant_id"], details=details,
    )  # fmt: skip


@dataclass(frozen=True)
class KeyCount:
    key: str
    used: int


@dataclass(frozen=True)
class Usage:
    used: int
    limit: int
    remaining: int
    period_seconds: int
    waiting: int
    keys: list[KeyCount]


def usage(
    session: Session,
    principal: Principal,
    rows: Sequence[ThrottleLimit],
    now: datetime | None = None,
) -> dict[int, Usage]:
    """What each limit has counted in its last period, and how many deliveries it holds
    (a tenant admin: its own tenant's only)."""
    if not rows:
        return {}
    epoch = (now or utcnow()).timestamp()
    ids = [r.id for r in rows]
    held = [f"limit:{i}" for i in ids]
    waiting_query = (
        select(Delivery.held_by, func.count())
        .where(
            Delivery.held_by.in_(held),
            Delivery.status.in_([DeliveryStatus.QUEUED.value, DeliveryStatus.DEFERRED.value]),
            principal.tenant_filter(Delivery.tenant_id),
        )
        .group_by(Delivery.held_by)
    )
    waiting = {str(h): int(n) for h, n in session.execute(waiting_query)}
    bucket_query = select(ThrottleBucket).where(ThrottleBucket.limit_id.in_(ids))
    per_limit: dict[int, list[KeyCount]] = {i: [] for i in ids}
    periods = {r.id: r.period_seconds for r in rows}
    for b in session.scalars(bucket_query):
        state = Bucket(b.tat, b.window_start, b.window_count, b.previous_count)
        per_limit[b.limit_id].append(KeyCount(b.key, used(state, periods[b.limit_id], epoch)))
    found: dict[int, Usage] = {}
    for row in rows:
        keys = per_limit[row.id]
        if principal.tenant_id is not None and row.scope == "tenant":
            keys = [k for k in keys if k.key == str(principal.tenant_id)]
        keys = sorted(keys, key=lambda k: (-k.used, k.key))[:KEYS_SHOWN]
        top = keys[0].used if keys else 0
        keyed = row.scope == "tenant" or (row.scope == "destination" and row.per_domain)
        found[row.id] = Usage(
            used=top,
            limit=row.rate,
            remaining=max(0, row.rate - top),
            period_seconds=row.period_seconds,
            waiting=waiting.get(f"limit:{row.id}", 0),
            keys=keys if keyed else [],
        )
    return found
