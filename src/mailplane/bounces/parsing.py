"""Reading a bounce: RFC 3464's multipart/report with a message/delivery-status part
through the standard library; anything else (qmail, old Exchange, plain-text notices)
through flufl.bounce's detectors, with the status code and the reply taken from the
text. Auto-replies (RFC 3834 and the usual non-standard markers) are not bounces."""

from __future__ import annotations

import email
import email.policy
import re
from dataclasses import dataclass
from email.message import Message

from flufl.bounce import all_failures

from mailplane.bounces.classify import Classification, classify, enhanced_code

# Out-of-office subjects (Exchange, Outlook, Zimbra, ...), English, German, French.
_AUTO_SUBJECT = re.compile(
    r"^\s*(out of (the )?office|automatic reply|auto(matic)?[- ]?reply|autoreply|"
    r"abwesenheitsnotiz|automatische antwort|absence|r[ée]ponse automatique|vacation)",
    re.I,
)
_MAX_REPLY = 1000


@dataclass(frozen=True)
class Failure:
    """One recipient's line of a bounce."""

    recipient: str
    action: str  # failed, delayed (RFC 3464 section 2.3.3); "failed" when not stated
    status: str | None  # the enhanced code, 5.1.1
    reply: str  # the remote's text (Diagnostic-Code) as far as the bounce tells it
    remote_mta: str | None
    classification: Classification

    @property
    def delayed(self) -> bool:
        """A warning that the remote is still trying (RFC 3464 ``Action: delayed``): the
        delivery's status stays; a ``failed`` with a 4.x.x status is a soft bounce."""
        return self.action == "delayed"


@dataclass(frozen=True)
class Bounce:
    auto_reply: bool
    failures: list[Failure]


def read(raw: bytes) -> Bounce:
    message = email.message_from_bytes(raw, policy=email.policy.compat32)
    failures = _delivery_status(message)
    if failures:
        return Bounce(auto_reply=False, failures=failures)
    if _says_auto_reply(message):
        return Bounce(auto_reply=True, failures=[])
    failures = _non_standard(message)
    if failures:
        return Bounce(auto_reply=False, failures=failures)
    # RFC 3834 section 5: anything but "no" is automatic. Non-standard bounces say
    # "auto-replied" too, so this marker alone decides only when no failure was found.
    auto = (message.get("Auto-Submitted") or "").strip().lower()
    return Bounce(auto_reply=auto.startswith("auto-replied"), failures=[])


def _says_auto_reply(message: Message) -> bool:
    """The markers only auto-responders use (vacation, Exchange, Zimbra, ...)."""
    if message.get("X-Autoreply") or message.get("X-Autorespond"):
        return True
    if (message.get("Precedence") or "").strip().lower() == "auto_reply":
        return True
    return bool(_AUTO_SUBJECT.match(_header_text(message.get("Subject") or "")))


def _header_text(value: str) -> str:
    try:
        return str(email.header.make_header(email.header.decode_header(value)))
    except (ValueError, LookupError, email.errors.HeaderParseError):
        return value


def _one_line(value: str) -> str:
    return " ".join(value.split())[:_MAX_REPLY]


def _address(value: str) -> str:
    """``rfc822; user@example.com`` -> ``user@example.com``."""
    return value.split(";", 1)[-1].strip().strip("<>").strip().lower()


def _mta(value: str | None) -> str | None:
    return value.split(";", 1)[-1].strip()[:253] or None if value else None


def _delivery_status(message: Message) -> list[Failure]:
    """RFC 3464 section 2: the message/delivery-status part is a per-message block then
    one block per recipient; the parser gives them as sub-messages of the part."""
    failures: list[Failure] = []
    for part in message.walk():
        if part.get_content_type() != "message/delivery-status":
            continue
        payload = part.get_payload()
        blocks = [b for b in payload if isinstance(b, Message)] if isinstance(payload, list) else []
        if not blocks:
            continue
        per_message = blocks[0]
        reporting = _mta(per_message.get("Reporting-MTA"))
        for block in blocks[1:]:
            recipient = block.get("Final-Recipient") or block.get("Original-Recipient")
            if not recipient:
                continue
            action = (block.get("Action") or "failed").strip().lower()
            if action not in ("failed", "delayed"):
                continue  # delivered, relayed, expanded: not a failure
            diagnostic = _one_line(block.get("Diagnostic-Code") or "")
            reply = diagnostic.split(";", 1)[1].strip() if ";" in diagnostic else diagnostic
            status = enhanced_code(block.get("Status") or "") or enhanced_code(reply)
            failures.append(
                Failure(
                    recipient=_address(recipient),
                    action=action,
                    status=status,
                    reply=reply or (block.get("Status") or "").strip(),
                    remote_mta=_mta(block.get("Remote-MTA")) or reporting,
                    classification=classify(status, reply),
                )
            )
    return failures


# "550 5.1.1 <x@y>: user unknown" and similar: the first line with an SMTP reply code.
_REPLY_LINE = re.compile(r"\b([45]\d\d)[ -]((?:[45]\.\d{1,3}\.\d{1,3} )?.*)")
_REMOTE_HOST = re.compile(r"\b(?:host|server|remote)\s+\[?([a-z0-9.-]+\.[a-z]{2,})\]?", re.I)


def _non_standard(message: Message) -> list[Failure]:
    temporary, permanent = all_failures(message)
    text = _text_of(message)
    reply_match = _REPLY_LINE.search(text)
    reply = _one_line(reply_match.group(0)) if reply_match else _first_reason(text)
    status = enhanced_code(reply)
    host = _REMOTE_HOST.search(text)
    failures = []
    for found, delayed in [(permanent, False), (temporary - permanent, True)]:
        for raw_address in sorted(found):
            address = raw_address.decode() if isinstance(raw_address, bytes) else raw_address
            code = status if status or not delayed else "4.0.0"
            failures.append(
                Failure(
                    recipient=address.strip("<>").lower(),
                    action="delayed" if delayed else "failed",
                    status=code,
                    reply=reply,
                    remote_mta=host.group(1).lower() if host else None,
                    classification=classify(code, reply),
                )
            )
    return failures


def _text_of(message: Message) -> str:
    chunks = []
    for part in message.walk():
        if part.get_content_maintype() == "text" and part.get_content_type() != "text/html":
            payload = part.get_payload(decode=True)
            if isinstance(payload, bytes):
                chunks.append(payload.decode(part.get_content_charset() or "utf-8", "replace"))
        if part.get_content_type() in ("message/rfc822", "text/rfc822-headers"):
            break  # the returned original follows: its text is not the reason
    return "\n".join(chunks)


def _first_reason(text: str) -> str:
    for line in text.splitlines():
        stripped = line.strip()
        if len(stripped) > 10 and not stripped.lower().startswith(("hi", "this is", "hello")):
            return _one_line(stripped)
    return ""
