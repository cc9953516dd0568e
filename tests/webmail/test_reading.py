"""Reading raw messages: headers, bodies, attachments and part numbers, and messages broken
in the ways real mail is broken (none of them may raise)."""

from __future__ import annotations

from email.message import EmailMessage

import pytest

from mailplane.webmail.reading import part_content, preview, read_message


def _part_url(part: str) -> str:
    return f"https://mail.example/parts/{part}"


def _rich() -> bytes:
    msg = EmailMessage()
    msg["From"] = "=?utf-8?q?J=C3=BCrgen_M=C3=BCller?= <jm@example.com>"
    msg["To"] = "a@example.org, =?iso-8859-1?q?B=E4r?= <b@example.org>"
    msg["Cc"] = "c@example.org"
    msg["Reply-To"] = "list@example.org"
    msg["Subject"] = "=?iso-8859-1?q?Gr=FC=DFe_aus_K=F6ln?="
    msg["Date"] = "Mon, 23 Nov 2026 06:00:00 +0100"
    msg["Message-ID"] = "<m1@example.com>"
    msg["In-Reply-To"] = "<m0@example.com>"
    msg["References"] = "<a@example.com> <m0@example.com>"
    msg.set_content("Hello   there,\n\n  the text part.\n")
    msg.add_alternative(
        '<p>Hello <img src="cid:logo@example.com"> <img src="https://remote.test/t.gif">'
        "<script>alert(1)</script></p>",
        subtype="html",
    )
    html = msg.get_payload(1)
    assert isinstance(html, EmailMessage)
    html.add_related(b"\x89PNG\r\n\x1a\nlogo", maintype="image", subtype="png",
                     cid="<logo@example.com>")  # fmt: skip
    msg.add_attachment(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n", maintype="application",
                       subtype="pdf", filename="Rechnung März.pdf")  # fmt: skip
    return msg.as_bytes()


def test_a_multipart_message_reads_as_a_mail_client_shows_it() -> None:
    read = read_message(_rich(), remote_images=False, part_url=_part_url)
    assert read.subject == "Grüße aus Köln"
    assert [(a.name, a.address) for a in read.from_] == [("Jürgen Müller", "jm@example.com")]
    assert [a.address for a in read.to] == ["a@example.org", "b@example.org"]
    assert read.to[1].name == "Bär"
    assert [a.address for a in read.cc] == ["c@example.org"]
    assert [a.address for a in read.reply_to] == ["list@example.org"]
    assert read.date is not None
    assert read.date.isoformat() == "2026-11-23T06:00:00+01:00"
    assert read.message_id == "<m1@example.com>"
    assert read.in_reply_to == "<m0@example.com>"
    assert read.references == ["<a@example.com>", "<m0@example.com>"]
    assert read.text == "Hello   there,\n\n  the text part.\n"
    assert read.preview == "Hello there, the text part."
    assert read.html is not None
    assert 'src="https://mail.example/parts/1.2.2"' in read.html
    assert "remote.test" not in read.html
    assert "script" not in read.html
    assert read.remote_blocked == 1
    logo, pdf = read.attachments
    assert (logo.part, logo.content_type, logo.inline, logo.content_id) == (
        "1.2.2", "image/png", True, "logo@example.com")  # fmt: skip
    assert (pdf.part, pdf.filename, pdf.content_type, pdf.inline, pdf.size) == (
        "2", "Rechnung März.pdf", "application/pdf", False, 15)  # fmt: skip


def test_remote_images_on_request() -> None:
    read = read_message(_rich(), remote_images=True, part_url=_part_url)
    assert read.remote_blocked == 0
    assert read.html is not None
    assert 'src="https://remote.test/t.gif"' in read.html


def test_parts_come_out_as_their_exact_bytes() -> None:
    raw = _rich()
    pdf = part_content(raw, "2")
    assert pdf is not None
    assert pdf.data == b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n"
    assert (pdf.filename, pdf.content_type) == ("Rechnung März.pdf", "application/pdf")
    logo = part_content(raw, "1.2.2")
    assert logo is not None
    assert logo.data == b"\x89PNG\r\n\x1a\nlogo"
    assert part_content(raw, "9") is None
    assert part_content(raw, "1") is None  # a multipart is not a part one downloads


