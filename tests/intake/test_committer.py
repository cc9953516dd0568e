"""Group commit: concurrent handovers share commits, and each learns its own message ids."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import timedelta

from sqlalchemy import select

from mailplane.config import Settings
from mailplane.db import Database
from mailplane.intake.committer import Committer, store
from mailplane.intake.handover import Handover
from mailplane.intake.receipts import KEEP, already_queued, forget_old, queue_key
from mailplane.models import Delivery, OutboundMessage, utcnow


def test_concurrent_handovers_are_each_committed_once(
    database: Database, settings: Settings, uid: str
) -> None:
    handovers = [
        Handover(
            mail_from=f"s{n}@sender.test",
            recipients=[f"r{n}-{uid}@outside.test", f"q{n}-{uid}@outside.test"],
            raw=f"From: s{n}@sender.test\r\nSubject: gc-{uid}-{n}\r\n\r\nbody\r\n".encode(),
        )
        for n in range(25)
    ]

    async def run() -> list[str]:
        committer = Committer(database, settings)
        worker = asyncio.create_task(committer.run())
        try:
            return await asyncio.gather(*(committer.queue_message(h) for h in handovers))
        finally:
            worker.cancel()

    ids = asyncio.run(run())
    assert len(set(ids)) == len(handovers)
    with database.transaction() as session:
        for n, message_id in enumerate(ids):
            message = session.get(OutboundMessage, message_id)
            assert message is not None
            assert message.subject == f"gc-{uid}-{n}"
            recipients = session.scalars(
                select(Delivery.recipient).where(Delivery.message_id == message_id)
            ).all()
            assert sorted(recipients) == sorted(handovers[n].recipients)


def test_a_handover_repeated_after_a_lost_reply_is_queued_once(
    database: Database, settings: Settings, uid: str
) -> None:
    """Postfix hands a message over again when the intake committed it but died before
    its 250; with the same queue id (XFORWARD IDENT) nothing is queued twice, and a
    recipient not taken the first time is still queued."""
    first = Handover(
        mail_from="s@sender.test",
        recipients=[f"a-{uid}@outside.test"],
        raw=f"From: s@sender.test\r\nSubject: again-{uid}\r\n\r\nbody\r\n".encode(),
        ident=f"4Q{uid}",
    )
    (first_ids,) = store(database, settings, [first])
    (again_ids,) = store(database, settings, [first])
    assert again_ids == first_ids
    wider = replace(first, recipients=[f"a-{uid}@Outside.TEST", f"b-{uid}@outside.test"])
    (wider_ids,) = store(database, settings, [wider])
    assert wider_ids.split(",")[0] == first_ids
    with database.transaction() as session:
        recipients = session.scalars(
            select(Delivery.recipient)
            .join(OutboundMessage, OutboundMessage.id == Delivery.message_id)
            .where(OutboundMessage.subject == f"again-{uid}")
        ).all()
    assert sorted(recipients) == [f"a-{uid}@outside.test", f"b-{uid}@outside.test"]

    # Long after Postfix could retry, the receipts go.
    with database.transaction() as session:
        assert forget_old(session, utcnow() + KEEP + timedelta(seconds=1)) >= 2
        assert already_queued(session, queue_key(settings, f"4Q{uid}"), recipients) == {}
