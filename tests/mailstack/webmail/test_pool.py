"""The webmail's IMAP pool against the managed Dovecot: connections are reused across
requests, bounded per user and in total, and never handed to another mailbox."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest

from mailplane.api.deps import MailboxUser
from mailplane.config import Settings
from mailplane.db import Database
from mailplane.errors import Overloaded
from mailplane.webmail.pool import ImapPool
from tests.mailstack.webmail.conftest import MailUser

pytestmark = pytest.mark.mailstack


def _as_user(user: MailUser) -> MailboxUser:
    return MailboxUser(user.id, user.tenant_id, user.email)


def test_connections_are_reused_limited_and_kept_per_mailbox(
    mail_user: Callable[..., MailUser], mail_settings: Settings, database: Database
) -> None:
    alice, bob = _as_user(mail_user()), _as_user(mail_user())
    settings = mail_settings.model_copy(
        update={
            "webmail_pool_per_user": 1,
            "webmail_pool_total": 2,
            "webmail_pool_wait_seconds": 0.3,
        }
    )

    async def scenario() -> None:
        pool = ImapPool(settings, database)
        try:
            async with pool.connection(alice) as first:
                await first.create("Mine")
            async with pool.connection(alice) as again:
                assert again is first  # the same logged-in connection
                assert "Mine" in {f.name for f in await again.list_folders()}
            assert (pool.stats().created, pool.stats().reused) == (1, 1)

            async with pool.connection(alice):
                # Alice's one connection is busy: her next request waits, then 503.
                with pytest.raises(Overloaded):
                    async with pool.connection(alice):
                        pass
                # Bob is not held up by Alice, and never gets her session.
                async with pool.connection(bob) as theirs:
                    assert "Mine" not in {f.name for f in await theirs.list_folders()}
            assert pool.stats().refused == 1
            assert pool.stats().total == 2

            # The total is full (one idle each): a third mailbox takes the oldest idle slot.
            carol = _as_user(mail_user())
            async with pool.connection(carol):
                assert pool.stats().total == 2
        finally:
            await pool.close()

    asyncio.run(scenario())
