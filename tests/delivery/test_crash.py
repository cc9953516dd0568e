"""Concurrency and crash safety. Two workers at once never send a recipient twice. Kill -9
a ``mailplane worker`` in the middle of 5,000 deliveries and start another: every
recipient is delivered, none lost, and the only duplicates are deliveries that were in
flight (claimed, in 'sending') at the kill."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

from sqlalchemy import func, select

from mailplane.db import Database
from mailplane.models import Delivery
from mailplane.models.statuses import DeliveryStatus
from tests.delivery.conftest import EngineSettings
from tests.delivery.support import queue, wait_until_final, worker_running
from tests.support.mx import RemoteMx
from tests.support.ports import free_port

COUNT = 5000
SINK = "127.0.0.5"


def start_worker(
    state_dir: Path, database_url: str | None, sink_port: int
) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "MAILPLANE_ENV": "test",
        "MAILPLANE_STATE_DIR": str(state_dir),
        "MAILPLANE_SECRET_KEY": "crash-test-secret-0123456789abcdef0123456789",
        "MAILPLANE_RELAY_HOST": f"{SINK}:{sink_port}",
        "MAILPLANE_RELAY_TLS": "none",
        "MAILPLANE_DELIVERY_LEASE_SECONDS": "3",
        "MAILPLANE_DELIVERY_BATCH_SIZE": "100",
        "MAILPLANE_DELIVERY_COMMAND_TIMEOUT_SECONDS": "5",
    }
    if database_url:
        env["MAILPLANE_DATABASE_URL"] = database_url
    return subprocess.Popen(
        [sys.executable, "-m", "mailplane.cli.main", "worker"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def sending(database: Database, ids: list[int]) -> int:
    with database.session(write=False) as session:
        return int(
            session.scalar(
                select(func.count())
                .select_from(Delivery)
                .where(Delivery.id.in_(ids), Delivery.status == DeliveryStatus.SENDING.value)
            )
            or 0
        )


def test_kill_9_in_the_middle_loses_nothing(
    state_dir: Path, database_url: str | None, database: Database, uid: str
) -> None:
    sink = RemoteMx(SINK, free_port())
    sink.start()
    recipients = [f"ok-{n}-{uid}@crash-{uid}.test" for n in range(COUNT)]
    ids = queue(database, recipients)
    first = start_worker(state_dir, database_url, sink.port)
    try:
        deadline = time.monotonic() + 60
        while len(sink.messages) < COUNT // 3 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert first.poll() is None, "the first worker died by itself"
        os.kill(first.pid, signal.SIGKILL)
        first.wait()
        in_flight = sending(database, ids)
        received_at_kill = len(sink.messages)
        assert 0 < received_at_kill < COUNT
        second = start_worker(state_dir, database_url, sink.port)
        try:
            rows = wait_until_final(database, ids, timeout=120)
        finally:
            second.send_signal(signal.SIGTERM)
            assert second.wait(30) == 0
    finally:
        if first.poll() is None:
            first.kill()
        sink.stop()
    assert {r.status for r in rows} == {"delivered"}
    # The database is the suite's: other tests' due rows may be relayed to the sink too.
    wanted = set(recipients)
    counts = Counter(m.recipient for m in sink.messages if m.recipient in wanted)
    assert set(counts) == wanted  # none lost
    duplicates = sum(n - 1 for n in counts.values())
    assert duplicates <= in_flight


def test_two_workers_at_once_send_each_recipient_once(
    engine_settings: EngineSettings, database: Database, uid: str
) -> None:
    sink = RemoteMx(SINK, free_port())
    sink.start()
    try:
        settings = engine_settings(
            relay_host=f"{SINK}:{sink.port}", relay_tls="none", delivery_batch_size=50
        )
        recipients = [f"ok-{n}-{uid}@pair-{uid}.test" for n in range(1000)]
        ids = queue(database, recipients)
        with worker_running(settings), worker_running(settings):
            rows = wait_until_final(database, ids, timeout=60)
    finally:
        sink.stop()
    assert {r.status for r in rows} == {"delivered"}
    counts = Counter(m.recipient for m in sink.messages if m.recipient in set(recipients))
    assert set(counts) == set(recipients)
    assert max(counts.values()) == 1  # no row was claimed by both


def test_a_live_worker_keeps_its_lease_while_a_send_takes_longer(
    engine_settings: EngineSettings, database: Database, uid: str
) -> None:
    sink = RemoteMx(SINK, free_port())
    sink.start()
    try:
        # The sink answers DATA after 3 s, twice the lease: without renewal the second
        # worker would claim the row again and send it a second time.
        settings = engine_settings(
            relay_host=f"{SINK}:{sink.port}",
            relay_tls="none",
            delivery_lease_seconds=1.5,
            delivery_command_timeout_seconds=10,
        )
        recipient = f"slow-{uid}@lease-{uid}.test"
        ids = queue(database, [recipient])
        with worker_running(settings), worker_running(settings):
            [row] = wait_until_final(database, ids, timeout=30)
    finally:
        sink.stop()
    assert row.status == "delivered"
    assert row.attempts == 1
    assert len(sink.to(recipient)) == 1
