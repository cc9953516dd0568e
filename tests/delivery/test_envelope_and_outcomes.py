"""VERP addresses and the classification of replies, as values."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from mailplane.delivery.envelope import parse_verp, verp_address
from mailplane.delivery.outcomes import Attempt, Kind, kind_of_reply, resolve, retry_hint_seconds
from mailplane.models.statuses import DeliveryStatus
from tests.conftest import make_settings


def test_verp_round_trip_and_forgeries(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, None, bounce_domain="Bounces.Example.NET")
    address = verp_address(settings, 12345)
    assert address.startswith("b+12345-")
    assert address.endswith("@bounces.example.net")
    assert parse_verp(settings, address) == 12345
    assert parse_verp(settings, address.upper()) == 12345  # local parts come back re-cased
    assert parse_verp(settings, address.replace("12345", "12346")) is None
    assert parse_verp(settings, address.replace("example.net", "example.org")) is None
    assert parse_verp(settings, "someone@bounces.example.net") is None
    other = make_settings(tmp_path, None, bounce_domain="bounces.example.net")
    assert parse_verp(other, address) is None  # another platform secret


@pytest.mark.parametrize(
    ("reply", "seconds"),
    [
        ("451 4.7.1 greylisted, try again in 2 seconds", 2),
        ("450 4.2.0 Please retry in 5 minutes", 300),
        ("421 4.7.0 Try again later in 1 hour", 3600),
        ("451 4.3.0 temporary failure", None),
    ],
)
def test_retry_hints(reply: str, seconds: int | None) -> None:
    assert retry_hint_seconds(reply) == seconds


def test_reply_codes() -> None:
    assert kind_of_reply(250) == Kind.DELIVERED
    assert kind_of_reply(421) == Kind.DEFERRED
    assert kind_of_reply(451) == Kind.DEFERRED
    assert kind_of_reply(550) == Kind.BOUNCED


def test_backoff_grows_with_jitter_and_stops_at_the_maximum_age(tmp_path: Path) -> None:
    settings = make_settings(
        tmp_path,
        None,
        delivery_retry_base_seconds=60,
        delivery_retry_max_seconds=3600,
        delivery_max_age_hours=120,
    )
    now = datetime(2026, 1, 1, tzinfo=UTC)
    rng = random.Random(1)
    deferred = Attempt(1, Kind.DEFERRED, 451, "451 4.3.0 later", now, 10)
    delays = []
    for attempts in range(10):
        resolution = resolve(
            settings, deferred, attempts_before=attempts, created_at=now, now=now, rng=rng
        )
        assert resolution.status == DeliveryStatus.DEFERRED
        assert resolution.next_attempt_at is not None
        delays.append((resolution.next_attempt_at - now).total_seconds())
    assert 30 <= delays[0] <= 60
    assert 60 <= delays[1] <= 120
    assert all(1800 <= d <= 3600 for d in delays[6:])
    late = now + timedelta(hours=120)
    expired = resolve(settings, deferred, attempts_before=30, created_at=now, now=late, rng=rng)
    assert (expired.status, expired.expired) == (DeliveryStatus.FAILED, True)
