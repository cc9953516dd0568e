"""The MIME of a message written in the webmail: pure, no I/O, no database.

Every value that reaches a header is refused here if it holds CR, LF or another control
character (SECURITY.md 9), whatever the schema checked before. Non-ASCII subjects and
display names are RFC 2047 encoded words; attachment names are RFC 2231 parameters
(``filename*=utf-8''...``): RFC 2047 section 5 does not allow encoded words inside a
quoted parameter, and every current reader decodes RFC 2231. Bcc never becomes a
header: it exists only in the SMTP envelope.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from email import policy
from email.header import Header
from email.message import EmailMessage
from email.parser import BytesParser
from email.utils import format_datetime, formataddr

from mailplane.errors import InvalidInput
from mailplane.names import normalize_address, reject_control_characters
from mailplane.sending.compose import text_of_html

# RFC 5322 section 3.6.4: msg-id = "<" id-left "@" id-right ">"; printable ASCII only.
_MESSAGE_ID = re.compile(r"^<[!-;=?-~]{1,250}@[!-;=?-~]{1,250}>$")
_CONTENT_TYPE = re.compile(r"^[a-z0-9][a-z0-9!#$&^_.+-]{0,63}/[a-z0-9][a-z0-9!#$&^_.+-]{0,126}$")
# References keep the thread's first message and the most recent ones (RFC 5322 3.6.4
# allows trimming; readers thread on the first and the last few).
MAX_REFERENCES = 20


@dataclass(frozen=True)
class Address:
    address: str  # canonical: local@a-label
    name: str = ""


@dataclass(frozen=True)
class Attachment:
    filename: str
    content_type: str
    content: bytes


@dataclass(frozen=True)
class SignatureText:
    html: str
    text: str


@dataclass
class Outgoing:
    sender: Address
    to: list[Address] = field(default_factory=list)
    cc: list[Address] = field(default_factory=list)
    bcc: list[Address] = field(default_factory=list)
    subject: str = ""
    html: str | None = None
    plain: str | None = None
    attachments: list[Attachment] = field(default_factory=list)
    in_reply_to: str | None = None  # the replied-to message's Message-ID
    references: list[str] = field(default_factory=list)  # its own References

    def recipients(self) -> list[str]:
        """The envelope: every to, cc and bcc address once, in that order."""
        seen: dict[str, None] = {}
        for box in (*self.to, *self.cc, *self.bcc):
            seen.setdefault(box.address, None)
        return list(seen)


@dataclass(frozen=True)
class Built:
    raw: bytes  # what recipients get: no Bcc
    message_id: str
    bcc_header: bytes = b""  # "Bcc: ...\r\n" for the sender's own copies (Sent, Drafts)

    def own_copy(self) -> bytes:
        """The copy kept in the sender's mailbox shows whom it was blind-copied to, as mail
        clients keep it; the recipients' copies never do."""
        return self.bcc_header + self.raw


def normalize_message_id(value: str, field_name: str = "in_reply_to") -> str:
    """``<id@host>``; brackets are added when missing. Anything else is refused."""
    reject_control_characters(value, field_name)
    text = value.strip()
    if text and not text.startswith("<"):
        text = f"<{text}>"
    if not _MESSAGE_ID.match(text):
        raise InvalidInput(f"{value!r} is not a Message-ID", code="invalid_message_id")
    return text


def parse_references(header: str) -> list[str]:
    """The msg-ids of a References (or In-Reply-To) header; malformed ones are dropped."""
    return [m for m in re.findall(r"<[^<>\s]+>", header) if _MESSAGE_ID.match(m)]


def thread_references(parent_references: list[str], parent_id: str) -> list[str]:
    """RFC 5322 3.6.4: the parent's References (or its In-Reply-To) followed by its id."""
    chain: list[str] = []
    for item in [*parent_references, parent_id]:
        if item not in chain:
            chain.append(item)
    if len(chain) > MAX_REFERENCES:
        chain = [chain[0], *chain[-(MAX_REFERENCES - 1) :]]
    return chain


def check_content_type(value: str) -> str:
    lowered = value.strip().lower() or "application/octet-stream"
    if not _CONTENT_TYPE.match(lowered):
        raise InvalidInput(f"{value!r} is not a media type", code="invalid_content_type")
    if lowered.startswith("multipart/") or lowered.startswith("message/"):
        # A container type would be parsed by readers as structure, not as a file.
        raise InvalidInput(f"{value!r} cannot be an attachment's type", code="invalid_content_type")
    return lowered


def with_signature(message: Outgoing, signature: SignatureText) -> None:
    """Appends the signature below the text, after the "-- " delimiter (RFC 3676 4.3)."""
    original_html = message.html
    if message.html is not None:
        block = f'<div class="signature">-- <br>{signature.html}</div>' if signature.html else ""
        if not block and signature.text:
            escaped = signature.text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
            block = f'<div class="signature">-- <br>{escaped.replace(chr(10), "<br>")}</div>'
        if block:
            message.html = f"{message.html}<br>{block}"
    text = signature.text or (text_of_html(signature.html).strip() if signature.html else "")
    if message.plain is None and message.html is not None:
        # Derived from the HTML without its signature: html2text would escape the "-- ".
        message.plain = text_of_html(original_html or "")
    if text:
        message.plain = f"{(message.plain or '').rstrip()}\n\n-- \n{text}\n"


