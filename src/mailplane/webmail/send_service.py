"""Sending and drafts for the webmail: the order of the steps, and what each may cost.

A send is: prepare (one short write transaction: the mailbox's name, the signature, a
minted mail token, committed before Dovecot introspects it), find the replied-to message
over IMAP, build the MIME, submit it over SMTP as the user (submission.py), keep a copy in
Sent, and count the contacts (a second short transaction). No database transaction is
open while the network is used: on SQLite a writer holds the one write lock.

Once SMTP has accepted the message it is sent: a failure after that (the copy in Sent)
is a warning in the answer, never an error that would make the user send it again.
"""

from __future__ import annotations

import base64
import binascii
import logging
from dataclasses import dataclass, field
from datetime import datetime
from email import policy
from email.parser import BytesParser

import anyio.to_thread

from mailplane.api.deps import MailboxUser
from mailplane.auth import mail_tokens
from mailplane.config import Settings
from mailplane.contacts import service as contacts
from mailplane.db import Database
from mailplane.errors import InvalidInput, NotFound, Unauthenticated
from mailplane.models import Mailbox
from mailplane.names import normalize_address, reject_control_characters
from mailplane.protocols.imap import ImapClient, ImapError, quote
from mailplane.signatures import service as signatures
from mailplane.webmail import compose, submission
from mailplane.webmail.compose import Address, Outgoing
from mailplane.webmail.send_schemas import MessageIn
from mailplane.webmail.submission import MessageTooLarge

log = logging.getLogger(__name__)

# The replied-to message is looked for in at most this many folders (INBOX first).
MAX_SEARCHED_FOLDERS = 25


@dataclass(frozen=True)
class Prepared:
    sender: Address
    signature: compose.SignatureText | None
    token: str | None


@dataclass(frozen=True)
class Parent:
    message_id: str
    references: list[str]
    sender: list[tuple[str, str]] = field(default_factory=list)  # (address, name)


def parse_recipient(value: str, field_name: str) -> Address:
    reject_control_characters(value, field_name)
    text = value.strip()
    name, address = "", text
    if text.endswith(">") and "<" in text:
        # "Name <address>": the name as typed (quotes dropped), one address in brackets.
        name, _, address = text[:-1].rpartition("<")
        name = name.strip()
        if len(name) >= 2 and name[0] == name[-1] == '"':
            name = name[1:-1].replace('\\"', '"')
    if any(c in address for c in "<>,") or any(c in name for c in "<>"):
        raise InvalidInput(f"{value!r} is not one e-mail address", code="invalid_address")
    return Address(normalize_address(address, field_name), name)


def attachments_of(body: MessageIn) -> list[compose.Attachment]:
    found = []
    for item in body.attachments:
        try:
            content = base64.b64decode("".join(item.content_base64.split()), validate=True)
        except (binascii.Error, ValueError) as exc:
            raise InvalidInput(
                f"attachment {item.filename!r} is not valid base64", code="invalid_attachment"
            ) from exc
        found.append(
            compose.Attachment(
                filename=item.filename,
                content_type=compose.check_content_type(item.content_type),
                content=content,
            )
        )
    return found


def outgoing_of(body: MessageIn, sender: Address) -> Outgoing:
    return Outgoing(
        sender=sender,
        to=[parse_recipient(r, "to") for r in body.to],
        cc=[parse_recipient(r, "cc") for r in body.cc],
        bcc=[parse_recipient(r, "bcc") for r in body.bcc],
        subject=body.subject,
        html=body.html,
        plain=body.plain,
        attachments=attachments_of(body),
        in_reply_to=compose.normalize_message_id(body.in_reply_to) if body.in_reply_to else None,
    )


def _prepare(
    database: Database,
    settings: Settings,
    user: MailboxUser,
    signature_id: int | str | None,
    recipients: list[str],
    now: datetime,
    *,
    mint: bool,
) -> Prepared:
    with database.transaction() as session:
        mailbox = session.get(Mailbox, user.mailbox_id)
        if mailbox is None or mailbox.tenant_id != user.tenant_id:
            raise Unauthenticated("this mailbox no longer exists", code="invalid_token")
        owner = signatures.Owner(tenant_id=user.tenant_id, mailbox_id=user.mailbox_id)
        chosen: signatures.SignatureView | None = None
        if isinstance(signature_id, int):
            chosen = signatures.get_signature(session, owner, signature_id)
        elif signature_id == "auto":
            chosen = (
                signatures.match_signature(session, owner, recipients).found
                if recipients
                else next(
                    (
                        v
                        for v in signatures.list_signatures(session, owner)
                        if v.signature.is_default
                    ),
                    None,
                )
            )
        token = None
        if mint:
            token = mail_tokens.mint(session, settings, mailbox, "webmail", now).access_token
        sender = Address(mailbox.email, mailbox.display_name or "")
        signature = (
            compose.SignatureText(chosen.signature.html, chosen.signature.text) if chosen else None
        )
        return Prepared(sender, signature, token)


