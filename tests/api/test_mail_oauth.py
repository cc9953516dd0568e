"""OAuth2 for mail clients at the API (SPEC section E): mailbox user sessions, mail tokens
for whom, RFC 7662 introspection and RFC 7009 revocation, the user's own token list, the
audit trail and housekeeping. Dovecot and Postfix: tests/mailstack/test_mail_oauth.py."""

from __future__ import annotations

import base64
import json
import logging
import secrets
from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from mailplane.auth import mail_tokens, service_tokens
from mailplane.config import Settings
from mailplane.db import Database
from mailplane.jobs.runner import forget_old_jobs
from mailplane.models import AuditEvent, Mailbox, MailboxRefreshToken, MailToken, utcnow
from tests.support.api import Api

PASSWORD = "correct-horse-1"
ADMIN_PASSWORD = "admin-password-1"


def _from_ip(client: TestClient) -> TestClient:
    """A client with its own address, so that throttling tests lock out nobody else."""
    ip = f"10.{secrets.randbelow(250)}.{secrets.randbelow(250)}.{secrets.randbelow(250) + 1}"
    return TestClient(client.app, client=(ip, 40000))


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _basic(user: str, password: str) -> dict[str, str]:
    raw = base64.b64encode(f"{user}:{password}".encode()).decode()
    return {"Authorization": f"Basic {raw}"}


class Tenant:
    """A fresh tenant with a domain; mailboxes, sessions and tokens on demand."""

    def __init__(self, api: Api) -> None:
        self.api = api
        self.client: TestClient = api.client
        self.tenant = api.tenant()
        self.domain = api.domain(self.tenant["id"])

    def mailbox(self, local_part: str | None = None) -> dict[str, Any]:
        return self.api.mailbox(
            self.domain["id"], local_part or f"u{secrets.token_hex(3)}", PASSWORD
        )

    def login(self, email: str, client: TestClient | None = None, **extra: Any) -> Any:
        return (client or self.client).post(
            "/api/v1/auth/login", json={"email": email, "password": PASSWORD, **extra}
        )

    def session(self, email: str) -> dict[str, Any]:
        answer = self.login(email)
        assert answer.status_code == 200, answer.text
        result: dict[str, Any] = answer.json()
        return result

    def mail_token(self, email: str) -> str:
        minted = self.client.post(
            "/api/v1/auth/mail-token", headers=_bearer(self.session(email)["access_token"])
        )
        assert minted.status_code == 200, minted.text
        token: str = minted.json()["access_token"]
        return token

    def admin(self) -> tuple[str, str]:
        email = f"admin-{secrets.token_hex(4)}@admins.test"
        self.api.ok(
            "POST",
            f"/api/v1/tenants/{self.tenant['id']}/admins",
            201,
            json={"email": email, "password": ADMIN_PASSWORD},
        )
        login = self.client.post(
            "/api/v1/auth/login", json={"email": email, "password": ADMIN_PASSWORD}
        )
        assert login.status_code == 200, login.text
        return email, login.json()["access_token"]


@pytest.fixture
def dovecot(settings: Settings) -> dict[str, str]:
    """What Dovecot sends: HTTP Basic with the client credentials derived from the secret."""
    return _basic(mail_tokens.DOVECOT_CLIENT_ID, mail_tokens.dovecot_client_secret(settings))


def _introspect(client: TestClient, token: str, headers: dict[str, str]) -> Any:
    return client.post("/api/v1/auth/token/introspect", data={"token": token}, headers=headers)


# Mailbox user sessions


def test_a_mailbox_user_logs_in_refreshes_with_rotation_and_logs_out(
    client: TestClient, api: Api
) -> None:
    t = Tenant(api)
    box = t.mailbox()
    pair = t.session(box["email"].upper())
    assert (pair["account"], pair["mailbox_id"], pair["email"]) == (
        "mailbox",
        box["id"],
        box["email"],
    )
    assert pair["tenant_id"] == t.tenant["id"]
    assert pair["refresh_token"].startswith("mpmr_")
    # The token opens the user's own API, not the admin API.
    assert (
        client.get("/api/v1/auth/mail-tokens", headers=_bearer(pair["access_token"])).json() == []
    )
    admin_api = client.get("/api/v1/mail/domains", headers=_bearer(pair["access_token"]))
    assert (admin_api.status_code, admin_api.json()["error"]) == (403, "mailbox_token")

    first = pair["refresh_token"]
    rotated = client.post("/api/v1/auth/refresh", json={"refresh_token": first})
    assert rotated.status_code == 200, rotated.text
    second = rotated.json()
    assert second["account"] == "mailbox"
    assert second["refresh_token"] != first
    # Reuse of a rotated token: refused, and the whole family with it (a thief and the
    # user cannot both go on).
    reused = client.post("/api/v1/auth/refresh", json={"refresh_token": first})
    assert (reused.status_code, reused.json()["error"]) == (401, "invalid_token")
    after = client.post("/api/v1/auth/refresh", json={"refresh_token": second["refresh_token"]})
    assert after.status_code == 401

    third = t.session(box["email"])
    assert (
        client.post(
            "/api/v1/auth/logout", json={"refresh_token": third["refresh_token"]}
        ).status_code
        == 204
    )
    ended = client.post("/api/v1/auth/refresh", json={"refresh_token": third["refresh_token"]})
    assert ended.status_code == 401


