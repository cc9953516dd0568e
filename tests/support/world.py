"""A tenant with one object of every kind, and a valid body for every write route.

Walking tests (isolation, bad input) need real objects to aim at and bodies that pass
validation, so that the answer they see comes from the route's logic, not from a 422.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Any

from mailplane.db import Database
from mailplane.models import WebhookDelivery
from tests.support.api import Api
from tests.support.routes import Operation
from tests.support.senders import mark_verified


@dataclass
class World:
    tenant_id: int
    domain_id: int
    domain: str
    mailbox_id: int
    alias_id: int
    alias_domain_id: int
    admin_id: int
    admin_email: str
    deleted_mailbox_id: int  # a deleted mailbox whose files are kept
    admin: Api  # the API as this tenant's admin
    api_key_id: int
    message_id: str  # a message sent with the key (a random id when the world has no database)
    suppression_id: int
    webhook_id: int
    webhook_delivery_id: int  # a logged webhook delivery (a random id without a database)
    throttle_id: int  # the tenant's own throttle limit (set by the operator)
    delivery_id: int = 2**31 - 2  # the message's delivery (one that does not exist without)

    def path_values(self) -> dict[str, Any]:
        return {
            "api_key_id": self.api_key_id,
            "suppression_id": self.suppression_id,
            "throttle_id": self.throttle_id,
            "message_id": self.message_id,
            "delivery_id": self.delivery_id,
            "webhook_id": self.webhook_id,
            "webhook_delivery_id": self.webhook_delivery_id,
            "tenant_id": self.tenant_id,
            "domain_id": self.domain_id,
            "mailbox_id": self.mailbox_id,
            "alias_id": self.alias_id,
            "alias_domain_id": self.alias_domain_id,
            "admin_id": self.admin_id,
            "deleted_mailbox_id": self.deleted_mailbox_id,
            # Outbound routes are the platform's, not a tenant's: no world has one (tenant
            # admins get 403 platform_only before any lookup; tests/outbound_routes).
            "route_id": 2**31 - 2,
            # Mailbox users' own objects (webmail): no such row or message for this world.
            "signature_id": 2**31 - 2,
            "contact_id": 2**31 - 2,
            "uid": 2**31 - 2,
        }


def build_world(api: Api, database: Database | None = None) -> World:
    """With ``database``, the domain is marked verified so that the world holds a sent
    message too (what a passing DNS verification does; tests/dns proves that path)."""
    tenant = api.tenant()
    domain = api.domain(tenant["id"])
    mailbox = api.mailbox(domain["id"], "info")
    alias = api.alias(domain["id"], "sales", "info@" + domain["domain_ascii"])
    alias_domain = api.ok(
        "POST",
        f"/api/v1/mail/domains/{domain['id']}/alias-domains",
        201,
        json={"name": f"alias-{secrets.token_hex(4)}.test", "owned": True},
    )
    gone = api.mailbox(domain["id"], "gone")
    api.ok("DELETE", f"/api/v1/mail/accounts/{gone['id']}", 204)
    (deleted,) = api.ok("GET", "/api/v1/mail/deleted-accounts", params={"email": gone["email"]})[
        "items"
    ]
    key = api.ok(
        "POST", f"/api/v1/mail/domains/{domain['id']}/api-keys", 201, json={"name": "site"}
    )
    message_id = secrets.token_hex(16)
    delivery_id = 2**31 - 2
    if database is not None:
        mark_verified(database, domain["id"])
        sent = api.client.post(
            "/api/v1/send",
            json={
                "from": f"info@{domain['domain_ascii']}",
                "to": ["someone@example.com"],
                "subject": "hello",
                "text": "hello",
            },
            headers={"X-Api-Key": key["key"]},
        )
        assert sent.status_code == 202, sent.text
        message_id = sent.json()["id"]
        delivery_id = sent.json()["recipients"][0]["id"]
    webhook = api.ok(
        "POST",
        "/api/v1/webhooks",
        201,
        json={"url": "http://127.0.0.1:9/hook", "customer_id": tenant["id"]},
    )
    webhook_delivery_id = secrets.randbelow(10**9) + 10**9
    if database is not None:
        webhook_delivery_id = logged_webhook_delivery(database, tenant["id"], webhook["id"])
    suppression = api.ok(
        "POST",
        "/api/v1/suppressions",
        201,
        json={"address": f"gone-{secrets.token_hex(4)}@example.com", "tenant_id": tenant["id"]},
    )
    # High enough never to hold the world's own mail back.
    throttle = api.ok(
        "POST",
        "/api/v1/throttles",
        201,
        json={"scope": "tenant", "tenant_id": tenant["id"], "rate": 10_000_000, "per": "day"},
    )
    admin_api = api.tenant_admin(tenant["id"])
    me = admin_api.ok("GET", "/api/v1/auth/me")
    return World(
        tenant_id=tenant["id"],
        domain_id=domain["id"],
        domain=domain["domain_ascii"],
        mailbox_id=mailbox["id"],
        alias_id=alias["id"],
        alias_domain_id=alias_domain["id"],
        admin_id=me["id"],
        admin_email=me["name"],
        admin=admin_api,
        deleted_mailbox_id=deleted["id"],
        api_key_id=key["id"],
        message_id=message_id,
        delivery_id=delivery_id,
        webhook_id=webhook["id"],
        webhook_delivery_id=webhook_delivery_id,
        suppression_id=suppression["id"],
        throttle_id=throttle["id"],
    )


def logged_webhook_delivery(database: Database, tenant_id: int, webhook_id: int) -> int:
    """A failed delivery in the webhook's log (nothing a dispatcher would send)."""
    with database.transaction() as session:
        row = WebhookDelivery(
            endpoint_id=webhook_id,
            tenant_id=tenant_id,
            event_id="msg_world",
            event_type="message.sent",
            payload={"type": "message.sent", "data": {}},
            status="failed",
            attempts=1,
        )
        session.add(row)
        session.flush()
        return row.id


