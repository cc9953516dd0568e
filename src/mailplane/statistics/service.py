"""Reading the counters: a tenant's or a domain's series by hour or day, zero-filled."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.orm import Session

from mailplane.errors import InvalidInput
from mailplane.models import DeliveryStat, utcnow
from mailplane.statistics.counters import COUNTERS, hour_of

Granularity = Literal["hour", "day"]
STEP = {"hour": timedelta(hours=1), "day": timedelta(days=1)}
DEFAULT_SPAN = {"hour": timedelta(hours=24), "day": timedelta(days=30)}
MAX_BUCKETS = 24 * 31 + 1


@dataclass(frozen=True)
class Series:
    granularity: Granularity
    since: datetime
    until: datetime
    totals: dict[str, int]
    buckets: list[dict[str, Any]]
    last_sent_at: datetime | None


def _floor(at: datetime, granularity: Granularity) -> datetime:
    at = hour_of(at if at.tzinfo else at.replace(tzinfo=UTC)).astimezone(UTC)
    return at.replace(hour=0) if granularity == "day" else at


def series(
    session: Session,
    scope: ColumnElement[bool],
    granularity: Granularity,
    since: datetime | None,
    until: datetime | None,
) -> Series:
    """Counters of the rows in ``scope`` from ``since`` (floored to its hour or day) up to
    ``until`` (exclusive), one bucket per step."""
    step = STEP[granularity]
    end = (
        _floor(until or utcnow(), granularity) + step
        if until is None
        else _floor(until, granularity)
    )
    start = _floor(since, granularity) if since else end - DEFAULT_SPAN[granularity]
    if start >= end:
        raise InvalidInput("since must be before until", code="invalid_range")
    if (end - start) / step > MAX_BUCKETS:
        raise InvalidInput(
            f"at most {MAX_BUCKETS} {granularity}s per request", code="range_too_large"
        )
    rows = session.execute(
        select(DeliveryStat.bucket, *(func.sum(getattr(DeliveryStat, c)) for c in COUNTERS))
        .where(scope, DeliveryStat.bucket >= start, DeliveryStat.bucket < end)
        .group_by(DeliveryStat.bucket)
    )
    by_start: dict[datetime, dict[str, int]] = {}
    for row in rows:
        bucket, values = row[0], row[1:]
        key = _floor(bucket, granularity)
        into = by_start.setdefault(key, dict.fromkeys(COUNTERS, 0))
        for name, value in zip(COUNTERS, values, strict=True):
            into[name] += int(value or 0)
    buckets: list[dict[str, Any]] = []
    totals = dict.fromkeys(COUNTERS, 0)
    at = start
    while at < end:
        counts = by_start.get(at, dict.fromkeys(COUNTERS, 0))
        buckets.append({"start": at, **counts})
        for name in COUNTERS:
            totals[name] += counts[name]
        at += step
    last = session.scalar(select(func.max(DeliveryStat.last_sent_at)).where(scope))
    return Series(granularity, start, end, totals, buckets, last)
