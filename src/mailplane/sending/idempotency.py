"""``Idempotency-Key``: the first answer again for the same key and body, 409 for another.

The record is inserted in the transaction that enqueues, so the unique constraint on
(api_key_id, key) decides between two concurrent requests: the second one's insert fails
(on PostgreSQL it waits for the first to commit; SQLite has one writer at a time), its
transaction rolls back with whatever it enqueued, and it answers the winner's record.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from mailplane.errors import Conflict, InvalidInput
from mailplane.models import IdempotencyRecord
from mailplane.names import reject_control_characters

MAX_KEY_LENGTH = 255


@dataclass(frozen=True)
class Replay:
    status_code: int
    body: dict[str, Any]


def check_key(key: str) -> str:
    reject_control_characters(key, "Idempotency-Key")
    key = key.strip()
    if not key or len(key) > MAX_KEY_LENGTH:
        raise InvalidInput(
            f"an Idempotency-Key has 1 to {MAX_KEY_LENGTH} characters",
            code="invalid_idempotency_key",
        )
    return key


def request_hash(path: str, body: Any) -> str:
    canonical = json.dumps([path, body], sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


def find(
    session: Session, api_key_id: int, key: str, body_hash: str, now: datetime
) -> Replay | None:
    """The stored answer to replay, None to go ahead, or 409 for another body."""
    record = session.scalar(
        select(IdempotencyRecord).where(
            IdempotencyRecord.api_key_id == api_key_id, IdempotencyRecord.key == key
        )
    )
    if record is None:
        return None
    if record.expires_at <= now:
        session.delete(record)
        session.flush()
        return None
    if record.request_hash != body_hash:
        raise Conflict(
            "this Idempotency-Key was used for a different request",
            code="idempotency_conflict",
        )
    return Replay(record.status_code, record.response)


def remember(
    session: Session,
    api_key_id: int,
    key: str,
    body_hash: str,
    status_code: int,
    response: dict[str, Any],
    now: datetime,
    hours: float,
) -> None:
    session.add(
        IdempotencyRecord(
            api_key_id=api_key_id,
            key=key,
            request_hash=body_hash,
            status_code=status_code,
            response=response,
            created_at=now,
            expires_at=now + timedelta(hours=hours),
        )
    )
    session.flush()


def clean_up(session: Session, now: datetime) -> None:
    session.execute(delete(IdempotencyRecord).where(IdempotencyRecord.expires_at < now))
