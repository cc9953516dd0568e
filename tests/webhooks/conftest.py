"""Fixtures for webhooks: the delivery engine's (Knot, remote MX hosts), a receiver on
loopback, and the dispatcher run in a thread."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from mailplane.config import Settings
from mailplane.db import Database
from mailplane.webhooks.dispatcher import run_forever
from tests.delivery.conftest import engine_settings, knot, mx1, mx2, mx_port  # noqa: F401
from tests.webhooks.receiver import Receiver, receiver_running


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with receiver_running() as running:
        yield running


@contextmanager
def dispatcher_running(settings: Settings, database: Database) -> Iterator[None]:
    stop = threading.Event()
    thread = threading.Thread(target=run_forever, args=(settings, database, stop), daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(30)
        assert not thread.is_alive(), "the dispatcher did not stop"
