"""The messages API: status per recipient, filters, pages, cancel; scoped to who asks."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import update

from mailplane.db import Database
from mailplane.models import Delivery, DeliveryAttempt, utcnow
from tests.support.api import Api
from tests.support.senders import Sender, make_sender


def _send(sender: Sender, **extra: Any) -> dict[str, Any]:
    body = {"from": f"a@{sender.domain}", "to": ["x@example.com"], "subject": "s", "text": "t"}
    response = sender.send({**body, **extra})
    assert response.status_code == 202, response.text
    result: dict[str, Any] = response.json()
    return result


def test_status_attempts_and_filters(api: Api, database: Database, sender: Sender) -> None:
    sent = _send(sender, to=["a@example.com", "b@example.com"], tags=["invoice"])
    other = _send(sender, tags=["news"])
    first, second = (r["id"] for r in sent["recipients"])
    # What a worker leaves behind: one delivered after a deferral, one deferred.
    now = utcnow()
    with database.transaction() as session:
        session.add_all(
            [
                DeliveryAttempt(
                    delivery_id=first,
                    outcome="deferred",
                    remote_host="mx.example.com",
                    remote_ip="192.0.2.1",
                    code=451,
                    enhanced_code="4.7.1",
                    reply="try later",
                    started_at=now,
                ),
                DeliveryAttempt(
                    delivery_id=first,
                    outcome="delivered",
                    remote_host="mx.example.com",
                    remote_ip="192.0.2.1",
                    code=250,
                    enhanced_code="2.0.0",
                    reply="ok",
                    started_at=now,
                ),
            ]
        )
        session.execute(
            update(Delivery)
            .where(Delivery.id == first)
            .values(status="delivered", attempts=2, next_attempt_at=None, last_code=250)
        )
        session.execute(update(Delivery).where(Delivery.id == second).values(status="deferred"))

    shown = sender.api.client.get(f"/api/v1/messages/{sent['id']}", headers=sender.headers())
    assert shown.status_code == 200, shown.text
    message = shown.json()
    assert message["message_id"] == sent["message_id"]
    assert message["statuses"] == {"delivered": 1, "deferred": 1}
    by_email = {r["email"]: r for r in message["recipients"]}
    delivered = by_email["a@example.com"]
    assert delivered["status"] == "delivered"
    assert [
        (a["code"], a["enhanced_code"], a["remote_host"], a["remote_ip"])
        for a in delivered["attempt_log"]
    ] == [
        (451, "4.7.1", "mx.example.com", "192.0.2.1"),
        (250, "2.0.0", "mx.example.com", "192.0.2.1"),
    ]

    def ids(**params: Any) -> list[str]:
        page = api.ok("GET", "/api/v1/messages", params={"domain_id": sender.domain_id, **params})
        return [m["id"] for m in page["items"]]

    assert ids() == [other["id"], sent["id"]]  # newest first
    assert ids(tag="invoice") == [sent["id"]]
    assert ids(status="delivered") == [sent["id"]]
    assert ids(recipient="B@example.com") == [sent["id"]]
    assert ids(since=(utcnow() + timedelta(minutes=5)).isoformat()) == []
    first_page = api.ok(
        "GET", "/api/v1/messages", params={"domain_id": sender.domain_id, "limit": 1}
    )
    assert first_page["next_cursor"]
    rest = api.ok(
        "GET",
        "/api/v1/messages",
        params={"domain_id": sender.domain_id, "limit": 1, "cursor": first_page["next_cursor"]},
    )
    assert [m["id"] for m in first_page["items"] + rest["items"]] == [other["id"], sent["id"]]
    forged = api.get("/api/v1/messages", params={"cursor": "garbage!"})
    assert (forged.status_code, forged.json()["error"]) == (422, "invalid_cursor")


def test_cancel(sender: Sender, database: Database) -> None:
    later = (utcnow() + timedelta(hours=1)).isoformat()
    sent = _send(sender, to=["a@example.com", "b@example.com", "c@example.com"], send_at=later)
    a, b, c = (r["id"] for r in sent["recipients"])
    with database.transaction() as session:
        session.execute(update(Delivery).where(Delivery.id == b).values(status="sending"))
        session.execute(
            update(Delivery)
            .where(Delivery.id == c)
            .values(status="delivered", next_attempt_at=None)
        )
    url = f"/api/v1/messages/{sent['id']}"
    cancelled = sender.api.client.delete(url, headers=sender.headers())
    assert cancelled.status_code == 200, cancelled.text
    assert cancelled.json() == {"id": sent["id"], "cancelled": 1, "in_flight": 1, "finished": 1}
    shown = sender.api.client.get(url, headers=sender.headers()).json()
    assert {r["id"]: r["status"] for r in shown["recipients"]} == {
        a: "cancelled",
        b: "sending",
        c: "delivered",
    }
    assert {r["id"]: r["next_attempt_at"] for r in shown["recipients"]}[a] is None


def test_scoping(api: Api, database: Database) -> None:
    mine, theirs = make_sender(api, database), make_sender(api, database)
    their_message = _send(theirs)["id"]
    # A key sees its own domain's messages only; a tenant admin its own tenant's.
    for who in (mine.headers(), api.tenant_admin(mine.tenant_id).headers):
        for method in ("GET", "DELETE"):
            response = api.client.request(method, f"/api/v1/messages/{their_message}", headers=who)
            assert response.status_code == 404, response.text
        listed = api.client.get("/api/v1/messages", headers=who).json()["items"]
        assert their_message not in {m["id"] for m in listed}
    assert api.ok("GET", f"/api/v1/messages/{their_message}")["id"] == their_message
    none = api.client.get("/api/v1/messages")
    assert none.status_code == 401
