"""/api/v1/mail/webmail/send and /drafts: writing mail as the logged-in mailbox user."""

from __future__ import annotations

import logging

from fastapi import APIRouter, Request

from mailplane.api.deps import ClockDep, MailboxUserDep, SettingsDep, get_database
from mailplane.api.params import PathId
from mailplane.api.responses import ERRORS
from mailplane.protocols.imap import ImapError
from mailplane.webmail import compose, send_service, submission
from mailplane.webmail.compose import Address, Built
from mailplane.webmail.pool import ImapPool
from mailplane.webmail.send_schemas import DraftOut, MessageIn, SentOut

log = logging.getLogger(__name__)

router = APIRouter(prefix="/api/v1/mail/webmail", tags=["webmail"], responses=ERRORS)

SENT = ("\\Sent", "Sent")
DRAFTS = ("\\Drafts", "Drafts")


def _pool(request: Request) -> ImapPool:
    pool: ImapPool = request.app.state.imap_pool
    return pool


async def _deliver_and_keep(
    request: Request,
    settings: SettingsDep,
    user: MailboxUserDep,
    built: Built,
    recipients: list[str],
    sender: Address,
    token: str | None,
    clock: ClockDep,
) -> SentOut:
    send_service.check_size(settings, built.raw)
    assert token is not None
    await submission.submit(
        settings, send_service.submission_envelope(sender, recipients), built.raw, token=token
    )
    folder, uid, warning = SENT[1], None, None
    try:
        async with _pool(request).connection(user) as imap:
            folder, uid = await send_service.keep_copy(
                imap, *SENT, built.own_copy(), ("\\Seen",), clock()
            )
    except Exception as exc:  # sent is sent: the copy is a warning, not an error
        log.warning("sent %s but could not keep a copy in Sent: %s", built.message_id, exc)
        warning = f"the message was sent, but no copy could be saved in {folder}"
    return SentOut(message_id=built.message_id, sent_folder=folder, uid=uid, warning=warning)


@router.post("/send", response_model=SentOut)
async def send(
    request: Request,
    settings: SettingsDep,
    user: MailboxUserDep,
    clock: ClockDep,
    body: MessageIn,
) -> SentOut:
    """Sends as the user through the platform's submission service, then saves a copy in
    Sent (``\\Seen``). Bcc recipients get it but never see themselves in a header."""
    database = get_database(request)
    now = clock()
    placeholder = Address(user.email)
    message = send_service.outgoing_of(body, placeholder)
    recipients = send_service.submission_envelope(placeholder, message.recipients()).recipients
    prepared = await send_service.prepare(
        database, settings, user, message, body.signature_id, now, mint=True
    )
    message.sender = prepared.sender
    if prepared.signature is not None:
        compose.with_signature(message, prepared.signature)
    parent_senders: list[tuple[str, str]] = []
    if message.in_reply_to:
        try:
            async with _pool(request).connection(user) as imap:
                parent = await send_service.find_parent(imap, message.in_reply_to)
        except ImapError as exc:
            log.warning("could not look up the replied-to message: %s", exc)
            parent = None
        if parent is not None:
            message.references = parent.references
            parent_senders = parent.sender
    built = compose.build(message, now=now)
    answer = await _deliver_and_keep(
        request, settings, user, built, recipients, prepared.sender, prepared.token, clock
    )
    await send_service.record_contacts(
        database, user, [*message.to, *message.cc, *message.bcc], parent_senders, now
    )
    return answer


async def _save_draft(
    request: Request,
    settings: SettingsDep,
    user: MailboxUserDep,
    now_clock: ClockDep,
    body: MessageIn,
) -> tuple[Built, str, int | None]:
    now = now_clock()
    message = send_service.outgoing_of(body, Address(user.email))
    prepared = await send_service.prepare(
        get_database(request), settings, user, message, body.signature_id, now, mint=False
    )
    message.sender = prepared.sender
    if prepared.signature is not None:
        compose.with_signature(message, prepared.signature)
    built = compose.build(message, now=now)
    send_service.check_size(settings, built.own_copy())
    async with _pool(request).connection(user) as imap:
        folder, uid = await send_service.keep_copy(
            imap, *DRAFTS, built.own_copy(), ("\\Draft", "\\Seen"), now
        )
    return built, folder, uid


@router.post("/drafts", response_model=DraftOut, status_code=201)
async def save_draft(
    request: Request,
    settings: SettingsDep,
    user: MailboxUserDep,
    clock: ClockDep,
    body: MessageIn,
) -> DraftOut:
    """Keeps the message in Drafts (``\\Draft \\Seen``); nothing is required. Read it back
    with the message routes; Bcc is kept in the draft's header until it is sent."""
    built, folder, uid = await _save_draft(request, settings, user, clock, body)
    return DraftOut(uid=uid, folder=folder, message_id=built.message_id)


@router.put("/drafts/{uid}", response_model=DraftOut)
async def replace_draft(
    request: Request,
    settings: SettingsDep,
    user: MailboxUserDep,
    clock: ClockDep,
    uid: PathId,
    body: MessageIn,
) -> DraftOut:
    """Saves the new version, then deletes the old one: a failure in between leaves two
    drafts, never none."""
    async with _pool(request).connection(user) as imap:
        folder = await send_service.special_folder(imap, *DRAFTS)
        await send_service.fetch_draft(imap, folder, uid)  # 404 for a missing one
    built, folder, new_uid = await _save_draft(request, settings, user, clock, body)
    async with _pool(request).connection(user) as imap:
        await send_service.remove(imap, folder, uid)
    return DraftOut(uid=new_uid, folder=folder, message_id=built.message_id)


@router.post("/drafts/{uid}/send", response_model=SentOut)
async def send_draft(
    request: Request,
    settings: SettingsDep,
    user: MailboxUserDep,
    clock: ClockDep,
    uid: PathId,
) -> SentOut:
    """Sends the draft as it is stored (its signature was added when it was saved), then
    removes it from Drafts."""
    database = get_database(request)
    now = clock()
    async with _pool(request).connection(user) as imap:
        drafts = await send_service.special_folder(imap, *DRAFTS)
        raw = await send_service.fetch_draft(imap, drafts, uid)
    placeholder = Address(user.email)
    redrafted = compose.redraft(raw, placeholder, now=now)
    recipients = send_service.submission_envelope(placeholder, redrafted.recipients()).recipients
    empty = compose.Outgoing(sender=placeholder)
    prepared = await send_service.prepare(database, settings, user, empty, None, now, mint=True)
    redrafted = compose.redraft(raw, prepared.sender, now=now)
    answer = await _deliver_and_keep(
        request, settings, user, redrafted.built, recipients, prepared.sender, prepared.token, clock
    )
    try:
        async with _pool(request).connection(user) as imap:
            await send_service.remove(imap, drafts, uid)
    except ImapError as exc:
        log.warning("sent draft %s but could not remove it: %s", uid, exc)
        answer.warning = (answer.warning or "") + " the draft could not be removed from Drafts"
    await send_service.record_contacts(
        database, user, [*redrafted.to, *redrafted.cc, *redrafted.bcc], [], now
    )
    return answer
