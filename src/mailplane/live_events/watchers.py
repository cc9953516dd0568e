"""Watchers for the sources that must ask Dovecot: IMAP IDLE and STATUS polling.

A watcher belongs to one mailbox with at least one open socket in this process. It turns
what it sees in the INBOX into events on the bus (publishing.py), so that sockets of the
same mailbox in other processes get them too.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from email.header import decode_header, make_header
from typing import Any

import anyio.to_thread

from mailplane.api.deps import MailboxUser
from mailplane.auth import mail_tokens
from mailplane.config import Settings
from mailplane.db import Database
from mailplane.errors import MailplaneError, Unauthenticated
from mailplane.live_events import bus
from mailplane.live_events.hub import Mailbox, Watcher, WatcherFactory, WatcherState
from mailplane.live_events.publishing import Counts, NewMessage, publish_changes
from mailplane.models import Mailbox as MailboxRow
from mailplane.models import utcnow
from mailplane.protocols.imap import ImapClient, ImapError
from mailplane.webmail.pool import ImapPool

log = logging.getLogger(__name__)

FOLDER = "INBOX"
# RFC 2177: a client should re-issue IDLE at least every 29 minutes.
IDLE_RENEW_SECONDS = 25 * 60.0
# Log in again with a fresh token well before the 60-minute token runs out.
RELOGIN_SECONDS = 45 * 60.0
BACKOFF_MAX_SECONDS = 60.0
STATUS_ITEMS = ("MESSAGES", "UNSEEN", "UIDNEXT", "UIDVALIDITY")


def _text(value: Any) -> str:
    if value is None:
        return ""
    raw = value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)
    try:  # RFC 2047 encoded words in an ENVELOPE field
        return str(make_header(decode_header(raw)))
    except (ValueError, LookupError):
        return raw


def envelope_sender(envelope: Any) -> tuple[str, str, str]:
    """(name, address, subject) from a FETCH ENVELOPE (RFC 3501 section 7.4.2)."""
    if not isinstance(envelope, list) or len(envelope) < 3:
        return "", "", ""
    subject = _text(envelope[1])
    name = address = ""
    senders = envelope[2]
    if isinstance(senders, list) and senders and isinstance(senders[0], list):
        first = senders[0]
        if len(first) >= 4:
            name = _text(first[0])
            local, host = _text(first[2]), _text(first[3])
            address = f"{local}@{host}" if host else local
    return name, address, subject


class _InboxWatcher:
    """What both IMAP sources share: the INBOX's last counts, and turning a change into
    events."""

    def __init__(
        self,
        settings: Settings,
        database: Database,
        mailbox: Mailbox,
        source: str,
        wake: Callable[[], None] = lambda: None,
    ):
        self.settings = settings
        self.database = database
        self.mailbox = mailbox
        self.state = WatcherState(source)
        self.source: bus.Source = "idle" if source == "idle" else "poll"
        self.uidnext: int | None = None
        self.uidvalidity: int | None = None
        self.counts: tuple[int, int] | None = None
        self.wake = wake

    async def inspect(self, client: ImapClient, *, selected: bool) -> None:
        """Compare the INBOX with what was seen last; publish what is new."""
        if client.selected is not None and client.selected.name == FOLDER:
            # Dovecot answers STATUS of the selected folder from the session's view, which
            # only a command such as NOOP brings up to date.
            await client.noop()
        status = await client.status(FOLDER, STATUS_ITEMS)
        uidnext, validity = status.get("UIDNEXT", 0), status.get("UIDVALIDITY", 0)
        counts = (status.get("UNSEEN", 0), status.get("MESSAGES", 0))
        messages: list[NewMessage] = []
        first_look = self.uidnext is None or validity != self.uidvalidity
        if not first_look and self.uidnext is not None and uidnext > self.uidnext:
            if not selected:
                await client.select(FOLDER, readonly=True)
            fetched = await client.fetch(f"{self.uidnext}:*", "(UID ENVELOPE)", uid=True)
            for item in sorted(fetched, key=lambda m: int(m.get("UID", 0))):
                uid = int(item.get("UID", 0))
                if uid < self.uidnext:  # "n:*" also names the last message when n is past it
                    continue
                name, address, subject = envelope_sender(item.get("ENVELOPE"))
                messages.append(NewMessage(FOLDER, uid, name, address, subject))
        changed = not first_look and counts != self.counts
        self.uidnext, self.uidvalidity, self.counts = uidnext, validity, counts
        if messages or changed:
            await anyio.to_thread.run_sync(
                publish_changes,
                self.database,
                self.mailbox.id,
                self.mailbox.tenant_id,
                self.source,
                messages,
                Counts(FOLDER, counts[0], counts[1]),
            )
            self.wake()

    def _mint(self) -> str:
        with self.database.transaction() as session:
            row = session.get(MailboxRow, self.mailbox.id)
            if row is None or row.tenant_id != self.mailbox.tenant_id:
                raise Unauthenticated("this mailbox no longer exists", code="invalid_token")
            return mail_tokens.mint(session, self.settings, row, "webmail", utcnow()).access_token

    async def login(self) -> ImapClient:
        token = await anyio.to_thread.run_sync(self._mint)
        host, port = self.settings.webmail_imap_address
        client = await ImapClient.connect(
            host, port, timeout=self.settings.webmail_imap_timeout_seconds
        )
        try:
            await client.authenticate_xoauth2(self.mailbox.email, token)
        except BaseException:
            await client.close()
            raise
        return client


class IdleWatcher(_InboxWatcher):
    """Its own IMAP connection, idling on the INBOX (RFC 2177); it logs in again with a
    fresh token before the old one expires and reconnects with backoff."""

    async def run(self) -> None:
        backoff = 1.0
        while True:
            client: ImapClient | None = None
            try:
                client = await self.login()
                if "IDLE" not in client.capabilities:
                    self.state.error = "the IMAP server has no IDLE"
                await client.select(FOLDER, readonly=True)
                await self.inspect(client, selected=True)
                self.state.connected, self.state.error, backoff = True, None, 1.0
                await self._idle(client, time.monotonic() + RELOGIN_SECONDS)
            except asyncio.CancelledError:
                raise
            except (ImapError, MailplaneError, OSError) as exc:
                self.state.error = f"{type(exc).__name__}: {exc}"
                log.info("live events: IDLE of mailbox %s: %s", self.mailbox.id, exc)
            except Exception as exc:  # a bug must not end the watching silently
                log.exception("live events: IDLE of mailbox %s failed", self.mailbox.id)
                self.state.error = f"{type(exc).__name__}: {exc}"
            finally:
                self.state.connected = False
                if client is not None:
                    with contextlib.suppress(Exception):
                        await client.close()
            await asyncio.sleep(backoff)
            backoff = min(BACKOFF_MAX_SECONDS, backoff * 2)

    async def _idle(self, client: ImapClient, relogin_at: float) -> None:
        while time.monotonic() < relogin_at:
            await client.idle_start()
            wait = min(IDLE_RENEW_SECONDS, max(1.0, relogin_at - time.monotonic()))
            responses = await client.idle_wait(wait)
            responses += await client.idle_done()
            if any(r.name in ("EXISTS", "EXPUNGE", "FETCH", "RECENT") for r in responses):
                await self.inspect(client, selected=True)


class PollWatcher(_InboxWatcher):
    """STATUS of the INBOX every ``webmail_poll_seconds``, through the webmail's pool."""

    def __init__(
        self,
        settings: Settings,
        database: Database,
        mailbox: Mailbox,
        pool: ImapPool,
        wake: Callable[[], None],
    ) -> None:
        super().__init__(settings, database, mailbox, "poll", wake)
        self.pool = pool

    async def run(self) -> None:
        user = MailboxUser(self.mailbox.id, self.mailbox.tenant_id, self.mailbox.email)
        while True:
            try:
                async with self.pool.connection(user) as client:
                    await self.inspect(client, selected=False)
                self.state.connected, self.state.error = True, None
            except asyncio.CancelledError:
                raise
            except (ImapError, MailplaneError, OSError) as exc:
                self.state.connected = False
                self.state.error = f"{type(exc).__name__}: {exc}"
            except Exception as exc:  # a bug must not end the watching silently
                log.exception("live events: polling mailbox %s failed", self.mailbox.id)
                self.state.connected = False
                self.state.error = f"{type(exc).__name__}: {exc}"
            await asyncio.sleep(self.settings.webmail_poll_seconds)


def watcher_factory(
    settings: Settings, database: Database, pool: ImapPool, wake: Callable[[], None]
) -> WatcherFactory:
    def make(mailbox: Mailbox, source: bus.Source) -> Watcher:
        if source == "poll":
            return PollWatcher(settings, database, mailbox, pool, wake)
        return IdleWatcher(settings, database, mailbox, "idle", wake)

    return make
