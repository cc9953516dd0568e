"""Message list entries from IMAP's ENVELOPE and BODYSTRUCTURE (RFC 3501 section 7.4.2):
what a list shows without downloading any message."""

from __future__ import annotations

import email.header
import email.utils
import re
from datetime import datetime
from typing import Any

from mailplane.webmail.list_schemas import AddressOut, MessageSummary

# Fetched for every list entry. PREVIEW (RFC 8970) where the server has it.
SUMMARY_ITEMS = "UID FLAGS RFC822.SIZE INTERNALDATE ENVELOPE BODYSTRUCTURE"
PREVIEW_LENGTH = 200
_SPACES = re.compile(r"\s+")


def summary_items(capabilities: frozenset[str]) -> str:
    if "PREVIEW" in capabilities:
        return f"({SUMMARY_ITEMS} PREVIEW)"
    if "SNIPPET=FUZZY" in capabilities:
        return f"({SUMMARY_ITEMS} SNIPPET (FUZZY))"
    return f"({SUMMARY_ITEMS})"


def text(value: Any) -> str:
    """An nstring from the server: None, str, or bytes (a literal)."""
    if value is None:
        return ""
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return str(value)


def decode_words(value: Any) -> str:
    """RFC 2047 encoded words (ENVELOPE carries them undecoded); never fails."""
    raw = text(value)
    if "=?" not in raw:
        return raw
    try:
        return str(email.header.make_header(email.header.decode_header(raw)))
    except (ValueError, LookupError, UnicodeDecodeError):
        return raw


def addresses(value: Any) -> list[AddressOut]:
    out: list[AddressOut] = []
    if not isinstance(value, list):
        return out
    for entry in value:
        if not isinstance(entry, list) or len(entry) < 4:
            continue
        name, _adl, mailbox, host = entry[:4]
        if host is None:
            continue  # RFC 3501 group syntax markers
        address = f"{text(mailbox)}@{text(host)}" if mailbox is not None else ""
        out.append(AddressOut(name=decode_words(name), address=address))
    return out


def has_attachments(structure: Any) -> bool:
    """A part with Content-Disposition attachment, or any part that is not text, a
    multipart container or an inline image of an HTML message."""
    if not isinstance(structure, list) or not structure:
        return False
    if isinstance(structure[0], list):  # multipart: children, then the subtype
        children = [part for part in structure if isinstance(part, list)]
        return any(has_attachments(child) for child in children)
    main = text(structure[0]).lower()
    disposition = _disposition(structure)
    if disposition == "attachment":
        return True
    if disposition == "inline":
        return False
    return main not in ("text", "multipart") and not (main == "image" and _has_id(structure))


def _disposition(part: list[Any]) -> str | None:
    # Extension data of a single part: body-fld-md5 body-fld-dsp ... (non-text: index 8;
    # text: index 9, after the line count; message/rfc822 differs too). Look for the
    # (name params) pair by shape rather than by position.
    for item in part[7:]:
        if isinstance(item, list) and item and isinstance(item[0], str | bytes):
            kind = text(item[0]).lower()
            if kind in ("attachment", "inline"):
                return kind
    return None


def _has_id(part: list[Any]) -> bool:
    return len(part) > 3 and part[3] is not None


def internal_date(value: Any) -> datetime | None:
    raw = text(value)
    try:
        return datetime.strptime(raw, "%d-%b-%Y %H:%M:%S %z")
    except ValueError:
        return None


def header_date(value: Any) -> datetime | None:
    raw = text(value)
    if not raw:
        return None
    try:
        return email.utils.parsedate_to_datetime(raw)
    except (TypeError, ValueError, IndexError):
        return None


def preview_of(item: dict[str, Any]) -> str:
    raw = item.get("PREVIEW", item.get("SNIPPET"))
    if isinstance(raw, list):  # SNIPPET answers (FUZZY "text")
        raw = raw[-1] if raw else ""
    return _SPACES.sub(" ", text(raw)).strip()[:PREVIEW_LENGTH]


def summarize(item: dict[str, Any], folder: str) -> MessageSummary:
    envelope = item.get("ENVELOPE") or [None] * 10
    flags = [str(f) for f in item.get("FLAGS") or []]
    senders = addresses(envelope[2])
    return MessageSummary(
        uid=int(item["UID"]),
        folder=folder,
        subject=decode_words(envelope[1]),
        from_=senders[0] if senders else None,
        to=addresses(envelope[5]),
        cc=addresses(envelope[6]),
        date=header_date(envelope[0]) or internal_date(item.get("INTERNALDATE")),
        received_at=internal_date(item.get("INTERNALDATE")),
        message_id=text(envelope[9]) or None,
        in_reply_to=text(envelope[8]) or None,
        flags=flags,
        seen="\\Seen" in flags,
        flagged="\\Flagged" in flags,
        answered="\\Answered" in flags,
        draft="\\Draft" in flags,
        size=int(item.get("RFC822.SIZE") or 0),
        has_attachments=has_attachments(item.get("BODYSTRUCTURE")),
        preview=preview_of(item),
    )