def _mailbox(box: Address, field_name: str) -> str:
    reject_control_characters(box.name, field_name)
    reject_control_characters(box.address, field_name)
    return formataddr((box.name, box.address), charset="utf-8")


def _address_header(name: str, boxes: list[Address]) -> str:
    return f"{name}: " + ",\r\n ".join(_mailbox(b, name.lower()) for b in boxes)


def _text_header(name: str, value: str) -> str:
    charset = "us-ascii" if value.isascii() else "utf-8"
    return f"{name}: " + Header(value, charset, header_name=name).encode(linesep="\r\n")


def _transfer_encoding(body: str) -> str | None:
    return None if body.isascii() else "quoted-printable"


def build(message: Outgoing, *, now: datetime, message_id: str | None = None) -> Built:
    """The message as bytes (CRLF line ends) and its Message-ID."""
    reject_control_characters(message.subject, "subject")
    domain = message.sender.address.rpartition("@")[2]
    message_id = message_id or f"<{uuid.uuid4().hex}@{domain}>"
    lines = [_address_header("From", [message.sender])]
    if message.to:
        lines.append(_address_header("To", message.to))
    if message.cc:
        lines.append(_address_header("Cc", message.cc))
    bcc = (_address_header("Bcc", message.bcc) + "\r\n").encode() if message.bcc else b""
    lines.append(_text_header("Subject", message.subject))
    lines.append(f"Date: {format_datetime(now)}")
    lines.append(f"Message-ID: {message_id}")
    if message.in_reply_to:
        parent = normalize_message_id(message.in_reply_to)
        references = [normalize_message_id(r, "references") for r in message.references]
        lines.append(f"In-Reply-To: {parent}")
        lines.append("References: " + "\r\n ".join(thread_references(references, parent)))
    body = EmailMessage(policy=policy.SMTP)
    if message.html is not None:
        plain = message.plain if message.plain is not None else text_of_html(message.html)
        body.set_content(plain, charset="utf-8", cte=_transfer_encoding(plain))
        body.add_alternative(
            message.html, subtype="html", charset="utf-8", cte=_transfer_encoding(message.html)
        )
    else:
        plain = message.plain or ""
        body.set_content(plain, charset="utf-8", cte=_transfer_encoding(plain))
    for attachment in message.attachments:
        reject_control_characters(attachment.filename, "attachments.filename")
        maintype, _, subtype = check_content_type(attachment.content_type).partition("/")
        body.add_attachment(
            attachment.content, maintype=maintype, subtype=subtype, filename=attachment.filename
        )
    raw = "\r\n".join(lines).encode("ascii") + b"\r\n" + body.as_bytes()
    return Built(raw=raw, message_id=message_id, bcc_header=bcc)


# Fields a draft may not carry into the sent message: mailplane writes them anew.
_REWRITTEN = frozenset({"from", "sender", "bcc", "date", "message-id", "return-path", "received"})


@dataclass(frozen=True)
class Redrafted:
    built: Built
    to: list[Address]
    cc: list[Address]
    bcc: list[Address]
    in_reply_to: str | None

    def recipients(self) -> list[str]:
        return list(dict.fromkeys(b.address for b in (*self.to, *self.cc, *self.bcc)))


def _fields(head: bytes) -> list[bytes]:
    fields: list[bytes] = []
    for line in head.split(b"\r\n"):
        if line[:1] in (b" ", b"\t") and fields:
            fields[-1] += b"\r\n" + line
        elif line:
            fields.append(line)
    return fields


def redraft(raw: bytes, sender: Address, *, now: datetime) -> Redrafted:
    """A stored draft (any IMAP client may have written it) made ready to send: From,
    Date and Message-ID are written anew, Bcc leaves the header for the envelope, and
    every address is checked again."""
    normalized = raw.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
    head, separator, body = normalized.partition(b"\r\n\r\n")
    if not separator:
        raise InvalidInput("the draft has no header", code="invalid_draft")
    parsed = BytesParser(policy=policy.default).parsebytes(head + b"\r\n\r\n", headersonly=True)

    def boxes(name: str) -> list[Address]:
        found: list[Address] = []
        try:
            headers = parsed.get_all(name) or []
            for header in headers:
                for item in getattr(header, "addresses", ()):
                    address = normalize_address(item.addr_spec, name.lower())
                    found.append(Address(address, str(item.display_name or "")))
        except (ValueError, IndexError, AttributeError) as exc:
            raise InvalidInput(f"the draft's {name} is malformed", code="invalid_draft") from exc
        return found

    to, cc, bcc = boxes("To"), boxes("Cc"), boxes("Bcc")
    parent = parsed.get("In-Reply-To")
    kept = [
        f
        for f in _fields(head)
        if f.split(b":", 1)[0].strip().lower().decode("latin-1") not in _REWRITTEN
    ]
    domain = sender.address.rpartition("@")[2]
    message_id = f"<{uuid.uuid4().hex}@{domain}>"
    lines = [
        _address_header("From", [sender]).encode("ascii"),
        f"Date: {format_datetime(now)}".encode(),
        f"Message-ID: {message_id}".encode(),
        *kept,
    ]
    bcc_header = (_address_header("Bcc", bcc) + "\r\n").encode() if bcc else b""
    built = Built(b"\r\n".join(lines) + b"\r\n\r\n" + body, message_id, bcc_header)
    in_reply_to = parse_references(str(parent)) if parent else []
    return Redrafted(built, to, cc, bcc, in_reply_to[0] if in_reply_to else None)
