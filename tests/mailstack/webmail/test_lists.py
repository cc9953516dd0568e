"""Folders, message lists, threads, search, flags, move and delete through the webmail API,
against the managed Dovecot (the API logs in to IMAP as the user with XOAUTH2)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any
from urllib.parse import quote

import pytest

from tests.mailstack.support import MailStack, message
from tests.mailstack.webmail.conftest import MailUser

pytestmark = pytest.mark.mailstack


def wait_for_total(user: MailUser, folder: str, total: int) -> dict[str, Any]:
    deadline = time.monotonic() + 15
    while True:
        page: dict[str, Any] = user.web.ok("GET", f"/api/v1/mail/webmail/messages/{folder}")
        if page["total"] >= total or time.monotonic() > deadline:
            assert page["total"] == total, page
            return page
        time.sleep(0.1)


def deliver_thread(mailstack: MailStack, user: MailUser) -> list[str]:
    """Three messages: a question, an unrelated note, and a reply to the question."""
    first = message("alice@outside.test", user.email, subject="Frage zum Angebot")
    other = message("bob@outside.test", user.email, subject="Unrelated note")
    reply = message("alice@outside.test", user.email, subject="Re: Frage zum Angebot")
    reply["In-Reply-To"] = first["Message-ID"]
    reply["References"] = first["Message-ID"]
    for msg in (first, other, reply):
        mailstack.deliver(msg, user.email)
        time.sleep(0.05)  # arrival order is the list order
    return [str(first["Message-ID"]), str(other["Message-ID"]), str(reply["Message-ID"])]


def test_folders_with_counts_and_non_ascii_names(
    mail_user: Callable[..., MailUser], mailstack: MailStack
) -> None:
    user = mail_user()
    mailstack.deliver(message("alice@outside.test", user.email), user.email)
    wait_for_total(user, "INBOX", 1)
    listed = user.web.ok("GET", "/api/v1/mail/webmail/folders")
    assert [f["name"] for f in listed[:6]] == [
        "INBOX",
        "Drafts",
        "Sent",
        "Archive",
        "Junk",
        "Trash",
    ]
    folders = {f["name"]: f for f in listed}
    assert folders["INBOX"]["total"] == 1
    assert folders["INBOX"]["unseen"] == 1
    assert folders["Sent"]["special_use"] == "\\Sent"
    assert folders["Trash"]["special_use"] == "\\Trash"

    created = user.web.ok(
        "POST", "/api/v1/mail/webmail/folders", 201, json={"name": "Entwürfe/Ärger 日本"}
    )
    assert created["name"] == "Entwürfe/Ärger 日本"
    assert created["total"] == 0
    again = user.web.post("/api/v1/mail/webmail/folders", json={"name": "Entwürfe/Ärger 日本"})
    assert again.status_code == 409
    assert again.json()["error"] == "folder_exists"
    renamed = user.web.ok(
        "PATCH",
        f"/api/v1/mail/webmail/folders/{quote('Entwürfe/Ärger 日本')}",
        json={"name": "Entwürfe/Freude"},
    )
    assert renamed["name"] == "Entwürfe/Freude"
    nested = user.web.ok("GET", f"/api/v1/mail/webmail/messages/{quote('Entwürfe/Freude')}")
    assert (nested["folder"], nested["total"]) == ("Entwürfe/Freude", 0)
    parent = user.web.delete(f"/api/v1/mail/webmail/folders/{quote('Entwürfe')}")
    assert parent.status_code == 409
    assert parent.json()["error"] == "folder_has_children"
    user.web.ok("DELETE", f"/api/v1/mail/webmail/folders/{quote('Entwürfe/Freude')}", 204)
    names = {f["name"] for f in user.web.ok("GET", "/api/v1/mail/webmail/folders")}
    assert "Entwürfe/Freude" not in names
    trash = user.web.delete("/api/v1/mail/webmail/folders/Trash")
    assert trash.status_code == 409
    assert trash.json()["error"] == "system_folder"
    for bad in ("a//b", "../x", "with*star", "line\nbreak", "x" * 300):
        answer = user.web.post("/api/v1/mail/webmail/folders", json={"name": bad})
        assert answer.status_code == 422, bad
    missing = user.web.get("/api/v1/mail/webmail/messages/Nowhere")
    assert missing.status_code == 404
    assert missing.json()["error"] == "folder_not_found"


def test_list_pages_threads_and_search(
    mail_user: Callable[..., MailUser], mailstack: MailStack
) -> None:
    user = mail_user()
    first_id, _, reply_id = deliver_thread(mailstack, user)
    page = wait_for_total(user, "INBOX", 3)
    subjects = [m["subject"] for m in page["messages"]]
    assert subjects == ["Re: Frage zum Angebot", "Unrelated note", "Frage zum Angebot"]
    newest = page["messages"][0]
    assert newest["from"] == {"name": "", "address": "alice@outside.test"}
    assert newest["to"][0]["address"] == user.email
    assert newest["in_reply_to"] == first_id
    assert newest["message_id"] == reply_id
    assert newest["seen"] is False
    assert newest["size"] > 100
    assert newest["has_attachments"] is False
    assert "body" in newest["preview"]

    second = user.web.ok("GET", "/api/v1/mail/webmail/messages/INBOX?page=2&per_page=2")
    assert [m["subject"] for m in second["messages"]] == ["Frage zum Angebot"]
    assert second["pages"] == 2
    beyond = user.web.ok("GET", "/api/v1/mail/webmail/messages/INBOX?page=9&per_page=2")
    assert beyond["messages"] == []

    threads = user.web.ok("GET", "/api/v1/mail/webmail/threads/INBOX")
    assert threads["total"] == 2
    conversation = threads["threads"][0]
    assert conversation["count"] == 2
    assert [m["subject"] for m in conversation["messages"]] == [
        "Re: Frage zum Angebot",
        "Frage zum Angebot",
    ]

    found = user.web.ok("GET", "/api/v1/mail/webmail/search/INBOX?from=bob@outside.test")
    assert [m["subject"] for m in found["messages"]] == ["Unrelated note"]
    found = user.web.ok("GET", "/api/v1/mail/webmail/search/INBOX", params={"subject": "Frage"})
    assert found["total"] == 2
    found = user.web.ok("GET", "/api/v1/mail/webmail/search/INBOX?flagged=true")
    assert found["total"] == 0
    bad = user.web.get("/api/v1/mail/webmail/search/INBOX?since=yesterday")
    assert bad.status_code == 422


def test_flags_move_and_delete(mail_user: Callable[..., MailUser], mailstack: MailStack) -> None:
    user = mail_user()
    deliver_thread(mailstack, user)
    uid = wait_for_total(user, "INBOX", 3)["messages"][0]["uid"]
    base = "/api/v1/mail/webmail/messages/INBOX"
    flags = user.web.ok("POST", f"{base}/{uid}/flags", json={"flags": ["\\Seen", "\\Flagged"]})
    assert set(flags["flags"]) >= {"\\Seen", "\\Flagged"}
    flags = user.web.ok("POST", f"{base}/{uid}/flags", json={"remove": ["\\Flagged"]})
    assert "\\Flagged" not in flags["flags"]
    refused = user.web.post(f"{base}/{uid}/flags", json={"add": ["\\Deleted"]})
    assert refused.status_code == 422
    flagged = user.web.ok("GET", "/api/v1/mail/webmail/search/INBOX?unseen=false")
    assert [m["uid"] for m in flagged["messages"]] == [uid]

    moved = user.web.ok("POST", f"{base}/{uid}/move", json={"target": "Archive"})
    assert moved["folder"] == "Archive"
    assert moved["uid"] is not None
    archive = wait_for_total(user, "Archive", 1)
    assert archive["messages"][0]["uid"] == moved["uid"]
    gone = user.web.post(f"{base}/{uid}/flags", json={"add": ["\\Seen"]})
    assert gone.status_code == 404
    assert gone.json()["error"] == "message_not_found"
    nowhere = user.web.post(f"{base}/1/move", json={"target": "Nowhere"})
    assert nowhere.status_code == 404

    deleted = user.web.ok("DELETE", f"/api/v1/mail/webmail/messages/Archive/{moved['uid']}")
    assert deleted["deleted"] == "moved_to_trash"
    in_trash = wait_for_total(user, "Trash", 1)["messages"][0]["uid"]
    assert in_trash == deleted["trash_uid"]
    final = user.web.ok("DELETE", f"/api/v1/mail/webmail/messages/Trash/{in_trash}")
    assert final["deleted"] == "permanently"
    wait_for_total(user, "Trash", 0)


def test_another_tenants_user_never_sees_this_mail(
    mail_user: Callable[..., MailUser], mailstack: MailStack
) -> None:
    alice = mail_user()
    mallory = mail_user()  # another tenant
    deliver_thread(mailstack, alice)
    uid = wait_for_total(alice, "INBOX", 3)["messages"][0]["uid"]
    assert mallory.web.ok("GET", "/api/v1/mail/webmail/messages/INBOX")["total"] == 0
    for method, path, body in (
        ("POST", f"/api/v1/mail/webmail/messages/INBOX/{uid}/flags", {"add": ["\\Seen"]}),
        ("POST", f"/api/v1/mail/webmail/messages/INBOX/{uid}/move", {"target": "Archive"}),
        ("DELETE", f"/api/v1/mail/webmail/messages/INBOX/{uid}", None),
    ):
        answer = mallory.web.request(method, path, json=body)
        assert answer.status_code == 404, (path, answer.text)
    assert wait_for_total(alice, "INBOX", 3)["messages"][0]["seen"] is False
