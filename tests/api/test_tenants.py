"""Tenants (customers) and their admins."""

from __future__ import annotations

import secrets

from tests.support.api import Api


def test_tenant_crud(api: Api, uid: str) -> None:
    created = api.ok(
        "POST", "/api/v1/tenants", 201, json={"name": f"  Acme {uid}  ", "notes": "gold"}
    )
    assert (created["name"], created["notes"], created["status"]) == (
        f"Acme {uid}",
        "gold",
        "active",
    )
    assert api.ok("GET", f"/api/v1/tenants/{created['id']}") == created

    updated = api.ok(
        "PATCH", f"/api/v1/tenants/{created['id']}", json={"name": f"Acme2 {uid}", "notes": ""}
    )
    assert (updated["name"], updated["notes"]) == (f"Acme2 {uid}", "")
    assert (
        api.ok("PATCH", f"/api/v1/tenants/{created['id']}", json={"status": "suspended"})["status"]
        == "suspended"
    )

    api.ok("DELETE", f"/api/v1/tenants/{created['id']}", 204)
    assert api.get(f"/api/v1/tenants/{created['id']}").status_code == 404
    assert api.delete(f"/api/v1/tenants/{created['id']}").status_code == 404


def test_tenant_names_are_unique_ignoring_case(api: Api, uid: str) -> None:
    api.tenant(f"Unique {uid}")
    for name in (f"Unique {uid}", f"UNIQUE {uid}", f" unique {uid} "):
        response = api.post("/api/v1/tenants", json={"name": name})
        assert (response.status_code, response.json()["error"]) == (409, "tenant_exists")
    other = api.tenant()
    response = api.patch(f"/api/v1/tenants/{other['id']}", json={"name": f"unique {uid}"})
    assert response.status_code == 409


def test_blank_tenant_name_is_refused(api: Api) -> None:
    """Defect fixed: a name of only spaces was stored as ''."""
    for name in ("", "   ", "\t"):
        response = api.post("/api/v1/tenants", json={"name": name})
        assert response.status_code == 422, (name, response.text)


def test_a_tenant_with_domains_cannot_be_deleted(api: Api) -> None:
    tenant = api.tenant()
    domain = api.domain(tenant["id"])
    admin = api.tenant_admin(tenant["id"])
    response = api.delete(f"/api/v1/tenants/{tenant['id']}")
    assert (response.status_code, response.json()["error"]) == (409, "tenant_not_empty")
    api.ok("DELETE", f"/api/v1/mail/domains/{domain['id']}", 204)
    api.ok("DELETE", f"/api/v1/tenants/{tenant['id']}", 204)
    # Its admins went with it.
    assert admin.get("/api/v1/auth/me").status_code == 401


def test_tenant_pagination(api: Api) -> None:
    ids = {api.tenant()["id"] for _ in range(5)}
    seen: list[int] = []
    cursor = None
    while True:
        params: dict[str, object] = {"limit": 2}
        if cursor:
            params["cursor"] = cursor
        page = api.ok("GET", "/api/v1/tenants", params=params)
        assert len(page["items"]) <= 2
        seen += [t["id"] for t in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert ids <= set(seen)
    assert seen == sorted(seen)
    assert len(seen) == len(set(seen))


def test_tenant_admins(api: Api, client: object) -> None:
    tenant = api.tenant()
    email = f"Boss-{secrets.token_hex(3)}@Admins.TEST"
    admin = api.ok(
        "POST",
        f"/api/v1/tenants/{tenant['id']}/admins",
        201,
        json={"email": email, "password": "admin-password-1"},
    )
    assert admin["email"] == email.lower()
    assert admin["active"]
    assert admin["last_login_at"] is None
    assert "password" not in str(admin).lower()
    again = api.post(
        f"/api/v1/tenants/{tenant['id']}/admins",
        json={"email": email.lower(), "password": "admin-password-1"},
    )
    assert (again.status_code, again.json()["error"]) == (409, "admin_exists")
    short = api.post(
        f"/api/v1/tenants/{tenant['id']}/admins", json={"email": "x@y.test", "password": "short"}
    )
    assert short.status_code == 422
    listed = api.ok("GET", f"/api/v1/tenants/{tenant['id']}/admins")["items"]
    assert [a["id"] for a in listed] == [admin["id"]]
    api.ok("DELETE", f"/api/v1/tenants/{tenant['id']}/admins/{admin['id']}", 204)
    assert api.ok("GET", f"/api/v1/tenants/{tenant['id']}/admins")["items"] == []


def test_what_a_tenant_admin_may_do_to_its_tenant(api: Api) -> None:
    tenant = api.tenant()
    admin = api.tenant_admin(tenant["id"])
    assert [t["id"] for t in admin.ok("GET", "/api/v1/tenants")["items"]] == [tenant["id"]]
    # Notes and a second admin: yes.
    assert (
        admin.ok("PATCH", f"/api/v1/tenants/{tenant['id']}", json={"notes": "ours"})["notes"]
        == "ours"
    )
    admin.ok(
        "POST",
        f"/api/v1/tenants/{tenant['id']}/admins",
        201,
        json={
            "email": f"second-{secrets.token_hex(3)}@admins.test",
            "password": "admin-password-2",
        },
    )
    # Creating tenants, changing its own status or deleting itself: platform only.
    for method, path, body in [
        ("POST", "/api/v1/tenants", {"name": f"mine-{secrets.token_hex(3)}"}),
        ("PATCH", f"/api/v1/tenants/{tenant['id']}", {"status": "suspended"}),
        ("DELETE", f"/api/v1/tenants/{tenant['id']}", None),
    ]:
        response = admin.request(method, path, json=body)
        assert (response.status_code, response.json()["error"]) == (403, "platform_only"), path
    assert api.ok("GET", f"/api/v1/tenants/{tenant['id']}")["status"] == "active"
