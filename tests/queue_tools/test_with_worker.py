"""Queue tools against a running delivery worker and a real remote MX: a held delivery is
not sent until released, a retried deferral is sent at once, a cancelled one never leaves,
and rows a worker holds are left alone."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from sqlalchemy import update

from mailplane.auth.principals import SYSTEM
from mailplane.db import Database
from mailplane.delivery import queue_tools
from mailplane.delivery.queue_tools import Action, Selection
from mailplane.errors import InvalidInput
from mailplane.models import Delivery, utcnow
from tests.delivery.conftest import MX1, EngineSettings
from tests.delivery.support import (
    attempts,
    deliver,
    deliveries,
    mx_zone,
    queue,
    wait_until_final,
    worker_running,
)
from tests.support.knot import Knot
from tests.support.mx import RemoteMx


def _zone(knot: Knot, uid: str) -> str:
    zone = f"qt-{uid}.test"
    mx_zone(knot, zone, [(10, "mx1")], {"mx1": MX1})
    return zone


def _act(database: Database, action: Action, ids: list[int]) -> queue_tools.Result:
    with database.transaction() as session:
        return queue_tools.apply(session, SYSTEM, action, Selection(ids=tuple(ids)), utcnow())


def test_held_is_not_sent_until_released_and_cancelled_never_leaves(
    engine_settings: EngineSettings, database: Database, knot: Knot, mx1: RemoteMx, uid: str
) -> None:
    zone = _zone(knot, uid)
    held, cancelled, control = queue(
        database, [f"held-{uid}@{zone}", f"gone-{uid}@{zone}", f"ok-{uid}@{zone}"]
    )
    result = _act(database, Action.HOLD, [held])
    assert result.counts() == {
        "matched": 1,
        "changed": 1,
        "skipped_in_flight": 0,
        "skipped_other": 0,
    }
    result = _act(database, Action.CANCEL, [cancelled])
    assert (result.changed, result.changed_ids) == (1, [cancelled])

    settings = engine_settings()
    with worker_running(settings):
        [sent] = wait_until_final(database, [control])
        assert sent.status == "delivered"
        time.sleep(0.5)  # a few more polls of the worker
    row_held, row_cancelled = deliveries(database, [held, cancelled])
    assert (row_held.status, row_held.next_attempt_at, row_held.attempts) == ("held", None, 0)
    assert (row_cancelled.status, row_cancelled.next_attempt_at) == ("cancelled", None)
    assert row_cancelled.finished_at is not None
    assert mx1.to(f"held-{uid}@{zone}") == []
    assert mx1.to(f"gone-{uid}@{zone}") == []
    # Cancelled is final: releasing or retrying it changes nothing.
    assert _act(database, Action.RELEASE, [cancelled]).skipped_other == 1

    result = _act(database, Action.RELEASE, [held])
    assert result.changed_ids == [held]
    [released] = deliver(settings, database, [held])
    assert released.status == "delivered"
    assert len(mx1.to(f"held-{uid}@{zone}")) == 1


def test_retry_makes_a_deferral_due_now(
    engine_settings: EngineSettings, database: Database, knot: Knot, mx1: RemoteMx, uid: str
) -> None:
    zone = _zone(knot, uid)
    # "temp-" is answered 451 the first time; the backoff is an hour.
    settings = engine_settings(
        delivery_retry_base_seconds=3600.0, delivery_retry_max_seconds=7200.0
    )
    [delivery_id] = queue(database, [f"temp-{uid}@{zone}"])
    with worker_running(settings):
        deadline = time.monotonic() + 20
        while deliveries(database, [delivery_id])[0].status != "deferred":
            assert time.monotonic() < deadline, "not deferred"
            time.sleep(0.05)
    [row] = deliveries(database, [delivery_id])
    assert row.next_attempt_at is not None
    assert row.next_attempt_at > utcnow() + timedelta(minutes=30)

    # flush without ids: every deferred delivery that matches (here: this recipient).
    with database.transaction() as session:
        result = queue_tools.apply(
            session, SYSTEM, Action.FLUSH, Selection(recipient=f"temp-{uid}@{zone}"), utcnow()
        )
    assert (result.matched, result.changed) == (1, 1)
    [row] = deliver(settings, database, [delivery_id])
    assert row.status == "delivered"
    assert [a.outcome for a in attempts(database, delivery_id)] == ["deferred", "delivered"]


def test_rows_a_worker_holds_are_left_alone(database: Database, uid: str) -> None:
    ids = queue(database, [f"a-{uid}@inflight.test", f"b-{uid}@inflight.test"])
    lease_end = utcnow() + timedelta(minutes=5)
    # What a worker's claim leaves: status sending, its id, the end of its lease.
    with database.transaction() as session:
        session.execute(
            update(Delivery)
            .where(Delivery.id == ids[0])
            .values(status="sending", claimed_by="another-worker", next_attempt_at=lease_end)
        )
    try:
        for action in (Action.RETRY, Action.HOLD, Action.CANCEL):
            result = _act(database, action, [ids[0]])
            assert result.counts() == {
                "matched": 1,
                "changed": 0,
                "skipped_in_flight": 1,
                "skipped_other": 0,
            }, action
            assert result.in_flight_ids == [ids[0]]
        [row] = deliveries(database, [ids[0]])
        assert (row.status, row.claimed_by) == ("sending", "another-worker")
        # A bulk action over both: one changed, one skipped.
        with database.transaction() as session:
            result = queue_tools.apply(
                session,
                SYSTEM,
                Action.CANCEL,
                Selection(recipient_domain="inflight.test", ids=tuple(ids)),
                utcnow(),
            )
        assert (result.matched, result.changed, result.skipped_in_flight) == (2, 1, 1)
    finally:
        with database.transaction() as session:
            session.execute(
                update(Delivery)
                .where(Delivery.id.in_(ids))
                .values(status="cancelled", next_attempt_at=None, claimed_by=None)
            )


def test_a_bulk_action_needs_a_selection(database: Database) -> None:
    with database.transaction() as session, pytest.raises(InvalidInput, match="name the"):
        queue_tools.apply(session, SYSTEM, Action.CANCEL, Selection(), utcnow())
