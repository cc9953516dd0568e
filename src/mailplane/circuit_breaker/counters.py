"""The breaker's evidence: settled deliveries, hard bounces and complaints per scope
(``tenant:<id>``, ``batch:<tenant id>:<batch id>``) and UTC minute in
``reputation_counts``, and the sliding-window check after each batch of them.

Called from ``delivery/observers.outcomes_recorded`` (the worker's outcomes and
asynchronous bounces alike) and from ``complaints/recording.py``, inside the transaction
that records them (through ``circuit_breaker/service.py``): one SELECT and one upsert per
batch, plus one window query when the batch brought a new hard bounce or complaint.

What counts (docs/deliverability.md, "The circuit breaker"):

- ``deliveries``: each delivery that reached a final result at the remote end, delivered
  or bounced, once. An asynchronous bounce after "delivered" does not count it again.
- ``hard_bounces``: permanent refusals except ``policy`` (5.7.x: reputation blocks,
  DMARC, blocklists) and ``content`` (5.6.x): those say something about the sender or the
  message, not about the list, and pausing the list does not fix them.
- ``complaints``: ARF reports matched to a delivery of the tenant.

Suppressed, cancelled, failed (no route, expired) deliveries were never judged by a
recipient's server and do not count at all.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

from sqlalchemy import and_, func, or_, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from mailplane.delivery.classification import Reported, kind_of
from mailplane.models import Delivery, OutboundMessage, ReputationCount
from mailplane.models.statuses import DeliveryStatus

FINAL = frozenset({DeliveryStatus.DELIVERED, DeliveryStatus.BOUNCED})
NOT_THE_LISTS_FAULT = frozenset({"policy", "content"})
FIELDS = ("deliveries", "hard_bounces", "complaints")


class Settled(Reported, Protocol):
    """An ``observers.Settled`` as read here (observers import this module)."""

    @property
    def delivery_id(self) -> int: ...
    @property
    def status(self) -> DeliveryStatus: ...
    @property
    def earlier(self) -> str | None: ...


def minute_of(at: datetime) -> datetime:
    return at.replace(second=0, microsecond=0)


def tenant_scope(tenant_id: int) -> str:
    return f"tenant:{tenant_id}"


def batch_scope(tenant_id: int, batch_id: str) -> str:
    return f"batch:{tenant_id}:{batch_id}"


def is_hard(outcome: Reported) -> bool:
    """Whether a bounce counts against the list (see the module's docstring)."""
    bounce_type, classification = kind_of(outcome)
    return bounce_type == "hard" and classification not in NOT_THE_LISTS_FAULT


def earlier_of(status: str, bounce_type: str | None, classification: str | None) -> str | None:
    """What a delivery's current state was counted as: ``delivered``, ``hard``, ``soft``
    or None (not counted). For a report that overrides an earlier result."""
    if status == DeliveryStatus.DELIVERED.value:
        return "delivered"
    if status == DeliveryStatus.BOUNCED.value:
        hard = bounce_type == "hard" and classification not in NOT_THE_LISTS_FAULT
        return "hard" if hard else "soft"
    return None


@dataclass(frozen=True)
class Scope:
    name: str
    tenant_id: int
    batch_id: str | None


Counts = dict[Scope, dict[str, int]]

_UPSERTS: dict[str, Any] = {}


def _upsert(dialect: str) -> Any:
    if dialect not in _UPSERTS:
        module = postgresql if dialect == "postgresql" else sqlite
        statement = module.insert(ReputationCount)
        table = ReputationCount.__table__.c
        _UPSERTS[dialect] = statement.on_conflict_do_update(
            index_elements=[ReputationCount.scope, ReputationCount.bucket],
            set_={name: table[name] + statement.excluded[name] for name in FIELDS},
        )
    return _UPSERTS[dialect]


def add(session: Session, counts: Counts, now: datetime) -> None:
    """One upsert for all scopes (distinct keys: PostgreSQL updates a row once per
    statement)."""
    bucket = minute_of(now)
    rows = [
        {"scope": scope.name, "bucket": bucket, **{f: values.get(f, 0) for f in FIELDS}}
        for scope, values in sorted(counts.items(), key=lambda item: item[0].name)
        if any(values.values())
    ]
    if rows:
        session.execute(_upsert(session.get_bind().dialect.name), rows)


def scopes_of(tenant_id: int, batch_id: str | None) -> list[Scope]:
    found = [Scope(tenant_scope(tenant_id), tenant_id, None)]
    if batch_id:
        found.append(Scope(batch_scope(tenant_id, batch_id), tenant_id, batch_id))
    return found


def record_outcomes(session: Session, settled: Sequence[Settled], now: datetime) -> list[Scope]:
    """Count final outcomes; returns the scopes that got new hard bounces."""
    final = {s.delivery_id: s for s in settled if s.status in FINAL}
    if not final:
        return []
    rows = session.execute(
        select(Delivery.id, Delivery.tenant_id, OutboundMessage.batch_id)
        .join(OutboundMessage, OutboundMessage.id == Delivery.message_id)
        .where(Delivery.id.in_(list(final)), Delivery.tenant_id.is_not(None))
    )
    # Summed per (tenant, batch) first: a batch of outcomes has few of them.
    sums: dict[tuple[int, str | None], list[int]] = defaultdict(lambda: [0, 0])
    for delivery_id, tenant_id, batch_id in rows:
        if tenant_id is None:
            continue
        s = final[delivery_id]
        pair = sums[(tenant_id, batch_id)]
        if s.earlier is None:
            pair[0] += 1
        if s.status == DeliveryStatus.BOUNCED and s.earlier != "hard" and is_hard(s):
            pair[1] += 1
    counts: Counts = defaultdict(lambda: defaultdict(int))
    for (tenant_id, batch_id), (deliveries, hard) in sums.items():
        for scope in scopes_of(tenant_id, batch_id):
            counts[scope]["deliveries"] += deliveries
            counts[scope]["hard_bounces"] += hard
    add(session, counts, now)
    return [scope for scope, values in counts.items() if values["hard_bounces"]]


@dataclass(frozen=True)
class Window:
    """One scope's sums over the sliding window."""

    deliveries: int = 0
    hard_bounces: int = 0
    complaints: int = 0

    def rate(self, field: str) -> float:
        return float(getattr(self, field)) / self.deliveries if self.deliveries else 0.0


def windows(
    session: Session,
    scopes: Iterable[Scope],
    now: datetime,
    minutes: int,
    resumed: Mapping[int, datetime] | None = None,
) -> dict[str, Window]:
    """Each scope's sums over the last ``minutes`` (the current minute included). A
    tenant resumed by an operator starts afresh from the minute after the resume: the
    evidence the operator already weighed does not trip the breaker again at once."""
    wanted = {scope.name: scope for scope in scopes}
    if not wanted:
        return {}
    start = minute_of(now) - timedelta(minutes=minutes - 1)
    resumed = resumed or {}
    conditions = []
    for name, scope in sorted(wanted.items()):
        since = start
        if scope.tenant_id in resumed:
            since = max(start, minute_of(resumed[scope.tenant_id]) + timedelta(minutes=1))
        conditions.append(and_(ReputationCount.scope == name, ReputationCount.bucket >= since))
    rows = session.execute(
        select(
            ReputationCount.scope,
            func.sum(ReputationCount.deliveries),
            func.sum(ReputationCount.hard_bounces),
            func.sum(ReputationCount.complaints),
        )
        .where(or_(*conditions))
        .group_by(ReputationCount.scope)
    )
    return {scope: Window(int(d or 0), int(h or 0), int(c or 0)) for scope, d, h, c in rows}
