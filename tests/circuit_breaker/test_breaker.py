"""The circuit breaker end to end: the engine delivers to the aiosmtpd MX (``perm-``
recipients are refused 5.1.1, ``ok-`` ones accepted), counts, trips, holds a tenant's
bulk mail while its transactional mail and other tenants' mail flow, and an operator's
resume releases it."""

from __future__ import annotations

import time

from mailplane.db import Database
from mailplane.models.statuses import MessageType
from tests.circuit_breaker.support import audited, by_status, events, settled
from tests.delivery.conftest import MX1, EngineSettings
from tests.delivery.support import mx_zone, queue, wait_until_final, worker_running
from tests.support.api import Api
from tests.support.knot import Knot
from tests.support.mx import RemoteMx


def _list(uid: str, zone: str, count: int, every: int, start: int = 0) -> list[str]:
    """``count`` recipients, each ``every``-th refused for good."""
    return [
        f"{'perm' if i % every == 0 else 'ok'}-{i}x{uid}@{zone}"
        for i in range(start, start + count)
    ]


def test_a_bulk_list_that_bounces_hard_trips_the_breaker_after_the_minimum_sample(
    engine_settings: EngineSettings,
    database: Database,
    knot: Knot,
    mx1: RemoteMx,
    api: Api,
    uid: str,
) -> None:
    zone = f"cb-{uid}.test"
    mx_zone(knot, zone, [(10, "mx1")], {"mx1": MX1})
    tenant, other = api.tenant()["id"], api.tenant()["id"]
    settings = engine_settings(breaker_min_sample=100, delivery_batch_size=10)
    bulk = queue(database, _list(uid, zone, 400, 10), tenant_id=tenant, type=MessageType.BULK)
    with worker_running(settings):
        rows = settled(database, bulk)
        counts = by_status(rows)
        # Tripped: the rest of the list waits, paused, never attempted.
        assert counts.get("paused", 0) > 0, counts
        assert all(
            r.attempts == 0 and r.next_attempt_at is None for r in rows if r.status == "paused"
        )
        # The tenant's transactional mail and another tenant's bulk mail still leave.
        receipt = queue(database, [f"ok-receipt{uid}@{zone}"], tenant_id=tenant)
        others = queue(database, [f"ok-other{uid}@{zone}"], tenant_id=other, type=MessageType.BULK)
        # Workers see a new pause within a second (delivery/admission.py); bulk mail
        # queued after that is held when claimed.
        time.sleep(2.0)
        later = queue(database, [f"ok-later{uid}@{zone}"], tenant_id=tenant, type=MessageType.BULK)
        assert [r.status for r in wait_until_final(database, receipt + others)] == [
            "delivered", "delivered",
        ]  # fmt: skip
        # Bulk mail queued after the trip is held too (the admission step).
        assert [r.status for r in settled(database, later)] == ["paused"]

        state = api.ok("GET", f"/api/v1/tenants/{tenant}/sending")
        pause = state["pause"]
        assert (pause["scope"], pause["trigger"], pause["created_by"]) == (
            "bulk", "hard_bounce_rate", "system",
        )  # fmt: skip
        # Not before the minimum sample; and before the whole list had gone out.
        assert 100 <= pause["detail"]["sample"] < 400
        assert pause["detail"]["rate"] > 0.05
        assert pause["detail"]["threshold"] == 0.05
        assert pause["detail"]["window_minutes"] == 1440
        assert state["paused_deliveries"] == counts["paused"] + 1
        assert state["hard_bounces"]["sample"] >= 100
        assert state["hard_bounces"]["rate"] > 0.05
        assert state["complaints"]["count"] == 0
        assert api.ok("GET", f"/api/v1/tenants/{other}/sending")["pause"] is None

        [event] = events(database, tenant, "sending.paused")
        assert (event["pause_id"], event["trigger"]) == (pause["id"], "hard_bounce_rate")
        # What the trip held at once; mail a worker had claimed just before it is held by
        # admission instead (it reads the pauses in its own transaction), never sent.
        assert 1 <= event["held"] <= counts["paused"]
        [entry] = audited(database, tenant, "sending.paused")
        assert (entry.actor_type, entry.object_id) == ("system", pause["id"])

        # The operator resumes: everything held goes out (and the evidence already weighed
        # does not trip the breaker again at once).
        resumed = api.ok("POST", f"/api/v1/tenants/{tenant}/sending/resume")
        assert resumed["id"] == pause["id"]
        assert resumed["resumed_at"] is not None
        final = wait_until_final(database, bulk + later, timeout=60)
    assert by_status(final).get("paused", 0) == 0
    delivered = {m.recipient for m in mx1.messages}
    for row in final:
        assert row.status == ("bounced" if row.recipient.startswith("perm-") else "delivered")
        assert (row.recipient in delivered) == (row.status == "delivered")
    [released] = events(database, tenant, "sending.resumed")
    assert released["released"] == counts["paused"] + 1
    assert len(audited(database, tenant, "sending.resumed")) == 1
    history = api.ok("GET", f"/api/v1/tenants/{tenant}/sending/pauses")["items"]
    assert [(p["id"], p["resumed_by"] is not None) for p in history] == [(pause["id"], True)]
    assert api.ok("GET", f"/api/v1/tenants/{tenant}/sending")["pause"] is None


