"""Send rate limits per domain and per key, counted in recipients, across every process.

Each scope (``domain:7``, ``key:3``) has one row per fixed hour window; a request adds its
recipients with one atomic upsert (``INSERT ... ON CONFLICT DO UPDATE ... RETURNING``,
SQLite >= 3.35 and PostgreSQL), inside the transaction that enqueues. Over the limit, the
caller raises and the whole transaction rolls back: the refused request counts nothing and
enqueues nothing. The limit is checked against a sliding-window estimate: the previous
window's count, weighted by how much of it still overlaps the last hour, plus the current.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from mailplane.errors import RateLimited
from mailplane.models import RateCounter

WINDOW_SECONDS = 3600


@dataclass(frozen=True)
class Limit:
    scope: str  # "domain:<id>" or "key:<id>"
    per_hour: int


@dataclass(frozen=True)
class Usage:
    limit: int
    remaining: int
    reset_seconds: int  # until the current window ends

    def headers(self) -> dict[str, str]:
        return {
            "RateLimit-Limit": str(self.limit),
            "RateLimit-Remaining": str(self.remaining),
            "RateLimit-Reset": str(self.reset_seconds),
        }


def _upsert(session: Session, scope: str, window_start: int, count: int) -> int:
    dialect = session.get_bind().dialect.name
    module = postgresql if dialect == "postgresql" else sqlite
    statement = module.insert(RateCounter).values(
        scope=scope, window_start=window_start, count=count
    )
    statement = statement.on_conflict_do_update(
        index_elements=[RateCounter.scope, RateCounter.window_start],
        set_={"count": RateCounter.count + statement.excluded.count},
    ).returning(RateCounter.count)
    return int(session.execute(statement).scalar_one())


def _retry_after(limit: int, previous: int, before: int, count: int, elapsed: float) -> int:
    """Seconds until ``count`` more would fit, given what this window held before."""
    room = limit - before - count
    if previous and room >= 0:
        # Still in this window, once enough of the previous one has slid out.
        wait = (WINDOW_SECONDS - elapsed) - WINDOW_SECONDS * room / previous
        return max(1, math.ceil(wait))
    if limit - count < 0:
        return WINDOW_SECONDS  # more recipients than the limit: never, so say an hour
    to_next = WINDOW_SECONDS - elapsed
    # In the next window this one is the previous: wait until enough of it slid out.
    slide = WINDOW_SECONDS * (1 - (limit - count) / before) if before else 0.0
    return max(1, math.ceil(to_next + max(0.0, slide)))


def consume(session: Session, limits: list[Limit], count: int, now: datetime) -> Usage:
    """Add ``count`` recipients to every scope; raise RateLimited when one is over.
    Returns the tightest scope's usage for the RateLimit-* headers."""
    epoch = now.timestamp()
    window_start = int(epoch // WINDOW_SECONDS) * WINDOW_SECONDS
    elapsed = epoch - window_start
    reset = max(1, math.ceil(WINDOW_SECONDS - elapsed))
    tightest: Usage | None = None
    for limit in limits:
        current = _upsert(session, limit.scope, window_start, count)
        previous = (
            session.scalar(
                select(RateCounter.count).where(
                    RateCounter.scope == limit.scope,
                    RateCounter.window_start == window_start - WINDOW_SECONDS,
                )
            )
            or 0
        )
        estimate = previous * (WINDOW_SECONDS - elapsed) / WINDOW_SECONDS + current
        if estimate > limit.per_hour:
            before = current - count
            retry = _retry_after(limit.per_hour, previous, before, count, elapsed)
            already = previous * (WINDOW_SECONDS - elapsed) / WINDOW_SECONDS + before
            usage = Usage(limit.per_hour, max(0, math.floor(limit.per_hour - already)), reset)
            raise RateLimited(
                f"over the send limit of {limit.per_hour} recipients per hour "
                f"({limit.scope.split(':')[0]}); retry in {retry} s",
                retry_after=retry,
                headers=usage.headers(),
            )
        usage = Usage(limit.per_hour, max(0, math.floor(limit.per_hour - estimate)), reset)
        if tightest is None or usage.remaining < tightest.remaining:
            tightest = usage
    assert tightest is not None
    return tightest


def clean_up(session: Session, now: datetime) -> None:
    """Windows older than the previous one are never read again."""
    window_start = int(now.timestamp() // WINDOW_SECONDS) * WINDOW_SECONDS
    session.execute(
        delete(RateCounter).where(RateCounter.window_start < window_start - WINDOW_SECONDS)
    )
