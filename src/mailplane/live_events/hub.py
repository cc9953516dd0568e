"""One API process's live-event hub: its open sockets by mailbox, the tail of the bus that
feeds them, and a watcher per watched mailbox when the source needs one (IDLE, polling).

Nothing runs while nobody listens: the tail and the watchers start with a mailbox's first
socket in this process and stop with its last.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

import anyio.to_thread

from mailplane.config import Settings
from mailplane.db import Database
from mailplane.errors import MailplaneError
from mailplane.live_events import bus
from mailplane.live_events.push_client import push_rendered
from mailplane.models import utcnow

log = logging.getLogger(__name__)

TAIL_INTERVAL = 0.1  # seconds between two reads of the bus while anyone listens
PRUNE_INTERVAL = 60.0
# Ids are handed out before commit, so a row may become visible after a later one: each
# read looks this far back and skips the ids it has already handed on.
LOOKBACK_IDS = 200
RECENT_KEYS = 256  # new_message keys remembered per mailbox for de-duplication
QUEUE_SIZE = 256  # events waiting for one slow socket; beyond that the socket is closed


class TooManySockets(MailplaneError):
    """Refused at the handshake: 1013 (try again later) when this process is full, 1008
    (policy) when the mailbox has its share of sockets open already."""

    status = 429
    code = "too_many_sockets"

    def __init__(self, detail: str, close_code: int) -> None:
        super().__init__(detail)
        self.close_code = close_code


def resolve_source(settings: Settings) -> bus.Source:
    """auto: push when mailplane's Dovecot reports deliveries, else IMAP IDLE."""
    if settings.webmail_event_source != "auto":
        return settings.webmail_event_source
    return "push" if push_rendered(settings) else "idle"


@dataclass
class WatcherState:
    source: str
    connected: bool = False
    last_event_at: datetime | None = None
    error: str | None = None


class Watcher(Protocol):
    state: WatcherState

    async def run(self) -> None: ...


@dataclass(frozen=True)
class Mailbox:
    id: int
    tenant_id: int
    email: str


WatcherFactory = Callable[[Mailbox, bus.Source], Watcher]


@dataclass(eq=False)
class Subscriber:
    mailbox: Mailbox
    queue: asyncio.Queue[dict[str, Any] | None] = field(
        default_factory=lambda: asyncio.Queue(QUEUE_SIZE)
    )


@dataclass
class _Watched:
    """A mailbox with at least one socket in this process."""

    sockets: set[Subscriber]
    state: WatcherState
    task: asyncio.Task[None] | None = None
    recent: deque[tuple[str, int]] = field(default_factory=lambda: deque(maxlen=RECENT_KEYS))
    counts: dict[str, tuple[int, int]] = field(default_factory=dict)


