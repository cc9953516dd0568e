"""Reading an ARF feedback report (RFC 5965): a multipart/report with
``report-type=feedback-report`` whose parts are a human-readable text, a
``message/feedback-report`` (fields like a header section: Feedback-Type, User-Agent,
Version, Original-Rcpt-To, Arrival-Date, Reported-Domain, ...) and the reported message,
whole (``message/rfc822``) or its header section only (``text/rfc822-headers``).

Reporters differ: Yahoo and AOL send the whole message; Microsoft's JMRP sends it with
the recipient redacted; some omit Original-Rcpt-To. What the report says is kept as
values; matching it to a delivery is ``complaints/recording.py``'s job.
"""

from __future__ import annotations

import email
import email.errors
import email.policy
import email.utils
from dataclasses import dataclass
from datetime import UTC, datetime
from email.message import Message
from email.parser import HeaderParser

_MAX_FIELD = 200
_MAX_DETAIL = 2000


@dataclass(frozen=True)
class Report:
    feedback_type: str  # abuse, fraud, virus, other, not-spam, auth-failure (RFC 5965 7.3)
    user_agent: str
    reporter: str  # who sent the report (its From address)
    original_rcpt_to: str  # lower case; "" when not given (or redacted)
    arrival_date: datetime | None
    reported_domain: str
    # Of the reported message:
    return_path: str  # "" when absent
    message_id: str  # "<...>" as written; "" when absent
    to: str  # the first To address, lower case
    detail: str  # the human-readable part


def _clean(value: object, limit: int = _MAX_FIELD) -> str:
    """One line without control characters: these values end up in JSON, logs and never
    in a header, but a report is untrusted input."""
    text = str(value or "")
    return " ".join("".join(ch if ch.isprintable() else " " for ch in text).split())[:limit]


def _address(value: str) -> str:
    _name, address = email.utils.parseaddr(value.split(";", 1)[-1] if ";" in value else value)
    address = _clean(address or value.strip().strip("<>"), 320).strip("<>").lower()
    return address if "@" in address else ""


def _feedback_part(message: Message) -> Message | None:
    """The fields of the message/feedback-report part. The parser gives a message/*
    part's body as a sub-message, so the fields are its headers; a bare string (some
    parsers, some reporters) is parsed as a header section."""
    for part in message.walk():
        if part.get_content_type() != "message/feedback-report":
            continue
        payload = part.get_payload()
        if isinstance(payload, list) and payload and isinstance(payload[0], Message):
            return payload[0]
        if isinstance(payload, str):
            return HeaderParser(policy=email.policy.compat32).parsestr(payload.lstrip())
    return None


def _original(message: Message) -> Message | None:
    """The reported message's header section: the message/rfc822 part (or a
    text/rfc822-headers part, RFC 6522 / RFC 5965 section 2 (d))."""
    for part in message.walk():
        kind = part.get_content_type()
        if kind == "message/rfc822":
            payload = part.get_payload()
            if isinstance(payload, list) and payload and isinstance(payload[0], Message):
                return payload[0]
        if kind == "text/rfc822-headers":
            text = part.get_payload(decode=True)
            if isinstance(text, bytes):
                return HeaderParser(policy=email.policy.compat32).parsestr(
                    text.decode("utf-8", "replace").lstrip()
                )
    return None


def _text(message: Message) -> str:
    for part in message.walk():
        if part.get_content_type() == "text/plain":
            body = part.get_payload(decode=True)
            if isinstance(body, bytes):
                return body.decode(part.get_content_charset() or "utf-8", "replace")[:_MAX_DETAIL]
    return ""


def _date(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        parsed = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def _message_id(value: str | None) -> str:
    text = _clean(value, 998)
    start, end = text.find("<"), text.find(">")
    return text[start : end + 1] if 0 <= start < end else text


def read(raw: bytes) -> Report | None:
    """The report, or None when the message is neither a feedback report nor carries a
    reported message (a reply by a person, a challenge, spam)."""
    message = email.message_from_bytes(raw, policy=email.policy.compat32)
    fields = _feedback_part(message)
    original = _original(message)
    if fields is None and original is None:
        return None
    get = fields.get if fields is not None else (lambda name, default=None: default)
    headers = original if original is not None else Message()
    return Report(
        feedback_type=_clean(get("Feedback-Type", "abuse"), 32).lower() or "abuse",
        user_agent=_clean(get("User-Agent", "")),
        reporter=_address(_clean(message.get("From", ""), 320)),
        original_rcpt_to=_address(_clean(get("Original-Rcpt-To", ""), 320)),
        arrival_date=_date(get("Arrival-Date") or get("Received-Date")),
        reported_domain=_clean(get("Reported-Domain", ""), 253).lower(),
        return_path=_address(_clean(headers.get("Return-Path", ""), 320)),
        message_id=_message_id(headers.get("Message-ID")),
        to=_address(_clean(headers.get("To", ""), 320)),
        detail=_text(message),
    )