def test_who_cannot_log_in_as_a_mailbox_user(client: TestClient, api: Api) -> None:
    t = Tenant(api)
    box, suspended, disabled = t.mailbox(), t.mailbox(), t.mailbox()
    wrong = client.post(
        "/api/v1/auth/login", json={"email": box["email"], "password": "not-the-password"}
    )
    assert (wrong.status_code, wrong.json()["error"]) == (401, "invalid_credentials")
    unknown = t.login(f"nobody@{t.domain['domain_ascii']}", account="mailbox")
    assert (unknown.status_code, unknown.json()["error"]) == (401, "invalid_credentials")

    session = t.session(suspended["email"])
    api.ok("POST", f"/api/v1/mail/accounts/{suspended['id']}/suspend")
    api.ok("PUT", f"/api/v1/mail/accounts/{disabled['id']}", json={"status": "disabled"})
    for mailbox in (suspended, disabled):
        refused = t.login(mailbox["email"])
        assert (refused.status_code, refused.json()["error"]) == (401, "account_disabled")
    # A session from before the suspension ends with it.
    assert (
        client.get("/api/v1/auth/mail-tokens", headers=_bearer(session["access_token"])).status_code
        == 401
    )
    refresh = client.post("/api/v1/auth/refresh", json={"refresh_token": session["refresh_token"]})
    assert (refresh.status_code, refresh.json()["error"]) == (401, "account_disabled")

    # A suspended domain, then a suspended tenant: nobody in them logs in.
    other = Tenant(api)
    in_domain = other.mailbox()
    api.ok("POST", f"/api/v1/mail/domains/{other.domain['id']}/suspend")
    assert other.login(in_domain["email"]).json()["error"] == "account_disabled"
    third = Tenant(api)
    in_tenant = third.mailbox()
    api.ok("PATCH", f"/api/v1/tenants/{third.tenant['id']}", json={"status": "suspended"})
    assert third.login(in_tenant["email"]).json()["error"] == "account_disabled"


def test_mailbox_logins_share_the_admins_throttle(
    client: TestClient, api: Api, settings: Settings
) -> None:
    """Failures count per address and source whichever kind of account is tried, so that
    switching ``account`` does not buy an attacker more guesses."""
    t = Tenant(api)
    box = t.mailbox()
    attacker = _from_ip(client)
    for _ in range(settings.login_max_failures_per_source):
        failed = attacker.post(
            "/api/v1/auth/login",
            json={"email": box["email"], "password": "guess", "account": "mailbox"},
        )
        assert failed.status_code == 401
    throttled = t.login(box["email"], attacker)
    assert throttled.status_code == 429
    assert int(throttled.headers["Retry-After"]) > 0
    as_admin = t.login(box["email"], attacker, account="admin")
    assert as_admin.status_code == 429
    # The user from elsewhere is not locked out.
    assert t.login(box["email"], _from_ip(client)).status_code == 200


