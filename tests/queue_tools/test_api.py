"""``/api/v1/queue``: list, show and act, as operators and tenant admins; a tenant admin
never sees or changes another tenant's deliveries; bad input is a 422 with a code."""

from __future__ import annotations

from typing import Any

from mailplane.db import Database
from tests.support.api import Api
from tests.support.senders import Sender, make_sender


def _send(sender: Sender, uid: str, *recipients: str) -> dict[str, Any]:
    body = {
        "from": f"a@{sender.domain}",
        "to": [f"{r}-{uid}@example.com" for r in recipients],
        "subject": "s",
        "text": "t",
    }
    response = sender.send(body)
    assert response.status_code == 202, response.text
    result: dict[str, Any] = response.json()
    return result


def _ids(sent: dict[str, Any]) -> list[int]:
    return [r["id"] for r in sent["recipients"]]


def test_hold_release_retry_cancel_as_a_tenant_admin(
    api: Api, database: Database, uid: str
) -> None:
    sender = make_sender(api, database)
    admin = api.tenant_admin(sender.tenant_id)
    first, second = _ids(_send(sender, uid, "one", "two"))

    # Pages of one, oldest first.
    page = admin.ok("GET", "/api/v1/queue", params={"limit": 1})
    assert [i["id"] for i in page["items"]] == [first]
    page = admin.ok("GET", "/api/v1/queue", params={"limit": 1, "cursor": page["next_cursor"]})
    assert [i["id"] for i in page["items"]] == [second]
    assert page["next_cursor"] is None

    listed = admin.ok("GET", "/api/v1/queue", params={"recipient": f"one-{uid}@example.com"})
    [item] = listed["items"]
    assert (item["id"], item["status"], item["tenant_id"]) == (first, "queued", sender.tenant_id)
    assert item["sender"] == f"a@{sender.domain}"

    held = admin.ok("POST", "/api/v1/queue/actions", json={"action": "hold", "ids": [first]})
    assert held == {
        "action": "hold",
        "matched": 1,
        "changed": 1,
        "skipped_in_flight": 0,
        "skipped_other": 0,
        "changed_ids": [first],
        "in_flight_ids": [],
    }
    shown = admin.ok("GET", f"/api/v1/queue/{first}")
    assert (shown["status"], shown["next_attempt_at"], shown["attempt_log"]) == ("held", None, [])
    by_status = admin.ok("GET", "/api/v1/queue", params={"status": "held"})
    assert [i["id"] for i in by_status["items"]] == [first]

    # Bulk release by a filter (what Postal lacks): every held one of this sending domain.
    released = admin.ok(
        "POST",
        "/api/v1/queue/actions",
        json={"action": "release", "select": {"sending_domain": sender.domain}},
    )
    assert (released["matched"], released["changed"], released["skipped_other"]) == (2, 1, 1)
    shown = admin.ok("GET", f"/api/v1/queue/{first}")
    assert shown["status"] == "queued"
    assert shown["next_attempt_at"] is not None

    cancelled = admin.ok(
        "POST",
        "/api/v1/queue/actions",
        json={"action": "cancel", "select": {"recipient": "@example.com"}, "ids": [first, second]},
    )
    assert cancelled["changed_ids"] == [first, second]
    # Cancelled rows stay, final: the messages API shows them, the queue list does not.
    message = admin.ok("GET", f"/api/v1/messages/{shown['message_id']}")
    assert message["statuses"] == {"cancelled": 2}
    assert (
        admin.ok("GET", "/api/v1/queue", params={"message_id": shown["message_id"]})["items"] == []
    )
    assert [
        i["id"]
        for i in admin.ok(
            "GET",
            "/api/v1/queue",
            params={"message_id": shown["message_id"], "status": "cancelled"},
        )["items"]
    ] == [first, second]

    audit = admin.ok("GET", "/api/v1/audit", params={"object_type": "delivery"})["items"]
    actions = [e["action"] for e in audit]
    assert actions[:3] == ["queue.cancel", "queue.release", "queue.hold"]
    assert audit[2]["details"]["changed_ids"] == [first]
    assert audit[2]["tenant_id"] == sender.tenant_id


