"""Deliveries of a list's message to someone who left that list: withheld like those to
suppressed addresses (status ``suppressed``, never attempted, the reason in the reply).

Asked only for messages that carry a list id, so mail without one costs nothing here.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from mailplane.models import ListUnsubscribe
from mailplane.suppressions import policy, recording

IN_CHUNK = 500


def left_reply(list_id: str) -> str:
    return f"5.7.0 not sent: the recipient unsubscribed from the list {list_id}"


def who_left(session: Session, tenant_id: int, list_id: str, addresses: Iterable[str]) -> set[str]:
    """Which of these (lower-case) addresses left the tenant's list."""
    wanted = sorted({a.lower() for a in addresses})
    found: set[str] = set()
    for start in range(0, len(wanted), IN_CHUNK):
        found.update(
            session.scalars(
                select(ListUnsubscribe.address).where(
                    ListUnsubscribe.tenant_id == tenant_id,
                    ListUnsubscribe.list_id == list_id,
                    ListUnsubscribe.address.in_(wanted[start : start + IN_CHUNK]),
                )
            )
        )
    return found


def withhold(
    session: Session,
    # (delivery id, tenant id, list id, recipient) of deliveries of list messages
    deliveries: Iterable[tuple[int, int | None, str | None, str]],
    now: datetime,
) -> set[int]:
    """Marks the deliveries whose recipient left the list, tells the observers, returns
    their ids."""
    replies = to_withhold(session, deliveries)
    mark(session, replies, now)
    return set(replies)


def mark(session: Session, replies: dict[int, str], now: datetime) -> None:
    if replies:
        recording.record(session, policy.mark_withheld(session, replies, now), now)


def to_withhold(
    session: Session, deliveries: Iterable[tuple[int, int | None, str | None, str]]
) -> dict[int, str]:
    """Of these deliveries, those whose recipient left the list: id → the reply."""
    groups: dict[tuple[int, str], list[tuple[int, str]]] = {}
    for delivery_id, tenant_id, list_id, recipient in deliveries:
        if tenant_id is not None and list_id is not None:
            groups.setdefault((tenant_id, list_id), []).append((delivery_id, recipient.lower()))
    replies: dict[int, str] = {}
    for (tenant_id, list_id), members in groups.items():
        left = who_left(session, tenant_id, list_id, (r for _, r in members))
        replies.update({d: left_reply(list_id) for d, r in members if r in left})
    return replies
