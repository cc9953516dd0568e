"""Group commit: concurrent handovers share commits, and each learns its own message ids."""

from __future__ import annotations

import asyncio

from sqlalchemy import select

from mailplane.config import Settings
from mailplane.db import Database
from mailplane.intake.committer import Committer
from mailplane.intake.handover import Handover
from mailplane.models import Delivery, OutboundMessage


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
