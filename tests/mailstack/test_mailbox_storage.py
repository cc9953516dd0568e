"""A mailbox's mail belongs to its row: a deleted address created again starts empty, in
the same tenant or another; the kept mail can be restored until the purge removes it."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from mailplane.config import Settings
from mailplane.db import Database
from mailplane.mailboxes import purge
from tests.mailstack.support import MailStack, message
from tests.support.api import Api

pytestmark = pytest.mark.mailstack

PASSWORD = "correct-horse-1"


def _inbox_count(mailstack: MailStack, user: str, password: str) -> int:
    client = mailstack.imap(user, password)
    try:
        status, data = client.select("INBOX")
        assert status == "OK", data
        return int(data[0] or 0)
    finally:
        client.logout()


def _receive(api: Api, mailstack: MailStack, domain_id: int) -> tuple[dict[str, Any], str]:
    """A mailbox holding one delivered message; returns it and the message's subject."""
    box = api.mailbox(domain_id, "info", PASSWORD)
    msg = message("alice@outside.test", box["email"])
    mailstack.deliver(msg, box["email"])
    mailstack.wait_for(box["email"], PASSWORD, str(msg["Subject"]))
    return box, str(msg["Subject"])


def _kept(api: Api, email: str) -> dict[str, Any]:
    (kept,) = api.ok("GET", "/api/v1/mail/deleted-accounts", params={"email": email})["items"]
    assert isinstance(kept, dict)
    return kept


def _files(settings: Settings, kept: dict[str, Any]) -> Path:
    return settings.mail_root / str(kept["maildir"])


def test_recreated_address_in_the_same_tenant_starts_empty(
    api: Api, mailstack: MailStack, mail_settings: Settings
) -> None:
    domain = api.domain(api.tenant()["id"])
    box, _ = _receive(api, mailstack, domain["id"])

    api.ok("DELETE", f"/api/v1/mail/accounts/{box['id']}", 204)
    again = api.mailbox(domain["id"], "info", PASSWORD)

    assert again["email"] == box["email"]
    assert _inbox_count(mailstack, box["email"], PASSWORD) == 0
    # The old mail is kept (restorable), not lost, and not where the new mailbox lives.
    kept = _kept(api, box["email"])
    assert kept["reason"] == "mailbox.delete"
    assert kept["restorable"]
    assert any(_files(mail_settings, kept).glob("Maildir/*/*"))
    # The new mailbox works.
    fresh = message("bob@outside.test", box["email"])
    mailstack.deliver(fresh, box["email"])
    mailstack.wait_for(box["email"], PASSWORD, str(fresh["Subject"]))
    assert _inbox_count(mailstack, box["email"], PASSWORD) == 1


def test_domain_taken_over_by_another_tenant_starts_empty(api: Api, mailstack: MailStack) -> None:
    first = api.domain(api.tenant()["id"])
    box, subject = _receive(api, mailstack, first["id"])

    api.ok("DELETE", f"/api/v1/mail/domains/{first['id']}", 204)
    other = api.domain(api.tenant()["id"], first["domain_ascii"])
    api.mailbox(other["id"], "info", PASSWORD)

    assert _inbox_count(mailstack, box["email"], PASSWORD) == 0
    assert mailstack.fetch(box["email"], PASSWORD, subject) == []
    # Not even an operator can restore the first tenant's mail into the new owner's domain.
    kept = _kept(api, box["email"])
    assert kept["reason"] == "domain.delete"
    path = f"/api/v1/mail/deleted-accounts/{kept['id']}/restore"
    answer = api.post(path, json={})
    assert (answer.status_code, answer.json()["error"]) == (409, "restore_other_tenant")
    answer = api.post(path, json={"domain_id": other["id"], "local_part": "elsewhere"})
    assert (answer.status_code, answer.json()["error"]) == (409, "restore_other_tenant")


