"""Writing mail in the webmail, through the real Postfix and Dovecot: what the recipients
and the sender see afterwards."""

from __future__ import annotations

import base64
import email
import secrets
import time
from collections.abc import Callable
from email import policy
from email.message import EmailMessage
from typing import Any

import pytest

from tests.mailstack.support import MailStack, message
from tests.mailstack.webmail.conftest import MailUser

pytestmark = pytest.mark.mailstack

SEND = "/api/v1/mail/webmail/send"
DRAFTS = "/api/v1/mail/webmail/drafts"


def parse(raw: bytes) -> EmailMessage:
    parsed = email.message_from_bytes(raw, policy=policy.default)
    assert isinstance(parsed, EmailMessage)
    return parsed


def folder_messages(
    mailstack: MailStack, user: MailUser, folder: str, subject: str
) -> list[tuple[bytes, bytes]]:
    """(flags, raw) of each message in the folder whose subject ends with this one's last
    word (an ASCII marker: imaplib sends no literals in SEARCH)."""
    client = mailstack.imap(user.email, user.password)
    try:
        client.select(folder)
        _, data = client.uid("SEARCH", "SUBJECT", f'"{subject.split()[-1]}"')
        found = []
        for uid in data[0].split():
            _, parts = client.uid("FETCH", uid, "(FLAGS BODY.PEEK[])")
            item = parts[0]
            assert isinstance(item, tuple)
            found.append((item[0], item[1]))
        return found
    finally:
        client.logout()


def wait_for(mailstack: MailStack, user: MailUser, subject: str) -> EmailMessage:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        found = folder_messages(mailstack, user, "INBOX", subject)
        if found:
            return parse(found[0][1])
        time.sleep(0.1)
    raise AssertionError(f"{user.email} never received {subject!r}")


def send(user: MailUser, **body: Any) -> dict[str, Any]:
    answer = user.web.post(SEND, json=body)
    assert answer.status_code == 200, answer.text
    result: dict[str, Any] = answer.json()
    return result


def test_a_sent_message_arrives_with_its_attachment_and_is_kept_in_sent(
    mail_user: Callable[..., MailUser], mailstack: MailStack
) -> None:
    alice, bob, carol = mail_user(), mail_user(), mail_user()
    subject = f"Grüße aus Köln {secrets.token_hex(3)}"
    pdf = b"%PDF-1.4 not really"
    sent = send(
        alice,
        to=[f"Bob Builder <{bob.email}>"],
        bcc=[carol.email],
        subject=subject,
        html="<p>Hallo <b>Bob</b>, anbei der Bericht.</p>",
        attachments=[
            {
                "filename": "Übersicht März.pdf",
                "content_type": "application/pdf",
                "content_base64": base64.b64encode(pdf).decode(),
            }
        ],
    )
    assert sent["sent_folder"] == "Sent"
    assert sent["warning"] is None
    assert isinstance(sent["uid"], int)

    got = wait_for(mailstack, bob, subject)
    assert got["Subject"] == subject
    assert got["From"].addresses[0].addr_spec == alice.email
    assert got["To"].addresses[0].display_name == "Bob Builder"
    assert got["Message-ID"] == sent["message_id"]
    assert got.get_content_type() == "multipart/mixed"
    body = got.get_body(preferencelist=("plain",))
    assert body is not None
    assert "Hallo **Bob**" in body.get_content()
    html = got.get_body(preferencelist=("html",))
    assert html is not None
    assert "<b>Bob</b>" in html.get_content()
    attachments = list(got.iter_attachments())
    assert [a.get_filename() for a in attachments] == ["Übersicht März.pdf"]
    assert attachments[0].get_content() == pdf

    # Carol got it blind: no header of any copy but her own names her.
    carols = wait_for(mailstack, carol, subject)
    assert carols["Bcc"] is None
    assert carol.email not in str(got).lower()
    assert "bcc" not in {k.lower() for k in got}

    kept = folder_messages(mailstack, alice, "Sent", subject)
    assert len(kept) == 1
    assert b"\\Seen" in kept[0][0]
    own = parse(kept[0][1])
    assert own["Message-ID"] == sent["message_id"]
    assert own["Bcc"].addresses[0].addr_spec == carol.email  # only the sender's own copy

    # The addresses written to are contacts now.
    found = alice.web.ok(
        "GET", "/api/v1/mail/contacts/autocomplete", params={"q": bob.email.split("@")[0]}
    )["items"]
    assert [(c["address"], c["name"], c["sent_count"]) for c in found] == [
        (bob.email, "Bob Builder", 1)
    ]


