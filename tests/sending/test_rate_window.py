"""The sliding hour: the previous window counts for what still overlaps the last hour;
old windows are deleted."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from mailplane.db import Database
from mailplane.models import RateCounter
from mailplane.sending import rate_limits
from tests.support.api import Api
from tests.support.senders import make_sender

START = datetime(2031, 5, 1, 10, 0, 0, tzinfo=UTC)  # a window boundary


@pytest.fixture
def clock(client: TestClient) -> Iterator[list[datetime]]:
    now = [START]
    client.app.state.clock = lambda: now[0]  # type: ignore[attr-defined]
    yield now
    del client.app.state.clock  # type: ignore[attr-defined]


def test_the_previous_hour_slides_out(api: Api, database: Database, clock: list[datetime]) -> None:
    sender = make_sender(api, database, rate_limit_per_hour=10)

    def send(recipients: int) -> int:
        body = {
            "from": f"a@{sender.domain}",
            "to": [f"r{i}@example.com" for i in range(recipients)],
            "subject": "s",
            "text": "t",
        }
        return int(sender.send(body).status_code)

    clock[0] = START + timedelta(minutes=50)
    assert send(10) == 202
    assert send(1) == 429
    # 10 minutes into the next hour, 5/6 of the previous one still counts: 8.3 of 10.
    clock[0] = START + timedelta(minutes=70)
    assert send(2) == 429
    assert send(1) == 202
    # Half an hour in: 5 + 1 counted, 4 fit.
    clock[0] = START + timedelta(minutes=90)
    assert send(4) == 202
    assert send(1) == 429

    with database.transaction() as session:
        rate_limits.clean_up(session, START + timedelta(hours=3))
    with database.session(write=False) as session:
        left = session.scalar(
            select(func.count())
            .select_from(RateCounter)
            .where(RateCounter.scope == f"key:{sender.key_id}")
        )
    assert left == 0
