"""Signed webhooks end to end: messages queued for a tenant are delivered by the real
engine to a remote MX (aiosmtpd) with MX records from Knot; the dispatcher POSTs every
event to a receiver on loopback, which verifies each Standard Webhooks signature."""

from __future__ import annotations

import time
from typing import Any

import pytest
from sqlalchemy import select

from mailplane.config import Settings
from mailplane.db import Database
from mailplane.delivery import observers
from mailplane.errors import InvalidInput
from mailplane.models import AuditEvent, WebhookEndpoint, utcnow
from mailplane.models.statuses import DeliveryStatus, MessageSource
from mailplane.sending.queue import NewMessage, enqueue
from mailplane.webhooks.urls import check_target, validate_url
from tests.conftest import make_settings
from tests.delivery.conftest import MX1, EngineSettings
from tests.delivery.support import mx_zone, raw_message, wait_until_final, worker_running
from tests.support.api import Api
from tests.support.knot import Knot
from tests.support.mx import RemoteMx
from tests.support.world import logged_webhook_delivery
from tests.webhooks.conftest import dispatcher_running
from tests.webhooks.receiver import Receiver, verified


def hook_settings(engine_settings: EngineSettings, settings: Settings, **extra: Any) -> Settings:
    """The engine's settings with the API's secret (webhook secrets are encrypted with it)
    and quick webhook retries."""
    values: dict[str, Any] = {
        "secret_key": settings.secret_key,
        "webhook_retry_base_seconds": 0.1,
        "webhook_retry_max_seconds": 0.3,
        "webhook_poll_seconds": 0.05,
    }
    values.update(extra)
    return engine_settings(**values)


def webhook(api: Api, receiver: Receiver, tenant_id: int, path: str, **body: Any) -> dict[str, Any]:
    created: dict[str, Any] = api.ok(
        "POST",
        "/api/v1/webhooks",
        201,
        json={"url": receiver.url(path), "customer_id": tenant_id, **body},
    )
    return created


def settled_log(api: Api, webhook_id: int, count: int) -> list[dict[str, Any]]:
    """The webhook's log once ``count`` entries are settled (the receiver sees a request
    a moment before the dispatcher records its answer)."""
    deadline = time.monotonic() + 20
    while True:
        log: list[dict[str, Any]] = api.ok("GET", f"/api/v1/webhooks/{webhook_id}/deliveries")[
            "items"
        ]
        settled = [d for d in log if d["status"] != "pending" and d["attempts"] > 0]
        if len(settled) >= count or time.monotonic() > deadline:
            return log
        time.sleep(0.05)


def queue_for(database: Database, tenant_id: int, recipient: str) -> tuple[str, int]:
    """One message of the tenant; (message id, delivery id)."""
    with database.transaction() as session:
        queued = enqueue(
            session,
            NewMessage(
                raw=raw_message("app@sender.test", recipient),
                recipients=[recipient],
                source=MessageSource.API,
                message_id_header="<x@tests>",
                tenant_id=tenant_id,
                envelope_from="app@sender.test",
                header_from="app@sender.test",
                tags=["welcome"],
                metadata={"user": 42},
            ),
        )
    return queued.message_id, queued.deliveries[0][1]


