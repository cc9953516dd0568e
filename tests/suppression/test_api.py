"""The suppression list through the admin API: list, search, add, remove, import, export,
each tenant inside its own list, every change audited; and the send API answering
"suppressed" for a listed recipient."""

from __future__ import annotations

import csv
import io
import json
import secrets
from datetime import timedelta

from mailplane.db import Database
from mailplane.models import utcnow
from tests.support.api import Api
from tests.support.senders import make_sender


def test_add_search_remove_and_isolation(api: Api) -> None:
    a, b = api.tenant(), api.tenant()
    admin_a, admin_b = api.tenant_admin(a["id"]), api.tenant_admin(b["id"])
    tag = secrets.token_hex(4)
    created = admin_a.ok(
        "POST", "/api/v1/suppressions", 201,
        json={"address": f" Gone-{tag}@Example.COM ", "note": "asked to stop"},
    )  # fmt: skip
    assert created["address"] == f"gone-{tag}@example.com"
    assert (created["reason"], created["tenant_id"], created["detail"]) == (
        "manual", a["id"], "asked to stop",
    )  # fmt: skip
    assert created["expires_at"] is None
    again = admin_a.post("/api/v1/suppressions", json={"address": f"gone-{tag}@example.com"})
    assert (again.status_code, again.json()["error"]) == (409, "already_suppressed")
    later = (utcnow() + timedelta(days=2)).isoformat()
    admin_a.ok(
        "POST", "/api/v1/suppressions", 201,
        json={"address": f"other-{tag}@example.org", "expires_at": later},
    )  # fmt: skip

    page = admin_a.ok("GET", "/api/v1/suppressions", params={"q": tag})
    assert sorted(i["address"] for i in page["items"]) == [
        f"gone-{tag}@example.com", f"other-{tag}@example.org",
    ]  # fmt: skip
    page = admin_a.ok("GET", "/api/v1/suppressions", params={"q": f"gone-{tag}@"})
    assert [i["id"] for i in page["items"]] == [created["id"]]
    # LIKE wildcards are searched for as text: no address holds a "%".
    assert admin_a.ok("GET", "/api/v1/suppressions", params={"q": "%"})["items"] == []
    assert (
        admin_a.ok("GET", "/api/v1/suppressions", params={"reason": "import", "q": tag})["items"]
        == []
    )
    first = admin_a.ok("GET", "/api/v1/suppressions", params={"q": tag, "limit": 1})
    rest = admin_a.ok(
        "GET", "/api/v1/suppressions", params={"q": tag, "limit": 1, "cursor": first["next_cursor"]}
    )
    assert len(first["items"]) == len(rest["items"]) == 1
    assert rest["next_cursor"] is None

    # B sees nothing of A's list and cannot touch it.
    assert admin_b.ok("GET", "/api/v1/suppressions", params={"q": tag})["items"] == []
    assert admin_b.get(f"/api/v1/suppressions/{created['id']}").status_code == 404
    assert admin_b.delete(f"/api/v1/suppressions/{created['id']}").status_code == 404
    assert admin_b.get("/api/v1/suppressions", params={"tenant_id": a["id"]}).json()["items"] == []
    foreign = admin_b.post(
        "/api/v1/suppressions", json={"address": f"x-{tag}@example.com", "tenant_id": a["id"]}
    )
    assert foreign.status_code == 404
    by_address = admin_b.delete(
        "/api/v1/suppressions", params={"address": f"gone-{tag}@example.com"}
    )
    assert by_address.status_code == 404
    export_b = admin_b.get("/api/v1/suppressions/export")
    assert export_b.status_code == 200
    assert tag not in export_b.text

    # The operator names the tenant when it writes; it sees every list.
    missing = api.post("/api/v1/suppressions", json={"address": f"y-{tag}@example.com"})
    assert (missing.status_code, missing.json()["error"]) == (422, "tenant_required")
    assert len(api.ok("GET", "/api/v1/suppressions", params={"q": tag})["items"]) == 2

    # Removal: by id and by address; both audited.
    admin_a.ok("DELETE", f"/api/v1/suppressions/{created['id']}", 204)
    admin_a.ok(
        "DELETE", "/api/v1/suppressions", 204, params={"address": f"OTHER-{tag}@example.org"}
    )
    assert admin_a.ok("GET", "/api/v1/suppressions", params={"q": tag})["items"] == []
    assert admin_a.get(f"/api/v1/suppressions/{created['id']}").status_code == 404
    actions = [
        e["action"]
        for e in api.ok("GET", "/api/v1/audit", params={"customer_id": a["id"], "limit": 50})[
            "items"
        ]
        if e["action"].startswith("suppression.")
    ]
    assert sorted(actions) == sorted(["suppression.add"] * 2 + ["suppression.remove"] * 2)