def valid_body(op: Operation, world: World) -> dict[str, Any] | None:
    """A body that passes validation for the route; None for routes without a body.

    A new write route without an entry here gets a body built from its schema's required
    fields; if that body does not validate, the walking tests fail and name the route.
    """
    unique = secrets.token_hex(4)
    bodies: dict[str, dict[str, Any]] = {
        # The right password: a wrong one would count against the test client's IP throttle.
        "POST /api/v1/auth/login": {"email": world.admin_email, "password": "admin-password-1"},
        "POST /api/v1/auth/refresh": {"refresh_token": "mprt_not-a-real-token"},
        "POST /api/v1/auth/logout": {"refresh_token": "mprt_not-a-real-token"},
        # build_world makes info@ its domain (the operator and its admin may name it).
        "POST /api/v1/auth/mail-token": {"email": f"info@{world.domain}"},
        "POST /api/v1/tenants": {"name": f"tenant-{unique}"},
        "PATCH /api/v1/tenants/{tenant_id}": {"notes": f"note {unique}"},
        "POST /api/v1/tenants/{tenant_id}/admins": {
            "email": f"a-{unique}@admins.test",
            "password": "long-enough-1",
        },
        "POST /api/v1/mail/domains": {"domain": f"d{unique}.test", "customer_id": world.tenant_id},
        "PATCH /api/v1/mail/domains/{domain_id}": {"status": "suspended"},
        "POST /api/v1/mail/domains/{domain_id}/alias-domains": {"name": f"ad{unique}.test"},
        "POST /api/v1/mail/domains/{domain_id}/accounts": {
            "local_part": f"u{unique}",
            "password": "long-enough-1",
        },
        "PUT /api/v1/mail/accounts/{mailbox_id}": {"quota_mb": 2048},
        "POST /api/v1/mail/domains/{domain_id}/aliases": {
            "source": f"a{unique}",
            "destination": f"x{unique}@example.com",
        },
        "PUT /api/v1/mail/aliases/{alias_id}": {"destination": f"y{unique}@example.com"},
        "POST /api/v1/mail/domains/{domain_id}/api-keys": {"name": f"key {unique}"},
        "PATCH /api/v1/mail/api-keys/{api_key_id}": {"name": f"renamed {unique}"},
        "POST /api/v1/suppressions": {
            "address": f"v{unique}@example.com",
            "tenant_id": world.tenant_id,
        },
        "POST /api/v1/send": {
            "from": f"info@{world.domain}",
            "to": ["someone@example.com"],
            "subject": "hello",
            "text": "hello",
        },
        "POST /api/v1/send/batch": {
            "messages": [{"from": f"info@{world.domain}", "to": ["a@example.com"], "text": "x"}]
        },
        # retry: harmless to the world's own delivery (it stays queued).
        "POST /api/v1/queue/actions": {"action": "retry", "ids": [world.delivery_id]},
        "POST /api/v1/webhooks": {
            "url": f"http://127.0.0.1:9/{unique}",
            "customer_id": world.tenant_id,
        },
        "PATCH /api/v1/webhooks/{webhook_id}": {"description": f"renamed {unique}"},
        "POST /api/v1/throttles": {
            "scope": "tenant",
            "tenant_id": world.tenant_id,
            "rate": 10_000_000,
            "per": "hour",
        },
        "PATCH /api/v1/throttles/{throttle_id}": {"rate": 9_000_000},
        # Disabled: an enabled route would carry the rest of the suite's mail.
        "POST /api/v1/outbound-routes": {
            "name": f"route {unique}",
            "source_ip": "127.0.0.1",
            "enabled": False,
        },
        "PATCH /api/v1/outbound-routes/{route_id}": {"helo_name": f"out-{unique}.example.com"},
        "POST /api/send/external": {
            "domain": world.domain,
            "to": "someone@example.com",
            "subject": "hello",
            "text": "hello",
        },
    }
    if op.label in bodies:
        return bodies[op.label]
    if op.body_schema is None:
        return None
    defaults = {"string": "x", "integer": 1, "boolean": True, "array": [], "object": {}}
    return {
        name: defaults.get(op.body_schema["properties"][name].get("type", "string"), "x")
        for name in op.body_schema.get("required", [])
    }
