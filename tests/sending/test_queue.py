"""The one way into the queue: a message stored once, one due delivery per recipient."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from mailplane.db import Database
from mailplane.models import Delivery, OutboundMessage, utcnow
from mailplane.models.statuses import DeliveryStatus, MessageSource
from mailplane.sending.queue import NewMessage, enqueue, enqueue_many


def _message(recipients: list[str], **extra: object) -> NewMessage:
    return NewMessage(
        raw=b"From: a@sender.test\r\nSubject: hi\r\n\r\nbody\r\n",
        recipients=recipients,
        source=MessageSource.API,
        message_id_header="<x@sender.test>",
        tenant_id=None,
        **extra,  # type: ignore[arg-type]
    )


def test_one_message_many_deliveries(database: Database) -> None:
    with database.transaction() as session:
        queued = enqueue(session, _message(["a@one.test", "b@two.test"]))
    with database.transaction() as session:
        message = session.get(OutboundMessage, queued.message_id)
        assert message is not None
        assert message.size == len(message.raw)
        rows = list(session.scalars(select(Delivery).where(Delivery.message_id == message.id)))
    assert sorted((r.recipient, r.recipient_domain, r.status) for r in rows) == [
        ("a@one.test", "one.test", DeliveryStatus.QUEUED),
        ("b@two.test", "two.test", DeliveryStatus.QUEUED),
    ]
    assert [recipient for recipient, _ in queued.deliveries] == ["a@one.test", "b@two.test"]
    assert {row.id for row in rows} == {delivery_id for _, delivery_id in queued.deliveries}
    assert all(row.next_attempt_at is not None for row in rows)


def test_scheduled_and_batched(database: Database) -> None:
    later = utcnow() + timedelta(hours=1)
    with database.transaction() as session:
        results = enqueue_many(
            session, [_message(["x@one.test"], send_at=later), _message(["y@one.test"] * 3)]
        )
    assert [len(r.deliveries) for r in results] == [1, 3]
    with database.transaction() as session:
        first = session.get(Delivery, results[0].deliveries[0][1])
        assert first is not None
        assert first.next_attempt_at is not None
        assert abs((first.next_attempt_at - later).total_seconds()) < 1