def test_every_event_of_a_message_arrives_in_order_and_signed(
    engine_settings: EngineSettings,
    settings: Settings,
    database: Database,
    api: Api,
    knot: Knot,
    mx1: RemoteMx,
    receiver: Receiver,
    uid: str,
) -> None:
    zone = f"hooks-{uid}.test"
    mx_zone(knot, zone, [(10, "mx1")], {"mx1": MX1})
    tenant = api.tenant()
    hook = webhook(api, receiver, tenant["id"], "/all")
    assert hook["secret"].startswith("whsec_")
    assert "secret" not in api.ok("GET", f"/api/v1/webhooks/{hook['id']}")
    ok = queue_for(database, tenant["id"], f"ok-{uid}@{zone}")
    temp = queue_for(database, tenant["id"], f"temp-{uid}@{zone}")
    perm = queue_for(database, tenant["id"], f"perm-{uid}@{zone}")
    run = hook_settings(engine_settings, settings)
    with worker_running(run), dispatcher_running(run, database):
        wait_until_final(database, [ok[1], temp[1], perm[1]])
        got = receiver.wait("/all", 7)
    events: dict[str, list[dict[str, Any]]] = {}
    ids = set()
    for request in got:
        payload = verified(hook["secret"], request)
        ids.add(request.headers["webhook-id"])
        events.setdefault(payload["data"]["message_id"], []).append(payload)
    assert len(ids) == 7
    assert all(i.startswith("msg_") for i in ids)
    types = {m: [e["type"] for e in evs] for m, evs in events.items()}
    assert types == {
        ok[0]: ["message.sent", "message.delivered"],
        temp[0]: ["message.sent", "message.deferred", "message.delivered"],
        perm[0]: ["message.sent", "message.bounced"],
    }
    sent, deferred, _ = events[temp[0]]
    assert sent["data"]["deliveries"] == [
        {"delivery_id": temp[1], "recipient": f"temp-{uid}@{zone}"}
    ]
    assert (deferred["data"]["smtp_code"], deferred["data"]["enhanced_code"]) == (451, "4.7.1")
    assert "greylisted" in deferred["data"]["reply"]
    bounced = events[perm[0]][1]["data"]
    assert bounced["smtp_code"] == 550
    assert bounced["recipient"] == f"perm-{uid}@{zone}"
    for evs in events.values():
        assert all(e["data"]["tags"] == ["welcome"] for e in evs)
        assert all(e["data"]["metadata"] == {"user": 42} for e in evs)
    # A signature made with another secret does not verify.
    with pytest.raises(Exception, match="signature"):
        verified("whsec_" + "A" * 44, got[0])
    log = api.ok("GET", f"/api/v1/webhooks/{hook['id']}/deliveries")["items"]
    assert len(log) == 7
    assert {d["status"] for d in log} == {"delivered"}
    assert all(d["last_status_code"] == 200 for d in log)


def test_a_failing_receiver_gets_retries_and_a_replay(
    engine_settings: EngineSettings,
    settings: Settings,
    database: Database,
    api: Api,
    receiver: Receiver,
    uid: str,
) -> None:
    tenant = api.tenant()
    hook = webhook(api, receiver, tenant["id"], "/flaky", event_types=["message.sent"])
    receiver.plan["/flaky"] = [500, 503]
    message_id, _ = queue_for(database, tenant["id"], f"someone-{uid}@example.test")
    run = hook_settings(engine_settings, settings)
    with dispatcher_running(run, database):
        receiver.wait("/flaky", 1)
        [logged] = settled_log(api, hook["id"], 1)
        replay = api.ok("POST", f"/api/v1/webhook-deliveries/{logged['id']}/replay", 202)
        assert replay["status"] == "pending"
        receiver.wait("/flaky", 2)
    requests = receiver.at("/flaky")
    assert [r.status for r in requests] == [500, 503, 200, 200]
    assert len({r.headers["webhook-id"] for r in requests}) == 1
    for request in requests:
        assert verified(hook["secret"], request)["data"]["message_id"] == message_id
    assert (logged["status"], logged["attempts"], logged["last_status_code"]) == (
        "delivered",
        3,
        200,
    )
    failed = api.ok("GET", f"/api/v1/webhooks/{hook['id']}/deliveries", params={"status": "failed"})
    assert failed["items"] == []
    bad = api.get(f"/api/v1/webhooks/{hook['id']}/deliveries", params={"status": "nope"})
    assert (bad.status_code, bad.json()["error"]) == (422, "invalid_status")


def test_the_event_filter_sends_only_the_chosen_types(
    engine_settings: EngineSettings,
    settings: Settings,
    database: Database,
    api: Api,
    knot: Knot,
    mx1: RemoteMx,
    receiver: Receiver,
    uid: str,
) -> None:
    zone = f"filter-{uid}.test"
    mx_zone(knot, zone, [(10, "mx1")], {"mx1": MX1})
    tenant = api.tenant()
    webhook(api, receiver, tenant["id"], "/delivered", event_types=["message.delivered"])
    webhook(api, receiver, tenant["id"], "/sent", event_types=["message.sent"])
    _, delivery = queue_for(database, tenant["id"], f"ok-{uid}@{zone}")
    run = hook_settings(engine_settings, settings)
    with worker_running(run), dispatcher_running(run, database):
        wait_until_final(database, [delivery])
        receiver.wait("/delivered", 1)
        receiver.wait("/sent", 1)
    assert [r.json["type"] for r in receiver.at("/delivered")] == ["message.delivered"]
    assert [r.json["type"] for r in receiver.at("/sent")] == ["message.sent"]
    unknown = api.post(
        "/api/v1/webhooks",
        json={"url": receiver.url("/x"), "customer_id": tenant["id"], "event_types": ["message.x"]},
    )
    assert (unknown.status_code, unknown.json()["error"]) == (422, "unknown_event_type")


