"""The write half of a send: idempotency, rate limits and the queue in ONE transaction.

Answered 2xx means committed: the endpoint answers only after this returns. Anything
raised inside rolls the whole transaction back, so a refused request (over the limit,
an idempotency conflict) has counted and enqueued nothing.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from mailplane.config import Settings
from mailplane.db import Database
from mailplane.sending import idempotency, rate_limits
from mailplane.sending.key_auth import SendKey, touch_if_due
from mailplane.sending.queue import NewMessage, Queued, enqueue_many, suppressed_recipients
from mailplane.sending.rate_limits import Limit, Usage
from mailplane.suppressions import policy as suppressions

CLEANUP_INTERVAL_SECONDS = 300.0
_last_cleanup = 0.0
_cleanup_lock = threading.Lock()


@dataclass(frozen=True)
class IdempotencyKey:
    key: str
    request_hash: str


@dataclass(frozen=True)
class Answer:
    status_code: int
    body: dict[str, Any]
    usage: Usage | None = None
    replayed: bool = False

    def headers(self) -> dict[str, str]:
        headers = self.usage.headers() if self.usage else {}
        if self.replayed:
            headers["Idempotent-Replayed"] = "true"
        return headers


def _clean_up_if_due(session: Session, settings: Settings, now: datetime) -> None:
    """Expired idempotency records and old rate windows go, at most every few minutes
    per process, inside a send transaction (no scheduler needed, nothing grows forever)."""
    global _last_cleanup
    with _cleanup_lock:
        if time.monotonic() - _last_cleanup < CLEANUP_INTERVAL_SECONDS:
            return
        _last_cleanup = time.monotonic()
    rate_limits.clean_up(session, now)
    idempotency.clean_up(session, now)
    suppressions.sweep(session, settings, now)


def limits_for(key: SendKey, settings: Settings) -> list[Limit]:
    domain_limit = key.tenant_rate_per_hour or settings.send_rate_per_hour
    limits = [Limit(f"domain:{key.domain_id}", domain_limit)]
    if key.is_form:
        # Public keys: never above the form limit, whatever the key says.
        own = min(
            key.rate_limit_per_hour or settings.form_key_rate_per_hour,
            settings.form_key_rate_per_hour,
        )
        limits.append(Limit(f"key:{key.id}", own))
    elif key.rate_limit_per_hour is not None:
        limits.append(Limit(f"key:{key.id}", key.rate_limit_per_hour))
    return limits


def commit(
    database: Database,
    settings: Settings,
    key: SendKey,
    messages: Sequence[NewMessage],
    answer: Callable[[list[Queued]], tuple[int, dict[str, Any]]],
    *,
    now: datetime,
    idempotency_key: IdempotencyKey | None = None,
) -> Answer:
    """Enqueue ``messages`` and return ``answer`` of what was queued (stored for replays)."""
    recipients = sum(len(m.recipients) for m in messages)
    # A read, before the write transaction: SQLite's write lock is held the shorter.
    with database.session(write=False) as reader:
        suppressed = suppressed_recipients(reader, messages, now)
    for attempt in (1, 2):
        try:
            with database.transaction() as session:
                if idempotency_key is not None:
                    replay = idempotency.find(
                        session, key.id, idempotency_key.key, idempotency_key.request_hash, now
                    )
                    if replay is not None:
                        return Answer(replay.status_code, replay.body, replayed=True)
                touch_if_due(session, key, now)
                _clean_up_if_due(session, settings, now)
                status_code, body = answer(
                    enqueue_many(session, messages, now=now, suppressed=suppressed)
                )
                if idempotency_key is not None:
                    idempotency.remember(
                        session,
                        key.id,
                        idempotency_key.key,
                        idempotency_key.request_hash,
                        status_code,
                        body,
                        now,
                        settings.idempotency_hours,
                    )
                # Last, just before the commit: every send of a domain updates the same
                # counter row, and PostgreSQL holds its lock until the commit, so the
                # shorter the rest of the transaction after it, the more sends per second.
                # Over the limit, the whole transaction (the messages too) rolls back.
                usage = (
                    rate_limits.consume(session, limits_for(key, settings), recipients, now)
                    if recipients
                    else None
                )
                return Answer(status_code, body, usage)
        except IntegrityError:
            # A concurrent request with the same Idempotency-Key committed first: this
            # transaction is rolled back; the next turn answers the winner's record.
            if idempotency_key is None or attempt == 2:
                raise
    raise AssertionError("unreachable")