class EventHub:
    def __init__(
        self, settings: Settings, database: Database, watchers: WatcherFactory | None
    ) -> None:
        self.settings = settings
        self.database = database
        self.source = resolve_source(settings)
        self.watchers = watchers  # set after construction when it needs wake()
        self._watched: dict[int, _Watched] = {}
        self._tail: asyncio.Task[None] | None = None
        self._handed: deque[int] = deque(maxlen=4 * LOOKBACK_IDS)
        self._wake = asyncio.Event()
        self._pruned_at = -PRUNE_INTERVAL

    # --- sockets ---

    def subscribe(self, mailbox: Mailbox) -> Subscriber:
        total = sum(len(w.sockets) for w in self._watched.values())
        if total >= self.settings.webmail_events_max_total:
            raise TooManySockets("this server has too many open event sockets; try later", 1013)
        watched = self._watched.get(mailbox.id)
        if watched and len(watched.sockets) >= self.settings.webmail_events_max_per_user:
            raise TooManySockets("too many open event sockets for this mailbox", 1008)
        subscriber = Subscriber(mailbox)
        if watched is None:
            watched = _Watched(sockets=set(), state=WatcherState(self.source))
            self._watched[mailbox.id] = watched
            if self.source == "push":
                watched.state.connected = True  # Dovecot reports; nothing to hold open
            elif self.watchers is not None:
                watcher = self.watchers(mailbox, self.source)
                watched.state = watcher.state
                watched.task = asyncio.create_task(watcher.run())
        watched.sockets.add(subscriber)
        if self._tail is None or self._tail.done():
            self._tail = asyncio.create_task(self._run_tail())
        return subscriber

    def unsubscribe(self, subscriber: Subscriber) -> None:
        watched = self._watched.get(subscriber.mailbox.id)
        if watched is None:
            return
        watched.sockets.discard(subscriber)
        if not watched.sockets:
            del self._watched[subscriber.mailbox.id]
            if watched.task is not None:
                watched.task.cancel()

    def prune_due(self) -> bool:
        """Whether this process should prune the bus now (once a minute): by the tail while
        anyone listens, by the push endpoint when nobody does."""
        now = time.monotonic()
        if now - self._pruned_at < PRUNE_INTERVAL:
            return False
        self._pruned_at = now
        return True

    def prune(self) -> None:
        with self.database.transaction() as session:
            bus.prune(session, utcnow())

    def wake(self) -> None:
        """Something in this process has just written to the bus: read it now rather than
        at the next tick (other processes still see it within TAIL_INTERVAL)."""
        self._wake.set()

    # --- status ---

    def status_of(self, mailbox_id: int) -> dict[str, Any]:
        watched = self._watched.get(mailbox_id)
        state = watched.state if watched else None
        return {
            "source": state.source if state else self.source,
            "watched": watched is not None,
            "sockets": len(watched.sockets) if watched else 0,
            "connected": bool(state and state.connected),
            "last_event_at": state.last_event_at.isoformat()
            if state and state.last_event_at
            else None,
            "error": state.error if state else None,
            "process_id": os.getpid(),
        }

    def overview(self) -> dict[str, Any]:
        by_source: dict[str, int] = {}
        for watched in self._watched.values():
            by_source[watched.state.source] = by_source.get(watched.state.source, 0) + 1
        return {
            "process_id": os.getpid(),
            "source": self.source,
            "sockets": sum(len(w.sockets) for w in self._watched.values()),
            "watched_mailboxes": len(self._watched),
            "watchers_by_source": by_source,
            "connected": sum(1 for w in self._watched.values() if w.state.connected),
            "tailing": self._tail is not None and not self._tail.done(),
        }

    async def close(self) -> None:
        tasks = [w.task for w in self._watched.values() if w.task] + [self._tail]
        for watched in self._watched.values():
            for subscriber in watched.sockets:
                with contextlib.suppress(asyncio.QueueFull):
                    subscriber.queue.put_nowait(None)
        self._watched.clear()
        for task in tasks:
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task

    # --- the tail of the bus ---

    async def _run_tail(self) -> None:
        after = floor = await anyio.to_thread.run_sync(self._latest)
        while self._watched:
            try:
                events = await anyio.to_thread.run_sync(
                    self._read, max(0, after - LOOKBACK_IDS), list(self._watched)
                )
                if self.prune_due():
                    await anyio.to_thread.run_sync(self.prune)
            except Exception as exc:  # the database is away: keep the sockets, try again
                log.warning("live events: reading the bus failed: %s", exc)
                await asyncio.sleep(1.0)
                continue
            for event in events:
                after = max(after, event.id)
                if event.id <= floor or event.id in self._handed:
                    continue
                self._handed.append(event.id)
                self._hand_on(event)
            if len(events) < bus.BATCH:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), TAIL_INTERVAL)
                self._wake.clear()

    def _latest(self) -> int:
        with self.database.session(write=False) as session:
            return bus.latest_id(session)

    def _read(self, after: int, mailbox_ids: list[int]) -> list[bus.LiveEvent]:
        with self.database.session(write=False) as session:
            return bus.read_after(session, after, mailbox_ids)

    def _hand_on(self, event: bus.LiveEvent) -> None:
        watched = self._watched.get(event.mailbox_id)
        # One source per process: a push report is not also an IDLE event.
        if watched is None or event.source != watched.state.source:
            return
        if not self._first_time(watched, event):
            return
        watched.state.last_event_at = utcnow()
        message = event.message()
        for subscriber in list(watched.sockets):
            try:
                subscriber.queue.put_nowait(message)
            except asyncio.QueueFull:
                log.info("live events: closing a slow socket of mailbox %s", event.mailbox_id)
                watched.sockets.discard(subscriber)
                while not subscriber.queue.empty():
                    subscriber.queue.get_nowait()
                subscriber.queue.put_nowait(None)

    @staticmethod
    def _first_time(watched: _Watched, event: bus.LiveEvent) -> bool:
        folder = str(event.data.get("folder", ""))
        if event.type == bus.NEW_MESSAGE:
            key = (folder, int(event.data.get("message", {}).get("uid", 0)))
            if key in watched.recent:
                return False
            watched.recent.append(key)
            return True
        if event.type == bus.FOLDER_UPDATE:
            counts = (int(event.data.get("unseen", 0)), int(event.data.get("exists", 0)))
            if watched.counts.get(folder) == counts:
                return False
            watched.counts[folder] = counts
        return True
