"""One received message, read: pure functions over the raw RFC 5322 bytes that IMAP's
``BODY.PEEK[]`` returns, with the standard library's ``email`` package.

Received mail is whatever the Internet sent: broken MIME, unknown charsets, headers that
the parser cannot make sense of. Nothing here raises on such a message; what cannot be
decoded is shown decoded as far as it goes (replacement characters, the raw header), never
as a 500.

Parts are numbered as IMAP numbers them (RFC 3501 6.4.5, BODY[<section>]): the children of a
multipart are 1, 2, 3..., nested ones 1.2, 2.1...; a message that is not multipart has one
part, "1". An attached message (message/rfc822) is one part, downloaded whole.
"""

from __future__ import annotations

import codecs
import contextlib
import mimetypes
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from email import policy
from email.header import decode_header, make_header
from email.message import EmailMessage, Message
from email.parser import BytesParser
from email.utils import getaddresses, parsedate_to_datetime

from mailplane.sending.compose import text_of_html
from mailplane.webmail.sanitize import sanitize_html

PREVIEW_LENGTH = 200
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_WHITESPACE = re.compile(r"\s+")
_MESSAGE_ID = re.compile(r"<[^<>\s]+>")


@dataclass(frozen=True)
class Address:
    name: str
    address: str


@dataclass(frozen=True)
class Attachment:
    part: str  # the IMAP section number, "2" or "1.2"
    filename: str
    content_type: str
    size: int  # decoded bytes
    inline: bool
    content_id: str | None  # without the angle brackets


@dataclass(frozen=True)
class ReadMessage:
    subject: str
    from_: list[Address]
    to: list[Address]
    cc: list[Address]
    reply_to: list[Address]
    date: datetime | None
    message_id: str | None
    in_reply_to: str | None
    references: list[str]
    text: str | None
    html: str | None  # sanitized; None when the message has no HTML part
    remote_blocked: int
    attachments: list[Attachment]

    @property
    def preview(self) -> str:
        return preview(self.text or "")


@dataclass(frozen=True)
class PartContent:
    content_type: str
    filename: str
    data: bytes


def parse(raw: bytes) -> EmailMessage:
    message = BytesParser(policy=policy.default).parsebytes(raw)
    assert isinstance(message, EmailMessage)
    return message


def read_message(raw: bytes, *, remote_images: bool, part_url: Callable[[str], str]) -> ReadMessage:
    """The message as a reader sees it; ``part_url(part)`` is the URL an inline image of the
    sanitized HTML loads from."""
    message = parse(raw)
    text_part, html_part = _bodies(message)
    parts = list(_numbered(message))
    attachments = [
        _attachment(number, part)
        for number, part in parts
        if part is not text_part and part is not html_part
    ]
    by_cid = {a.content_id: a.part for a in attachments if a.content_id}
    # Lines end in LF for a reader (IMAP hands them over as CRLF).
    text = _text(text_part).replace("\r\n", "\n") if text_part is not None else None
    html: str | None = None
    remote_blocked = 0
    if html_part is not None:

        def cid_url(content_id: str) -> str | None:
            number = by_cid.get(content_id)
            return part_url(number) if number is not None else None

        raw_html = _text(html_part)
        sanitized = sanitize_html(raw_html, remote_images=remote_images, cid_url=cid_url)
        html, remote_blocked = sanitized.html, sanitized.remote_blocked
        if text is None:
            text = _html_as_text(sanitized.html)
    return ReadMessage(
        subject=_header_text(message, "subject"),
        from_=_addresses(message, "from"),
        to=_addresses(message, "to"),
        cc=_addresses(message, "cc"),
        reply_to=_addresses(message, "reply-to"),
        date=_date(message),
        message_id=_first_message_id(message, "message-id"),
        in_reply_to=_first_message_id(message, "in-reply-to"),
        references=_MESSAGE_ID.findall(_header_text(message, "references")),
        text=text,
        html=html,
        remote_blocked=remote_blocked,
        attachments=attachments,
    )


def part_content(raw: bytes, number: str) -> PartContent | None:
    """The decoded bytes of one leaf part (None when the message has no such part)."""
    for found, part in _numbered(parse(raw)):
        if found == number:
            return PartContent(
                content_type=_content_type(part),
                filename=_filename(part, number),
                data=_payload(part),
            )
    return None


def preview(text: str) -> str:
    """The first words of a message for a list: whitespace collapsed, at most 200 chars."""
    collapsed = _WHITESPACE.sub(" ", _CONTROL.sub("", text)).strip()
    if len(collapsed) <= PREVIEW_LENGTH:
        return collapsed
    return collapsed[: PREVIEW_LENGTH - 1].rstrip() + "…"


