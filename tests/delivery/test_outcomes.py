"""Each outcome of a delivery, against real servers: MX records from Knot, remote MX
hosts (aiosmtpd) on 127.0.0.x, the worker's own resolver, pool and retries."""

from __future__ import annotations

import ssl
import time
from datetime import timedelta
from pathlib import Path

from sqlalchemy import update

from mailplane.db import Database
from mailplane.delivery.envelope import parse_verp
from mailplane.mailserver.tls import self_signed
from mailplane.models import Delivery, utcnow
from tests.delivery.conftest import DEAD, MX1, MX2, EngineSettings
from tests.delivery.support import attempts, deliver, mx_zone, queue, worker_running
from tests.support.knot import Knot
from tests.support.mx import RemoteMx
from tests.support.ports import free_port


def two_mx(knot: Knot, uid: str) -> str:
    zone = f"two-{uid}.test"
    mx_zone(knot, zone, [(10, "mx1"), (20, "mx2")], {"mx1": MX1, "mx2": MX2})
    return zone


def test_250_is_delivered_with_a_verp_return_path(
    engine_settings: EngineSettings, database: Database, knot: Knot, mx1: RemoteMx, uid: str
) -> None:
    zone = two_mx(knot, uid)
    settings = engine_settings()
    ids = queue(database, [f"ok-a@{zone}", f"ok-b@{zone}"])
    rows = deliver(settings, database, ids)
    assert [r.status for r in rows] == ["delivered", "delivered"]
    for row in rows:
        [received] = mx1.to(row.recipient)
        assert parse_verp(settings, received.mail_from) == row.id
        assert received.mail_from.endswith("@bounces.mailplane.test")
        [attempt] = attempts(database, row.id)
        assert (attempt.outcome, attempt.code, attempt.remote_ip) == ("delivered", 250, MX1)
        assert attempt.remote_host == f"mx1.{zone}"
        assert row.last_code == 250
        assert row.finished_at is not None
    # A made-up or altered return path names no delivery.
    assert parse_verp(settings, f"b+{ids[0]}-0000000000000000@bounces.mailplane.test") is None


def test_4xx_is_retried_then_delivered(
    engine_settings: EngineSettings, database: Database, knot: Knot, mx1: RemoteMx, uid: str
) -> None:
    zone = two_mx(knot, uid)
    ids = queue(database, [f"temp-{uid}@{zone}"])
    [row] = deliver(engine_settings(), database, ids)
    assert row.status == "delivered"
    first, second = attempts(database, row.id)
    assert (first.outcome, first.code, first.enhanced_code) == ("deferred", 451, "4.7.1")
    assert second.outcome == "delivered"
    assert row.attempts == 2


def test_5xx_at_rcpt_and_at_data_bounce_at_once(
    engine_settings: EngineSettings, database: Database, knot: Knot, mx1: RemoteMx, uid: str
) -> None:
    zone = two_mx(knot, uid)
    ids = queue(database, [f"perm-{uid}@{zone}", f"permdata-{uid}@{zone}", f"ok-{uid}@{zone}"])
    rows = deliver(engine_settings(), database, ids)
    assert [r.status for r in rows] == ["bounced", "bounced", "delivered"]
    assert (rows[0].last_code, rows[0].last_enhanced_code) == (550, "5.1.1")
    assert (rows[1].last_code, rows[1].last_enhanced_code) == (554, "5.6.0")
    # Classified as an asynchronous bounce would be (the API and webhooks show it).
    assert (rows[0].bounce_type, rows[0].bounce_classification) == ("hard", "invalid_address")
    assert (rows[1].bounce_type, rows[1].bounce_classification) == ("hard", "content")
    assert rows[2].bounce_type is None
    assert rows[0].next_attempt_at is None
    assert len(attempts(database, rows[0].id)) == 1


def test_dropped_connection_and_slow_server_are_deferred_then_delivered(
    engine_settings: EngineSettings, database: Database, knot: Knot, mx1: RemoteMx, uid: str
) -> None:
    zone = two_mx(knot, uid)
    ids = queue(database, [f"drop-{uid}@{zone}", f"slow-{uid}@{zone}"])
    rows = deliver(engine_settings(), database, ids)
    assert [r.status for r in rows] == ["delivered", "delivered"]
    for row in rows:
        first = attempts(database, row.id)[0]
        assert first.outcome == "deferred"
        assert first.code is None
        assert "4.4.2" in (first.reply or "")


