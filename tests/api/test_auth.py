"""Service tokens, tenant admin sessions (login, refresh rotation, logout) and throttling."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime, timedelta

import jwt
from fastapi.testclient import TestClient
from sqlalchemy import select

from mailplane.auth import jwt_tokens, service_tokens
from mailplane.config import Settings
from mailplane.db import Database
from mailplane.models import Domain, ServiceToken, Tenant
from tests.support.api import Api

PASSWORD = "admin-password-1"


def _admin(api: Api, tenant_id: int) -> str:
    email = f"admin-{secrets.token_hex(4)}@admins.test"
    api.ok(
        "POST",
        f"/api/v1/tenants/{tenant_id}/admins",
        201,
        json={"email": email, "password": PASSWORD},
    )
    return email


def _from_ip(client: TestClient) -> TestClient:
    """A client with its own address, so throttling tests do not lock out the others."""
    ip = f"10.{secrets.randbelow(250)}.{secrets.randbelow(250)}.{secrets.randbelow(250) + 1}"
    return TestClient(client.app, client=(ip, 40000))


def _token(database: Database, scopes: list[str]) -> tuple[int, str]:
    with database.transaction() as session:
        row, secret = service_tokens.create(session, f"t-{secrets.token_hex(3)}", scopes)
    return row.id, secret


def test_login_me_refresh_rotation_and_logout(client: TestClient, api: Api) -> None:
    tenant = api.tenant()
    email = _admin(api, tenant["id"])
    tokens = client.post("/api/v1/auth/login", json={"email": email.upper(), "password": PASSWORD})
    assert tokens.status_code == 200, tokens.text
    pair = tokens.json()
    assert pair["token_type"] == "Bearer"
    assert pair["tenant_id"] == tenant["id"]
    assert 0 < pair["expires_in"] <= 3600
    bearer = {"Authorization": f"Bearer {pair['access_token']}"}
    me = client.get("/api/v1/auth/me", headers=bearer).json()
    assert (me["kind"], me["name"], me["tenant_id"]) == ("tenant_admin", email, tenant["id"])

    # Rotation: the answer carries a new refresh token; the used one never works again.
    first = pair["refresh_token"]
    rotated = client.post("/api/v1/auth/refresh", json={"refresh_token": first})
    assert rotated.status_code == 200
    second = rotated.json()["refresh_token"]
    assert second != first
    reused = client.post("/api/v1/auth/refresh", json={"refresh_token": first})
    assert reused.status_code == 401
    assert reused.json()["error"] == "invalid_token"
    new_bearer = {"Authorization": f"Bearer {rotated.json()['access_token']}"}
    assert client.get("/api/v1/auth/me", headers=new_bearer).status_code == 200

    # Logout ends the refresh token.
    assert client.post("/api/v1/auth/logout", json={"refresh_token": second}).status_code == 204
    assert client.post("/api/v1/auth/refresh", json={"refresh_token": second}).status_code == 401
    # Logging out twice, or with a token nobody knows, is not an error.
    assert client.post("/api/v1/auth/logout", json={"refresh_token": second}).status_code == 204

    # The admin's last login is shown to the operator.
    admins = api.ok("GET", f"/api/v1/tenants/{tenant['id']}/admins")["items"]
    assert admins[0]["last_login_at"] is not None


def test_bad_credentials_answer_401_with_a_code(
    client: TestClient, settings: Settings, api: Api
) -> None:
    tenant = api.tenant()
    email = _admin(api, tenant["id"])
    admin = api.as_headers({})
    cases = {
        "missing_credentials": {},
        "invalid_token": {"Authorization": "Bearer not.a.jwt"},
    }
    for code, headers in cases.items():
        response = admin.get("/api/v1/auth/me", headers=headers)
        assert response.status_code == 401
        assert response.json()["error"] == code
    assert admin.get("/api/v1/auth/me", headers={"Authorization": "Basic abc"}).status_code == 401
    assert (
        admin.get("/api/v1/auth/me", headers={"x-service-token": "mpst_forged"}).status_code == 401
    )

    # Expired: signed correctly, but past its exp.
    me = client.post("/api/v1/auth/login", json={"email": email, "password": PASSWORD}).json()
    claims = jwt.decode(me["access_token"], options={"verify_signature": False})
    expired = {**claims, "exp": int((datetime.now(UTC) - timedelta(minutes=1)).timestamp())}
    token = jwt.encode(expired, settings.effective_secret(), algorithm=jwt_tokens.ALGORITHM)
    response = admin.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {token}"})
    assert (response.status_code, response.json()["error"]) == (401, "token_expired")

    # Signed with another key, or with "none", or for another tenant: refused.
    forged = jwt.encode(claims, "x" * 48, algorithm="HS256")
    unsigned = jwt.encode(claims, None, algorithm="none")  # type: ignore[arg-type]
    other_tenant = jwt.encode(
        {**claims, "tid": claims["tid"] + 1}, settings.effective_secret(), algorithm="HS256"
    )
    for bad in (forged, unsigned, other_tenant):
        response = admin.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {bad}"})
        assert response.status_code == 401, response.text

    # Wrong password and unknown account look the same.
    wrong = client.post("/api/v1/auth/login", json={"email": email, "password": "nope-nope"})
    unknown = client.post(
        "/api/v1/auth/login", json={"email": "nobody@admins.test", "password": "nope-nope"}
    )
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.json() == unknown.json()


def test_read_scope_token_cannot_write(api: Api, database: Database) -> None:
    _, secret = _token(database, ["read"])
    reader = api.as_headers({"x-service-token": secret})
    assert reader.get("/api/v1/tenants").status_code == 200
    me = reader.ok("GET", "/api/v1/auth/me")
    assert me["scopes"] == ["read"]
    assert me["tenant_id"] is None
    name = f"read-only-{secrets.token_hex(3)}"
    target = api.tenant()
    for method, path, body in [
        ("POST", "/api/v1/tenants", {"name": name}),
        ("POST", "/api/v1/mail/domains", {"domain": f"{name}.test", "customer_id": target["id"]}),
        ("DELETE", f"/api/v1/tenants/{target['id']}", None),
    ]:
        response = reader.request(method, path, json=body)
        assert response.status_code == 403, response.text
        assert response.json()["error"] == "insufficient_scope"
    # Nothing was written: no such tenant, no domain, and the target tenant is still there.
    with database.session(write=False) as session:
        assert session.scalar(select(Tenant).where(Tenant.name == name)) is None
        assert session.scalar(select(Domain).where(Domain.name == f"{name}.test")) is None
    assert api.get(f"/api/v1/tenants/{target['id']}").status_code == 200


def test_revoked_token_is_401_and_last_used_is_recorded(api: Api, database: Database) -> None:
    token_id, secret = _token(database, ["admin", "read"])
    holder = api.as_headers({"x-service-token": secret})
    with database.session(write=False) as session:
        assert session.get(ServiceToken, token_id).last_used_at is None  # type: ignore[union-attr]
    assert holder.get("/api/v1/tenants").status_code == 200
    with database.session(write=False) as session:
        used = session.get(ServiceToken, token_id).last_used_at  # type: ignore[union-attr]
    assert used is not None
    assert datetime.now(UTC) - used < timedelta(minutes=1)

    with database.transaction() as session:
        service_tokens.revoke(session, token_id)
    response = holder.get("/api/v1/tenants")
    assert (response.status_code, response.json()["error"]) == (401, "invalid_token")


def test_throttling_per_account(client: TestClient, api: Api, settings: Settings) -> None:
    tenant = api.tenant()
    email = _admin(api, tenant["id"])
    # Each failure from its own address: the account limit must bite on its own.
    for _ in range(settings.login_max_failures_per_account):
        response = _from_ip(client).post(
            "/api/v1/auth/login", json={"email": email, "password": "bad-password"}
        )
        assert response.status_code == 401
    throttled = _from_ip(client).post(
        "/api/v1/auth/login", json={"email": email, "password": PASSWORD}
    )
    assert throttled.status_code == 429
    assert throttled.json()["error"] == "too_many_requests"
    retry_after = int(throttled.headers["Retry-After"])
    assert 0 < retry_after <= settings.login_window_seconds + 1
    # Other accounts are not affected.
    other = _admin(api, tenant["id"])
    ok = _from_ip(client).post("/api/v1/auth/login", json={"email": other, "password": PASSWORD})
    assert ok.status_code == 200


def test_throttling_per_ip(client: TestClient, api: Api, settings: Settings) -> None:
    tenant = api.tenant()
    attacker = _from_ip(client)
    for i in range(settings.login_max_failures_per_ip):
        response = attacker.post(
            "/api/v1/auth/login", json={"email": f"guess{i}@admins.test", "password": "guess-1234"}
        )
        assert response.status_code == 401, (i, response.text)
    email = _admin(api, tenant["id"])
    throttled = attacker.post("/api/v1/auth/login", json={"email": email, "password": PASSWORD})
    assert throttled.status_code == 429
    assert int(throttled.headers["Retry-After"]) > 0
    # The same account from another address still logs in.
    assert (
        _from_ip(client)
        .post("/api/v1/auth/login", json={"email": email, "password": PASSWORD})
        .status_code
        == 200
    )


def test_suspended_tenant_admin_cannot_log_in_or_continue(client: TestClient, api: Api) -> None:
    tenant = api.tenant()
    email = _admin(api, tenant["id"])
    pair = client.post("/api/v1/auth/login", json={"email": email, "password": PASSWORD}).json()
    bearer = {"Authorization": f"Bearer {pair['access_token']}"}
    api.ok("PATCH", f"/api/v1/tenants/{tenant['id']}", json={"status": "suspended"})

    login = client.post("/api/v1/auth/login", json={"email": email, "password": PASSWORD})
    assert (login.status_code, login.json()["error"]) == (401, "account_disabled")
    me = client.get("/api/v1/auth/me", headers=bearer)
    assert (me.status_code, me.json()["error"]) == (401, "tenant_suspended")
    refresh = client.post("/api/v1/auth/refresh", json={"refresh_token": pair["refresh_token"]})
    assert refresh.status_code == 401

    api.ok("PATCH", f"/api/v1/tenants/{tenant['id']}", json={"status": "active"})
    assert (
        client.post("/api/v1/auth/login", json={"email": email, "password": PASSWORD}).status_code
        == 200
    )


def test_deleted_admin_token_stops_working(client: TestClient, api: Api) -> None:
    tenant = api.tenant()
    email = _admin(api, tenant["id"])
    pair = client.post("/api/v1/auth/login", json={"email": email, "password": PASSWORD}).json()
    bearer = {"Authorization": f"Bearer {pair['access_token']}"}
    admin_id = client.get("/api/v1/auth/me", headers=bearer).json()["id"]
    api.ok("DELETE", f"/api/v1/tenants/{tenant['id']}/admins/{admin_id}", 204)
    assert client.get("/api/v1/auth/me", headers=bearer).status_code == 401
    assert (
        client.post(
            "/api/v1/auth/refresh", json={"refresh_token": pair["refresh_token"]}
        ).status_code
        == 401
    )
    assert (
        client.post("/api/v1/auth/login", json={"email": email, "password": PASSWORD}).status_code
        == 401
    )


def test_login_with_unicode_domain(client: TestClient, api: Api) -> None:
    """Admin addresses are stored with the A-label; the U-label form logs in too."""
    tenant = api.tenant()
    local = f"chef-{secrets.token_hex(3)}"
    api.ok(
        "POST",
        f"/api/v1/tenants/{tenant['id']}/admins",
        201,
        json={"email": f"{local}@bücher.test", "password": PASSWORD},
    )
    for email in (f"{local}@bücher.test", f"{local}@xn--bcher-kva.test"):
        response = client.post("/api/v1/auth/login", json={"email": email, "password": PASSWORD})
        assert response.status_code == 200, (email, response.text)
