"""MIME composition of send API messages with the standard library's email package.

``policy.SMTP`` writes CRLF line ends and encodes non-ASCII headers (RFC 2047) and bodies
(quoted-printable or base64, as the package chooses). Every value that becomes a header
is refused here if it holds a control character, whatever the caller checked before:
the email package would fold some of them into a second header.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from email import policy
from email.header import Header
from email.message import EmailMessage
from email.utils import format_datetime, formataddr

import html2text

from mailplane.errors import InvalidInput
from mailplane.names import reject_control_characters

# Headers the platform writes itself, that the signature or the MIME structure depend on,
# or that only a relay may add (RFC 5321 section 4.4): a custom header may not set them.
RESERVED_HEADERS = frozenset(
    {
        "from",
        "sender",
        "to",
        "cc",
        "bcc",
        "reply-to",
        "subject",
        "date",
        "message-id",
        "dkim-signature",
        "arc-seal",
        "arc-message-signature",
        "arc-authentication-results",
        "authentication-results",
        "received",
        "return-path",
        "mime-version",
        "content-type",
        "content-transfer-encoding",
        "content-disposition",
        "content-id",
        "resent-from",
        "resent-sender",
        "resent-to",
        "resent-cc",
        "resent-bcc",
        "resent-date",
        "resent-message-id",
    }
)
# RFC 5322 section 3.6.8: printable ASCII but the colon.
_FIELD_NAME = re.compile(r"^[!-9;-~]{1,76}$")


@dataclass(frozen=True)
class Mailbox:
    address: str  # normalized: local@a-label
    name: str = ""


@dataclass(frozen=True)
class Part:
    filename: str
    content: bytes
    content_type: str
    content_id: str | None = None


@dataclass
class Draft:
    sender: Mailbox
    to: list[Mailbox]
    cc: list[Mailbox]
    reply_to: list[Mailbox]
    subject: str
    text: str | None
    html: str | None
    headers: dict[str, str] = field(default_factory=dict)
    attachments: list[Part] = field(default_factory=list)


@dataclass(frozen=True)
class Composed:
    raw: bytes
    message_id_header: str


def text_of_html(html: str) -> str:
    converter = html2text.HTML2Text()
    converter.body_width = 0  # no hard wrapping: quoted-printable keeps long lines safe
    converter.ignore_images = True
    converter.unicode_snob = True
    return str(converter.handle(html)).strip() + "\n"


def check_custom_header(name: str, value: str) -> None:
    if not _FIELD_NAME.match(name):
        raise InvalidInput(f"{name!r} is not a header field name", code="invalid_header_name")
    if name.lower() in RESERVED_HEADERS:
        raise InvalidInput(f"the {name} header is set by mailplane", code="reserved_header")
    reject_control_characters(value, f"headers.{name}")


def _mailbox(mailbox: Mailbox, field_name: str) -> str:
    reject_control_characters(mailbox.name, field_name)
    reject_control_characters(mailbox.address, field_name)
    # formataddr quotes an ASCII name where RFC 5322 needs it and encodes any other
    # (RFC 2047); the address itself is ASCII (A-label domain, checked local part).
    return formataddr((mailbox.name, mailbox.address), charset="utf-8")


def _text_header(name: str, value: str) -> str:
    charset = "us-ascii" if value.isascii() else "utf-8"
    folded = Header(value, charset, header_name=name).encode(linesep="\r\n")
    return f"{name}: {folded}"


def _address_header(name: str, mailboxes: list[Mailbox]) -> str:
    # One address per line (folding white space after each comma): a header of a hundred
    # addresses stays within RFC 5322's line limits.
    return f"{name}: " + ",\r\n ".join(_mailbox(m, name.lower()) for m in mailboxes)


def compose(draft: Draft, *, now: datetime, domain: str) -> Composed:
    """The header block is written here (the policy's header parser costs about 30 us per
    address, 3 ms for a hundred recipients); the MIME body is the email package's."""
    reject_control_characters(draft.subject, "subject")
    message_id = f"<{uuid.uuid4().hex}@{domain}>"
    lines = [_address_header("From", [draft.sender])]
    if draft.to:
        lines.append(_address_header("To", draft.to))
    if draft.cc:
        lines.append(_address_header("Cc", draft.cc))
    if draft.reply_to:
        lines.append(_address_header("Reply-To", draft.reply_to))
    lines.append(_text_header("Subject", draft.subject))
    lines.append(f"Date: {format_datetime(now)}")
    lines.append(f"Message-ID: {message_id}")
    for name, value in draft.headers.items():
        check_custom_header(name, value)
        lines.append(_text_header(name, value))
    body = EmailMessage(policy=policy.SMTP)
    text = draft.text if draft.text is not None else text_of_html(draft.html or "")
    body.set_content(text, charset="utf-8", cte=_transfer_encoding(text))
    if draft.html is not None:
        body.add_alternative(
            draft.html, subtype="html", charset="utf-8", cte=_transfer_encoding(draft.html)
        )
    inline = [p for p in draft.attachments if p.content_id]
    if inline:
        html_part = body.get_body(preferencelist=("html",))
        if not isinstance(html_part, EmailMessage):
            raise InvalidInput("inline attachments need an html body", code="inline_without_html")
        for part in inline:
            _attach(html_part, part, related=True)
    for part in draft.attachments:
        if not part.content_id:
            _attach(body, part, related=False)
    # The body part starts with MIME-Version and its Content-* headers.
    raw = "\r\n".join(lines).encode("ascii") + b"\r\n" + body.as_bytes()
    return Composed(raw=raw, message_id_header=message_id)


def _transfer_encoding(body: str) -> str | None:
    """Quoted-printable for international text: 8bit would need 8BITMIME at every hop.
    ASCII is left to the package (7bit, or quoted-printable for lines past 998)."""
    return None if body.isascii() else "quoted-printable"


def _attach(target: EmailMessage, part: Part, *, related: bool) -> None:
    reject_control_characters(part.filename, "attachments.filename")
    maintype, _, subtype = part.content_type.partition("/")
    if related:
        assert part.content_id is not None
        reject_control_characters(part.content_id, "attachments.content_id")
        target.add_related(
            part.content,
            maintype=maintype,
            subtype=subtype,
            cid=f"<{part.content_id}>",
            filename=part.filename,
            disposition="inline",
        )
    else:
        target.add_attachment(
            part.content, maintype=maintype, subtype=subtype, filename=part.filename
        )
