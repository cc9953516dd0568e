"""Send API keys: shown once, hashed at rest, revocable, expiring, tenant-scoped."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import select

from mailplane.auth.secrets import digest
from mailplane.db import Database
from mailplane.models import ApiKey, AuditEvent, utcnow
from tests.support.api import Api
from tests.support.senders import Sender, make_sender

BODY = {"to": ["x@example.com"], "subject": "s", "text": "t"}


def test_lifecycle(api: Api, database: Database, sender: Sender) -> None:
    key_url = f"/api/v1/mail/api-keys/{sender.key_id}"
    shown = api.ok("GET", key_url)
    assert "key" not in shown
    assert sender.key.startswith(shown["key_prefix"] + "_")
    listed = api.ok("GET", f"/api/v1/mail/domains/{sender.domain_id}/api-keys")["items"]
    assert [k["id"] for k in listed] == [sender.key_id]
    assert "key" not in listed[0]
    with database.session(write=False) as session:
        row = session.get(ApiKey, sender.key_id)
        assert row is not None
        assert row.secret_hash == digest(sender.key)
        assert sender.key not in str(row.__dict__).replace(row.secret_hash, "")
        audit = list(session.scalars(select(AuditEvent).where(AuditEvent.object_type == "api_key")))
    assert all(sender.key not in str(a.details) for a in audit)

    body = {**BODY, "from": f"a@{sender.domain}"}
    assert sender.send(body).status_code == 202
    assert api.ok("GET", key_url)["last_used_at"] is not None
    # Either header works.
    assert (
        api.client.post("/api/v1/send", json=body, headers={"X-Api-Key": sender.key}).status_code
        == 202
    )
    wrong = api.client.post("/api/v1/send", json=body, headers={"X-Api-Key": sender.key + "x"})
    assert (wrong.status_code, wrong.json()["error"]) == (401, "invalid_api_key")

    api.ok("DELETE", key_url, 204)
    revoked = sender.send(body)
    assert (revoked.status_code, revoked.json()["error"]) == (401, "api_key_revoked")
    assert api.ok("GET", key_url)["revoked_at"] is not None
    with database.session(write=False) as session:
        actions = set(
            session.scalars(
                select(AuditEvent.action).where(
                    AuditEvent.object_type == "api_key", AuditEvent.object_id == sender.key_id
                )
            )
        )
    assert {"api_key.create", "api_key.revoke"} <= actions


def test_expired_key(api: Api, sender: Sender) -> None:
    past = (utcnow() - timedelta(minutes=1)).isoformat()
    api.ok("PATCH", f"/api/v1/mail/api-keys/{sender.key_id}", json={"expires_at": past})
    response = sender.send({**BODY, "from": f"a@{sender.domain}"})
    assert (response.status_code, response.json()["error"]) == (401, "api_key_expired")


def test_foreign_keys_are_404_for_a_tenant_admin(api: Api, database: Database) -> None:
    mine, theirs = make_sender(api, database), make_sender(api, database)
    admin = api.tenant_admin(mine.tenant_id)
    for method, path in [
        ("GET", f"/api/v1/mail/api-keys/{theirs.key_id}"),
        ("PATCH", f"/api/v1/mail/api-keys/{theirs.key_id}"),
        ("DELETE", f"/api/v1/mail/api-keys/{theirs.key_id}"),
        ("GET", f"/api/v1/mail/domains/{theirs.domain_id}/api-keys"),
        ("POST", f"/api/v1/mail/domains/{theirs.domain_id}/api-keys"),
    ]:
        kwargs = {"json": {"name": "x"}} if method in ("POST", "PATCH") else {}
        response = admin.request(method, path, **kwargs)
        assert response.status_code == 404, (method, path, response.text)
    # The tenant admin manages its own keys.
    own = admin.ok(
        "POST", f"/api/v1/mail/domains/{mine.domain_id}/api-keys", 201, json={"name": "mine"}
    )
    assert own["key"].startswith("mpk_")
    admin.ok("DELETE", f"/api/v1/mail/api-keys/{own['id']}", 204)
    # Their key still sends.
    assert theirs.send({**BODY, "from": f"a@{theirs.domain}"}).status_code == 202


def test_form_key_needs_origins_and_recipients(api: Api, sender: Sender) -> None:
    url = f"/api/v1/mail/domains/{sender.domain_id}/api-keys"
    cases: list[tuple[dict[str, Any], str]] = [
        ({"kind": "form", "allowed_origins": ["https://a.example"]}, "form_key_unbound"),
        ({"kind": "form", "allowed_recipients": ["x@example.com"]}, "form_key_unbound"),
        (
            {
                "kind": "form",
                "allowed_origins": ["https://a.example/path"],
                "allowed_recipients": ["x@example.com"],
            },
            "invalid_origin",
        ),
        (
            {
                "kind": "form",
                "allowed_origins": ["http://a.example"],
                "allowed_recipients": ["x@example.com"],
            },
            "invalid_origin",
        ),
        ({"from_address": "a@elsewhere.example"}, "from_domain_mismatch"),
    ]
    for body, code in cases:
        response = api.post(url, json={"name": "f", **body})
        assert (response.status_code, response.json()["error"]) == (422, code), body


def test_a_suspended_tenant_cannot_send(api: Api, sender: Sender) -> None:
    body = {**BODY, "from": f"a@{sender.domain}"}
    api.ok("PATCH", f"/api/v1/tenants/{sender.tenant_id}", json={"status": "suspended"})
    refused = sender.send(body)
    assert (refused.status_code, refused.json()["error"]) == (403, "tenant_suspended")
    api.ok("PATCH", f"/api/v1/tenants/{sender.tenant_id}", json={"status": "active"})
    assert sender.send(body).status_code == 202
