"""IMAP connections for the webmail, kept open across requests.

Modoboa's webmail logs in to IMAP for every request; a login here costs a TCP handshake,
a token mint and Dovecot's introspection call. The pool keeps each mailbox's connections
(at most ``webmail_pool_per_user``, at most ``webmail_pool_total`` in all) and hands them
out again until they have been idle for ``webmail_pool_idle_seconds`` or open for
``webmail_pool_max_age_seconds``. A connection logs in as its mailbox with XOAUTH2 and a
token mailplane mints (never the user's password), and it is only ever handed to requests
of that same mailbox: the pool is keyed by mailbox id.

When every connection is busy a request waits up to ``webmail_pool_wait_seconds``, then
gets 503 with Retry-After (SECURITY.md 6: overload is an answer, not a stall). A user
whose own requests hold all of that user's connections waits behind itself only.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import anyio.to_thread

from mailplane.api.deps import MailboxUser
from mailplane.auth import mail_tokens
from mailplane.config import Settings
from mailplane.db import Database
from mailplane.errors import Overloaded, Unauthenticated, Unavailable
from mailplane.models import Mailbox, utcnow
from mailplane.protocols.imap import ImapClient, ImapCommandError, ImapConnectionError

log = logging.getLogger(__name__)


@dataclass(eq=False)
class _Pooled:
    client: ImapClient
    mailbox_id: int
    created: float
    last_used: float = field(default=0.0)


@dataclass
class PoolStats:
    total: int
    idle: int
    in_use: int
    mailboxes: int
    created: int
    reused: int
    waited: int
    refused: int


class ImapPool:
    def __init__(self, settings: Settings, database: Database) -> None:
        self.settings = settings
        self.database = database
        self.per_user = settings.webmail_pool_per_user
        self.limit = settings.webmail_pool_total
        self._idle: dict[int, list[_Pooled]] = {}
        self._open: dict[int, int] = {}  # mailbox id -> connections open (idle + in use)
        self._total = 0
        self._changed: asyncio.Condition | None = None
        self._reaper: asyncio.Task[None] | None = None
        self._counters = {"created": 0, "reused": 0, "waited": 0, "refused": 0}

    # Use -----------------------------------------------------------------------------

    @contextlib.asynccontextmanager
    async def connection(self, user: MailboxUser) -> AsyncIterator[ImapClient]:
        pooled = await self._acquire(user)
        try:
            yield pooled.client
        except (ImapConnectionError, asyncio.CancelledError):
            pooled.client.broken = True
            raise
        finally:
            await self._release(pooled)

    def stats(self) -> PoolStats:
        idle = sum(len(items) for items in self._idle.values())
        return PoolStats(
            total=self._total,
            idle=idle,
            in_use=self._total - idle,
            mailboxes=len(self._open),
            **self._counters,
        )

    async def close(self) -> None:
        if self._reaper is not None:
            self._reaper.cancel()
            self._reaper = None
        for items in list(self._idle.values()):
            for pooled in items:
                await self._discard(pooled)
        self._idle.clear()

    # Internals -------------------------------------------------------------------------

    def _condition(self) -> asyncio.Condition:
        if self._changed is None:
            self._changed = asyncio.Condition()
            self._reaper = asyncio.get_running_loop().create_task(self._reap_forever())
        return self._changed

    async def _acquire(self, user: MailboxUser) -> _Pooled:
        changed = self._condition()
        deadline = time.monotonic() + self.settings.webmail_pool_wait_seconds
        waited = False
        async with changed:
            while True:
                pooled = self._take_idle(user.mailbox_id)
                if pooled is not None:
                    self._counters["reused"] += 1
                    return pooled
                if self._open.get(user.mailbox_id, 0) < self.per_user:
                    if self._total >= self.limit:
                        victim = self._oldest_idle()
                        if victim is not None:
                            await self._discard(victim)
                    if self._total < self.limit:
                        self._reserve(user.mailbox_id)
                        break
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    self._counters["refused"] += 1
                    retry = max(1, math.ceil(self.settings.webmail_pool_wait_seconds / 4))
                    raise Overloaded(
                        f"every mail connection is busy; nothing was changed, retry in {retry} s",
                        retry_after=retry,
                    )
                if not waited:
                    waited = True
                    self._counters["waited"] += 1
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(changed.wait(), remaining)
        # Outside the lock: connecting and logging in take a few milliseconds.
        try:
            client = await self._open_connection(user)
        except BaseException:
            async with changed:
                self._unreserve(user.mailbox_id)
                changed.notify_all()
            raise
        self._counters["created"] += 1
        return _Pooled(client=client, mailbox_id=user.mailbox_id, created=time.monotonic())

    def _take_idle(self, mailbox_id: int) -> _Pooled | None:
        items = self._idle.get(mailbox_id)
        while items:
            pooled = items.pop()  # the most recently used: its folder is likely selected
            if not items:
                del self._idle[mailbox_id]
            if not pooled.client.broken and not self._too_old(pooled):
                return pooled
            self._forget(pooled)
            asyncio.get_running_loop().create_task(pooled.client.close())
        return None

    def _oldest_idle(self) -> _Pooled | None:
        candidates = [p for items in self._idle.values() for p in items]
        if not candidates:
            return None
        victim = min(candidates, key=lambda p: p.last_used)
        items = self._idle[victim.mailbox_id]
        items.remove(victim)
        if not items:
            del self._idle[victim.mailbox_id]
        return victim

    def _reserve(self, mailbox_id: int) -> None:
        self._open[mailbox_id] = self._open.get(mailbox_id, 0) + 1
        self._total += 1

    def _unreserve(self, mailbox_id: int) -> None:
        left = self._open.get(mailbox_id, 0) - 1
        if left > 0:
            self._open[mailbox_id] = left
        else:
            self._open.pop(mailbox_id, None)
        self._total -= 1

    def _forget(self, pooled: _Pooled) -> None:
        self._unreserve(pooled.mailbox_id)

    async def _discard(self, pooled: _Pooled) -> None:
        self._forget(pooled)
        await pooled.client.logout()

    def _too_old(self, pooled: _Pooled) -> bool:
        return time.monotonic() - pooled.created > self.settings.webmail_pool_max_age_seconds

    async def _release(self, pooled: _Pooled) -> None:
        changed = self._condition()
        # A command still in flight (the request was cancelled mid-way) leaves the
        # connection in an unknown state: it is closed, never reused.
        unusable = (
            pooled.client.broken
            or pooled.client.busy
            or self._too_old(pooled)
            or not self.settings.webmail_pool_reuse
        )
        async with changed:
            if unusable:
                self._forget(pooled)
            else:
                pooled.last_used = time.monotonic()
                self._idle.setdefault(pooled.mailbox_id, []).append(pooled)
            changed.notify_all()
        if unusable:
            await pooled.client.close()

    async def _open_connection(self, user: MailboxUser) -> ImapClient:
        token = await anyio.to_thread.run_sync(self._mint, user)
        host, port = self.settings.webmail_imap_address
        try:
            client = await ImapClient.connect(
                host, port, timeout=self.settings.webmail_imap_timeout_seconds
            )
        except ImapConnectionError as exc:
            log.warning("webmail: IMAP server unreachable: %s", exc)
            raise Unavailable(
                "the mail server is not reachable; retry later", code="mail_server_unavailable"
            ) from exc
        try:
            await client.authenticate_xoauth2(user.email, token)
        except ImapCommandError as exc:
            await client.close()
            # Suspended between the request's check and now, or the token was refused.
            raise Unauthenticated(
                "the mail server refused this mailbox's login", code="mail_login_refused"
            ) from exc
        except BaseException:
            await client.close()
            raise
        return client

    def _mint(self, user: MailboxUser) -> str:
        with self.database.transaction() as session:
            mailbox = session.get(Mailbox, user.mailbox_id)
            if mailbox is None or mailbox.tenant_id != user.tenant_id:
                raise Unauthenticated("this mailbox no longer exists", code="invalid_token")
            minted = mail_tokens.mint(session, self.settings, mailbox, "webmail", utcnow())
        return minted.access_token

    async def _reap_forever(self) -> None:
        interval = max(1.0, min(30.0, self.settings.webmail_pool_idle_seconds / 4))
        while True:
            await asyncio.sleep(interval)
            try:
                await self._reap()
            except Exception:
                log.exception("webmail: reaping idle IMAP connections failed")

    async def _reap(self) -> None:
        changed = self._condition()
        now = time.monotonic()
        expired: list[_Pooled] = []
        async with changed:
            for mailbox_id, items in list(self._idle.items()):
                keep = []
                for pooled in items:
                    stale = now - pooled.last_used > self.settings.webmail_pool_idle_seconds
                    if stale or pooled.client.broken or self._too_old(pooled):
                        self._forget(pooled)
                        expired.append(pooled)
                    else:
                        keep.append(pooled)
                if keep:
                    self._idle[mailbox_id] = keep
                else:
                    del self._idle[mailbox_id]
            if expired:
                changed.notify_all()
        for pooled in expired:
            await pooled.client.logout()
