"""Counting: one row per (tenant, sending domain, UTC hour) in ``delivery_stats``.

What each counter means (docs/sending.md, "Statistics"):

- ``sent`` (the seed's ``emailsSent``): recipients accepted into the queue for delivery,
  counted when they are queued (``sending/queue.enqueue_many``): a message to three
  recipients counts three. Recipients withheld at once because they are suppressed count
  as ``suppressed``, not ``sent``. ``last_sent_at`` (``lastSentAt``) is the latest such
  acceptance.
- ``delivered``, ``deferred`` (each deferral of each delivery), ``bounced_hard``,
  ``bounced_soft``, ``suppressed``, ``failed``: outcomes, counted when recorded
  (``delivery/observers``), in the hour they were recorded.

The platform's own mail (DSNs, no tenant) is not counted. Every batch adds with one
``INSERT ... ON CONFLICT DO UPDATE SET n = n + excluded.n`` per table, keys aggregated in
Python first, so concurrent workers and API processes never lose a count.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import case, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from mailplane.delivery.classification import kind_of
from mailplane.models import Delivery, DeliveryStat, OutboundMessage
from mailplane.models.statuses import DeliveryStatus
from mailplane.suppressions.policy import Settled

COUNTERS = ("sent", "delivered", "deferred", "bounced_hard", "bounced_soft", "suppressed", "failed")
Key = tuple[int, int, datetime]  # tenant, domain (0: none), hour


def hour_of(at: datetime) -> datetime:
    return at.replace(minute=0, second=0, microsecond=0)


_UPSERTS: dict[str, Any] = {}


def _upsert(dialect: str) -> Any:
    """The statement, built once per dialect: executed with a list of rows, it is
    compiled once and cached (a multi-VALUES statement built per call cost ~0.8 ms)."""
    if dialect not in _UPSERTS:
        module = postgresql if dialect == "postgresql" else sqlite
        statement = module.insert(DeliveryStat)
        table = DeliveryStat.__table__.c
        excluded = statement.excluded
        updates: dict[str, Any] = {name: table[name] + excluded[name] for name in COUNTERS}
        updates["last_sent_at"] = case(
            (table.last_sent_at.is_(None), excluded.last_sent_at),
            (excluded.last_sent_at > table.last_sent_at, excluded.last_sent_at),
            else_=table.last_sent_at,
        )
        _UPSERTS[dialect] = statement.on_conflict_do_update(
            index_elements=[DeliveryStat.tenant_id, DeliveryStat.domain_id, DeliveryStat.bucket],
            set_=updates,
        )
    return _UPSERTS[dialect]


def add(
    session: Session,
    counts: dict[Key, dict[str, int]],
    last_sent: dict[Key, datetime] | None = None,
) -> None:
    """Add the counts, one row per key (keys are distinct: PostgreSQL refuses to update
    one row twice in one statement)."""
    if not counts:
        return
    last_sent = last_sent or {}
    rows: list[dict[str, Any]] = []
    for (tenant_id, domain_id, bucket), values in sorted(counts.items()):
        row: dict[str, Any] = {"tenant_id": tenant_id, "domain_id": domain_id, "bucket": bucket}
        row.update({name: values.get(name, 0) for name in COUNTERS})
        row["last_sent_at"] = last_sent.get((tenant_id, domain_id, bucket))
        rows.append(row)
    session.execute(_upsert(session.get_bind().dialect.name), rows)


def record_accepted(
    session: Session, accepted: Sequence[tuple[int | None, int | None, int]], now: datetime
) -> None:
    """(tenant, domain, recipients queued) per message, accepted at ``now``."""
    counts: dict[Key, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    last: dict[Key, datetime] = {}
    for tenant_id, domain_id, recipients in accepted:
        if tenant_id is None or not recipients:
            continue
        key = (tenant_id, domain_id or 0, hour_of(now))
        counts[key]["sent"] += recipients
        last[key] = now
    add(session, counts, last)


def counter_of(settled: Settled) -> str | None:
    status = settled.status
    if status == DeliveryStatus.BOUNCED:
        return "bounced_hard" if kind_of(settled)[0] == "hard" else "bounced_soft"
    if status in (
        DeliveryStatus.DELIVERED,
        DeliveryStatus.DEFERRED,
        DeliveryStatus.SUPPRESSED,
        DeliveryStatus.FAILED,
    ):
        return status.value
    return None


def record_outcomes(session: Session, settled: Sequence[Settled], now: datetime) -> None:
    """The observer: count each outcome under its delivery's tenant and domain."""
    named = {s.delivery_id: counter_of(s) for s in settled}
    ids = [i for i, name in named.items() if name]
    if not ids:
        return
    counts: dict[Key, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    rows = session.execute(
        select(Delivery.id, Delivery.tenant_id, OutboundMessage.domain_id)
        .join(OutboundMessage, OutboundMessage.id == Delivery.message_id)
        .where(Delivery.id.in_(ids), Delivery.tenant_id.is_not(None))
    )
    bucket = hour_of(now)
    for delivery_id, tenant_id, domain_id in rows:
        name = named[delivery_id]
        if name is not None and tenant_id is not None:
            counts[(tenant_id, domain_id or 0, bucket)][name] += 1
    add(session, counts)
