"""Sending statistics per domain and tenant, counted from real deliveries and read back
through the API by hour and by day."""

from __future__ import annotations

from datetime import timedelta

from mailplane.db import Database
from mailplane.models import utcnow
from tests.delivery.conftest import MX1, EngineSettings
from tests.delivery.support import deliver, mx_zone
from tests.delivery.tenant_mail import ids, queue_as, tenant_domain
from tests.support.api import Api
from tests.support.knot import Knot
from tests.support.mx import RemoteMx

ZERO = {
    "sent": 0,
    "delivered": 0,
    "deferred": 0,
    "bounced_hard": 0,
    "bounced_soft": 0,
    "suppressed": 0,
    "failed": 0,
}


def test_counts_by_hour_and_day_for_the_domain_and_the_tenant(
    engine_settings: EngineSettings,
    database: Database,
    knot: Knot,
    mx1: RemoteMx,
    api: Api,
    uid: str,
) -> None:
    zone = f"stats-{uid}.test"
    mx_zone(knot, zone, [(10, "mx1")], {"mx1": MX1})
    a, other = tenant_domain(api), tenant_domain(api)
    before = utcnow()
    empty = api.ok("GET", f"/api/v1/mail/domains/{a.domain_id}/stats")
    assert (empty["emailsSent"], empty["lastSentAt"], empty["totals"]) == (0, None, ZERO)
    assert len(empty["buckets"]) == 24

    first = queue_as(database, a, [f"ok-1-{uid}@{zone}", f"temp-{uid}@{zone}"])
    second = queue_as(database, a, [f"perm-{uid}@{zone}", f"full-{uid}@{zone}"])
    theirs = queue_as(database, other, [f"ok-2-{uid}@{zone}"])
    settings = engine_settings()
    deliver(settings, database, ids(first) + ids(second) + ids(theirs))
    # The bounced address is suppressed now: the next message to it is counted as such.
    third = queue_as(database, a, [f"perm-{uid}@{zone}"])
    assert third.suppressed

    expected = {
        "sent": 4,  # accepted recipients; the withheld one is not "sent"
        "delivered": 2,
        "deferred": 1,  # temp- is greylisted once
        "bounced_hard": 1,
        "bounced_soft": 1,
        "suppressed": 1,
        "failed": 0,
    }
    hourly = api.ok("GET", f"/api/v1/mail/domains/{a.domain_id}/stats?granularity=hour")
    assert hourly["granularity"] == "hour"
    assert hourly["totals"] == expected
    assert hourly["emailsSent"] == 4
    assert before.isoformat() <= hourly["lastSentAt"] <= utcnow().isoformat()
    now_bucket = [b for b in hourly["buckets"] if any(b[k] for k in ZERO)]
    assert now_bucket == [{"start": now_bucket[0]["start"], **expected}] or (
        # The deliveries straddled the turn of an hour: split over two buckets.
        len(now_bucket) == 2 and {k: now_bucket[0][k] + now_bucket[1][k] for k in ZERO} == expected
    )

    daily = api.ok("GET", f"/api/v1/mail/domains/{a.domain_id}/stats?granularity=day")
    assert daily["totals"] == expected
    assert len(daily["buckets"]) == 30
    assert daily["buckets"][-1]["start"].startswith(utcnow().date().isoformat()) or (
        daily["buckets"][-1]["start"] == daily["until"]
    )

    tenant = api.ok("GET", f"/api/v1/tenants/{a.tenant_id}/stats?granularity=day")
    assert tenant["totals"] == expected
    assert tenant["emailsSent"] == 4
    mine_only = api.ok("GET", f"/api/v1/tenants/{other.tenant_id}/stats")
    assert mine_only["totals"] == {**ZERO, "sent": 1, "delivered": 1}

    # A range before any of it: zero, but lastSentAt still says when.
    since = (utcnow() - timedelta(days=3)).isoformat()
    until = (utcnow() - timedelta(days=2)).isoformat()
    old = api.ok(
        "GET",
        f"/api/v1/mail/domains/{a.domain_id}/stats",
        params={"since": since, "until": until},
    )
    assert old["totals"] == ZERO
    assert old["lastSentAt"] == hourly["lastSentAt"]
    assert len(old["buckets"]) == 24

    # Another tenant's admin sees none of it.
    admin = api.tenant_admin(other.tenant_id)
    for path in (
        f"/api/v1/mail/domains/{a.domain_id}/stats",
        f"/api/v1/tenants/{a.tenant_id}/stats",
    ):
        assert admin.get(path).status_code == 404
    assert admin.ok("GET", f"/api/v1/tenants/{other.tenant_id}/stats")["emailsSent"] == 1


def test_bad_ranges_are_422_with_a_code(api: Api) -> None:
    a = tenant_domain(api)
    path = f"/api/v1/mail/domains/{a.domain_id}/stats"
    now = utcnow()
    backwards = {"since": now.isoformat(), "until": (now - timedelta(days=1)).isoformat()}
    assert api.get(path, params=backwards).json()["error"] == "invalid_range"
    huge = {"since": (now - timedelta(days=400)).isoformat(), "granularity": "hour"}
    response = api.get(path, params=huge)
    assert (response.status_code, response.json()["error"]) == (422, "range_too_large")
    assert api.get(path, params={"granularity": "week"}).status_code == 422