def test_a_new_password_or_a_new_mailbox_ends_old_sessions_and_tokens(
    client: TestClient, api: Api, dovecot: dict[str, str]
) -> None:
    t = Tenant(api)
    box = t.mailbox()
    session, token = t.session(box["email"]), t.mail_token(box["email"])
    api.ok("PUT", f"/api/v1/mail/accounts/{box['id']}", json={"password": "another-pw-22"})
    assert (
        client.get("/api/v1/auth/mail-tokens", headers=_bearer(session["access_token"])).status_code
        == 401
    )
    assert (
        client.post(
            "/api/v1/auth/refresh", json={"refresh_token": session["refresh_token"]}
        ).status_code
        == 401
    )
    assert _introspect(client, token, dovecot).json() == {"active": False}

    # Deleted and made again under the same address: the old session is not the new one's.
    gone = t.mailbox()
    old_session, old_token = t.session(gone["email"]), t.mail_token(gone["email"])
    api.ok("DELETE", f"/api/v1/mail/accounts/{gone['id']}", 204)
    again = t.mailbox(gone["email"].split("@")[0])
    assert (
        client.get(
            "/api/v1/auth/mail-tokens", headers=_bearer(old_session["access_token"])
        ).status_code
        == 401
    )
    minted = client.post("/api/v1/auth/mail-token", headers=_bearer(old_session["access_token"]))
    assert minted.status_code == 401
    assert (
        client.post(
            "/api/v1/auth/refresh", json={"refresh_token": old_session["refresh_token"]}
        ).status_code
        == 401
    )
    assert _introspect(client, old_token, dovecot).json() == {"active": False}
    assert _introspect(client, t.mail_token(again["email"]), dovecot).json()["active"] is True


# Who gets a mail token for which mailbox


def test_mail_token_for_the_users_own_mailbox_and_its_aliases_only(
    client: TestClient, api: Api, dovecot: dict[str, str]
) -> None:
    t = Tenant(api)
    box, neighbour = t.mailbox(), t.mailbox()
    api.alias(t.domain["id"], "sales", box["email"])
    headers = _bearer(t.session(box["email"])["access_token"])
    own = client.post("/api/v1/auth/mail-token", headers=headers)
    assert own.status_code == 200
    answer = own.json()
    assert set(answer) == {"access_token", "token_type", "expires_in", "email"}
    assert (answer["token_type"], answer["expires_in"], answer["email"]) == (
        "Bearer",
        3600,
        box["email"],
    )
    by_alias = client.post(
        "/api/v1/auth/mail-token",
        headers=headers,
        json={"email": f"SALES@{t.domain['domain_ascii']}"},
    )
    assert by_alias.status_code == 200, by_alias.text
    assert by_alias.json()["email"] == box["email"]  # the login name is the mailbox's
    for foreign in (neighbour["email"], f"nobody@{t.domain['domain_ascii']}", "not an address"):
        refused = client.post("/api/v1/auth/mail-token", headers=headers, json={"email": foreign})
        assert (refused.status_code, refused.json()["error"]) == (404, "not_found"), foreign


def test_mail_token_for_admins_and_operators(
    client: TestClient, api: Api, database: Database
) -> None:
    t, other = Tenant(api), Tenant(api)
    box, foreign = t.mailbox(), other.mailbox()
    _, admin_token = t.admin()
    admin = _bearer(admin_token)
    minted = client.post("/api/v1/auth/mail-token", headers=admin, json={"email": box["email"]})
    assert minted.status_code == 200, minted.text
    assert minted.json()["email"] == box["email"]
    refused = client.post(
        "/api/v1/auth/mail-token", headers=admin, json={"email": foreign["email"]}
    )
    assert (refused.status_code, refused.json()["error"]) == (404, "not_found")
    unnamed = client.post("/api/v1/auth/mail-token", headers=admin)
    assert (unnamed.status_code, unnamed.json()["error"]) == (422, "email_required")

    operator = api.post("/api/v1/auth/mail-token", json={"email": foreign["email"]})
    assert operator.status_code == 200
    with database.transaction() as session:
        _, read_only = service_tokens.create(session, f"ro-{secrets.token_hex(3)}", ["read"])
    reader = client.post(
        "/api/v1/auth/mail-token",
        headers={"x-service-token": read_only},
        json={"email": foreign["email"]},
    )
    assert reader.status_code == 403

    api.ok("POST", f"/api/v1/mail/accounts/{foreign['id']}/suspend")
    suspended = api.post("/api/v1/auth/mail-token", json={"email": foreign["email"]})
    assert (suspended.status_code, suspended.json()["error"]) == (409, "mailbox_suspended")

    # The audit log says who may read whose mail until when, without the token.
    with database.session(write=False) as session:
        rows = list(
            session.scalars(
                select(AuditEvent).where(
                    AuditEvent.action == "mailbox.mail_token",
                    AuditEvent.object_id.in_([box["id"], foreign["id"]]),
                )
            )
        )
    assert sorted((row.actor_type, row.object_id) for row in rows) == sorted(
        [("tenant_admin", box["id"]), ("service_token", foreign["id"])]
    )
    minted_jti = next(r for r in rows if r.object_id == box["id"]).details["jti"]
    with database.session(write=False) as session:
        assert session.get(MailToken, minted_jti) is not None
    for row in rows:
        assert row.tenant_id in (t.tenant["id"], other.tenant["id"])
        assert minted.json()["access_token"] not in json.dumps(row.details)
        assert operator.json()["access_token"] not in json.dumps(row.details)


