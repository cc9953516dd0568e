"""The deliverability report: what a tenant sent in the last 24 hours and 7 days and how
it fared, by destination and by route, as the engine's real outcomes at an aiosmtpd MX
made them."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import update

from mailplane.db import Database
from mailplane.models import Complaint, Delivery, SendingPause, utcnow
from tests.delivery.conftest import MX1, EngineSettings
from tests.delivery.support import deliver, mx_zone
from tests.delivery.tenant_mail import ids, queue_as, tenant_domain
from tests.support.api import Api
from tests.support.knot import Knot
from tests.support.mx import RemoteMx


def test_rates_by_destination_and_route_over_24_hours_and_7_days(
    engine_settings: EngineSettings,
    database: Database,
    knot: Knot,
    mx1: RemoteMx,
    api: Api,
    uid: str,
) -> None:
    first, second = f"rep1-{uid}.test", f"rep2-{uid}.test"
    for zone in (first, second):
        mx_zone(knot, zone, [(10, "mx1")], {"mx1": MX1})
    sender = tenant_domain(api)
    recipients = [f"ok-{i}-{uid}@{first}" for i in range(6)] + [
        f"perm-a-{uid}@{first}",  # 5.1.1: hard
        f"full-a-{uid}@{first}",  # 5.2.2: soft
        f"ok-x-{uid}@{second}",
        f"ok-y-{uid}@{second}",
    ]
    queued = queue_as(database, sender, recipients)
    rows = deliver(engine_settings(), database, ids(queued))
    by_recipient = {r.recipient: r for r in rows}
    complained = by_recipient[f"ok-0-{uid}@{first}"]
    old = by_recipient[f"ok-y-{uid}@{second}"]
    with database.transaction() as session:
        session.add(
            Complaint(
                tenant_id=sender.tenant_id,
                delivery_id=complained.id,
                message_id=complained.message_id,
                recipient=complained.recipient,
            )
        )
        # One delivery settled three days ago: in the 7-day figures only.
        session.execute(
            update(Delivery)
            .where(Delivery.id == old.id)
            .values(finished_at=utcnow() - timedelta(days=3))
        )

    found = api.ok("GET", f"/api/v1/tenants/{sender.tenant_id}/deliverability")
    day, week = found["periods"]["24h"], found["periods"]["7d"]
    assert day["totals"]["sent"] == 9
    assert week["totals"]["sent"] == 10
    assert week["totals"]["delivered"] == 8
    assert week["totals"]["bounced_hard"] == 1
    assert week["totals"]["bounced_soft"] == 1
    assert week["totals"]["complaints"] == 1
    assert week["totals"]["hard_bounce_rate"] == 0.1
    assert week["totals"]["complaint_rate"] == round(1 / 8, 5)
    destinations = {d["destination"]: d for d in week["by_destination"]}
    assert destinations[first]["sent"] == 8
    assert destinations[first]["bounce_rate"] == 0.25
    assert destinations[second]["sent"] == 2
    assert [(r["route_id"], r["route"], r["sent"]) for r in week["by_route"]] == [
        (None, "default", 10)
    ]
    assert found["breaker"] == {
        "paused": False,
        "pause_id": None,
        "scope": None,
        "trigger": None,
        "since": None,
        "detail": {},
    }

    # Per domain: the same mail (it all came from this domain); a pause shows.
    with database.transaction() as session:
        session.add(
            SendingPause(
                tenant_id=sender.tenant_id, scope="bulk", trigger="operator", created_by="test"
            )
        )
    mine = api.ok("GET", f"/api/v1/mail/domains/{sender.domain_id}/deliverability")
    assert mine["periods"]["7d"]["totals"] == week["totals"]
    assert mine["breaker"]["paused"] is True
    assert mine["breaker"]["trigger"] == "operator"

    # A tenant admin sees its own report, another tenant's does not exist for it.
    admin = api.tenant_admin(sender.tenant_id)
    assert admin.ok("GET", f"/api/v1/tenants/{sender.tenant_id}/deliverability")
    stranger = api.tenant_admin(api.tenant()["id"])
    response = stranger.request("GET", f"/api/v1/tenants/{sender.tenant_id}/deliverability")
    assert response.status_code == 404
    response = stranger.request("GET", f"/api/v1/mail/domains/{sender.domain_id}/deliverability")
    assert response.status_code == 404
