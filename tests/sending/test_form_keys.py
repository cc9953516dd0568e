"""Form keys (public, in a web page): bound to origins and recipients; CORS for those only."""

from __future__ import annotations

from typing import Any

from mailplane.db import Database
from tests.support.api import Api
from tests.support.senders import Sender


def _origin(sender: Sender) -> str:
    # Per test: every active form key in the database answers CORS for its origins.
    return f"https://www.{sender.domain}"


def _form_key(api: Api, sender: Sender, **extra: Any) -> dict[str, Any]:
    created: dict[str, Any] = api.ok(
        "POST",
        f"/api/v1/mail/domains/{sender.domain_id}/api-keys",
        201,
        json={
            "name": "contact form",
            "kind": "form",
            "allowed_origins": [_origin(sender), "http://localhost:3000"],
            "allowed_recipients": [f"info@{sender.domain}"],
            **extra,
        },
    )
    return created


def test_form_key_origin_and_recipients(api: Api, sender: Sender, database: Database) -> None:
    key = _form_key(api, sender)["key"]
    site = _origin(sender)
    body = {
        "domain": sender.domain,
        "to": f"info@{sender.domain}",
        "subject": "Kontaktanfrage",
        "text": "Hallo",
    }
    ok = api.client.post(
        "/api/send/external", json=body, headers={"X-Api-Key": key, "Origin": site}
    )
    assert ok.status_code == 200, ok.text
    assert ok.headers["access-control-allow-origin"] == site
    for origin in (None, "https://evil.example", site + ".evil.example"):
        headers = {"X-Api-Key": key, **({"Origin": origin} if origin else {})}
        refused = api.client.post("/api/send/external", json=body, headers=headers)
        assert (refused.status_code, refused.json()["error"]) == (403, "origin_not_allowed")
        assert "access-control-allow-origin" not in refused.headers
    outside = api.client.post(
        "/api/send/external",
        json={**body, "to": "someone@example.com"},
        headers={"X-Api-Key": key, "Origin": site},
    )
    assert (outside.status_code, outside.json()["error"]) == (403, "recipient_not_allowed")
    # A form key reads nothing.
    read = api.client.get("/api/v1/messages", headers={"X-Api-Key": key, "Origin": site})
    assert (read.status_code, read.json()["error"]) == (403, "form_key_cannot_read")


def test_cors_answers_only_the_origins_of_active_form_keys(api: Api, sender: Sender) -> None:
    created = _form_key(api, sender)
    site = _origin(sender)
    preflight = {
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "content-type, x-api-key",
    }
    for path in ("/api/send/external", "/api/v1/send"):
        allowed = api.client.options(path, headers={**preflight, "Origin": site})
        assert allowed.status_code == 204
        assert allowed.headers["access-control-allow-origin"] == site
        assert "x-api-key" in allowed.headers["access-control-allow-headers"]
        other = api.client.options(path, headers={**preflight, "Origin": "https://evil.example"})
        assert "access-control-allow-origin" not in other.headers
        assert other.headers.get("access-control-allow-origin") != "*"
    # Revoked: its origins are no longer answered.
    api.ok("DELETE", f"/api/v1/mail/api-keys/{created['id']}", 204)
    gone = api.client.options("/api/v1/send", headers={**preflight, "Origin": site})
    assert "access-control-allow-origin" not in gone.headers


def test_form_key_rate_limit_is_low(api: Api, sender: Sender, database: Database) -> None:
    key = _form_key(api, sender, rate_limit_per_hour=1_000_000)
    assert key["rate_limit_per_hour"] == 1_000_000
    body = {"domain": sender.domain, "to": f"info@{sender.domain}", "subject": "s", "text": "t"}
    headers = {"X-Api-Key": key["key"], "Origin": _origin(sender)}
    limit = api.client.post("/api/send/external", json=body, headers=headers)
    assert limit.status_code == 200
    # settings.form_key_rate_per_hour (20) applies, whatever the key says.
    assert limit.headers["ratelimit-limit"] == "20"
