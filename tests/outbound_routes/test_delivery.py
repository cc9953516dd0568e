"""Mail through outbound routes, end to end: a worker, Knot's MX records and an aiosmtpd
sink that records the address each connection came from and the name it greeted with."""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections import Counter

from mailplane.config import Settings
from mailplane.db import Database
from mailplane.delivery.routes import NoRoute, Route, Router
from mailplane.models.statuses import MessageType
from mailplane.outbound_routes.config import RouteConfig
from tests.delivery.conftest import EngineSettings
from tests.delivery.support import (
    attempts,
    deliveries,
    mx_zone,
    queue,
    wait_until_final,
    worker_running,
)
from tests.outbound_routes.conftest import NEW_IP, OLD_IP, OTHER_IP, SINK, MakeRoute
from tests.support.api import Api
from tests.support.knot import Knot
from tests.support.mx import Received, RemoteMx
from tests.support.ports import free_port


def _zone(knot: Knot, uid: str, tag: str) -> str:
    zone = f"{tag}-{uid}.test"
    mx_zone(knot, zone, [(10, "mx")], {"mx": SINK})
    return zone


def _mine(sink: RemoteMx, zone: str) -> list[Received]:
    with sink._lock:
        return [m for m in sink.messages if m.recipient.endswith("@" + zone)]


def _peers(received: list[Received]) -> Counter[str]:
    return Counter(m.peer for m in received)


def test_a_ramp_at_15_percent_takes_15_percent_of_2000_deliveries(
    engine_settings: EngineSettings,
    database: Database,
    knot: Knot,
    sink: RemoteMx,
    make_route: MakeRoute,
    uid: str,
) -> None:
    zone = _zone(knot, uid, "ramp")
    new = make_route(
        source_ip=NEW_IP, plan={"ramp": [{"day": 0, "percent": 15}, {"day": 7, "percent": 30}]}
    )
    make_route(source_ip=OLD_IP)
    ids = queue(database, [f"ok-{i}@{zone}" for i in range(2000)], type=MessageType.BULK)
    with worker_running(engine_settings(delivery_batch_size=200)):
        rows = wait_until_final(database, ids, timeout=120)
    assert {r.status for r in rows} == {"delivered"}
    peers = _peers(_mine(sink, zone))
    assert sum(peers.values()) == 2000
    assert set(peers) == {NEW_IP, OLD_IP}
    # 15 % of 2,000 is 300; a low-discrepancy choice lands within a few (binomial noise
    # would be ± 16 at one standard deviation).
    assert abs(peers[NEW_IP] - 300) <= 6, peers
    assert Counter(r.route_id for r in rows)[new["id"]] == peers[NEW_IP]


def test_by_type_only_transactional_mail_takes_the_new_route(
    engine_settings: EngineSettings,
    database: Database,
    knot: Knot,
    sink: RemoteMx,
    make_route: MakeRoute,
    uid: str,
) -> None:
    zone = _zone(knot, uid, "types")
    make_route(source_ip=NEW_IP, plan={"types": [{"day": 0, "types": ["transactional"]}]})
    make_route(source_ip=OLD_IP)
    transactional = [f"ok-t{i}@{zone}" for i in range(30)]
    bulk = [f"ok-b{i}@{zone}" for i in range(30)]
    ids = queue(database, transactional) + queue(database, bulk, type=MessageType.BULK)
    with worker_running(engine_settings()):
        wait_until_final(database, ids, timeout=60)
    received = _mine(sink, zone)
    assert _peers([m for m in received if m.recipient in transactional]) == {NEW_IP: 30}
    assert _peers([m for m in received if m.recipient in bulk]) == {OLD_IP: 30}


def test_over_the_daily_cap_mail_overflows_to_the_established_route(
    engine_settings: EngineSettings,
    database: Database,
    knot: Knot,
    sink: RemoteMx,
    make_route: MakeRoute,
    api: Api,
    uid: str,
) -> None:
    zone = _zone(knot, uid, "cap")
    new = make_route(
        source_ip=NEW_IP,
        plan={
            "daily_cap": [{"day": 0, "cap": 7}],
            "ramp": [{"day": 0, "percent": 100}, {"day": 30, "percent": 100}],
        },
    )
    make_route(source_ip=OLD_IP)
    ids = queue(database, [f"ok-{i}@{zone}" for i in range(40)])
    with worker_running(engine_settings(delivery_batch_size=10)):
        wait_until_final(database, ids, timeout=60)
    assert _peers(_mine(sink, zone)) == {NEW_IP: 7, OLD_IP: 33}
    shown = api.ok("GET", f"/api/v1/outbound-routes/{new['id']}")["warm_up"]
    assert (shown["daily_cap"], shown["today_count"], shown["established"]) == (7, 7, False)