def test_421_mid_session_is_deferred_and_the_connection_dropped(
    engine_settings: EngineSettings, database: Database, knot: Knot, mx1: RemoteMx, uid: str
) -> None:
    zone = two_mx(knot, uid)
    ids = queue(database, [f"closing-{uid}@{zone}"])
    [row] = deliver(engine_settings(), database, ids)
    assert row.status == "delivered"
    first = attempts(database, row.id)[0]
    assert (first.outcome, first.code) == ("deferred", 421)


def test_first_mx_down_goes_to_the_next(
    engine_settings: EngineSettings, database: Database, knot: Knot, mx2: RemoteMx, uid: str
) -> None:
    zone = f"down-{uid}.test"
    mx_zone(knot, zone, [(10, "dead"), (20, "mx2")], {"dead": DEAD, "mx2": MX2})
    ids = queue(database, [f"ok-{uid}@{zone}"])
    [row] = deliver(engine_settings(), database, ids)
    assert row.status == "delivered"
    [attempt] = attempts(database, row.id)
    assert (attempt.remote_host, attempt.remote_ip) == (f"mx2.{zone}", MX2)
    assert mx2.to(f"ok-{uid}@{zone}")


def test_implicit_mx_from_the_a_record(
    engine_settings: EngineSettings, database: Database, knot: Knot, mx2: RemoteMx, uid: str
) -> None:
    zone = f"implicit-{uid}.test"
    knot.add_zone(zone, [{"type": "A", "name": zone, "value": MX2}])
    ids = queue(database, [f"ok-{uid}@{zone}"])
    [row] = deliver(engine_settings(), database, ids)
    assert row.status == "delivered"
    assert mx2.to(f"ok-{uid}@{zone}")


def test_null_mx_and_nxdomain_fail_at_once(
    engine_settings: EngineSettings, database: Database, knot: Knot, uid: str
) -> None:
    zone = f"null-{uid}.test"
    mx_zone(knot, zone, [(0, "")], {})
    ids = queue(database, [f"ok@{zone}", f"ok@nothere.{zone}"])
    rows = deliver(engine_settings(), database, ids)
    assert [r.status for r in rows] == ["failed", "failed"]
    assert (rows[0].last_code, rows[0].last_enhanced_code) == (556, "5.1.10")
    assert "null MX" in (rows[0].last_reply or "")
    assert "NXDOMAIN" in (rows[1].last_reply or "")
    assert all(len(attempts(database, r.id)) == 1 for r in rows)


def test_retry_hint_is_honoured(
    engine_settings: EngineSettings, database: Database, knot: Knot, mx1: RemoteMx, uid: str
) -> None:
    zone = two_mx(knot, uid)
    ids = queue(database, [f"hint-{uid}@{zone}"])
    # Without the hint the retry would come after 0.1-0.2 s (base 0.2 s, max 1 s).
    [row] = deliver(engine_settings(delivery_retry_max_seconds=10.0), database, ids)
    assert row.status == "delivered"
    first, second = attempts(database, row.id)
    assert second.started_at - first.started_at >= timedelta(seconds=2)


def test_too_old_fails_instead_of_deferring(
    engine_settings: EngineSettings, database: Database, knot: Knot, mx1: RemoteMx, uid: str
) -> None:
    zone = two_mx(knot, uid)
    accepted = utcnow() - timedelta(hours=121)
    ids = queue(database, [f"always-{uid}@{zone}"], now=accepted)
    [row] = deliver(engine_settings(delivery_max_age_hours=120), database, ids)
    assert row.status == "failed"
    assert row.last_enhanced_code == "4.4.7"
    assert "expired" in (row.last_reply or "")
    assert "451 4.3.0" in (row.last_reply or "")


def test_relay_with_auth_takes_everything(
    engine_settings: EngineSettings, database: Database, uid: str
) -> None:
    port = free_port()
    relay = RemoteMx("127.0.0.4", port, credentials=("relayuser", "relay-secret"))
    relay.start()
    try:
        settings = engine_settings(
            relay_host=f"127.0.0.4:{port}",
            relay_tls="none",
            relay_username="relayuser",
            relay_password="relay-secret",
        )
        # No zone anywhere for this domain: the relay route never asks DNS.
        ids = queue(database, [f"ok-{uid}@nowhere-{uid}.example"])
        [row] = deliver(settings, database, ids)
    finally:
        relay.stop()
    assert row.status == "delivered"
    [received] = relay.to(f"ok-{uid}@nowhere-{uid}.example")
    assert received.authenticated


