"""Admission against the limits: GCRA (the generic cell rate algorithm) per bucket.

A limit of ``rate`` per ``period_seconds`` emits one delivery every ``T = period/rate``
seconds; ``burst`` of them may go at once (tolerance ``(burst - 1) * T``). Each bucket
keeps its theoretical arrival time ``tat``: a delivery conforms when ``tat - now <=
tolerance``, and sending it moves ``tat`` to ``max(tat, now) + T``. A delivery goes only
when every bucket it falls into conforms; then all of them advance.

The buckets live in ``throttle_buckets`` and are read ``FOR UPDATE`` (PostgreSQL; SQLite
has one writer) in sorted ``(limit_id, key)`` order inside the admission transaction, so a
limit holds across every worker on every machine. One SELECT and one executemany UPDATE
per claimed batch; the rows are created on first use.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import cast

from sqlalchemy import Table, and_, bindparam, select, text, tuple_, update
from sqlalchemy.orm import Session

from mailplane.delivery.candidates import Candidate, Wait
from mailplane.models import ThrottleBucket
from mailplane.throttling.rules import LimitRule

buckets = cast(Table, ThrottleBucket.__table__)

BucketKey = tuple[int, str]  # (limit id, key)

# Bucket rows known to exist (they are only removed with their limit): no INSERT for them.
_known: set[BucketKey] = set()


def host_matches(name: str, pattern: str) -> bool:
    """``example.com`` is that name; ``*.example.com`` and ``.example.com`` are the names
    below it (not the name itself)."""
    name = name.lower().rstrip(".")
    pattern = pattern.lower().rstrip(".")
    if pattern.startswith("*."):
        pattern = pattern[1:]
    if pattern.startswith("."):
        return name.endswith(pattern) and len(name) > len(pattern)
    return name == pattern


def destination_matches(limit: LimitRule, domain: str, mx_hosts: Iterable[str]) -> bool:
    if any(host_matches(domain, p) for p in limit.domains):
        return True
    return any(host_matches(host, p) for host in mx_hosts for p in limit.mx_hosts)


def bucket_keys(candidate: Candidate, limits: Sequence[LimitRule]) -> list[tuple[LimitRule, str]]:
    """The limits that apply to one delivery, each with its bucket key."""
    found: list[tuple[LimitRule, str]] = []
    own_periods = {
        limit.period_seconds
        for limit in limits
        if limit.scope == "tenant" and limit.tenant_id is not None
        and limit.tenant_id == candidate.tenant_id
    }  # fmt: skip
    for limit in limits:
        if limit.scope == "global":
            found.append((limit, ""))
        elif limit.scope == "tenant":
            if candidate.tenant_id is None:
                continue
            if limit.tenant_id == candidate.tenant_id or (
                limit.tenant_id is None and limit.period_seconds not in own_periods
            ):
                found.append((limit, str(candidate.tenant_id)))
        elif limit.scope == "destination":
            if destination_matches(limit, candidate.recipient_domain, candidate.mx_hosts):
                key = candidate.recipient_domain.lower() if limit.per_domain else ""
                found.append((limit, key))
        elif limit.scope == "route" and (
            limit.route_id is not None and limit.route_id == candidate.route_id
        ):
            found.append((limit, ""))
    return found


@dataclass
class Bucket:
    tat: float
    window_start: int
    window_count: int
    previous_count: int
    next_slot: float = 0.0
    changed: bool = False

    def roll(self, period: int, epoch: float) -> None:
        """Move the usage window to the one ``epoch`` falls in."""
        start = int(epoch // period) * period
        if start != self.window_start:
            self.previous_count = self.window_count if start - self.window_start == period else 0
            self.window_count = 0
            self.window_start = start


def used(bucket: Bucket, period: int, epoch: float) -> int:
    """A sliding estimate of the deliveries in the last ``period``: the previous window's
    count weighted by how much of it still overlaps, plus the current window's."""
    state = Bucket(bucket.tat, bucket.window_start, bucket.window_count, bucket.previous_count)
    state.roll(period, epoch)
    elapsed = epoch - state.window_start
    return math.ceil(state.previous_count * (period - elapsed) / period + state.window_count)


