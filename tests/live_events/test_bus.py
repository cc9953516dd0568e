"""The event bus and one process's hub on the real database (SQLite and PostgreSQL):
events reach only their mailbox's sockets, once each."""

from __future__ import annotations

import asyncio
import secrets

import pytest
from sqlalchemy import select

from mailplane.config import Settings
from mailplane.db import Database
from mailplane.live_events import bus
from mailplane.live_events.hub import EventHub, Mailbox, TooManySockets
from mailplane.live_events.publishing import Counts, NewMessage, publish_changes
from mailplane.models import MailEvent, utcnow
from tests.support.api import Api


def _mailbox(api: Api) -> Mailbox:
    domain = api.domain(api.tenant()["id"])
    box = api.mailbox(domain["id"], f"u{secrets.token_hex(3)}", "correct-horse-1")
    return Mailbox(box["id"], box["customer_id"], box["email"])


def test_a_delivery_seen_twice_is_one_event(api: Api, database: Database) -> None:
    box = _mailbox(api)
    message = NewMessage("INBOX", 7, "Carol", "carol@outside.test", "hello")
    for _ in range(2):  # two processes' watchers saw the same delivery
        publish_changes(database, box.id, box.tenant_id, "idle", [message], None)
    with database.session(write=False) as session:
        rows = session.scalars(select(MailEvent).where(MailEvent.mailbox_id == box.id)).all()
        assert [(r.type, r.source) for r in rows] == [(bus.NEW_MESSAGE, "idle")]
        assert bus.read_after(session, 0, [box.id])[0].message() == {
            "type": "mail.new_message",
            "data": {
                "folder": "INBOX",
                "message": {"uid": 7, "from_addr": "carol@outside.test", "subject": "hello"},
            },
        }
    with database.transaction() as session:
        bus.prune(session, utcnow() + bus.RETENTION * 2)
    with database.session(write=False) as session:
        assert bus.read_after(session, 0, [box.id]) == []


def test_the_hub_hands_events_to_their_mailbox_only(
    api: Api, database: Database, settings: Settings
) -> None:
    alice, bob = _mailbox(api), _mailbox(api)
    polling = settings.model_copy(
        update={"webmail_event_source": "poll", "webmail_events_max_per_user": 2}
    )

    async def scenario() -> None:
        hub = EventHub(polling, database, watchers=None)
        one, two, other = hub.subscribe(alice), hub.subscribe(alice), hub.subscribe(bob)
        with pytest.raises(TooManySockets) as refused:
            hub.subscribe(alice)
        assert refused.value.close_code == 1008
        await asyncio.sleep(0.3)  # the tail has found the bus's end
        counts = Counts("INBOX", 1, 1)
        new = NewMessage("INBOX", 1, "", "carol@outside.test", "hi")
        await asyncio.to_thread(
            publish_changes, database, alice.id, alice.tenant_id, "poll", [new], counts
        )
        # The same counts again (another process's poll) and a push report: not handed on.
        await asyncio.to_thread(
            publish_changes, database, alice.id, alice.tenant_id, "poll", [], counts
        )
        await asyncio.to_thread(
            publish_changes, database, alice.id, alice.tenant_id, "push", [new], counts
        )
        for socket in (one, two):
            first = await asyncio.wait_for(socket.queue.get(), 5)
            second = await asyncio.wait_for(socket.queue.get(), 5)
            assert first is not None
            assert first["type"] == bus.NEW_MESSAGE
            assert second == {
                "type": bus.FOLDER_UPDATE,
                "data": {"folder": "INBOX", "unseen": 1, "exists": 1},
            }
        await asyncio.sleep(0.5)
        assert [s.queue.empty() for s in (one, two, other)] == [True, True, True]
        assert hub.overview()["sockets"] == 3
        assert hub.status_of(alice.id)["last_event_at"] is not None
        for socket in (one, two, other):
            hub.unsubscribe(socket)
        assert hub.overview()["watched_mailboxes"] == 0
        await hub.close()

    asyncio.run(scenario())
