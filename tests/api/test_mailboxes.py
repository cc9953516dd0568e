"""Mailboxes (accounts): create, list, change, suspend, delete; hashes Dovecot verifies."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from mailplane.api.app import create_app
from mailplane.config import Settings
from mailplane.db import Database
from mailplane.models import Mailbox
from tests.conftest import make_settings
from tests.support.api import Api


def _stored_hash(database: Database, mailbox_id: int) -> str:
    with database.session(write=False) as session:
        row = session.get(Mailbox, mailbox_id)
        assert row is not None
        return row.password_hash


def dovecot_verifies(stored: str, password: str) -> bool:
    """Ask Dovecot itself (doveadm pw -t), as it will at IMAP login."""
    doveadm = shutil.which("doveadm")
    if doveadm is None:
        pytest.skip("doveadm is not installed (scripts/test.sh installs dovecot-core)")
    result = subprocess.run(
        [doveadm, "pw", "-t", stored, "-p", password], capture_output=True, text=True, timeout=30
    )
    return result.returncode == 0 and "(verified)" in result.stdout


def test_create_get_and_argon2_hash(api: Api, database: Database) -> None:
    domain = api.domain(api.tenant()["id"])
    created = api.mailbox(
        domain["id"], "Info", "correct-horse-1", quota_mb=0, display_name="Info Desk"
    )
    assert created["email"] == f"info@{domain['domain_ascii']}"
    assert (
        created["local_part"],
        created["quota_mb"],
        created["display_name"],
        created["status"],
    ) == (
        "info",
        0,
        "Info Desk",
        "active",
    )
    assert "password" not in {k for k in created if k != "password_changed_at"}
    assert api.ok("GET", f"/api/v1/mail/accounts/{created['id']}") == created
    stored = _stored_hash(database, created["id"])
    assert stored.startswith("{ARGON2ID}$argon2id$")
    assert dovecot_verifies(stored, "correct-horse-1")
    assert not dovecot_verifies(stored, "wrong-horse-1")
    duplicate = api.post(
        f"/api/v1/mail/domains/{domain['id']}/accounts",
        json={"local_part": "INFO", "password": "another-pass-1"},
    )
    assert (duplicate.status_code, duplicate.json()["error"]) == (409, "mailbox_exists")


@pytest.fixture(scope="module")
def bcrypt_api(settings: Settings, database: Database, service_token: str) -> Iterator[Api]:
    """The same database, served by an API configured for BLF-CRYPT."""
    blf = make_settings(
        settings.state_dir,
        settings.database_url.get_secret_value() if settings.database_url else None,
        password_scheme="BLF-CRYPT",
        secret_key=settings.effective_secret(),
    )
    with TestClient(create_app(blf, database)) as client:
        yield Api(client, {"x-service-token": service_token})


def test_blf_crypt_hash(bcrypt_api: Api, database: Database) -> None:
    """Defect fixed: with BLF-CRYPT every create answered 500 (bcrypt refuses prefix 2y)."""
    domain = bcrypt_api.domain(bcrypt_api.tenant()["id"])
    created = bcrypt_api.mailbox(domain["id"], "blf", "correct-horse-1")
    stored = _stored_hash(database, created["id"])
    assert stored.startswith("{BLF-CRYPT}$2y$04$")
    assert dovecot_verifies(stored, "correct-horse-1")
    assert not dovecot_verifies(stored, "correct-horse-2")
    # bcrypt reads 72 bytes at most: longer passwords are refused, not silently cut.
    long = bcrypt_api.post(
        f"/api/v1/mail/domains/{domain['id']}/accounts",
        json={"local_part": "long", "password": "p" * 73},
    )
    assert (long.status_code, long.json()["error"]) == (422, "password_too_long")
    emails = [
        m["email"]
        for m in bcrypt_api.ok("GET", f"/api/v1/mail/domains/{domain['id']}/accounts")["items"]
    ]
    assert emails == [created["email"]]
    changed = bcrypt_api.put(f"/api/v1/mail/accounts/{created['id']}", json={"password": "é" * 37})
    assert changed.status_code == 422  # 74 bytes in UTF-8
    assert dovecot_verifies(_stored_hash(database, created["id"]), "correct-horse-1")


def test_update_password_quota_name_status(api: Api, database: Database) -> None:
    domain = api.domain(api.tenant()["id"])
    created = api.mailbox(domain["id"], "bob", "first-password-1")
    path = f"/api/v1/mail/accounts/{created['id']}"
    changed = api.ok("PUT", path, json={"password": "second-password-2"})
    assert changed["password_changed_at"] > created["password_changed_at"]
    stored = _stored_hash(database, created["id"])
    assert dovecot_verifies(stored, "second-password-2")
    assert not dovecot_verifies(stored, "first-password-1")

    assert api.ok("PUT", path, json={"quota_mb": 5})["quota_mb"] == 5
    assert (
        api.ok("PUT", path, json={"display_name": "Bob Builder"})["display_name"] == "Bob Builder"
    )
    assert api.ok("PUT", path, json={"status": "disabled"})["status"] == "disabled"
    # Omitted fields stay as they are.
    after = api.ok("PUT", path, json={})
    assert (after["quota_mb"], after["display_name"], after["status"]) == (
        5,
        "Bob Builder",
        "disabled",
    )
    assert api.put(path, json={"quota_mb": -1}).status_code == 422
    assert api.put(path, json={"status": "gone"}).status_code == 422
    assert api.put(path, json={"password": "short"}).status_code == 422


def test_suspend_unsuspend_delete(api: Api) -> None:
    domain = api.domain(api.tenant()["id"])
    created = api.mailbox(domain["id"], "carol")
    path = f"/api/v1/mail/accounts/{created['id']}"
    assert api.ok("POST", f"{path}/suspend")["status"] == "suspended"
    assert api.ok("GET", path)["status"] == "suspended"
    assert api.ok("POST", f"{path}/unsuspend")["status"] == "active"
    api.ok("DELETE", path, 204)
    assert api.get(path).status_code == 404
    assert api.post(f"{path}/suspend").status_code == 404
    assert api.delete(path).status_code == 404
    # The address can be created again.
    assert api.mailbox(domain["id"], "carol")["email"] == created["email"]


def test_ids_of_deleted_objects_are_not_reused(api: Api) -> None:
    """A stale id (a retried DELETE, an audit entry) must never name a different object.

    On SQLite this needs AUTOINCREMENT: a plain INTEGER PRIMARY KEY hands the highest id
    out again after a delete.
    """
    domain = api.domain(api.tenant()["id"])
    first = api.mailbox(domain["id"], "dave")
    api.ok("DELETE", f"/api/v1/mail/accounts/{first['id']}", 204)
    second = api.mailbox(domain["id"], "erin")
    assert second["id"] != first["id"]


def test_list_paginated_with_cursor(api: Api) -> None:
    domain = api.domain(api.tenant()["id"])
    ids = [api.mailbox(domain["id"], f"user{i}")["id"] for i in range(7)]
    seen: list[int] = []
    cursor = None
    pages = 0
    while True:
        params: dict[str, object] = {"limit": 3}
        if cursor:
            params["cursor"] = cursor
        page = api.ok("GET", f"/api/v1/mail/domains/{domain['id']}/accounts", params=params)
        seen += [m["id"] for m in page["items"]]
        pages += 1
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == ids
    assert pages == 3
    # The platform-wide list filters by domain too.
    filtered = api.ok(
        "GET", "/api/v1/mail/accounts", params={"domain_id": domain["id"], "limit": 500}
    )
    assert [m["id"] for m in filtered["items"]] == ids
    assert api.get("/api/v1/mail/accounts", params={"limit": 0}).status_code == 422
    assert api.get("/api/v1/mail/accounts", params={"limit": 501}).status_code == 422


def test_mailbox_in_unknown_domain(api: Api) -> None:
    response = api.post(
        "/api/v1/mail/domains/2147483647/accounts",
        json={"local_part": "x", "password": "long-enough-1"},
    )
    assert (response.status_code, response.json()["error"]) == (404, "not_found")
