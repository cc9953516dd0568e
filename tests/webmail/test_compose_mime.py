"""The webmail's MIME building, without servers: headers, structure, threading, drafts."""

from __future__ import annotations

import email
from datetime import UTC, datetime
from email import policy
from email.message import EmailMessage
from pathlib import Path

import pytest

from mailplane.config import Settings
from mailplane.errors import InvalidInput
from mailplane.webmail.compose import (
    Address,
    Attachment,
    Outgoing,
    SignatureText,
    build,
    normalize_message_id,
    redraft,
    thread_references,
    with_signature,
)
from mailplane.webmail.send_service import check_size, parse_recipient
from mailplane.webmail.submission import MessageTooLarge

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
ME = Address("me@example.com", "Jürgen Müller")


def parse(raw: bytes) -> EmailMessage:
    parsed = email.message_from_bytes(raw, policy=policy.default)
    assert isinstance(parsed, EmailMessage)
    return parsed


def test_headers_are_encoded_and_bcc_stays_out() -> None:
    message = Outgoing(
        sender=ME,
        to=[Address("a@b.test", "Ä, B")],
        cc=[Address("c@d.test")],
        bcc=[Address("secret@e.test")],
        subject="Grüße, ein sehr langer Betreff " * 5,
        plain="Hallo",
    )
    built = build(message, now=NOW)
    head = built.raw.split(b"\r\n\r\n", 1)[0]
    assert head.isascii()
    assert b"secret@e.test" not in built.raw
    assert all(len(line) <= 78 for line in head.split(b"\r\n"))
    parsed = parse(built.raw)
    assert parsed["From"].addresses[0].display_name == "Jürgen Müller"
    assert parsed["To"].addresses[0].display_name == "Ä, B"
    assert parsed["Subject"] == message.subject
    assert parsed["Message-ID"] == built.message_id
    assert built.message_id.endswith("@example.com>")
    assert parse(built.own_copy())["Bcc"].addresses[0].addr_spec == "secret@e.test"


def test_html_and_plain_alternatives_with_attachments() -> None:
    message = Outgoing(
        sender=ME,
        to=[Address("a@b.test")],
        html="<p>Hallo <b>Welt</b></p>",
        attachments=[Attachment("Übersicht.pdf", "application/pdf", b"%PDF")],
    )
    with_signature(message, SignatureText("<p>Gruß <i>J</i></p>", ""))
    parsed = parse(build(message, now=NOW).raw)
    assert parsed.get_content_type() == "multipart/mixed"
    plain = parsed.get_body(preferencelist=("plain",))
    html = parsed.get_body(preferencelist=("html",))
    assert plain is not None
    assert html is not None
    text = plain.get_content().replace("\r\n", "\n")
    assert text.startswith("Hallo **Welt**")
    assert text.endswith("\n\n-- \nGruß _J_\n")
    assert '<div class="signature">-- <br><p>Gruß <i>J</i></p></div>' in html.get_content()
    assert [a.get_filename() for a in parsed.iter_attachments()] == ["Übersicht.pdf"]


def test_reply_threading() -> None:
    assert normalize_message_id("abc@host") == "<abc@host>"
    chain = thread_references([f"<r{i}@x>" for i in range(30)], "<p@x>")
    assert len(chain) == 20
    assert chain[0] == "<r0@x>"
    assert chain[-1] == "<p@x>"
    message = Outgoing(sender=ME, in_reply_to="<p@x>", references=["<a@x>", "<b@x>"], plain="re")
    parsed = parse(build(message, now=NOW).raw)
    assert parsed["In-Reply-To"] == "<p@x>"
    assert parsed["References"].split() == ["<a@x>", "<b@x>", "<p@x>"]


@pytest.mark.parametrize(
    "message",
    [
        Outgoing(sender=ME, subject="a\r\nBcc: x@y.test"),
        Outgoing(sender=ME, to=[Address("a@b.test", "E\nvil")]),
        Outgoing(sender=Address("me@example.com", "Me\r\nX-Injected: 1")),
        Outgoing(sender=ME, bcc=[Address("a@b.test", "x\ry")]),
        Outgoing(sender=ME, attachments=[Attachment("a\n.txt", "text/plain", b"")]),
        Outgoing(sender=ME, attachments=[Attachment("a.txt", "text/plain\r\nX: 1", b"")]),
        Outgoing(sender=ME, attachments=[Attachment("a.eml", "multipart/mixed", b"")]),
        Outgoing(sender=ME, in_reply_to="<a@b>\r\nBcc: x@y.test"),
        Outgoing(sender=ME, in_reply_to="no id at all"),
    ],
)
def test_control_characters_and_bad_values_never_reach_a_header(message: Outgoing) -> None:
    with pytest.raises(InvalidInput):
        build(message, now=NOW)


def test_recipients_as_typed() -> None:
    assert parse_recipient('"Doe, Jane" <Jane@Bücher.example>', "to") == Address(
        "jane@xn--bcher-kva.example", "Doe, Jane"
    )
    assert parse_recipient("a@b.test", "to") == Address("a@b.test", "")
    for bad in ("a@b.test, c@d.test", "<a@b.test> <c@d.test>", "nobody", "x\n@b.test"):
        with pytest.raises(InvalidInput):
            parse_recipient(bad, "to")


def test_a_stored_draft_is_sent_with_fresh_headers() -> None:
    draft = build(
        Outgoing(
            sender=Address("someone-else@evil.test"),
            to=[Address("a@b.test", "A")],
            bcc=[Address("hidden@c.test")],
            subject="Plan",
            plain="body",
            in_reply_to="<p@x>",
        ),
        now=NOW,
    ).own_copy()
    ready = redraft(draft, ME, now=NOW)
    assert ready.recipients() == ["a@b.test", "hidden@c.test"]
    assert ready.in_reply_to == "<p@x>"
    parsed = parse(ready.built.raw)
    assert parsed["From"].addresses[0].addr_spec == "me@example.com"
    assert parsed["Bcc"] is None
    assert b"hidden@c.test" not in ready.built.raw
    assert parsed["Subject"] == "Plan"
    assert parsed.get_content().strip() == "body"
    assert len(parsed.get_all("Message-ID") or []) == 1
    with pytest.raises(InvalidInput):
        redraft(b"no header at all", ME, now=NOW)


def test_size_limit(tmp_path: Path) -> None:
    settings = Settings(state_dir=tmp_path, message_size_limit_mb=1)
    check_size(settings, b"x" * 1024 * 1024)
    with pytest.raises(MessageTooLarge) as raised:
        check_size(settings, b"x" * (1024 * 1024 + 1))
    assert raised.value.status == 413
    assert raised.value.code == "message_too_large"
