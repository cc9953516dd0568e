"""Login throttling: fixed-window failure counters per client IP and per account.

The counters live in the database so that every API process sees the same numbers.
They are written in their own short transaction, so a failed login counts even though
the request itself ends in an error and rolls back.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from mailplane.errors import Throttled
from mailplane.models import ThrottleCounter, utcnow


def _retry_after(counter: ThrottleCounter, window: int, now: datetime) -> int:
    remaining = counter.window_start + timedelta(seconds=window) - now
    return max(1, int(remaining.total_seconds()) + 1)


def check(session: Session, keys: list[tuple[str, int]], window: int) -> None:
    """Raise Throttled when any key has used up its failures in the current window."""
    now = utcnow()
    for key, limit in keys:
        counter = session.get(ThrottleCounter, key)
        if counter is None or counter.window_start + timedelta(seconds=window) <= now:
            continue
        if counter.count >= limit:
            raise Throttled(
                "too many failed logins; try again later",
                retry_after=_retry_after(counter, window, now),
            )


def record_failure(session: Session, keys: list[str], window: int) -> None:
    now = utcnow()
    for key in keys:
        counter = session.get(ThrottleCounter, key)
        if counter is None:
            session.add(ThrottleCounter(key=key, window_start=now, count=1))
        elif counter.window_start + timedelta(seconds=window) <= now:
            counter.window_start = now
            counter.count = 1
        else:
            counter.count += 1


def clear(session: Session, keys: list[str]) -> None:
    for key in keys:
        counter = session.get(ThrottleCounter, key)
        if counter is not None:
            session.delete(counter)