def test_only_html_gets_a_text_rendering() -> None:
    raw = b"Subject: h\r\nContent-Type: text/html; charset=utf-8\r\n\r\n<p>Hi <b>you</b></p>"
    read = read_message(raw, remote_images=False, part_url=_part_url)
    assert read.html == "<p>Hi <b>you</b></p>"
    assert read.text is not None
    assert "Hi" in read.text
    assert "you" in read.text
    assert read.attachments == []


def test_only_text_has_no_html() -> None:
    read = read_message(b"Subject: t\r\n\r\nplain\r\n", remote_images=False, part_url=_part_url)
    assert (read.text, read.html, read.attachments) == ("plain\n", None, [])


def test_an_attached_message_is_one_part() -> None:
    inner = EmailMessage()
    inner["Subject"] = "inner"
    inner.set_content("inner body")
    outer = EmailMessage()
    outer["Subject"] = "outer"
    outer.set_content("see attached")
    outer.add_attachment(inner)
    read = read_message(outer.as_bytes(), remote_images=False, part_url=_part_url)
    (attached,) = read.attachments
    assert (attached.part, attached.content_type) == ("2", "message/rfc822")
    assert attached.filename == "message-2.eml"
    content = part_content(outer.as_bytes(), "2")
    assert content is not None
    assert b"inner body" in content.data


def test_filenames_are_names_not_paths() -> None:
    msg = EmailMessage()
    msg.set_content("x")
    msg.add_attachment(b"x", maintype="application", subtype="octet-stream",
                       filename="../../etc/passwd")  # fmt: skip
    read = read_message(msg.as_bytes(), remote_images=False, part_url=_part_url)
    assert [a.filename for a in read.attachments] == ["passwd"]
    # An encoded word that decodes to CR LF must not come out with a line break.
    raw = (
        b"Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n\r\ntext\r\n--b\r\n"
        b'Content-Disposition: attachment; filename="=?utf-8?q?a=0D=0AX-Injected:_1?="\r\n'
        b"\r\nx\r\n--b--\r\n"
    )
    read = read_message(raw, remote_images=False, part_url=_part_url)
    names = [a.filename for a in read.attachments]
    assert names == ["aX-Injected: 1"]
    assert all("\r" not in n and "\n" not in n and "/" not in n for n in names)


BROKEN = [
    b"",
    b"garbage without headers",
    b"Subject: =?bogus-charset?q?x?=\r\n"
    b"Content-Type: text/plain; charset=x-unknown\r\n\r\n\xff\xfe",
    b"Content-Type: text/plain; charset=us-ascii\r\n\r\nutf-8 sneaked in: \xc3\xa4",
    b"Content-Type: text/plain; charset=utf-8\r\n\r\nlatin-1 sneaked in: \xe4",
    b'From: <<<@@@>>>, "unterminated\r\nTo: ,,,;;;\r\nDate: yesterday-ish\r\n\r\nx',
    b"Content-Type: multipart/mixed; boundary=zz\r\n\r\n"
    b"--zz\r\nContent-Type: text/html\r\n\r\n<b>x",
    b"Content-Type: multipart/mixed\r\n\r\nno boundary at all",
    b"Content-Type: multipart/alternative; boundary=a\r\n\r\n--a\r\n--a--",
    b"Content-Transfer-Encoding: base64\r\n\r\n!!!not base64===",
    b"Content-Type: text/plain\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n=ZZ=\r\n",
    b"Content-Type: application/pdf; name==?utf-8?q?broken\r\n\r\nxx",
    b"Content-Type: message/rfc822\r\n\r\nnot really a message",
    b"Message-ID: no brackets\r\nReferences: <a> junk <b\r\n\r\nx",
    b"Subject: \x00\x01control\r\n\r\nx",
]


@pytest.mark.parametrize("raw", BROKEN)
def test_broken_mail_reads_without_raising(raw: bytes) -> None:
    read = read_message(raw, remote_images=False, part_url=_part_url)
    assert isinstance(read.subject, str)
    assert "\x00" not in read.subject
    for attachment in read.attachments:
        assert part_content(raw, attachment.part) is not None


def test_preview_collapses_and_cuts() -> None:
    assert preview("  a\n\n\tb  ") == "a b"
    long = preview("word " * 100)
    assert len(long) == 200
    assert long.endswith("…")