def test_relay_refusing_our_login_defers(
    engine_settings: EngineSettings, database: Database, uid: str
) -> None:
    relay = RemoteMx("127.0.0.4", free_port(), credentials=("relayuser", "relay-secret"))
    relay.start()
    try:
        settings = engine_settings(
            relay_host=f"127.0.0.4:{relay.port}",
            relay_tls="none",
            relay_username="relayuser",
            relay_password="wrong",
        )
        ids = queue(database, [f"ok-{uid}@nowhere-{uid}.example"])
        with worker_running(settings):
            deadline = time.monotonic() + 10
            while not attempts(database, ids[0]) and time.monotonic() < deadline:
                time.sleep(0.05)
    finally:
        relay.stop()
    first = attempts(database, ids[0])[0]
    assert first.outcome == "deferred"
    assert first.code == 535
    assert relay.messages == []
    # Not left for later tests' workers: cancelled as its sender would.
    with database.transaction() as session:
        session.execute(
            update(Delivery)
            .where(Delivery.id == ids[0])
            .values(status="cancelled", next_attempt_at=None)
        )


def test_starttls_whenever_the_mx_offers_it(
    engine_settings: EngineSettings,
    database: Database,
    knot: Knot,
    mx_port: int,
    tmp_path: Path,
    uid: str,
) -> None:
    self_signed("tls-mx.test", tmp_path / "cert.pem", tmp_path / "key.pem")
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(tmp_path / "cert.pem", tmp_path / "key.pem")
    server = RemoteMx("127.0.0.7", mx_port, tls=context)
    server.start()
    try:
        zone = f"tls-{uid}.test"
        mx_zone(knot, zone, [(10, "mx")], {"mx": "127.0.0.7"})
        ids = queue(database, [f"ok-{uid}@{zone}"])
        [row] = deliver(engine_settings(), database, ids)
    finally:
        server.stop()
    assert row.status == "delivered"
    [received] = server.to(f"ok-{uid}@{zone}")
    assert received.encrypted  # a self-signed certificate does not stop opportunistic TLS


def test_non_ascii_addresses_go_with_smtputf8_or_bounce_without_it(
    engine_settings: EngineSettings,
    database: Database,
    knot: Knot,
    mx1: RemoteMx,
    mx_port: int,
    uid: str,
) -> None:
    zone = two_mx(knot, uid)
    old = f"old-{uid}.test"
    mx_zone(knot, old, [(10, "mx")], {"mx": "127.0.0.8"})
    ascii_only = RemoteMx("127.0.0.8", mx_port, smtputf8=False)
    ascii_only.start()
    try:
        ids = queue(
            database, [f"ok-jürgen-{uid}@{zone}", f"ok-jürgen-{uid}@{old}", f"ok-{uid}@{old}"]
        )
        rows = deliver(engine_settings(), database, ids)
    finally:
        ascii_only.stop()
    assert [r.status for r in rows] == ["delivered", "bounced", "delivered"]
    assert mx1.to(f"ok-jürgen-{uid}@{zone}")
    assert (rows[1].last_code, rows[1].last_enhanced_code) == (553, "5.6.7")


def test_connections_are_reused_within_the_destination_limit(
    engine_settings: EngineSettings, database: Database, knot: Knot, mx_port: int, uid: str
) -> None:
    server = RemoteMx("127.0.0.10", mx_port)
    server.start()
    try:
        zone = f"reuse-{uid}.test"
        mx_zone(knot, zone, [(10, "mx")], {"mx": "127.0.0.10"})
        recipients = [f"ok-{n}-{uid}@{zone}" for n in range(30)] + [f"perm-{uid}@{zone}"]
        ids = queue(database, recipients)
        rows = deliver(engine_settings(delivery_concurrency_per_destination=2), database, ids)
    finally:
        server.stop()
    assert sorted({r.status for r in rows}) == ["bounced", "delivered"]
    assert len(server.messages) == 30
    # 31 transactions (one refused, then RSET) over at most 2 connections.
    assert 1 <= server.connections <= 2
