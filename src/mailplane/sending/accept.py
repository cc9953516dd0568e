"""From a send request to a message ready for the queue: who may send what to whom.

Pure checks and composition, no database: the endpoint runs this before it opens its
write transaction, so that composing MIME never holds the write lock.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Sequence
from datetime import datetime, timedelta
from email.utils import parseaddr

from mailplane.config import Settings
from mailplane.errors import Forbidden, InvalidInput
from mailplane.models.statuses import MessageSource, MessageType
from mailplane.names import normalize_address, reject_control_characters, split_address
from mailplane.sending.compose import Draft, Mailbox, Part, compose
from mailplane.sending.key_auth import SendKey
from mailplane.sending.queue import NewMessage
from mailplane.sending.schemas import Address, NamedAddress, SendRequest

MAX_METADATA_BYTES = 4096
# The common case (ASCII, lower case after folding) checked by a regex; anything else goes
# through names.normalize_address (email-validator), which costs ~20 times more.
_PLAIN = re.compile(
    r"^[a-z0-9!#$&'*+/=?^_`{|}~-]+(?:\.[a-z0-9!#$&'*+/=?^_`{|}~-]+)*"
    r"@(?=.{4,253}$)(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$"
)


def envelope_address(value: str, field: str) -> str:
    reject_control_characters(value, field)
    folded = value.strip().lower()
    if len(folded) <= 254 and _PLAIN.match(folded) and len(folded.partition("@")[0]) <= 64:
        return folded
    return normalize_address(value, field)


def mailbox_of(value: Address, field: str) -> Mailbox:
    if isinstance(value, NamedAddress):
        name = value.name or ""
        reject_control_characters(name, field)
        return Mailbox(envelope_address(value.email, field), name.strip())
    reject_control_characters(value, field)
    if "<" in value:
        name, address = parseaddr(value)
        if not address:
            raise InvalidInput(f"{value!r} is not an address", code="invalid_address")
        return Mailbox(envelope_address(address, field), name.strip())
    return Mailbox(envelope_address(value, field))


def _mailboxes(values: Sequence[Address], field: str) -> list[Mailbox]:
    return [mailbox_of(v, field) for v in values]


def _attachments(request: SendRequest, max_bytes: int) -> list[Part]:
    parts: list[Part] = []
    for index, attachment in enumerate(request.attachments):
        try:
            content = base64.b64decode(attachment.content, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise InvalidInput(
                f"attachments[{index}].content is not valid base64", code="invalid_attachment"
            ) from exc
        parts.append(
            Part(attachment.filename, content, attachment.content_type, attachment.content_id)
        )
    if sum(len(p.content) for p in parts) > max_bytes:
        raise InvalidInput("the attachments are too large", code="message_too_large")
    return parts


def send_time(send_at: datetime | None, settings: Settings, now: datetime) -> datetime | None:
    if send_at is None:
        return None
    if send_at.tzinfo is None:
        raise InvalidInput("send_at needs a time zone (e.g. Z)", code="invalid_send_at")
    if send_at <= now:
        return None
    if send_at - now > timedelta(hours=settings.send_max_schedule_hours):
        raise InvalidInput(
            f"send_at is more than {settings.send_max_schedule_hours:g} hours ahead",
            code="send_at_too_far",
        )
    return send_at


def check_sender(key: SendKey, sender: Mailbox) -> None:
    if split_address(sender.address)[1] != key.domain_name:
        raise Forbidden(f"this key sends as {key.domain_name} only", code="from_domain_not_allowed")
    if key.domain_refusal is not None:
        raise Forbidden(
            f"{key.domain_name} may not send now ({key.domain_refusal})", code=key.domain_refusal
        )


def check_recipients(key: SendKey, recipients: list[str], settings: Settings) -> None:
    if not recipients:
        raise InvalidInput("name at least one recipient in to, cc or bcc", code="no_recipients")
    if len(recipients) > settings.send_max_recipients:
        raise InvalidInput(
            f"at most {settings.send_max_recipients} recipients per message",
            code="too_many_recipients",
        )
    if key.is_form and not set(recipients) <= key.allowed_recipients:
        raise Forbidden(
            "this form key may only send to its allowed recipients",
            code="recipient_not_allowed",
        )


# RFC 8058 section 3.1: the one-click target is an HTTPS URI, and the POST header says so.
_HTTPS_TARGET = re.compile(r"<https://[^<>\s]+>")
ONE_CLICK = "List-Unsubscribe=One-Click"


def check_unsubscribe(
    request: SendRequest, message_type: MessageType, domain: str
) -> dict[str, str]:
    """The custom headers, plus List-Id; refuses bulk mail without a one-click target.

    ``unsubscribe: platform`` (the default): the engine adds each recipient's own
    List-Unsubscribe when it sends (unsubscribe/headers.py). ``own``, or a request that
    brings a List-Unsubscribe header of its own: it must be complete (RFC 8058)."""
    headers = dict(request.headers)
    by_name = {name.lower(): value for name, value in headers.items()}
    own = request.unsubscribe == "own" or "list-unsubscribe" in by_name
    if message_type == MessageType.BULK and (own or "list-unsubscribe-post" in by_name):
        target = by_name.get("list-unsubscribe", "")
        if not _HTTPS_TARGET.search(target) or by_name.get("list-unsubscribe-post") != ONE_CLICK:
            raise InvalidInput(
                'bulk mail needs a one-click unsubscribe: leave unsubscribe at "platform" '
                "(mailplane adds it), or give headers List-Unsubscribe with an <https://...> "
                f"URL and List-Unsubscribe-Post: {ONE_CLICK}",
                code="unsubscribe_required",
            )
    if request.list_id is not None:
        if message_type != MessageType.BULK:
            raise InvalidInput("list_id is for bulk mail (type bulk)", code="invalid_list_id")
        if "list-id" in by_name:
            raise InvalidInput(
                "give the list as list_id or as a List-Id header, not both",
                code="invalid_list_id",
            )
        headers["List-Id"] = f"<{request.list_id}.{domain}>"
    return headers


def prepare(key: SendKey, request: SendRequest, settings: Settings, now: datetime) -> NewMessage:
    sender = mailbox_of(request.from_, "from")
    check_sender(key, sender)
    to, cc, bcc = (
        _mailboxes(request.to, "to"),
        _mailboxes(request.cc, "cc"),
        _mailboxes(request.bcc, "bcc"),
    )
    # One envelope (one delivery) per distinct recipient; Bcc never becomes a header.
    recipients = list(dict.fromkeys(m.address for m in (*to, *cc, *bcc)))
    check_recipients(key, recipients, settings)
    reply_to = request.reply_to
    replies = [] if reply_to is None else reply_to if isinstance(reply_to, list) else [reply_to]
    if request.html is None and request.text is None:
        raise InvalidInput("give html, text or both", code="no_body")
    metadata_size = len(json.dumps(request.metadata, default=str))
    if metadata_size > MAX_METADATA_BYTES:
        raise InvalidInput(
            f"metadata is limited to {MAX_METADATA_BYTES} bytes", code="metadata_too_large"
        )
    max_bytes = settings.send_max_message_mb * 1024 * 1024
    message_type = MessageType(request.type or key.default_type)
    headers = check_unsubscribe(request, message_type, key.domain_name)
    draft = Draft(
        sender=sender,
        to=to,
        cc=cc,
        reply_to=_mailboxes(replies, "reply_to"),
        subject=request.subject,
        text=request.text,
        html=request.html,
        headers=headers,
        attachments=_attachments(request, max_bytes),
    )
    composed = compose(draft, now=now, domain=key.domain_name)
    if len(composed.raw) > max_bytes:
        raise InvalidInput(
            f"the message is larger than {settings.send_max_message_mb} MB",
            code="message_too_large",
        )
    return NewMessage(
        raw=composed.raw,
        recipients=recipients,
        source=MessageSource.API,
        message_id_header=composed.message_id_header,
        tenant_id=key.tenant_id,
        envelope_from=sender.address,
        header_from=sender.address,
        subject=request.subject,
        domain_id=key.domain_id,
        api_key_id=key.id,
        type=message_type,
        sign_domain=key.domain_name,
        tags=list(request.tags),
        metadata=dict(request.metadata),
        send_at=send_time(request.send_at, settings, now),
        list_id=request.list_id,
    )
