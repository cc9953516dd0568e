"""The suppression list learns from the engine's outcomes: a remote MX (aiosmtpd) refuses,
the address is listed for that tenant only, and later mail to it is never attempted."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import update

from mailplane.db import Database
from mailplane.models import Suppression, utcnow
from mailplane.suppressions.policy import sweep
from tests.delivery.conftest import MX1, EngineSettings
from tests.delivery.support import attempts, deliver, deliveries, mx_zone
from tests.delivery.tenant_mail import entry, ids, listed, queue_as, tenant_domain
from tests.support.api import Api
from tests.support.knot import Knot
from tests.support.mx import RemoteMx


def one_mx(knot: Knot, uid: str) -> str:
    zone = f"supp-{uid}.test"
    mx_zone(knot, zone, [(10, "mx1")], {"mx1": MX1})
    return zone


def test_a_5_1_1_bounce_suppresses_the_address_for_its_tenant_only(
    engine_settings: EngineSettings,
    database: Database,
    knot: Knot,
    mx1: RemoteMx,
    api: Api,
    uid: str,
) -> None:
    zone = one_mx(knot, uid)
    a, b = tenant_domain(api), tenant_domain(api)
    gone = f"perm-{uid}@{zone}"
    settings = engine_settings()
    first = queue_as(database, a, [gone])
    [row] = deliver(settings, database, ids(first))
    assert (row.status, row.last_enhanced_code) == ("bounced", "5.1.1")

    [item] = listed(api, a.tenant_id, gone)
    assert item["reason"] == "hard_bounce"
    assert item["message_id"] == first.message_id
    assert item["delivery_id"] == row.id
    assert "5.1.1" in item["detail"]
    expires = item["expires_at"]
    assert expires is not None
    assert expires > (utcnow() + timedelta(days=364)).isoformat()
    assert listed(api, b.tenant_id, gone) == []

    # A's next message to it is withheld when queued: suppressed, final, never attempted.
    again = queue_as(database, a, [gone, f"ok-{uid}@{zone}"])
    assert again.suppressed == frozenset({ids(again)[0]})
    rows = deliver(settings, database, ids(again))
    assert [r.status for r in rows] == ["suppressed", "delivered"]
    assert attempts(database, rows[0].id) == []
    assert "suppression list" in (rows[0].last_reply or "")
    assert rows[0].next_attempt_at is None
    assert rows[0].finished_at is not None

    # B has its own list: its mail to the same address is attempted (and bounces).
    theirs = queue_as(database, b, [gone])
    [row_b] = deliver(settings, database, ids(theirs))
    assert row_b.status == "bounced"
    assert len(attempts(database, row_b.id)) == 1


def test_an_address_suppressed_after_queueing_is_withheld_at_claim(
    engine_settings: EngineSettings,
    database: Database,
    knot: Knot,
    mx1: RemoteMx,
    api: Api,
    uid: str,
) -> None:
    zone = one_mx(knot, uid)
    a = tenant_domain(api)
    address = f"ok-{uid}@{zone}"
    queued = queue_as(database, a, [address])
    api.ok("POST", "/api/v1/suppressions", 201, json={"address": address, "tenant_id": a.tenant_id})
    [row] = deliver(engine_settings(), database, ids(queued))
    assert row.status == "suppressed"
    assert attempts(database, row.id) == []
    assert mx1.to(address) == []


def test_a_5_7_1_policy_block_does_not_suppress(
    engine_settings: EngineSettings,
    database: Database,
    knot: Knot,
    mx1: RemoteMx,
    api: Api,
    uid: str,
) -> None:
    zone = one_mx(knot, uid)
    a = tenant_domain(api)
    address = f"policy-{uid}@{zone}"
    settings = engine_settings()
    [row] = deliver(settings, database, ids(queue_as(database, a, [address])))
    assert (row.status, row.last_enhanced_code) == ("bounced", "5.7.1")
    assert listed(api, a.tenant_id, address) == []
    # And the next one is attempted again.
    [row] = deliver(settings, database, ids(queue_as(database, a, [address])))
    assert row.status == "bounced"
    assert len(attempts(database, row.id)) == 1


def test_soft_bounces_suppress_after_the_limit(
    engine_settings: EngineSettings,
    database: Database,
    knot: Knot,
    mx1: RemoteMx,
    api: Api,
    uid: str,
) -> None:
    zone = one_mx(knot, uid)
    a = tenant_domain(api)
    address = f"full-{uid}@{zone}"
    settings = engine_settings(suppression_soft_bounce_limit=3)
    for _ in range(2):
        [row] = deliver(settings, database, ids(queue_as(database, a, [address])))
        assert (row.status, row.last_enhanced_code) == ("bounced", "5.2.2")
    assert listed(api, a.tenant_id, address) == []
    [row] = deliver(settings, database, ids(queue_as(database, a, [address])))
    [item] = listed(api, a.tenant_id, address)
    assert item["reason"] == "repeated_soft_bounce"
    assert item["delivery_id"] == row.id
    assert "3 soft bounces" in item["detail"]
    [row] = deliver(settings, database, ids(queue_as(database, a, [address])))
    assert row.status == "suppressed"


def test_expired_entries_do_not_suppress_and_are_swept(
    engine_settings: EngineSettings,
    database: Database,
    knot: Knot,
    mx1: RemoteMx,
    api: Api,
    uid: str,
) -> None:
    zone = one_mx(knot, uid)
    a = tenant_domain(api)
    address = f"ok-{uid}@{zone}"
    created = api.ok(
        "POST", "/api/v1/suppressions", 201, json={"address": address, "tenant_id": a.tenant_id}
    )
    with database.transaction() as session:
        session.execute(
            update(Suppression)
            .where(Suppression.id == created["id"])
            .values(expires_at=utcnow() - timedelta(seconds=1))
        )
    assert listed(api, a.tenant_id, address) == []
    settings = engine_settings()
    [row] = deliver(settings, database, ids(queue_as(database, a, [address])))
    assert row.status == "delivered"
    with database.transaction() as session:
        sweep(session, settings, utcnow())
    assert entry(database, a.tenant_id, address) is None


def test_expiry_setting_zero_means_never(
    engine_settings: EngineSettings,
    database: Database,
    knot: Knot,
    mx1: RemoteMx,
    api: Api,
    uid: str,
) -> None:
    zone = one_mx(knot, uid)
    a = tenant_domain(api)
    gone = f"perm-never-{uid}@{zone}"
    settings = engine_settings(suppression_expiry_days=0)
    rows = deliver(settings, database, ids(queue_as(database, a, [gone])))
    assert rows[0].status == "bounced"
    found = entry(database, a.tenant_id, gone)
    assert found is not None
    assert found.expires_at is None
    assert deliveries(database, [rows[0].id])[0].status == "bounced"