def test_tenants_cannot_see_or_act_on_each_others_deliveries(
    api: Api, database: Database, uid: str
) -> None:
    a, b = make_sender(api, database), make_sender(api, database)
    admin_a = api.tenant_admin(a.tenant_id)
    [mine] = _ids(_send(a, uid, "mine"))
    [theirs] = _ids(_send(b, uid, "theirs"))

    listed = admin_a.ok("GET", "/api/v1/queue", params={"limit": 500})
    assert {i["tenant_id"] for i in listed["items"]} == {a.tenant_id}
    assert mine in {i["id"] for i in listed["items"]}
    foreign = admin_a.ok("GET", "/api/v1/queue", params={"customer_id": b.tenant_id})
    assert foreign["items"] == []
    response = admin_a.get(f"/api/v1/queue/{theirs}")
    assert (response.status_code, response.json()["error"]) == (404, "delivery_not_found")

    # Naming B's delivery, or all matching, acts on A's own rows only.
    result = admin_a.ok("POST", "/api/v1/queue/actions", json={"action": "hold", "ids": [theirs]})
    assert (result["matched"], result["changed"]) == (0, 0)
    result = admin_a.ok(
        "POST", "/api/v1/queue/actions", json={"action": "hold", "all_matching": True}
    )
    assert theirs not in result["changed_ids"]
    assert mine in result["changed_ids"]
    assert api.ok("GET", f"/api/v1/queue/{theirs}")["status"] == "queued"

    # The operator sees both and may narrow by tenant.
    both = api.ok(
        "GET",
        "/api/v1/queue",
        params={"recipient_domain": "example.com", "status": ["queued", "held"], "limit": 500},
    )
    assert {mine, theirs} <= {i["id"] for i in both["items"]}
    only_b = api.ok("GET", "/api/v1/queue", params={"customer_id": b.tenant_id})
    assert [i["id"] for i in only_b["items"]] == [theirs]
    api.ok("POST", "/api/v1/queue/actions", json={"action": "cancel", "ids": [mine, theirs]})


def test_bad_input_is_422_with_a_code(api: Api) -> None:
    cases: list[tuple[str, str, dict[str, Any]]] = [
        ("POST", "/api/v1/queue/actions", {"json": {"action": "explode", "ids": [1]}}),
        ("POST", "/api/v1/queue/actions", {"json": {"action": "retry", "ids": [0]}}),
        ("POST", "/api/v1/queue/actions", {"json": {"action": "retry", "ids": ["1"]}}),
        (
            "POST",
            "/api/v1/queue/actions",
            {"json": {"action": "retry", "limit": 10**6, "all_matching": True}},
        ),
        (
            "POST",
            "/api/v1/queue/actions",
            {"json": {"action": "retry", "select": {"older_than": "2x"}}},
        ),
        ("GET", "/api/v1/queue", {"params": {"older_than": "soon"}}),
        # Ages past the calendar once overflowed into a 500 (found by schemathesis).
        ("GET", "/api/v1/queue", {"params": {"newer_than": "200000000w"}}),
        ("GET", "/api/v1/queue", {"params": {"older_than": "800000d"}}),
        ("GET", "/api/v1/queue", {"params": {"status": "lost"}}),
        ("GET", "/api/v1/queue", {"params": {"recipient": "a b@example.com"}}),
        ("GET", "/api/v1/queue/0", {}),
        ("GET", "/api/v1/queue", {"params": {"cursor": "nonsense"}}),
    ]
    for method, path, kwargs in cases:
        response = api.request(method, path, **kwargs)
        assert response.status_code == 422, (path, kwargs, response.text)
        assert response.json()["error"], response.text
    response = api.post("/api/v1/queue/actions", json={"action": "cancel"})
    assert (response.status_code, response.json()["error"]) == (422, "selection_required")
    response = api.get("/api/v1/queue/2147483000")
    assert (response.status_code, response.json()["error"]) == (404, "delivery_not_found")
