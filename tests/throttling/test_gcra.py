"""The admission decisions themselves, against the real database: the burst, then one
per interval; waiting ones spread out; a limit deleted under a worker's feet."""

from __future__ import annotations

from datetime import timedelta

from mailplane.db import Database
from mailplane.delivery.candidates import Candidate
from mailplane.models import ThrottleLimit, utcnow
from mailplane.throttling import gcra
from mailplane.throttling.rules import LimitRule


def _candidate(n: int, domain: str, mx: tuple[str, ...] = ()) -> Candidate:
    return Candidate(n, None, domain, "transactional", None, 0, None, mx)


def test_patterns() -> None:
    assert gcra.host_matches("Example.COM.", "example.com")
    assert not gcra.host_matches("mx.example.com", "example.com")
    assert gcra.host_matches("mx.example.com", "*.example.com")
    assert gcra.host_matches("a.b.example.com", ".example.com")
    assert not gcra.host_matches("example.com", "*.example.com")
    assert not gcra.host_matches("badexample.com", "*.example.com")


def test_burst_then_one_per_interval_and_waits_spread_out(database: Database, uid: str) -> None:
    domain = f"gcra-{uid}.test"
    with database.transaction() as session:
        row = ThrottleLimit(
            scope="destination", domains=[domain], rate=60, period_seconds=60, burst=3
        )
        session.add(row)
        session.flush()
        rule = LimitRule(row.id, "destination", None, None, "", (domain,), (), False, 60, 60, 3)
    now = utcnow()
    with database.transaction() as session:
        waits = gcra.admit(session, [_candidate(i, domain) for i in range(6)], [rule], now)
    assert sorted(waits) == [3, 4, 5]
    untils = [waits[i].until for i in (3, 4, 5)]
    assert [round((u - now).total_seconds(), 3) for u in untils] == [1.0, 2.0, 3.0]
    assert {w.held_by for w in waits.values()} == {f"limit:{row.id}"}
    # A second batch at the same instant queues behind the first one's waiting slots.
    with database.transaction() as session:
        later = gcra.admit(session, [_candidate(7, domain)], [rule], now)
    assert round((later[7].until - now).total_seconds(), 3) == 4.0
    # One interval on, exactly one more fits.
    with database.transaction() as session:
        waits = gcra.admit(
            session, [_candidate(i, domain) for i in (8, 9)], [rule], now + timedelta(seconds=1)
        )
    assert sorted(waits) == [9]


def test_a_deleted_limit_no_longer_applies(database: Database, uid: str) -> None:
    domain = f"gone-{uid}.test"
    rule = LimitRule(2**31 - 3, "destination", None, None, "", (domain,), (), False, 1, 60, 1)
    with database.transaction() as session:
        assert (
            gcra.admit(session, [_candidate(i, domain) for i in range(3)], [rule], utcnow()) == {}
        )
