"""Group commit for the intake: handovers that arrive while a commit is running are
committed together in the next one, and each SMTP session gets its 250 only after the
commit that holds its message. A lone message waits for nobody; under load one fsync
serves many messages (measured in bench/intake.py)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import replace

from sqlalchemy.orm import Session

from mailplane.config import Settings
from mailplane.db import Database
from mailplane.intake.handover import Handover, envelope_recipient, to_messages
from mailplane.intake.receipts import already_queued, queue_key, record
from mailplane.sending.queue import enqueue_many

log = logging.getLogger(__name__)

# Bounded so that one commit stays short and one bad message retries few others alone.
MAX_BATCH = 100


def _store_one(session: Session, settings: Settings, handover: Handover) -> str:
    key = queue_key(settings, handover.ident) if handover.ident else None
    recipients = [envelope_recipient(r) for r in handover.recipients]
    taken = already_queued(session, key, recipients) if key else {}
    pairs = zip(handover.recipients, recipients, strict=True)
    remaining = [given for given, recipient in pairs if recipient not in taken]
    message_ids = list(dict.fromkeys(taken.values()))
    if remaining:
        handover = replace(handover, recipients=remaining)
        for queued in enqueue_many(session, to_messages(session, settings, handover)):
            message_ids.append(queued.message_id)
            if key:
                record(session, key, ((r, queued.message_id) for r, _ in queued.deliveries))
    return ",".join(message_ids)


def store(database: Database, settings: Settings, handovers: Sequence[Handover]) -> list[str]:
    """One transaction for all the handovers: per handover, the ids it was queued as
    (recipients Postfix already handed over before are not queued again)."""
    with database.transaction() as session:
        return [_store_one(session, settings, handover) for handover in handovers]


class Committer:
    def __init__(self, database: Database, settings: Settings) -> None:
        self.database = database
        self.settings = settings
        self.pending: asyncio.Queue[tuple[Handover, asyncio.Future[str]]] = asyncio.Queue()

    async def queue_message(self, handover: Handover) -> str:
        """Resolves once the handover is committed; raises if it could not be."""
        done: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        self.pending.put_nowait((handover, done))
        return await done

    async def run(self) -> None:
        while True:
            batch = [await self.pending.get()]
            while len(batch) < MAX_BATCH and not self.pending.empty():
                batch.append(self.pending.get_nowait())
            try:
                await self._commit(batch)
            finally:
                for _ in batch:
                    self.pending.task_done()

    async def drained(self) -> None:
        """Returns once every handover received so far is committed (or refused)."""
        await self.pending.join()

    async def _commit(self, batch: list[tuple[Handover, asyncio.Future[str]]]) -> None:
        handovers = [handover for handover, _ in batch]
        try:
            ids = await asyncio.to_thread(store, self.database, self.settings, handovers)
        except Exception:
            if len(batch) == 1:
                log.exception("could not queue a message from Postfix")
                batch[0][1].set_exception(RuntimeError("not queued"))
                return
            # One bad message must not fail the others: each on its own.
            for item in batch:
                await self._commit([item])
            return
        for (_, done), message_ids in zip(batch, ids, strict=True):
            if not done.cancelled():
                done.set_result(message_ids)
