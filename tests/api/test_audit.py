"""The audit log: every write route leaves an entry saying who did what, and when."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi.testclient import TestClient

from mailplane.db import Database
from tests.support.api import Api
from tests.support.routes import WRITE_METHODS, operations
from tests.support.world import build_world


def _newest_id(api: Api) -> int:
    items = api.ok("GET", "/api/v1/audit", params={"limit": 1})["items"]
    return int(items[0]["id"]) if items else 0


def _since(api: Api, after_id: int = 0, **filters: Any) -> list[dict[str, Any]]:
    """Entries newer than ``after_id``, oldest first. The log answers newest first, so this
    reads only as far back as it needs, however long the log has grown."""
    events: list[dict[str, Any]] = []
    cursor = None
    while True:
        params = {"limit": 100, **filters, **({"cursor": cursor} if cursor else {})}
        page = api.ok("GET", "/api/v1/audit", params=params)
        fresh = [e for e in page["items"] if e["id"] > after_id]
        events += fresh
        cursor = page["next_cursor"]
        if not cursor or len(fresh) < len(page["items"]):
            return events[::-1]


def test_every_write_route_leaves_an_entry(
    client: TestClient, api: Api, database: Database
) -> None:
    world = build_world(api, database)
    w = world.path_values()
    uid = secrets.token_hex(3)
    elsewhere = api.tenant()  # the domain created below must not block the tenant delete
    mail_user = f"info@{world.domain}"
    minted = api.ok("POST", "/api/v1/auth/mail-token", json={"email": mail_user})["access_token"]
    # A platform route (disabled: it carries no mail) for the update and delete steps.
    route = api.ok(
        "POST",
        "/api/v1/outbound-routes",
        201,
        json={"name": f"audit-{uid}", "source_ip": "127.0.0.1", "enabled": False},
    )
    w = {**w, "route_id": route["id"]}
    # (route, values, body, expected action); ordered so that deletes come last.
    steps: list[tuple[str, dict[str, int], Any, str | list[str]]] = [
        ("POST /api/v1/tenants", {}, {"name": f"audited-{uid}"}, "tenant.create"),
        ("PATCH /api/v1/tenants/{tenant_id}", w, {"notes": "audited"}, "tenant.update"),
        (
            "POST /api/v1/tenants/{tenant_id}/admins",
            w,
            {"email": f"au-{uid}@admins.test", "password": "long-enough-1"},
            "tenant_admin.create",
        ),
        (
            "POST /api/v1/mail/domains",
            {},
            {"domain": f"au{uid}.test", "customer_id": elsewhere["id"]},
            "domain.create",
        ),
        ("POST /api/v1/mail/domains/{domain_id}/verify", w, None, "domain.verify"),
        ("POST /api/v1/mail/domains/{domain_id}/dkim/rotate", w, None, "dkim.rotate"),
        (
            "PATCH /api/v1/mail/domains/{domain_id}",
            w,
            {"dns_automation": "rfc2136"},
            # Their publication is queued with the change; the job audits its outcome.
            ["domain.update", "domain.dns_queued"],
        ),
        ("POST /api/v1/mail/domains/{domain_id}/dns/publish", w, None, "domain.dns_queued"),
        ("POST /api/v1/mail/domains/{domain_id}/suspend", w, None, "domain.update"),
        ("POST /api/v1/mail/domains/{domain_id}/unsuspend", w, None, "domain.update"),
        (
            "POST /api/v1/mail/domains/{domain_id}/alias-domains",
            w,
            {"name": f"aud{uid}.test"},
            "alias_domain.create",
        ),
        (
            "POST /api/v1/mail/domains/{domain_id}/accounts",
            w,
            {"local_part": "audited", "password": "long-enough-1"},
            "mailbox.create",
        ),
        ("PUT /api/v1/mail/accounts/{mailbox_id}", w, {"quota_mb": 7}, "mailbox.update"),
        ("POST /api/v1/mail/accounts/{mailbox_id}/suspend", w, None, "mailbox.update"),
        ("POST /api/v1/mail/accounts/{mailbox_id}/unsuspend", w, None, "mailbox.update"),
        (
            "POST /api/v1/mail/domains/{domain_id}/aliases",
            w,
            {"source": "audited", "destination": "a@example.com"},
            "alias.create",
        ),
        (
            "PUT /api/v1/mail/aliases/{alias_id}",
            w,
            {"destination": "b@example.com"},
            "alias.update",
        ),
        (
            "POST /api/v1/mail/deleted-accounts/{deleted_mailbox_id}/restore",
            w,
            {},
            "mailbox.restore",
        ),
        (
            "POST /api/v1/mail/domains/{domain_id}/api-keys",
            w,
            {"name": f"audited {uid}"},
            "api_key.create",
        ),
        ("PATCH /api/v1/mail/api-keys/{api_key_id}", w, {"name": "renamed"}, "api_key.update"),
        (
            "POST /api/v1/suppressions",
            {},
            {"address": f"au-{uid}@example.com", "tenant_id": world.tenant_id},
            "suppression.add",
        ),
        ("POST /api/v1/suppressions/import", w, [f"imp-{uid}@example.com"], "suppression.import"),
        (
            "POST /api/v1/tenants/{tenant_id}/sending/pause",
            w,
            {"scope": "bulk", "reason": "audited"},
            "sending.paused",
        ),
        ("POST /api/v1/tenants/{tenant_id}/sending/resume", w, None, "sending.resumed"),
        ("DELETE /api/v1/suppressions", {}, None, "suppression.remove"),
        ("DELETE /api/v1/suppressions/{suppression_id}", w, None, "suppression.remove"),
        ("DELETE /api/v1/mail/api-keys/{api_key_id}", w, None, "api_key.revoke"),
        # Audited even when it matches nothing (this world has no delivery).
        (
            "POST /api/v1/queue/actions",
            {},
            {
                "action": "retry",
                "ids": [w["delivery_id"]],
                "select": {"customer_id": w["tenant_id"]},
            },
            "queue.retry",
        ),
        (
            "POST /api/v1/webhooks",
            {},
            {"url": "http://127.0.0.1:9/audited", "customer_id": world.tenant_id},
            "webhook.create",
        ),
        ("PATCH /api/v1/webhooks/{webhook_id}", w, {"description": "audited"}, "webhook.update"),
        ("POST /api/v1/webhooks/{webhook_id}/disable", w, None, "webhook.disable"),
        ("POST /api/v1/webhooks/{webhook_id}/enable", w, None, "webhook.enable"),
        ("POST /api/v1/webhooks/{webhook_id}/rotate-secret", w, None, "webhook.rotate_secret"),
        (
            "POST /api/v1/webhook-deliveries/{webhook_delivery_id}/replay",
            w,
            None,
            "webhook.replay",
        ),
        ("DELETE /api/v1/webhooks/{webhook_id}", w, None, "webhook.delete"),
        (
            "POST /api/v1/throttles",
            {},
            {"scope": "tenant", "tenant_id": world.tenant_id, "rate": 1000, "per": "minute"},
            "throttle.create",
        ),
        ("PATCH /api/v1/throttles/{throttle_id}", w, {"rate": 5000}, "throttle.update"),
        ("DELETE /api/v1/throttles/{throttle_id}", w, None, "throttle.delete"),
        (
            "POST /api/v1/outbound-routes",
            {},
            {"name": f"audited-{uid}", "source_ip": "127.0.0.1", "enabled": False},
            "outbound_route.create",
        ),
        (
            "PATCH /api/v1/outbound-routes/{route_id}",
            w,
            {"helo_name": "out.mailplane.test"},
            "outbound_route.update",
        ),
        ("DELETE /api/v1/outbound-routes/{route_id}", w, None, "outbound_route.delete"),
        # Who may read whose mail until when (the token is in no entry: test_mail_oauth.py).
        ("POST /api/v1/auth/mail-token", {}, {"email": mail_user}, "mailbox.mail_token"),
        ("POST /api/v1/auth/token/revoke", {}, {"token": minted}, "mailbox.mail_token_revoke"),
        ("DELETE /api/v1/mail/aliases/{alias_id}", w, None, "alias.delete"),
        ("DELETE /api/v1/mail/accounts/{mailbox_id}", w, None, "mailbox.delete"),
        ("DELETE /api/v1/mail/alias-domains/{alias_domain_id}", w, None, "alias_domain.delete"),
        ("DELETE /api/v1/tenants/{tenant_id}/admins/{admin_id}", w, None, "tenant_admin.delete"),
        (
            "DELETE /api/v1/mail/domains/{domain_id}",
            w,
            None,
            # Its two mailboxes (info, and the restored "gone") go with it, each audited.
            ["domain.delete", "mailbox.delete", "mailbox.delete", "domain.dns_queued"],
        ),
        ("DELETE /api/v1/tenants/{tenant_id}", w, None, "tenant.delete"),
    ]
    # Session routes change no managed object; they are not admin changes.
    not_audited = {
        "POST /api/v1/auth/login",
        "POST /api/v1/auth/refresh",
        "POST /api/v1/auth/logout",
        # Mail clients asking for their settings: a read, sent as POST by Outlook.
        "POST /autodiscover/autodiscover.xml",
        # Mail traffic, not admin changes: the messages and their deliveries are the record.
        "POST /api/v1/send",
        "POST /api/v1/send/batch",
        "POST /api/send/external",
        "DELETE /api/v1/messages/{message_id}",
        # Dovecot asking whether a token is active: a read, sent as POST (RFC 7662).
        "POST /api/v1/auth/token/introspect",
        # A recipient's one-click unsubscribe (public, RFC 8058): mail traffic; the
        # suppression it writes is the record. Not in the OpenAPI document either.
        "POST /unsubscribe/{token}",
    }
    write_routes = {op.label for op in operations(client.app) if op.method in WRITE_METHODS}  # type: ignore[arg-type]
    assert write_routes - not_audited == {label for label, *_ in steps}, (
        "a write route without an audit step"
    )

    # Routes that take what they act on in the query string.
    queries = {
        "POST /api/v1/suppressions/import": f"?tenant_id={world.tenant_id}",
        "DELETE /api/v1/suppressions": f"?address=au-{uid}@example.com&tenant_id={world.tenant_id}",
    }
    me = api.ok("GET", "/api/v1/auth/me")
    for label, values, body, action in steps:
        method, path = label.split(" ", 1)
        last = _newest_id(api)
        url = path.format(**values) + queries.get(label, "")
        kwargs = {"json": body} if body is not None else {}
        response = api.request(method, url, **kwargs)
        assert response.status_code in (200, 201, 202, 204), (label, response.text)
        new = _since(api, last)
        expected = [action] if isinstance(action, str) else action
        assert [e["action"] for e in new] == expected, (label, new)
        event = new[0]
        action = expected[0]
        assert event["actor_type"] == "service_token"
        assert event["actor_name"] == me["name"]
        assert datetime.now(UTC) - datetime.fromisoformat(event["at"]) < timedelta(minutes=1)
        if method == "DELETE" and "{" in path:
            assert event["object_id"] == values[path.rsplit("{", 1)[1].rstrip("}")]
        elif response.content and method == "POST" and response.status_code == 201:
            assert event["object_id"] == response.json()["id"]
        owner: int | None
        if action == "tenant.create":
            owner = response.json()["id"]
        elif action.startswith("outbound_route."):
            owner = None  # the platform's, no tenant's
        else:
            owner = elsewhere["id"] if action == "domain.create" else world.tenant_id
        assert event["tenant_id"] == owner, (label, event)

    # Reads leave nothing.
    last = _newest_id(api)
    api.ok("GET", "/api/v1/mail/domains")
    assert _newest_id(api) == last


def test_tenant_admins_see_their_own_tenants_entries_only(api: Api) -> None:
    start = _newest_id(api)
    mine, theirs = build_world(api), build_world(api)
    mine.admin.ok("PUT", f"/api/v1/mail/accounts/{mine.mailbox_id}", json={"display_name": "Mine"})
    theirs.admin.ok(
        "PUT", f"/api/v1/mail/accounts/{theirs.mailbox_id}", json={"display_name": "Theirs"}
    )
    events = _since(mine.admin)
    assert events
    assert {e["tenant_id"] for e in events} == {mine.tenant_id}
    update = [e for e in events if e["action"] == "mailbox.update"]
    assert update[-1]["actor_type"] == "tenant_admin"
    assert update[-1]["actor_name"] == mine.admin_email
    assert update[-1]["details"]["display_name"] == "Mine"
    # Platform-wide entries (service tokens) stay hidden too.
    assert all(e["object_type"] != "service_token" for e in events)
    # Filters work.
    only = _since(mine.admin, action="mailbox.update")
    assert only
    assert all(e["action"] == "mailbox.update" for e in only)
    # The operator sees both, and can filter by customer.
    both = {e["tenant_id"] for e in _since(api, start, action="mailbox.update")}
    assert {mine.tenant_id, theirs.tenant_id} <= both
    assert {e["tenant_id"] for e in _since(api, start, customer_id=theirs.tenant_id)} == {
        theirs.tenant_id
    }


def test_password_never_appears_in_the_log(api: Api) -> None:
    start = _newest_id(api)
    world = build_world(api)
    api.ok("PUT", f"/api/v1/mail/accounts/{world.mailbox_id}", json={"password": "secret-value-42"})
    assert "secret-value-42" not in str(_since(api, start, action="mailbox.update"))


def test_the_log_reads_newest_first_and_pages_either_way(api: Api) -> None:
    tenant = api.tenant()
    for n in range(3):
        api.ok("PATCH", f"/api/v1/tenants/{tenant['id']}", json={"notes": f"note {n}"})
    mine = {"customer_id": tenant["id"], "action": "tenant.update"}
    everything = api.ok("GET", "/api/v1/audit", params=mine)["items"]
    ids = [e["id"] for e in everything]
    assert len(ids) == 3
    assert ids == sorted(ids, reverse=True)
    first = api.ok("GET", "/api/v1/audit", params={**mine, "limit": 2})
    assert [e["id"] for e in first["items"]] == ids[:2]
    rest = api.ok("GET", "/api/v1/audit", params={**mine, "cursor": first["next_cursor"]})
    assert [e["id"] for e in rest["items"]] == ids[2:]
    assert rest["next_cursor"] is None
    oldest = api.ok("GET", "/api/v1/audit", params={**mine, "order": "oldest", "limit": 2})
    assert [e["id"] for e in oldest["items"]] == ids[::-1][:2]
    refused = api.get("/api/v1/audit", params={"order": "sideways"})
    assert refused.status_code == 422