def test_a_retry_deferred_on_the_established_route_stays_off_the_cold_route(
    engine_settings: EngineSettings,
    database: Database,
    knot: Knot,
    sink: RemoteMx,
    make_route: MakeRoute,
    uid: str,
) -> None:
    zone = _zone(knot, uid, "retry")
    old = make_route(source_ip=OLD_IP)
    greylisted = f"temp-{uid}@{zone}"
    [retry_id] = queue(database, [greylisted])
    settings = engine_settings(delivery_retry_base_seconds=3.0, delivery_retry_max_seconds=3.0)
    with worker_running(settings):
        deadline = time.monotonic() + 20
        while deliveries(database, [retry_id])[0].attempts == 0:
            assert time.monotonic() < deadline, "never attempted"
            time.sleep(0.05)
    [deferred] = deliveries(database, [retry_id])
    assert (deferred.status, deferred.route_id) == ("deferred", old["id"])
    # Now a cold route that would take all of this (transactional) mail.
    cold = make_route(source_ip=NEW_IP, plan={"types": [{"day": 0, "types": ["transactional"]}]})
    fresh = queue(database, [f"ok-fresh-{uid}@{zone}"])
    with worker_running(engine_settings()):
        rows = wait_until_final(database, [retry_id, *fresh], timeout=60)
    assert [r.status for r in rows] == ["delivered", "delivered"]
    assert [r.route_id for r in rows] == [old["id"], cold["id"]]
    by_recipient = {m.recipient: m.peer for m in _mine(sink, zone)}
    assert by_recipient == {greylisted: OLD_IP, f"ok-fresh-{uid}@{zone}": NEW_IP}
    assert len(attempts(database, retry_id)) == 2


def test_the_sink_sees_the_routes_helo_name_and_source_address(
    engine_settings: EngineSettings,
    database: Database,
    knot: Knot,
    sink: RemoteMx,
    make_route: MakeRoute,
    uid: str,
) -> None:
    zone = _zone(knot, uid, "helo")
    make_route(source_ip=OTHER_IP, helo_name=f"out-{uid}.mailplane.test")
    ids = queue(database, [f"ok-{i}@{zone}" for i in range(5)])
    with worker_running(engine_settings()):
        wait_until_final(database, ids, timeout=60)
    received = _mine(sink, zone)
    assert {(m.peer, m.helo) for m in received} == {(OTHER_IP, f"out-{uid}.mailplane.test")}
    assert len(received) == 5


def test_a_relay_route_delivers_through_its_relay_with_auth(
    engine_settings: EngineSettings,
    settings: Settings,
    database: Database,
    make_route: MakeRoute,
    uid: str,
) -> None:
    relay = RemoteMx("127.0.0.44", free_port(), credentials=("relayuser", "relay-secret-9"))
    relay.start()
    try:
        route = make_route(
            relay_host="127.0.0.44",
            relay_port=relay.port,
            relay_tls="none",
            relay_username="relayuser",
            relay_password="relay-secret-9",
            source_ip=OTHER_IP,
        )
        # No zone anywhere for this domain: the relay route never asks DNS.
        recipient = f"ok-{uid}@nowhere-{uid}.example"
        ids = queue(database, [recipient])
        # The API's secret: the worker decrypts the password the API stored.
        with worker_running(engine_settings(secret_key=settings.secret_key)):
            [row] = wait_until_final(database, ids, timeout=60)
    finally:
        relay.stop()
    assert (row.status, row.route_id) == ("delivered", route["id"])
    [received] = relay.to(recipient)
    assert received.authenticated
    assert received.peer == OTHER_IP


def test_an_ipv6_route_does_not_try_ipv4_mx_hosts(
    engine_settings: EngineSettings, knot: Knot, uid: str
) -> None:
    zone = _zone(knot, uid, "family")
    router = Router(engine_settings())
    via = RouteConfig(
        id=10**6, name="v6", source_ip="::1", relay_host=None, relay_port=None,
        relay_tls="starttls", relay_username=None, relay_password=None, helo_name=None,
        plan=None, plan_started_at=None, accepts_retries=False,
    )  # fmt: skip
    answer = asyncio.run(router.route(zone, via))
    assert isinstance(answer, NoRoute)
    assert (answer.permanent, answer.code) == (False, 451)
    v4 = asyncio.run(router.route(zone, dataclasses.replace(via, source_ip=NEW_IP)))
    assert isinstance(v4, Route)
    assert (v4.source_ip, v4.via, [h.address for h in v4.hosts]) == (NEW_IP, 10**6, [SINK])
    assert v4.pool_key == (10**6, zone)
    plain = asyncio.run(router.route(zone))
    assert isinstance(plain, Route)
    assert (plain.source_ip, plain.pool_key) == (None, zone)