def test_an_endpoint_failing_for_long_is_disabled_and_can_be_enabled(
    engine_settings: EngineSettings,
    settings: Settings,
    database: Database,
    api: Api,
    receiver: Receiver,
    uid: str,
) -> None:
    tenant = api.tenant()
    hook = webhook(api, receiver, tenant["id"], "/down")
    receiver.plan["/down"] = [500] * 1000
    queue_for(database, tenant["id"], f"someone-{uid}@example.test")
    run = hook_settings(engine_settings, settings, webhook_disable_after_seconds=0.5)
    with dispatcher_running(run, database):
        receiver.wait("/down", 3, ok=False)
        deadline = time.monotonic() + 20
        shown = api.ok("GET", f"/api/v1/webhooks/{hook['id']}")
        while shown["enabled"] and time.monotonic() < deadline:
            time.sleep(0.05)
            shown = api.ok("GET", f"/api/v1/webhooks/{hook['id']}")
        assert shown["enabled"] is False
        assert "every attempt failed" in shown["disabled_reason"]
        with database.session(write=False) as session:
            actions = session.scalars(
                select(AuditEvent.action).where(
                    AuditEvent.object_type == "webhook", AuditEvent.object_id == hook["id"]
                )
            )
            assert "webhook.disable" in list(actions)
        receiver.plan["/down"] = []
        enabled = api.ok("POST", f"/api/v1/webhooks/{hook['id']}/enable")
        assert (enabled["enabled"], enabled["disabled_reason"]) == (True, None)
        receiver.wait("/down", 1)


def test_tenants_cannot_see_or_replay_each_others_webhooks(
    api: Api, database: Database, receiver: Receiver
) -> None:
    a, b = api.tenant(), api.tenant()
    admin_a = api.tenant_admin(a["id"])
    admin_b = api.tenant_admin(b["id"])
    hook_b = admin_b.ok("POST", "/api/v1/webhooks", 201, json={"url": receiver.url("/b")})
    assert hook_b["customer_id"] == b["id"]
    delivery_b = logged_webhook_delivery(database, b["id"], hook_b["id"])
    for method, path in [
        ("GET", f"/api/v1/webhooks/{hook_b['id']}"),
        ("GET", f"/api/v1/webhooks/{hook_b['id']}/deliveries"),
        ("POST", f"/api/v1/webhooks/{hook_b['id']}/enable"),
        ("POST", f"/api/v1/webhooks/{hook_b['id']}/rotate-secret"),
        ("DELETE", f"/api/v1/webhooks/{hook_b['id']}"),
        ("POST", f"/api/v1/webhook-deliveries/{delivery_b}/replay"),
    ]:
        assert admin_a.request(method, path).status_code == 404, (method, path)
    assert admin_a.ok("GET", "/api/v1/webhooks")["items"] == []
    stolen = admin_a.post(
        "/api/v1/webhooks", json={"url": receiver.url("/a"), "customer_id": b["id"]}
    )
    assert stolen.status_code == 404
    assert [w["id"] for w in admin_b.ok("GET", "/api/v1/webhooks")["items"]] == [hook_b["id"]]


@pytest.mark.parametrize(
    ("url", "code"),
    [
        ("ftp://example.com/hook", "invalid_url"),
        ("http://example.com/hook", "webhook_https_required"),
        ("https://exa mple.com/hook", "invalid_url"),
        ("https://example.com/hook\r\nX-Evil: 1", "invalid_url"),
        ("https://user:pw@example.com/hook", "invalid_url"),
        ("https://example.com:port/hook", "invalid_url"),
        ("https:///hook", "invalid_url"),
    ],
)
def test_bad_urls_are_refused_with_a_code(api: Api, url: str, code: str) -> None:
    tenant = api.tenant()
    response = api.post("/api/v1/webhooks", json={"url": url, "customer_id": tenant["id"]})
    assert (response.status_code, response.json()["error"]) == (422, code)