# Created only while the limit exists: a limit deleted since the worker's policy was read
# (it reloads every second) has no buckets, and no foreign key error fails the batch.
# ON CONFLICT: another worker created it first (SQLite >= 3.24 and PostgreSQL; SQLite
# wants the WHERE in an INSERT ... SELECT with an upsert clause).
_CREATE = text(
    'INSERT INTO throttle_buckets (limit_id, "key", tat, window_start, window_count, '
    "previous_count, next_slot) "
    "SELECT id, :key, 0, 0, 0, 0, 0 FROM throttle_limits WHERE id = :limit_id "
    'ON CONFLICT (limit_id, "key") DO NOTHING'
)


def _create(session: Session, keys: list[BucketKey]) -> None:
    session.execute(_CREATE, [{"limit_id": limit_id, "key": key} for limit_id, key in keys])


def _select(session: Session, keys: list[BucketKey]) -> dict[BucketKey, Bucket]:
    rows = session.execute(
        select(
            buckets.c.limit_id,
            buckets.c.key,
            buckets.c.tat,
            buckets.c.window_start,
            buckets.c.window_count,
            buckets.c.previous_count,
            buckets.c.next_slot,
        )
        .where(tuple_(buckets.c.limit_id, buckets.c.key).in_(keys))
        .order_by(buckets.c.limit_id, buckets.c.key)
        .with_for_update()
    )
    return {(r[0], r[1]): Bucket(float(r[2]), r[3], r[4], r[5], float(r[6])) for r in rows}


def _load(session: Session, keys: list[BucketKey]) -> dict[BucketKey, Bucket]:
    missing = [k for k in keys if k not in _known]
    if missing:
        # Sorted like the locks below, so two workers creating rows cannot deadlock.
        _create(session, missing)
    loaded = _select(session, keys)
    gone = [k for k in keys if k not in loaded and k in _known]
    if gone:
        # A limit deleted and its id given again (SQLite reuses ids): create them anew.
        _known.difference_update(gone)
        _create(session, gone)
        loaded.update(_select(session, gone))
    _known.update(loaded)
    return loaded


def admit(
    session: Session, candidates: Sequence[Candidate], limits: Sequence[LimitRule], now: datetime
) -> dict[int, Wait]:
    """The deliveries that must wait (by delivery id); the others have been counted."""
    applying = {c.delivery_id: bucket_keys(c, limits) for c in candidates}
    keys = sorted({(limit.id, key) for found in applying.values() for limit, key in found})
    if not keys:
        return {}
    state = _load(session, keys)
    epoch = now.timestamp()
    waits: dict[int, Wait] = {}
    for candidate in candidates:
        found = applying[candidate.delivery_id]
        blocked: list[tuple[float, int]] = []  # (until, limit id)
        # A limit deleted since the policy was read has no bucket: it no longer applies.
        found = [(limit, key) for limit, key in found if (limit.id, key) in state]
        applying[candidate.delivery_id] = found
        for limit, key in found:
            bucket = state[(limit.id, key)]
            interval = limit.period_seconds / limit.rate
            tolerance = (limit.burst - 1) * interval
            if bucket.tat - epoch > tolerance:
                # Each one put back takes the next free slot, an interval after the one
                # before (across batches and workers): they come back due at about the
                # rate they may go, not all at once to be claimed and put back again.
                slot = max(bucket.next_slot, bucket.tat - tolerance)
                bucket.next_slot = slot + interval
                bucket.changed = True
                blocked.append((slot, limit.id))
        if blocked:
            until, limit_id = max(blocked)
            waits[candidate.delivery_id] = Wait(
                until=datetime.fromtimestamp(until, UTC), held_by=f"limit:{limit_id}"
            )
            continue
        for limit, key in found:
            bucket = state[(limit.id, key)]
            bucket.tat = max(bucket.tat, epoch) + limit.period_seconds / limit.rate
            bucket.roll(limit.period_seconds, epoch)
            bucket.window_count += 1
            bucket.changed = True
    changed = [
        {"b_limit": limit_id, "b_key": key, "b_tat": b.tat, "b_start": b.window_start,
         "b_count": b.window_count, "b_previous": b.previous_count, "b_slot": b.next_slot}
        for (limit_id, key), b in state.items()
        if b.changed
    ]  # fmt: skip
    if changed:
        session.execute(
            update(buckets)
            .where(
                and_(
                    buckets.c.limit_id == bindparam("b_limit"), buckets.c.key == bindparam("b_key")
                )
            )
            .values(
                tat=bindparam("b_tat"),
                window_start=bindparam("b_start"),
                window_count=bindparam("b_count"),
                previous_count=bindparam("b_previous"),
                next_slot=bindparam("b_slot"),
            ),
            changed,
        )
    return waits