async def prepare(
    database: Database,
    settings: Settings,
    user: MailboxUser,
    message: Outgoing,
    signature_id: int | str | None,
    now: datetime,
    *,
    mint: bool,
) -> Prepared:
    recipients = message.recipients()
    return await anyio.to_thread.run_sync(
        lambda: _prepare(database, settings, user, signature_id, recipients, now, mint=mint)
    )


async def special_folder(imap: ImapClient, special_use: str, fallback: str) -> str:
    for folder in await imap.list_folders():
        if folder.special_use == special_use:
            return folder.name
    return fallback


async def find_parent(imap: ImapClient, message_id: str) -> Parent | None:
    """The replied-to message, by a ``HEADER Message-ID`` search: INBOX, then the other
    folders (at most MAX_SEARCHED_FOLDERS). None when it is nowhere (then the id is used
    as given)."""
    folders = [f for f in await imap.list_folders() if f.selectable]
    names = ["INBOX"] + [f.name for f in folders if f.name.upper() != "INBOX"]
    for name in names[:MAX_SEARCHED_FOLDERS]:
        try:
            await imap.select(name, readonly=True)
            uids = await imap.search("HEADER", "Message-ID", quote(message_id))
            if not uids:
                continue
            items = await imap.fetch(
                str(uids[0]), "(BODY.PEEK[HEADER.FIELDS (MESSAGE-ID REFERENCES IN-REPLY-TO FROM)])"
            )
        except ImapError:
            continue
        header = next((v for item in items for k, v in item.items() if k.startswith("BODY[")), None)
        if not isinstance(header, bytes):
            continue
        parsed = BytesParser(policy=policy.default).parsebytes(header, headersonly=True)
        references = compose.parse_references(str(parsed.get("References", "")))
        if not references:
            references = compose.parse_references(str(parsed.get("In-Reply-To", "")))
        senders: list[tuple[str, str]] = []
        try:
            for item in getattr(parsed.get("From"), "addresses", ()):
                senders.append((str(item.addr_spec), str(item.display_name or "")))
        except (ValueError, IndexError):
            pass
        return Parent(message_id, references, senders)
    return None


def check_size(settings: Settings, raw: bytes) -> None:
    limit = settings.message_size_limit_mb * 1024 * 1024
    if len(raw) > limit:
        raise MessageTooLarge(
            f"the message is {len(raw)} bytes; at most {limit} bytes "
            f"({settings.message_size_limit_mb} MB, attachments included) can be sent",
            extra={"limit_bytes": limit, "size_bytes": len(raw)},
        )


def _record_contacts(
    database: Database,
    user: MailboxUser,
    sent: list[Address],
    received: list[tuple[str, str]],
    now: datetime,
) -> None:
    with database.transaction() as session:
        contacts.record(
            session,
            user.tenant_id,
            user.mailbox_id,
            [(b.address, b.name) for b in sent],
            "sent",
            now,
        )
        if received:
            contacts.record(session, user.tenant_id, user.mailbox_id, received, "received", now)


async def record_contacts(
    database: Database,
    user: MailboxUser,
    sent: list[Address],
    received: list[tuple[str, str]],
    now: datetime,
) -> None:
    """Best effort: the mail is sent; a failure here costs a suggestion, not the send."""
    try:
        await anyio.to_thread.run_sync(
            lambda: _record_contacts(database, user, sent, received, now)
        )
    except Exception:  # logged; the answer stays the send's
        log.exception("could not record the contacts of a webmail send")


async def keep_copy(
    imap: ImapClient,
    special_use: str,
    fallback: str,
    raw: bytes,
    flags: tuple[str, ...],
    now: datetime,
) -> tuple[str, int | None]:
    folder = await special_folder(imap, special_use, fallback)
    uid = await imap.append(folder, raw, flags=flags, when=now)
    return folder, uid


async def remove(imap: ImapClient, folder: str, uid: int) -> None:
    await imap.select(folder)
    await imap.store(str(uid), "+FLAGS", ["\\Deleted"])
    await imap.expunge_uids(str(uid))


async def fetch_draft(imap: ImapClient, folder: str, uid: int) -> bytes:
    await imap.select(folder)
    items = await imap.fetch(str(uid), "(UID BODY.PEEK[])")
    for item in items:
        if item.get("UID") == uid:
            raw = item.get("BODY[]")
            if isinstance(raw, bytes):
                return raw
    raise NotFound("no such draft", code="draft_not_found")


def submission_envelope(sender: Address, recipients: list[str]) -> submission.Envelope:
    if not recipients:
        raise InvalidInput("give at least one recipient (to, cc or bcc)", code="no_recipients")
    return submission.Envelope(sender=sender.address, recipients=recipients)
