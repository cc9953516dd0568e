"""Feedback reports through the bounce receiver's transaction (``bounces/receiver.receive``,
what Postfix's relay reaches): matched to the delivery, recorded, counted, suppressed;
enough of them trip the circuit breaker; unmatched ones are kept and answered."""

from __future__ import annotations

from mailplane.bounces import policy
from mailplane.bounces.receiver import receive
from mailplane.db import Database
from mailplane.delivery.envelope import verp_address
from mailplane.models.statuses import MessageType
from tests.circuit_breaker.support import audited, events
from tests.complaints import samples
from tests.delivery.conftest import MX1, EngineSettings
from tests.delivery.support import deliver, deliveries, mx_zone, queue
from tests.support.api import Api
from tests.support.knot import Knot
from tests.support.mx import RemoteMx


def test_a_complaint_is_recorded_suppresses_and_trips_the_breaker_over_the_rate(
    engine_settings: EngineSettings,
    database: Database,
    knot: Knot,
    mx1: RemoteMx,
    api: Api,
    uid: str,
) -> None:
    zone = f"fbl-{uid}.test"
    mx_zone(knot, zone, [(10, "mx1")], {"mx1": MX1})
    tenant = api.tenant()["id"]
    settings = engine_settings()
    recipients = [f"ok-{i}x{uid}@{zone}" for i in range(100)]
    ids = queue(database, recipients, tenant_id=tenant, type=MessageType.BULK)
    rows = deliver(settings, database, ids, timeout=60)
    assert {r.status for r in rows} == {"delivered"}
    feedback = f"fbl@{settings.effective_bounce_domain}"
    assert policy.decide(settings, {"recipient": feedback}) == "DUNNO"
    assert policy.decide(settings, {"recipient": f"fbl2@{settings.effective_bounce_domain}"}) != (
        "DUNNO"
    )

    complained = rows[7]
    raw = samples.render(
        samples.YAHOO, rcpt=complained.recipient, return_path=verp_address(settings, complained.id),
        message_id="<x@tests>", fbl=feedback,
    )  # fmt: skip
    assert (
        receive(settings, database, raw, [feedback]) == f"complaint about delivery {complained.id}"
    )
    # Reporters resend: stored again, counted and suppressed once.
    assert receive(settings, database, raw, [feedback]).startswith("repeated complaint")

    listed = api.ok("GET", "/api/v1/complaints", params={"tenant_id": tenant})["items"]
    assert [(c["delivery_id"], c["recipient"], c["user_agent"]) for c in listed] == [
        (complained.id, complained.recipient, "Yahoo!-Mail-Feedback/2.0")
    ] * 2
    admin = api.tenant_admin(tenant)
    assert len(admin.ok("GET", "/api/v1/complaints")["items"]) == 2
    suppressed = api.ok(
        "GET", "/api/v1/suppressions", params={"tenant_id": tenant, "q": complained.recipient}
    )["items"]
    assert [(s["reason"], s["expires_at"]) for s in suppressed] == [("complaint", None)]
    [event] = events(database, tenant, "message.complained")
    assert (event["delivery_id"], event["recipient"]) == (complained.id, complained.recipient)

    # One complaint in 100 deliveries is 1 %, over the 0.3 % threshold.
    state = api.ok("GET", f"/api/v1/tenants/{tenant}/sending")
    assert (state["complaints"]["count"], state["complaints"]["sample"]) == (1, 100)
    assert state["pause"]["trigger"] == "complaint_rate"
    assert state["pause"]["detail"]["sample"] == 100
    assert len(audited(database, tenant, "sending.paused")) == 1


def test_a_report_without_verp_matches_by_message_id_and_recipient(
    engine_settings: EngineSettings,
    database: Database,
    knot: Knot,
    mx1: RemoteMx,
    api: Api,
    uid: str,
) -> None:
    zone = f"fblm-{uid}.test"
    mx_zone(knot, zone, [(10, "mx1")], {"mx1": MX1})
    tenant = api.tenant()["id"]
    settings = engine_settings()
    [delivery_id] = queue(database, [f"ok-a{uid}@{zone}"], tenant_id=tenant)
    deliver(settings, database, [delivery_id])
    feedback = f"fbl@{settings.effective_bounce_domain}"
    raw = samples.render(
        samples.AOL, rcpt=f"ok-a{uid}@{zone}", return_path="forwarded@elsewhere.test",
        message_id="<x@tests>", fbl=feedback,
    )  # fmt: skip
    assert receive(settings, database, raw, [feedback]) == f"complaint about delivery {delivery_id}"
    # Under the minimum sample: counted, not tripped.
    state = api.ok("GET", f"/api/v1/tenants/{tenant}/sending")
    assert (state["complaints"]["count"], state["pause"]) == (1, None)