def test_bad_input_is_4xx_with_a_code(api: Api) -> None:
    admin = api.tenant_admin(api.tenant()["id"])
    bad = admin.post("/api/v1/suppressions", json={"address": "not an address"})
    assert (bad.status_code, bad.json()["error"]) == (422, "invalid_address")
    past = (utcnow() - timedelta(days=1)).isoformat()
    old = admin.post("/api/v1/suppressions", json={"address": "a@example.com", "expires_at": past})
    assert (old.status_code, old.json()["error"]) == (422, "invalid_expiry")
    crlf = admin.post("/api/v1/suppressions", json={"address": "a@example.com\r\nBcc: x@y.z"})
    assert crlf.status_code == 422
    garbage = admin.post(
        "/api/v1/suppressions/import", content=b"\xff\xfe{", headers={"Content-Type": "text/csv"}
    )
    assert (garbage.status_code, garbage.json()["error"]) == (422, "invalid_upload")
    not_list = admin.post(
        "/api/v1/suppressions/import", content=b'{"a": 1}',
        headers={"Content-Type": "application/json"},
    )  # fmt: skip
    assert (not_list.status_code, not_list.json()["error"]) == (422, "invalid_upload")
    reader = api.get("/api/v1/suppressions", params={"reason": "nonsense"})
    assert reader.status_code == 422


def test_import_and_export(api: Api) -> None:
    tenant = api.tenant()
    admin = api.tenant_admin(tenant["id"])
    tag = secrets.token_hex(4)
    admin.ok("POST", "/api/v1/suppressions", 201, json={"address": f"known-{tag}@example.com"})
    upload = "\r\n".join(
        [
            "address,reason",
            f"one-{tag}@example.com,whatever",
            f"Two-{tag}@Example.com",
            f"two-{tag}@example.com",  # twice
            f"known-{tag}@example.com",  # already listed
            "not-an-address",
            "",
            f"=cmd-{tag}@example.com",
        ]
    ).encode()
    report = admin.ok(
        "POST", "/api/v1/suppressions/import", content=upload, headers={"Content-Type": "text/csv"}
    )
    assert (report["added"], report["skipped"], report["invalid"]) == (3, 2, 1)
    assert report["invalid_lines"][0]["value"] == "not-an-address"
    assert report["invalid_lines"][0]["line"] == 5

    as_json = json.dumps([f"three-{tag}@example.com", {"address": f"four-{tag}@example.com"}, 7])
    report = admin.ok(
        "POST", "/api/v1/suppressions/import", content=as_json,
        headers={"Content-Type": "application/json"},
    )  # fmt: skip
    assert (report["added"], report["skipped"], report["invalid"]) == (2, 0, 1)

    listed = admin.ok("GET", "/api/v1/suppressions", params={"reason": "import", "q": tag})
    assert len(listed["items"]) == 5

    exported = admin.get("/api/v1/suppressions/export")
    assert exported.status_code == 200
    assert exported.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(exported.text)))
    mine = {r["address"]: r for r in rows if tag in r["address"]}
    assert set(mine) == {
        f"known-{tag}@example.com", f"one-{tag}@example.com", f"two-{tag}@example.com",
        f"three-{tag}@example.com", f"four-{tag}@example.com", f"=cmd-{tag}@example.com",
    }  # fmt: skip
    assert mine[f"known-{tag}@example.com"]["reason"] == "manual"
    # Another tenant's export holds none of it; an import of the export adds nothing new.
    other = api.tenant_admin(api.tenant()["id"])
    assert tag not in other.get("/api/v1/suppressions/export").text
    again = admin.ok(
        "POST", "/api/v1/suppressions/import", content=exported.content,
        headers={"Content-Type": "text/csv"},
    )  # fmt: skip
    assert again["added"] == 0
    assert again["skipped"] >= 6
    audit = api.ok("GET", "/api/v1/audit", params={"customer_id": tenant["id"], "limit": 50})
    imports = [e for e in audit["items"] if e["action"] == "suppression.import"]
    assert len(imports) == 3


def test_import_is_bounded(api: Api) -> None:
    admin = api.tenant_admin(api.tenant()["id"])
    body = "\n".join(f"a{i}@example.com" for i in range(10_001)).encode()
    response = admin.post(
        "/api/v1/suppressions/import", content=body, headers={"Content-Type": "text/csv"}
    )
    assert (response.status_code, response.json()["error"]) == (422, "import_too_large")
    huge = b"a@example.com\n" * (9 * 1024 * 1024 // 14)
    response = admin.post(
        "/api/v1/suppressions/import", content=huge, headers={"Content-Type": "text/csv"}
    )
    assert response.status_code == 413


def test_the_send_api_answers_suppressed(api: Api, database: Database) -> None:
    sender = make_sender(api, database)
    tag = secrets.token_hex(4)
    api.ok(
        "POST", "/api/v1/suppressions", 201,
        json={"address": f"gone-{tag}@example.com", "tenant_id": sender.tenant_id},
    )  # fmt: skip
    sent = sender.send(
        {
            "from": f"app@{sender.domain}",
            "to": [f"Gone-{tag}@example.com", f"here-{tag}@example.com"],
            "subject": "hello",
            "text": "hello",
        }
    )
    assert sent.status_code == 202, sent.text
    statuses = {r["email"]: r["status"] for r in sent.json()["recipients"]}
    assert statuses == {
        f"gone-{tag}@example.com": "suppressed",
        f"here-{tag}@example.com": "queued",
    }
    message = api.ok("GET", f"/api/v1/messages/{sent.json()['id']}")
    assert message["statuses"] == {"suppressed": 1, "queued": 1}