def _numbered(message: Message, prefix: str = "") -> Iterator[tuple[str, Message]]:
    """Every leaf part with its IMAP section number."""
    if message.get_content_maintype() == "message" or not message.is_multipart():
        yield (prefix or "1"), message
        return
    payload = message.get_payload()
    if not isinstance(payload, list):
        return
    for index, child in enumerate(payload, start=1):
        if isinstance(child, Message):
            yield from _numbered(child, f"{prefix}.{index}" if prefix else str(index))


def _bodies(message: EmailMessage) -> tuple[Message | None, Message | None]:
    try:
        text = message.get_body(preferencelist=("plain",))
        html = message.get_body(preferencelist=("html",))
    except Exception:  # a parser edge the stdlib does not survive: show what we can
        text = html = None
    # A single part the stdlib would not call a body (say, a filename on a text part).
    single = text is None and html is None and not message.is_multipart()
    if single and message.get_content_maintype() == "text":
        if message.get_content_subtype() == "html":
            html = message
        else:
            text = message
    return text, html


def _attachment(number: str, part: Message) -> Attachment:
    content_id = _header_text(part, "content-id").strip().strip("<>") or None
    disposition = part.get_content_disposition()
    return Attachment(
        part=number,
        filename=_filename(part, number),
        content_type=_content_type(part),
        size=len(_payload(part)),
        inline=disposition == "inline" or (disposition is None and content_id is not None),
        content_id=content_id,
    )


def _content_type(part: Message) -> str:
    try:
        return part.get_content_type()
    except Exception:
        return "application/octet-stream"


def _filename(part: Message, number: str) -> str:
    try:
        name = part.get_filename() or ""
    except Exception:
        name = ""
    if "=?" in name:  # RFC 2047 inside a parameter: not standard, but what clients send
        name = _decode_words(name)
    # Only a name, never a path; no control characters (a header of ours carries it).
    name = _CONTROL.sub("", name).replace("\r", "").replace("\n", "")
    name = name.replace("\\", "/").rsplit("/", 1)[-1].strip().lstrip(".")
    if name:
        return name[:255]
    content_type = _content_type(part)
    if content_type == "message/rfc822":
        return f"message-{number}.eml"
    return f"part-{number}{mimetypes.guess_extension(content_type) or ''}"


def _payload(part: Message) -> bytes:
    try:
        if part.get_content_maintype() == "message":
            inner = part.get_payload()
            if isinstance(inner, list) and inner and isinstance(inner[0], Message):
                return inner[0].as_bytes(policy=policy.SMTP)
        data = part.get_payload(decode=True)
    except Exception:
        return b""
    return data if isinstance(data, bytes) else b""


def _text(part: Message) -> str:
    data = _payload(part)
    charset = part.get_content_charset() or "us-ascii"
    try:
        codecs.lookup(charset)
    except LookupError:
        charset = "utf-8"
    for candidate in (charset, "utf-8"):
        try:
            return data.decode(candidate)
        except (UnicodeDecodeError, LookupError):
            continue
    # Declared one charset, sent another: cp1252 decodes every byte but 5, "replace" those.
    return data.decode("cp1252", errors="replace")


def _html_as_text(html: str) -> str:
    try:
        return text_of_html(html)
    except Exception:
        return preview(re.sub(r"<[^>]*>", " ", html))


def _decode_words(value: str) -> str:
    try:
        return str(make_header(decode_header(value)))
    except Exception:
        return value


def _header_text(message: Message, name: str) -> str:
    try:
        value = message.get(name)
    except Exception:
        raw = _raw_header(message, name)
        return _decode_words(raw) if raw else ""
    if value is None:
        return ""
    return _CONTROL.sub("", str(value)).replace("\r", "").replace("\n", " ").strip()


def _raw_header(message: Message, name: str) -> str:
    for key, value in message.raw_items():
        if key.lower() == name:
            return str(value)
    return ""


def _addresses(message: Message, name: str) -> list[Address]:
    with contextlib.suppress(Exception):
        header = message.get(name)
        if header is None:
            return []
        groups = getattr(header, "addresses", None)
        if groups is not None:
            return [Address(a.display_name, a.addr_spec) for a in groups if a.addr_spec]
    # The structured parser gave up: the lenient legacy parser over the decoded text.
    found = getaddresses([_decode_words(_raw_header(message, name))])
    return [Address(n, a) for n, a in found if a]


def _date(message: Message) -> datetime | None:
    with contextlib.suppress(Exception):
        value = getattr(message.get("date"), "datetime", None)
        if isinstance(value, datetime):
            return value
    try:
        return parsedate_to_datetime(_raw_header(message, "date"))
    except Exception:
        return None


def _first_message_id(message: Message, name: str) -> str | None:
    found = _MESSAGE_ID.findall(_header_text(message, name))
    return found[0] if found else None