# Introspection (RFC 7662) and revocation (RFC 7009)


def test_introspection_needs_client_authentication(
    client: TestClient,
    api: Api,
    dovecot: dict[str, str],
    service_token: str,
    settings: Settings,
) -> None:
    t = Tenant(api)
    token = t.mail_token(t.mailbox()["email"])
    for headers in (
        {},
        _basic(mail_tokens.DOVECOT_CLIENT_ID, "wrong"),
        _basic("someone", mail_tokens.dovecot_client_secret(settings)),
        {"x-service-token": "mpst_not-a-token"},
        _bearer(token),  # the token itself is not a client
    ):
        refused = _introspect(client, token, headers)
        assert (refused.status_code, refused.json()["error"]) == (401, "invalid_client"), headers
    by_dovecot = _introspect(client, token, dovecot)
    by_operator = _introspect(client, token, {"x-service-token": service_token})
    assert by_dovecot.status_code == by_operator.status_code == 200
    assert by_dovecot.json() == by_operator.json()
    assert by_dovecot.headers["cache-control"] == "no-store"
    missing = client.post("/api/v1/auth/token/introspect", data={}, headers=dovecot)
    assert (missing.status_code, missing.json()["error"]) == (422, "invalid_request")


def test_introspection_answers_in_rfc_7662_shapes(
    client: TestClient,
    api: Api,
    dovecot: dict[str, str],
    database: Database,
    settings: Settings,
) -> None:
    t = Tenant(api)
    box = t.mailbox()
    token = t.mail_token(box["email"])
    active = _introspect(client, token, dovecot).json()
    assert active["active"] is True
    assert (active["username"], active["sub"], active["token_type"]) == (
        box["email"],
        box["email"],
        "Bearer",
    )
    assert active["scope"] == "imap smtp"
    assert active["exp"] - active["iat"] == 3600

    inactive: dict[str, str] = {"garbage": "not-a-jwt", "empty-ish": "a.b.c"}
    with database.transaction() as session:
        row = session.get(Mailbox, box["id"])
        assert row is not None
        inactive["expired"] = mail_tokens.mint(
            session, settings, row, "mailbox", utcnow() - timedelta(hours=2)
        ).access_token
    session_pair = t.session(box["email"])
    inactive["webmail session token"] = session_pair["access_token"]
    inactive["refresh token"] = session_pair["refresh_token"]
    inactive["admin access token"] = t.admin()[1]
    revoked = t.mail_token(box["email"])
    assert client.post("/api/v1/auth/token/revoke", data={"token": revoked}).status_code == 200
    inactive["revoked"] = revoked
    for name, place in (("suspended domain", "domain"), ("suspended tenant", "tenant")):
        other = Tenant(api)
        inactive[name] = other.mail_token(other.mailbox()["email"])
        if place == "domain":
            api.ok("POST", f"/api/v1/mail/domains/{other.domain['id']}/suspend")
        else:
            api.ok("PATCH", f"/api/v1/tenants/{other.tenant['id']}", json={"status": "suspended"})
    for name, value in inactive.items():
        answer = _introspect(client, value, dovecot)
        assert answer.status_code == 200, name
        assert answer.json() == {"active": False}, name
        assert answer.headers["cache-control"] == "no-store"
    # JSON bodies are accepted too.
    as_json = client.post("/api/v1/auth/token/introspect", json={"token": token}, headers=dovecot)
    assert as_json.json()["active"] is True


def test_revocation_answers_200_and_is_audited_without_the_token(
    client: TestClient, api: Api, dovecot: dict[str, str], database: Database
) -> None:
    for unknown in ("", "garbage", "a.b.c"):
        answer = client.post("/api/v1/auth/token/revoke", data={"token": unknown or "x"})
        assert answer.status_code == 200
    t = Tenant(api)
    box = t.mailbox()
    token = t.mail_token(box["email"])
    answer = client.post("/api/v1/auth/token/revoke", data={"token": token})
    assert (answer.status_code, answer.headers["cache-control"]) == (200, "no-store")
    assert _introspect(client, token, dovecot).json() == {"active": False}
    # Twice is fine, and audited once.
    assert client.post("/api/v1/auth/token/revoke", data={"token": token}).status_code == 200
    with database.session(write=False) as session:
        rows = list(
            session.scalars(
                select(AuditEvent).where(
                    AuditEvent.action == "mailbox.mail_token_revoke",
                    AuditEvent.object_id == box["id"],
                )
            )
        )
    assert len(rows) == 1
    assert (rows[0].actor_type, rows[0].tenant_id) == ("mailbox", t.tenant["id"])
    assert token not in json.dumps(rows[0].details)


