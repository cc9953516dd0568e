"""Service tokens, tenant admin sessions (login, refresh rotation, logout) and throttling."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime, timedelta
from typing import Any

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


def _login(client: TestClient, email: str, password: str, **extra: object) -> Any:
    return client.post("/api/v1/auth/login", json={"email": email, "password": password, **extra})


def test_throttling_per_account_and_address(
    client: TestClient, api: Api, settings: Settings
) -> None:
    """Five wrong passwords from one address stop that address for that account, and no
    one else: not the account from elsewhere, not other accounts from that address."""
    tenant = api.tenant()
    email = _admin(api, tenant["id"])
    attacker = _from_ip(client)
    for _ in range(settings.login_max_failures_per_source):
        assert _login(attacker, email, "bad-password").status_code == 401
    throttled = _login(attacker, email, PASSWORD)
    assert throttled.status_code == 429
    assert throttled.json()["error"] == "too_many_requests"
    retry_after = int(throttled.headers["Retry-After"])
    assert 0 < retry_after <= settings.login_window_seconds + 1
    # The account from another address, and another account from the attacker's address.
    assert _login(_from_ip(client), email, PASSWORD).status_code == 200
    other = _admin(api, tenant["id"])
    assert _login(attacker, other, PASSWORD).status_code == 200


def test_account_ceiling_spares_the_admins_own_address(
    client: TestClient, api: Api, settings: Settings
) -> None:
    """Defect fixed: five bad logins locked any admin out from everywhere. Now guessing one
    account from many addresses stops at the account's ceiling for new addresses, but the
    admin still logs in from where it logged in before."""
    tenant = api.tenant()
    email = _admin(api, tenant["id"])
    office = _from_ip(client)
    assert _login(office, email, PASSWORD).status_code == 200

    botnet = [_from_ip(client) for _ in range(settings.login_max_failures_per_account)]
    for bot in botnet:
        assert _login(bot, email, "guess-1234").status_code == 401
    refused = _login(_from_ip(client), email, PASSWORD)
    assert refused.status_code == 429  # a new address: the ceiling holds, guessing stays slow
    assert int(refused.headers["Retry-After"]) > 0
    assert _login(office, email, PASSWORD).status_code == 200


def test_address_ceiling_spares_admins_who_logged_in_from_there(
    client: TestClient, api: Api, settings: Settings
) -> None:
    """Defect fixed: 20 bad logins behind one address (a proxy, an office NAT) locked out
    every admin behind it."""
    tenant = api.tenant()
    colleague = _admin(api, tenant["id"])
    office = _from_ip(client)
    assert _login(office, colleague, PASSWORD).status_code == 200
    for i in range(settings.login_max_failures_per_ip):
        response = _login(office, f"guess{i}-{secrets.token_hex(2)}@admins.test", "guess-1234")
        assert response.status_code == 401, (i, response.text)
    # The colleague, known there, is not locked out; a newcomer at that address waits.
    assert _login(office, colleague, PASSWORD).status_code == 200
    newcomer = _admin(api, tenant["id"])
    throttled = _login(office, newcomer, PASSWORD)
    assert throttled.status_code == 429
    assert int(throttled.headers["Retry-After"]) > 0
    assert _login(_from_ip(client), newcomer, PASSWORD).status_code == 200


def test_ipv6_clients_are_throttled_by_their_64(
    client: TestClient, api: Api, settings: Settings
) -> None:
    """One subscriber holds a whole /64: rotating through it is not a new address."""
    email = _admin(api, api.tenant()["id"])
    prefix = f"2001:db8:{secrets.randbelow(65535):x}:{secrets.randbelow(65535):x}"
    for i in range(settings.login_max_failures_per_source):
        host = TestClient(client.app, client=(f"{prefix}::{i + 1:x}", 40000))
        assert _login(host, email, "bad-password").status_code == 401
    rotated = TestClient(client.app, client=(f"{prefix}:ffff:ffff:ffff:fff0", 40000))
    assert _login(rotated, email, PASSWORD).status_code == 429


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


def test_reusing_a_rotated_refresh_token_revokes_its_family(client: TestClient, api: Api) -> None:
    """A rotated token presented again was copied: the whole login's tokens die, the thief's
    successor and the owner's alike; other logins of the same admin are untouched."""
    email = _admin(api, api.tenant()["id"])
    first = _login(client, email, PASSWORD).json()["refresh_token"]
    other_session = _login(client, email, PASSWORD).json()["refresh_token"]
    rotated = client.post("/api/v1/auth/refresh", json={"refresh_token": first})
    assert rotated.status_code == 200
    successor = rotated.json()["refresh_token"]

    reused = client.post("/api/v1/auth/refresh", json={"refresh_token": first})
    assert (reused.status_code, reused.json()["error"]) == (401, "invalid_token")
    after = client.post("/api/v1/auth/refresh", json={"refresh_token": successor})
    assert (after.status_code, after.json()["error"]) == (401, "invalid_token")
    assert (
        client.post("/api/v1/auth/refresh", json={"refresh_token": other_session}).status_code
        == 200
    )


def test_logout_ends_the_whole_session(client: TestClient, api: Api) -> None:
    email = _admin(api, api.tenant()["id"])
    first = _login(client, email, PASSWORD).json()["refresh_token"]
    successor = client.post("/api/v1/auth/refresh", json={"refresh_token": first}).json()
    assert client.post("/api/v1/auth/logout", json={"refresh_token": first}).status_code == 204
    assert (
        client.post(
            "/api/v1/auth/refresh", json={"refresh_token": successor["refresh_token"]}
        ).status_code
        == 401
    )


def test_one_address_may_administer_two_tenants(client: TestClient, api: Api) -> None:
    """Addresses are unique per tenant: creating an admin never reveals that the address
    administers another tenant. Login tells the accounts apart by password, or by tenant_id
    when the passwords are the same."""
    first, second = api.tenant(), api.tenant()
    email = _admin(api, first["id"])
    stranger = api.tenant_admin(second["id"])
    fresh = f"fresh-{secrets.token_hex(4)}@admins.test"
    answers = [
        stranger.post(
            f"/api/v1/tenants/{second['id']}/admins",
            json={"email": address, "password": "other-password-2"},
        )
        for address in (email, fresh)
    ]
    assert [a.status_code for a in answers] == [201, 201]
    assert answers[0].json().keys() == answers[1].json().keys()

    assert _login(client, email, PASSWORD).json()["tenant_id"] == first["id"]
    assert _login(client, email, "other-password-2").json()["tenant_id"] == second["id"]
    assert _login(client, email, "neither-password").status_code == 401

    # The same password in both: the caller says which tenant.
    third = api.tenant()
    api.ok(
        "POST",
        f"/api/v1/tenants/{third['id']}/admins",
        201,
        json={"email": email, "password": PASSWORD},
    )
    ambiguous = _login(client, email, PASSWORD)
    assert (ambiguous.status_code, ambiguous.json()["error"]) == (409, "tenant_required")
    assert ambiguous.json()["tenant_ids"] == sorted([first["id"], third["id"]])
    chosen = _login(client, email, PASSWORD, tenant_id=third["id"])
    assert (chosen.status_code, chosen.json()["tenant_id"]) == (200, third["id"])
