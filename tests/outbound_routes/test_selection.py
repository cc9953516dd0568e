"""Route choice (outbound_routes/selection.py) on the real database: where a retry may go
once its own route is gone, and the daily cap counted across calls."""

from __future__ import annotations

from mailplane.db import Database
from mailplane.delivery.candidates import Candidate
from mailplane.models import utcnow
from mailplane.outbound_routes import config, selection
from tests.outbound_routes.conftest import NEW_IP, OLD_IP, MakeRoute

COLD = {
    "types": [{"day": 0, "types": ["transactional", "bulk"]}],
    "ramp": [{"day": 0, "percent": 100}, {"day": 30, "percent": 100}],
}


def _candidates(first: int, count: int, attempts: int = 0) -> list[Candidate]:
    return [
        Candidate(i, None, "example.com", "transactional", None, attempts, None)
        for i in range(first, first + count)
    ]


def test_a_retry_without_a_route_moves_to_a_warming_route_only_if_it_accepts_retries(
    database: Database, make_route: MakeRoute
) -> None:
    cold = make_route(source_ip=NEW_IP, plan=COLD, enabled=False)
    warm = make_route(source_ip=OLD_IP, enabled=False)
    taking = make_route(source_ip=NEW_IP, plan=COLD, accepts_retries=True, enabled=False)
    with database.transaction() as session:
        every = {
            r.id: r
            for r in config.load_all(session)
            if r.id in (cold["id"], warm["id"], taking["id"])
        }
        routes = {i: every[i] for i in (cold["id"], warm["id"])}
        retries = selection.choose(session, _candidates(10**6, 20, attempts=1), routes, utcnow())
        assert set(retries.values()) == {warm["id"]}
        first = selection.choose(session, _candidates(10**6, 20), routes, utcnow())
        assert set(first.values()) == {cold["id"]}
        routes = {i: every[i] for i in (taking["id"], warm["id"])}
        retries = selection.choose(session, _candidates(10**6, 20, attempts=1), routes, utcnow())
        assert set(retries.values()) == {taking["id"]}
        # Without any established route, what the plan does not take leaves the default way.
        routes = {cold["id"]: every[cold["id"]]}
        retries = selection.choose(session, _candidates(10**6, 5, attempts=1), routes, utcnow())
        assert set(retries.values()) == {None}
        session.rollback()


def test_a_delivery_keeps_its_route_while_that_is_enabled(
    database: Database, make_route: MakeRoute
) -> None:
    cold = make_route(source_ip=NEW_IP, plan=COLD, enabled=False)
    warm = make_route(source_ip=OLD_IP, enabled=False)
    with database.transaction() as session:
        every = {r.id: r for r in config.load_all(session)}
        routes = {i: every[i] for i in (cold["id"], warm["id"])}
        kept = [
            Candidate(i, None, "example.com", "transactional", None, 1, warm["id"])
            for i in range(10**6, 10**6 + 10)
        ]
        assert set(selection.choose(session, kept, routes, utcnow()).values()) == {warm["id"]}
        session.rollback()


def test_the_cap_holds_across_calls(database: Database, make_route: MakeRoute) -> None:
    capped = make_route(
        source_ip=NEW_IP, plan={**COLD, "daily_cap": [{"day": 0, "cap": 25}]}, enabled=False
    )
    with database.transaction() as session:
        routes = {r.id: r for r in config.load_all(session) if r.id == capped["id"]}
    taken = 0
    for batch in range(4):
        with database.transaction() as session:
            chosen = selection.choose(session, _candidates(batch * 10, 10), routes, utcnow())
            taken += sum(1 for v in chosen.values() if v == capped["id"])
    assert taken == 25