# The user's own tokens


def test_a_user_lists_and_revokes_its_own_mail_tokens(
    client: TestClient, api: Api, dovecot: dict[str, str], database: Database
) -> None:
    t = Tenant(api)
    box, stranger = t.mailbox(), t.mailbox()
    headers = _bearer(t.session(box["email"])["access_token"])
    tokens = [
        client.post("/api/v1/auth/mail-token", headers=headers).json()["access_token"]
        for _ in range(2)
    ]
    listed = client.get("/api/v1/auth/mail-tokens", headers=headers)
    assert listed.status_code == 200
    rows = listed.json()
    assert len(rows) == 2
    assert all(set(row) == {"jti", "issued_to", "created_at", "expires_at"} for row in rows)
    assert all(row["issued_to"] == "mailbox" for row in rows)
    assert not any(token in listed.text for token in tokens)

    # Another mailbox of the same tenant neither sees nor revokes them.
    theirs = _bearer(t.session(stranger["email"])["access_token"])
    assert client.get("/api/v1/auth/mail-tokens", headers=theirs).json() == []
    jti = rows[0]["jti"]
    refused = client.delete(f"/api/v1/auth/mail-tokens/{jti}", headers=theirs)
    assert (refused.status_code, refused.json()["error"]) == (404, "not_found")
    admin = client.delete(f"/api/v1/auth/mail-tokens/{jti}", headers=_bearer(t.admin()[1]))
    assert admin.status_code == 403

    assert client.delete(f"/api/v1/auth/mail-tokens/{jti}", headers=headers).status_code == 204
    assert client.delete(f"/api/v1/auth/mail-tokens/{jti}", headers=headers).status_code == 404
    left = client.get("/api/v1/auth/mail-tokens", headers=headers).json()
    assert [row["jti"] for row in left] == [rows[1]["jti"]]
    states = {_introspect(client, tok, dovecot).json()["active"] for tok in tokens}
    assert states == {True, False}
    bad = client.delete("/api/v1/auth/mail-tokens/NOT-HEX", headers=headers)
    assert bad.status_code == 422


def test_tokens_never_reach_the_logs(
    client: TestClient,
    api: Api,
    dovecot: dict[str, str],
    settings: Settings,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    t = Tenant(api)
    box = t.mailbox()
    pair = t.session(box["email"])
    token = t.mail_token(box["email"])
    _introspect(client, token, dovecot)
    client.post("/api/v1/auth/token/revoke", data={"token": token})
    client.post("/api/v1/auth/refresh", json={"refresh_token": pair["refresh_token"]})
    secret = mail_tokens.dovecot_client_secret(settings)
    for value in (token, pair["access_token"], pair["refresh_token"], secret, PASSWORD):
        assert value not in caplog.text


# Housekeeping


def test_expired_mail_tokens_and_mailbox_logins_are_pruned(
    api: Api, database: Database, settings: Settings
) -> None:
    t = Tenant(api)
    box = t.mailbox()
    t.session(box["email"])
    live = t.mail_token(box["email"])
    with database.transaction() as session:
        row = session.get(Mailbox, box["id"])
        assert row is not None
        old = mail_tokens.mint(session, settings, row, "mailbox", utcnow() - timedelta(hours=3))
        old_jti = json.loads(base64.urlsafe_b64decode(old.access_token.split(".")[1] + "=="))["jti"]
        stale = MailboxRefreshToken(
            mailbox_id=box["id"],
            token_hash=secrets.token_hex(32),
            family_id=secrets.token_hex(16),
            expires_at=utcnow() - timedelta(days=1),
        )
        session.add(stale)
        session.flush()
        stale_id = stale.id
    forget_old_jobs(settings, database)
    live_jti = json.loads(base64.urlsafe_b64decode(live.split(".")[1] + "=="))["jti"]
    with database.session(write=False) as session:
        assert session.get(MailToken, old_jti) is None
        assert session.get(MailboxRefreshToken, stale_id) is None
        assert session.get(MailToken, live_jti) is not None
        kept = session.scalars(
            select(MailboxRefreshToken.id).where(MailboxRefreshToken.mailbox_id == box["id"])
        ).all()
        assert len(kept) == 2  # the two live logins (t.session, t.mail_token)