def test_a_reply_is_threaded_and_its_sender_becomes_a_contact(
    mail_user: Callable[..., MailUser], mailstack: MailStack
) -> None:
    bob = mail_user()
    subject = f"Question {secrets.token_hex(3)}"
    original = message("ann@outside.test", bob.email, subject, "How are you?")
    original.replace_header("From", "Ann Outside <ann@outside.test>")
    original.replace_header("Message-ID", f"<q{secrets.token_hex(4)}@outside.test>")
    original["References"] = "<first@outside.test> <second@outside.test>"
    mailstack.deliver(original, bob.email)
    wait_for(mailstack, bob, subject)
    alice = mail_user()
    reply_subject = f"Re: {subject}"
    send(
        bob,
        to=[alice.email],
        subject=reply_subject,
        plain="Fine, thanks.",
        in_reply_to=original["Message-ID"],
    )
    got = wait_for(mailstack, alice, reply_subject)
    assert got["In-Reply-To"] == original["Message-ID"]
    assert got["References"].split() == [
        "<first@outside.test>",
        "<second@outside.test>",
        original["Message-ID"],
    ]
    assert got.get_content_type() == "text/plain"
    ann = bob.web.ok("GET", "/api/v1/mail/contacts/autocomplete", params={"q": "ann"})["items"]
    assert [(c["address"], c["name"], c["received_count"]) for c in ann] == [
        ("ann@outside.test", "Ann Outside", 1)
    ]

    # A reply to an id the mailbox does not hold still threads on that id.
    unknown = "<elsewhere@outside.test>"
    other = f"Re: elsewhere {secrets.token_hex(3)}"
    send(bob, to=[alice.email], subject=other, plain="x", in_reply_to=unknown)
    got = wait_for(mailstack, alice, other)
    assert (got["In-Reply-To"], got["References"]) == (unknown, unknown)


def test_signature_is_appended_by_rule_when_auto(
    mail_user: Callable[..., MailUser], mailstack: MailStack
) -> None:
    alice, bob = mail_user(), mail_user()
    alice.web.ok(
        "POST",
        "/api/v1/mail/signatures/",
        201,
        json={"name": "Default", "html": "<p>Alice</p>", "is_default": True},
    )
    domain = bob.email.split("@")[1]
    alice.web.ok(
        "POST",
        "/api/v1/mail/signatures/",
        201,
        json={
            "name": "For Bob's company",
            "html": "<p>Alice, <i>your supplier</i></p>",
            "rules": [{"match_type": "domain", "match_value": domain}],
        },
    )
    subject = f"Signed {secrets.token_hex(3)}"
    send(alice, to=[bob.email], subject=subject, html="<p>Offer</p>", signature_id="auto")
    got = wait_for(mailstack, bob, subject)
    html = got.get_body(preferencelist=("html",))
    plain = got.get_body(preferencelist=("plain",))
    assert html is not None
    assert plain is not None
    assert "<i>your supplier</i>" in html.get_content()
    assert "\n-- \nAlice, _your supplier_" in plain.get_content().replace("\r\n", "\n")