def test_a_campaign_that_bounces_trips_the_breaker_for_its_batch(
    engine_settings: EngineSettings,
    database: Database,
    knot: Knot,
    mx1: RemoteMx,
    api: Api,
    uid: str,
) -> None:
    zone = f"cbb-{uid}.test"
    mx_zone(knot, zone, [(10, "mx1")], {"mx1": MX1})
    tenant = api.tenant()["id"]
    settings = engine_settings(breaker_min_sample=50, delivery_batch_size=10)
    # A clean history first: the tenant's rate stays under 5 %, the campaign's does not.
    good = queue(database, _list(uid, zone, 200, 10**6, start=1), tenant_id=tenant)
    campaign = queue(
        database, _list(uid, zone, 150, 10, start=1000), tenant_id=tenant,
        type=MessageType.BULK, batch_id=f"camp-{uid}",
    )  # fmt: skip
    with worker_running(settings):
        wait_until_final(database, good, timeout=60)
        rows = settled(database, campaign)
    assert by_status(rows).get("paused", 0) > 0
    [pause] = api.ok("GET", f"/api/v1/tenants/{tenant}/sending/pauses")["items"]
    assert (pause["trigger"], pause["batch_id"]) == ("hard_bounce_rate", f"camp-{uid}")
    assert pause["detail"]["scope"] == f"batch:{tenant}:camp-{uid}"
    assert 50 <= pause["detail"]["sample"] < 150


def test_an_operator_pause_of_all_sending_holds_transactional_mail_too(
    engine_settings: EngineSettings,
    database: Database,
    knot: Knot,
    mx1: RemoteMx,
    api: Api,
    uid: str,
) -> None:
    zone = f"cbo-{uid}.test"
    mx_zone(knot, zone, [(10, "mx1")], {"mx1": MX1})
    tenant = api.tenant()["id"]
    admin = api.tenant_admin(tenant)
    body = {"scope": "all", "reason": "abuse report from a partner"}
    # Authority has a direction: a tenant admin reads its state, never pauses or resumes.
    denied = admin.post(f"/api/v1/tenants/{tenant}/sending/pause", json=body)
    assert (denied.status_code, denied.json()["error"]) == (403, "platform_only")
    assert admin.ok("GET", f"/api/v1/tenants/{tenant}/sending")["pause"] is None
    queued_before = queue(database, [f"ok-before{uid}@{zone}"], tenant_id=tenant)
    pause = api.ok("POST", f"/api/v1/tenants/{tenant}/sending/pause", 201, json=body)
    assert (pause["scope"], pause["trigger"], pause["detail"]) == (
        "all", "operator", {"reason": "abuse report from a partner"},
    )  # fmt: skip
    again = api.post(f"/api/v1/tenants/{tenant}/sending/pause", json=body)
    assert (again.status_code, again.json()["error"]) == (409, "already_paused")
    with worker_running(engine_settings()):
        queued_after = queue(database, [f"ok-after{uid}@{zone}"], tenant_id=tenant)
        rows = settled(database, queued_before + queued_after)
        assert [r.status for r in rows] == ["paused", "paused"]
        denied = admin.post(f"/api/v1/tenants/{tenant}/sending/resume")
        assert (denied.status_code, denied.json()["error"]) == (403, "platform_only")
        api.ok("POST", f"/api/v1/tenants/{tenant}/sending/resume")
        rows = wait_until_final(database, queued_before + queued_after)
    assert [r.status for r in rows] == ["delivered", "delivered"]
    not_paused = api.post(f"/api/v1/tenants/{tenant}/sending/resume")
    assert (not_paused.status_code, not_paused.json()["error"]) == (409, "not_paused")


def test_an_operator_sets_a_tenants_own_thresholds(
    engine_settings: EngineSettings,
    database: Database,
    knot: Knot,
    mx1: RemoteMx,
    api: Api,
    uid: str,
) -> None:
    zone = f"cbt-{uid}.test"
    mx_zone(knot, zone, [(10, "mx1")], {"mx1": MX1})
    strict, default = api.tenant()["id"], api.tenant()["id"]
    own = {"breaker_min_sample": 20, "breaker_hard_bounce_rate": 0.2}
    limits = api.ok("PATCH", f"/api/v1/tenants/{strict}", json={"limits": own})["limits"]
    assert (limits["breaker_min_sample"], limits["breaker_hard_bounce_rate"]) == (20, 0.2)
    state = api.ok("GET", f"/api/v1/tenants/{strict}/sending")
    assert (state["hard_bounces"]["min_sample"], state["hard_bounces"]["threshold"]) == (20, 0.2)
    assert state["complaints"]["threshold"] == 0.003
    # A list where a third bounces: 20 deliveries are enough for the tenant with its own
    # minimum sample; 60 are not for the one on the platform's 100.
    lists = {
        tenant: queue(
            database, _list(uid, zone, count, 3, start=1000 * count), tenant_id=tenant,
            type=MessageType.BULK,
        )
        for tenant, count in ((strict, 200), (default, 60))
    }  # fmt: skip
    with worker_running(engine_settings(delivery_batch_size=5)):
        strict_rows = settled(database, lists[strict])
        default_rows = wait_until_final(database, lists[default], timeout=60)
    assert by_status(strict_rows).get("paused", 0) > 0
    assert by_status(default_rows).get("paused", 0) == 0
    pause = api.ok("GET", f"/api/v1/tenants/{strict}/sending")["pause"]
    assert (pause["detail"]["min_sample"], pause["detail"]["threshold"]) == (20, 0.2)
    assert 20 <= pause["detail"]["sample"] < 200
    assert api.ok("GET", f"/api/v1/tenants/{default}/sending")["pause"] is None