def test_a_message_id_two_tenants_sent_to_one_recipient_matches_neither(
    engine_settings: EngineSettings,
    database: Database,
    knot: Knot,
    mx1: RemoteMx,
    api: Api,
    uid: str,
) -> None:
    """A Message-ID is the sender's choice: tenant B copying tenant A's cannot aim a
    complaint (a suppression, a tripped breaker) at A."""
    zone = f"fblx-{uid}.test"
    mx_zone(knot, zone, [(10, "mx1")], {"mx1": MX1})
    victim, copier = api.tenant()["id"], api.tenant()["id"]
    settings = engine_settings()
    recipient = f"ok-x{uid}@{zone}"
    both = queue(database, [recipient], tenant_id=victim) + queue(
        database, [recipient], tenant_id=copier
    )
    deliver(settings, database, both)
    feedback = f"fbl@{settings.effective_bounce_domain}"
    raw = samples.render(
        samples.AOL, rcpt=recipient, return_path="forwarded@elsewhere.test",
        message_id="<x@tests>", fbl=feedback,
    )  # fmt: skip
    assert receive(settings, database, raw, [feedback]) == "unmatched"
    for tenant in (victim, copier):
        state = api.ok("GET", f"/api/v1/tenants/{tenant}/sending")
        assert state["complaints"]["count"] == 0


def test_a_microsoft_report_with_a_redacted_recipient_matches_by_verp(
    engine_settings: EngineSettings,
    database: Database,
    knot: Knot,
    mx1: RemoteMx,
    api: Api,
    uid: str,
) -> None:
    zone = f"fblj-{uid}.test"
    mx_zone(knot, zone, [(10, "mx1")], {"mx1": MX1})
    tenant = api.tenant()["id"]
    settings = engine_settings()
    [delivery_id] = queue(database, [f"ok-j{uid}@{zone}"], tenant_id=tenant)
    deliver(settings, database, [delivery_id])
    feedback = f"fbl@{settings.effective_bounce_domain}"
    raw = samples.render(
        samples.MICROSOFT, return_path=verp_address(settings, delivery_id), fbl=feedback
    )
    assert receive(settings, database, raw, [feedback]) == f"complaint about delivery {delivery_id}"
    [entry] = api.ok("GET", "/api/v1/complaints", params={"tenant_id": tenant})["items"]
    # The recipient comes from the delivery, not from the redacted report.
    assert entry["recipient"] == f"ok-j{uid}@{zone}"
    [row] = deliveries(database, [delivery_id])
    assert row.status == "delivered"  # a complaint is not a bounce


def test_an_unmatched_report_is_kept_without_a_tenant_and_never_bounced(
    engine_settings: EngineSettings, database: Database, api: Api, uid: str
) -> None:
    settings = engine_settings()
    feedback = f"fbl@{settings.effective_bounce_domain}"
    raw = samples.render(
        samples.YAHOO, rcpt=f"nobody-{uid}@example.net", message_id=f"<{uid}@nowhere.test>",
        fbl=feedback,
    )  # fmt: skip
    assert receive(settings, database, raw, [feedback]) == "unmatched"
    found = [
        c
        for c in api.ok("GET", "/api/v1/complaints", params={"limit": 100})["items"]
        if c["recipient"] == f"nobody-{uid}@example.net"
    ]
    assert [(c["tenant_id"], c["delivery_id"]) for c in found] == [(None, None)]
    # Not a report at all: ignored, still answered (no bounce loop).
    assert receive(settings, database, b"Subject: hi\n\nstop\n", [feedback]).startswith("ignored")
    # A tenant admin never sees reports that match no tenant.
    admin = api.tenant_admin(api.tenant()["id"])
    assert admin.ok("GET", "/api/v1/complaints")["items"] == []
