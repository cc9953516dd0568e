"""Helpers for the throttle tests: many one-recipient messages, the MX's receive times,
and the budget check over every window."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack, contextmanager

from mailplane.config import Settings
from mailplane.db import Database
from tests.delivery.support import queue, worker_running
from tests.support.mx import RemoteMx


def queue_each(
    database: Database, recipients: list[str], tenant_id: int | None = None
) -> list[int]:
    """One message per recipient: each is its own delivery and its own SMTP transaction."""
    ids: list[int] = []
    for recipient in recipients:
        ids += queue(database, [recipient], tenant_id=tenant_id)
    return ids


@contextmanager
def workers_running(settings: Settings, count: int = 2) -> Iterator[None]:
    with ExitStack() as stack:
        for _ in range(count):
            stack.enter_context(worker_running(settings))
        yield


def received_at(mx: RemoteMx, recipients: list[str]) -> list[float]:
    wanted = set(recipients)
    return sorted(m.at for m in list(mx.messages) if m.recipient in wanted)


def most_in_any_window(times: list[float], window: float) -> int:
    """The most receive times that fall into any ``window`` seconds."""
    most, start = 0, 0
    for end, at in enumerate(times):
        while at - times[start] >= window:
            start += 1
        most = max(most, end - start + 1)
    return most