def test_restore_brings_the_old_mail_back(api: Api, mailstack: MailStack) -> None:
    tenant = api.tenant()
    domain = api.domain(tenant["id"])
    box, subject = _receive(api, mailstack, domain["id"])
    api.ok("DELETE", f"/api/v1/mail/accounts/{box['id']}", 204)
    kept = _kept(api, box["email"])
    path = f"/api/v1/mail/deleted-accounts/{kept['id']}/restore"

    # A tenant admin sees that the mail is kept, and until when; only an operator restores.
    admin = api.tenant_admin(tenant["id"])
    assert admin.ok("GET", "/api/v1/mail/deleted-accounts")["items"] == [kept]
    answer = admin.post(path, json={})
    assert (answer.status_code, answer.json()["error"]) == (403, "platform_only")

    restored = api.ok("POST", path, 201, json={})

    assert restored["email"] == box["email"]
    assert restored["id"] != box["id"]
    assert len(mailstack.fetch(box["email"], PASSWORD, subject)) == 1  # the old password
    assert api.get(f"/api/v1/mail/deleted-accounts/{kept['id']}").status_code == 404
    events = api.ok("GET", "/api/v1/audit", params={"customer_id": tenant["id"]})["items"]
    ids = {e["action"]: e["id"] for e in events if e["action"].startswith("mailbox.")}
    assert ids["mailbox.delete"] < ids["mailbox.restore"]


def test_restore_when_the_address_is_taken_again(api: Api, mailstack: MailStack) -> None:
    domain = api.domain(api.tenant()["id"])
    box, subject = _receive(api, mailstack, domain["id"])
    api.ok("DELETE", f"/api/v1/mail/accounts/{box['id']}", 204)
    api.mailbox(domain["id"], "info", PASSWORD)
    kept = _kept(api, box["email"])
    path = f"/api/v1/mail/deleted-accounts/{kept['id']}/restore"

    answer = api.post(path, json={})
    assert (answer.status_code, answer.json()["error"]) == (409, "mailbox_exists")
    restored = api.ok("POST", path, 201, json={"local_part": "old-info", "password": "new-pw-12"})

    assert len(mailstack.fetch(restored["email"], "new-pw-12", subject)) == 1
    assert _inbox_count(mailstack, box["email"], PASSWORD) == 0


def test_purge_after_the_grace_period_removes_the_files(
    api: Api, mailstack: MailStack, mail_settings: Settings, database: Database
) -> None:
    tenant = api.tenant()
    domain = api.domain(tenant["id"])
    box, _ = _receive(api, mailstack, domain["id"])
    neighbour = api.mailbox(domain["id"], "bob", PASSWORD)
    mailstack.deliver(message("alice@outside.test", neighbour["email"]), neighbour["email"])
    api.ok("DELETE", f"/api/v1/mail/accounts/{box['id']}", 204)
    kept = _kept(api, box["email"])
    files = _files(mail_settings, kept)
    purge_after = datetime.fromisoformat(kept["purge_after"])
    assert purge_after - datetime.fromisoformat(kept["deleted_at"]) == timedelta(hours=168)

    purge.purge_due(mail_settings, database, now=purge_after - timedelta(seconds=1))
    assert files.is_dir()
    assert _kept(api, box["email"])["restorable"]

    purge.purge_due(mail_settings, database, now=purge_after)

    assert not files.exists()
    assert _inbox_count(mailstack, neighbour["email"], PASSWORD) == 1  # the rest is untouched
    listed = api.ok("GET", "/api/v1/mail/deleted-accounts", params={"email": box["email"]})
    assert listed["items"] == []
    answer = api.post(f"/api/v1/mail/deleted-accounts/{kept['id']}/restore", json={})
    assert answer.status_code == 404
    params = {"action": "mailbox.purge", "customer_id": tenant["id"]}
    (event,) = api.ok("GET", "/api/v1/audit", params=params)["items"]
    assert event["details"]["email"] == box["email"]
    assert event["details"]["files"] == "removed"