def test_drafts_are_saved_updated_and_sent(
    mail_user: Callable[..., MailUser], mailstack: MailStack
) -> None:
    alice, bob, carol = mail_user(), mail_user(), mail_user()
    subject = f"Draft {secrets.token_hex(3)}"
    first = alice.web.post(DRAFTS, json={})
    assert first.status_code == 201, first.text
    assert first.json()["folder"] == "Drafts"
    updated = alice.web.put(
        f"{DRAFTS}/{first.json()['uid']}",
        json={"to": [bob.email], "bcc": [carol.email], "subject": subject, "plain": "Draft 2"},
    )
    assert updated.status_code == 200, updated.text
    uid = updated.json()["uid"]
    assert uid != first.json()["uid"]
    drafts = folder_messages(mailstack, alice, "Drafts", subject)
    assert len(drafts) == 1
    assert b"\\Draft" in drafts[0][0]
    assert b"\\Seen" in drafts[0][0]
    client = mailstack.imap(alice.email, alice.password)
    client.select("Drafts")
    _, count = client.uid("SEARCH", "ALL")
    client.logout()
    assert count[0].split() == [str(uid).encode()]  # the empty first version is gone

    assert alice.web.post(f"{DRAFTS}/{first.json()['uid']}/send").status_code == 404
    sent = alice.web.post(f"{DRAFTS}/{uid}/send")
    assert sent.status_code == 200, sent.text
    got = wait_for(mailstack, bob, subject)
    assert got.get_content().strip() == "Draft 2"
    assert got["Bcc"] is None
    assert got["Message-ID"] == sent.json()["message_id"]
    wait_for(mailstack, carol, subject)
    assert folder_messages(mailstack, alice, "Drafts", subject) == []
    assert len(folder_messages(mailstack, alice, "Sent", subject)) == 1


def test_refused_input_and_recipients(
    mail_user: Callable[..., MailUser], mailstack: MailStack
) -> None:
    alice = mail_user()
    to = [alice.email]
    for body in (
        {"to": to, "subject": "Hi\r\nBcc: victim@outside.test"},
        {"to": [f"Evil\r\nBcc: victim@outside.test <{alice.email}>"]},
        {"to": to, "attachments": [{"filename": "a\r\n.txt", "content_base64": ""}]},
        {"to": to, "in_reply_to": "<a@b>\r\nBcc: victim@outside.test"},
        {"to": ["not an address"]},
        {"to": to, "attachments": [{"filename": "a.txt", "content_base64": "***"}]},
        {"to": to, "from": "ceo@elsewhere.test"},
        {"subject": "nobody to send to"},
    ):
        answer = alice.web.post(SEND, json=body)
        assert answer.status_code == 422, (body, answer.text)
        assert answer.json()["error"]
    domain = alice.email.split("@")[1]
    unknown = f"nobody-{secrets.token_hex(3)}@{domain}"
    refused = alice.web.post(SEND, json={"to": [alice.email, unknown], "subject": "x"})
    assert refused.status_code == 422, refused.text
    assert refused.json()["error"] == "recipient_refused"
    assert refused.json()["recipients"] == [unknown]


def test_another_tenant_cannot_use_what_is_not_its_own(
    mail_user: Callable[..., MailUser], mailstack: MailStack
) -> None:
    alice, mallory = mail_user(), mail_user()
    signature = alice.web.ok(
        "POST", "/api/v1/mail/signatures/", 201, json={"name": "A", "html": "<p>A</p>"}
    )
    draft = alice.web.post(DRAFTS, json={"subject": "secret plan"}).json()
    answer = mallory.web.post(
        SEND, json={"to": [mallory.email], "subject": "x", "signature_id": signature["id"]}
    )
    assert answer.status_code == 404
    assert mallory.web.post(f"{DRAFTS}/{draft['uid']}/send").status_code == 404
    assert mallory.web.put(f"{DRAFTS}/{draft['uid']}", json={}).status_code == 404
    # Mallory's mail is always from Mallory.
    subject = f"From whom {secrets.token_hex(3)}"
    send(mallory, to=[alice.email], subject=subject, plain="hi")
    got = wait_for(mailstack, alice, subject)
    assert got["From"].addresses[0].addr_spec == mallory.email
    assert folder_messages(mailstack, alice, "Drafts", "secret plan")


def test_bearer_token_required(mail_user: Callable[..., MailUser], mailstack: MailStack) -> None:
    user = mail_user()
    assert user.web.as_headers({}).post(SEND, json={}).status_code == 401