def test_private_targets_are_refused_in_production_unless_allowed(settings: Settings) -> None:
    production = make_settings(settings.state_dir, None, env="production")
    for url in [
        "https://127.0.0.1/h",
        "https://10.1.2.3/h",
        "https://[::1]/h",
        "https://localhost/h",
        "https://169.254.169.254/latest",
    ]:
        with pytest.raises(InvalidInput) as refused:
            validate_url(production, url)
        assert refused.value.code == "webhook_private_target"
    # A public name that resolves to loopback is caught before the request.
    assert check_target(production, "https://localhost.localdomain.invalid/h") is not None
    allowed = make_settings(
        settings.state_dir, None, env="production", webhook_allow_private_targets=True
    )
    assert validate_url(allowed, "https://10.1.2.3/h") == "https://10.1.2.3/h"
    assert validate_url(production, "https://hooks.example.com/h") == "https://hooks.example.com/h"


def test_the_secret_is_stored_encrypted_shown_once_and_rotated(
    api: Api, database: Database, receiver: Receiver
) -> None:
    tenant = api.tenant()
    hook = webhook(api, receiver, tenant["id"], "/s")
    rotated = api.ok("POST", f"/api/v1/webhooks/{hook['id']}/rotate-secret")["secret"]
    assert rotated.startswith("whsec_")
    assert rotated != hook["secret"]
    with database.session(write=False) as session:
        stored = session.scalar(
            select(WebhookEndpoint.secret_encrypted).where(WebhookEndpoint.id == hook["id"])
        )
        audit = list(
            session.scalars(
                select(AuditEvent.details).where(
                    AuditEvent.object_id == hook["id"], AuditEvent.object_type == "webhook"
                )
            )
        )
    assert stored is not None
    for secret in (hook["secret"], rotated):
        assert secret[6:] not in stored
        assert secret[6:] not in str(audit)


def test_suppressed_failed_and_classified_bounces_are_sent(
    engine_settings: EngineSettings,
    settings: Settings,
    database: Database,
    api: Api,
    receiver: Receiver,
    uid: str,
) -> None:
    """Outcomes recorded by other parts (suppression, asynchronous bounces) through the
    observers hook reach the webhook with what they carry."""
    tenant = api.tenant()
    hook = webhook(
        api,
        receiver,
        tenant["id"],
        "/other",
        event_types=["message.suppressed", "message.failed", "message.bounced"],
    )
    ids = [queue_for(database, tenant["id"], f"r{n}-{uid}@example.test")[1] for n in range(3)]
    now = utcnow()
    with database.transaction() as session:
        observers.outcomes_recorded(
            session,
            [
                observers.Settled(ids[0], DeliveryStatus.SUPPRESSED, None, None, "suppressed", now),
                observers.Settled(ids[1], DeliveryStatus.FAILED, None, "4.4.7", "too old", now),
                observers.Settled(
                    ids[2],
                    DeliveryStatus.BOUNCED,
                    550,
                    "5.2.2",
                    "550 5.2.2 mailbox full",
                    now,
                    bounce_type="soft",
                    classification="mailbox_full",
                ),
            ],
            now,
        )
    with dispatcher_running(hook_settings(engine_settings, settings), database):
        got = receiver.wait("/other", 3)
    data = {verified(hook["secret"], r)["type"]: verified(hook["secret"], r)["data"] for r in got}
    assert set(data) == {"message.suppressed", "message.failed", "message.bounced"}
    assert data["message.suppressed"]["delivery_id"] == ids[0]
    assert data["message.failed"]["enhanced_code"] == "4.4.7"
    bounced = data["message.bounced"]
    assert (bounced["bounce_type"], bounced["classification"]) == ("soft", "mailbox_full")
    assert bounced["tags"] == ["welcome"]


def test_domain_events_from_the_outbox_reach_the_tenants_webhook(
    settings: Settings, database: Database, api: Api, receiver: Receiver
) -> None:
    """The events outbox (domain and DKIM changes) has its consumer: a DKIM rotation of
    the tenant's domain arrives signed, and another tenant's endpoint hears nothing."""
    tenant, other = api.tenant(), api.tenant()
    hook = webhook(api, receiver, tenant["id"], "/domain", event_types=["dkim.key_created"])
    webhook(api, receiver, other["id"], "/other")
    domain = api.domain(tenant["id"])
    api.ok("POST", f"/api/v1/mail/domains/{domain['id']}/dkim/rotate", 201, json={})
    with dispatcher_running(settings.model_copy(update={"webhook_poll_seconds": 0.05}), database):
        [request] = receiver.wait("/domain", 1)
    event = verified(hook["secret"], request)
    assert event["type"] == "dkim.key_created"
    assert event["data"]["domain"] == domain["domain_ascii"]
    assert receiver.at("/other") == []
