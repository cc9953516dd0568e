"""Reading one message: the message view, its parts and its raw source.

Everything goes through the IMAP pool as the logged-in mailbox itself (XOAUTH2 with a token
minted for that mailbox), so another mailbox's mail is out of reach by construction: a
folder or UID of someone else names this user's own (absent) folder or message, a 404.

Opening a message marks it \\Seen, as a mail client does; ``?mark_seen=false`` reads it
without (the folder is then EXAMINEd, read-only). The body is always fetched with
``BODY.PEEK[]``, so only the explicit STORE sets the flag.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Annotated, Literal
from urllib.parse import quote

from fastapi import APIRouter, Header, Path, Query, Request, Response
from fastapi.concurrency import run_in_threadpool

from mailplane.api.deps import (
    MailboxUser,
    MailboxUserDep,
    SettingsDep,
    bearer_token,
    get_database,
    mailbox_user_from_token,
)
from mailplane.auth.mail_tokens import mailbox_may_log_in
from mailplane.config import Settings
from mailplane.db import Database
from mailplane.errors import InvalidInput, NotFound, Unauthenticated
from mailplane.models import Mailbox
from mailplane.protocols.imap import ImapClient, ImapCommandError
from mailplane.webmail import part_links
from mailplane.webmail.message_views import MessageOut
from mailplane.webmail.pool import ImapPool
from mailplane.webmail.reading import PartContent, part_content, read_message

PREFIX = "/api/v1/mail/webmail"
router = APIRouter(prefix=PREFIX, tags=["webmail"])

Uid = Annotated[int, Path(gt=0, le=4_294_967_295, description="IMAP UID (RFC 3501: 32 bit)")]
# IMAP section numbers: RFC 3501 section-part, "1", "2.1.3"; bounded so a URL stays small.
_PART = re.compile(r"[1-9][0-9]{0,3}(?:\.[1-9][0-9]{0,3}){0,15}")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_MIME_TYPE = re.compile(r"[a-z0-9][a-z0-9!#$&^_.+-]*/[a-z0-9][a-z0-9!#$&^_.+-]*")
# Raster images a browser may show inline; SVG is a document that can hold script.
_INLINE_IMAGES = frozenset(
    {"image/png", "image/jpeg", "image/gif", "image/webp", "image/bmp", "image/avif"}
)
_SAFE_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    # Opened directly, a hostile part gets a unique origin with no script (CSP sandbox).
    "Content-Security-Policy": "sandbox",
    "Cache-Control": "private, no-store",
}


@router.get("/messages/{folder:path}/{uid:int}/raw", response_class=Response)
async def raw_message(folder: str, uid: Uid, request: Request, user: MailboxUserDep) -> Response:
    """The message as it is stored (message/rfc822), as a download."""
    raw = await _fetch_raw(_pool(request), user, _folder(folder), uid)
    return Response(
        raw,
        media_type="message/rfc822",
        headers={**_SAFE_HEADERS, "Content-Disposition": _disposition("attachment",
                                                                        f"message-{uid}.eml")},
    )  # fmt: skip


@router.get("/messages/{folder:path}/{uid:int}/attachments/{part}", response_class=Response)
async def attachment(
    folder: str,
    uid: Uid,
    part: str,
    request: Request,
    settings: SettingsDep,
    authorization: Annotated[str | None, Header()] = None,
    m: Annotated[int | None, Query(description="signed links: the mailbox")] = None,
    expires: Annotated[int | None, Query(description="signed links: expiry")] = None,
    sig: Annotated[str | None, Query(max_length=128, description="signed links")] = None,
) -> Response:
    """One part's decoded bytes, always as a download."""
    name, number = _folder(folder), _part(part)
    user = await _reader(request, settings, name, uid, number, authorization, m, expires, sig)
    content = await _load_part(request, user, name, uid, number)
    return _part_response(content, inline=False)


@router.get("/messages/{folder:path}/{uid:int}/parts/{part}", response_class=Response)
async def inline_part(
    folder: str,
    uid: Uid,
    part: str,
    request: Request,
    settings: SettingsDep,
    authorization: Annotated[str | None, Header()] = None,
    m: Annotated[int | None, Query(description="signed links: the mailbox")] = None,
    expires: Annotated[int | None, Query(description="signed links: expiry")] = None,
    sig: Annotated[str | None, Query(max_length=128, description="signed links")] = None,
) -> Response:
    """One part for showing in place (the cid: images of the HTML body): inline only for
    raster images, a download for anything else."""
    name, number = _folder(folder), _part(part)
    user = await _reader(request, settings, name, uid, number, authorization, m, expires, sig)
    content = await _load_part(request, user, name, uid, number)
    return _part_response(content, inline=content.content_type in _INLINE_IMAGES)


@router.get("/messages/{folder:path}/{uid:int}", response_model=MessageOut)
async def read(
    folder: str,
    uid: Uid,
    request: Request,
    user: MailboxUserDep,
    settings: SettingsDep,
    images: Annotated[Literal["blocked", "remote"], Query()] = "blocked",
    mark_seen: bool = True,
) -> MessageOut:
    """One message, its HTML sanitized (remote images blocked unless ``images=remote``)."""
    name = _folder(folder)
    async with _pool(request).connection(user) as imap:
        await _select(imap, name, readonly=not mark_seen)
        found = await imap.fetch(str(uid), "(UID FLAGS RFC822.SIZE BODY.PEEK[])")
        item = _only(found, uid)
        listed = item.get("FLAGS")
        flags = [str(flag) for flag in listed] if isinstance(listed, list) else []
        if mark_seen and "\\Seen" not in flags:
            await imap.store(str(uid), "+FLAGS", ["\\Seen"])
            flags.append("\\Seen")
    raw = _body(item)
    now = datetime.now(UTC)
    base = str(request.base_url).rstrip("/")

    def link(kind: str) -> Callable[[str], str]:
        def url(part: str) -> str:
            expires, signature = part_links.sign(settings, user.mailbox_id, name, uid, part, now)
            path = f"{PREFIX}/messages/{quote(name, safe='')}/{uid}/{kind}/{part}"
            return f"{base}{path}?m={user.mailbox_id}&expires={expires}&sig={signature}"

        return url

    part_url = link("parts")
    attachment_url = link("attachments")
    message = read_message(raw, remote_images=images == "remote", part_url=part_url)
    size = item.get("RFC822.SIZE")
    return MessageOut.of(
        name, uid, flags, size if isinstance(size, int) else None, message, attachment_url
    )


# Helpers ------------------------------------------------------------------------------


def _pool(request: Request) -> ImapPool:
    pool = request.app.state.imap_pool
    assert isinstance(pool, ImapPool)
    return pool


def _folder(folder: str) -> str:
    if not folder or len(folder) > 1000 or _CONTROL.search(folder):
        raise InvalidInput("not a folder name", code="invalid_folder")
    return folder


def _part(part: str) -> str:
    if not _PART.fullmatch(part):
        raise InvalidInput("a part is an IMAP section number like 2 or 1.2", code="invalid_part")
    return part


async def _select(imap: ImapClient, folder: str, *, readonly: bool) -> None:
    try:
        await imap.select(folder, readonly=readonly)
    except ImapCommandError as error:
        # NONEXISTENT, or a name the server will not take: either way no such folder here.
        raise NotFound(f"no folder {folder!r}", code="folder_not_found") from error


def _only(found: list[dict[str, object]], uid: int) -> dict[str, object]:
    for item in found:
        # A UID FETCH of a UID past the last one answers the last message (RFC 3501 "*"
        # semantics do not apply to a plain number, but check the UID anyway).
        if item.get("UID") == uid:
            return item
    raise NotFound(f"no message {uid} in this folder", code="message_not_found")


def _body(item: dict[str, object]) -> bytes:
    body = item.get("BODY[]")
    if isinstance(body, bytes):
        return body
    if isinstance(body, str):
        return body.encode("utf-8", "surrogateescape")
    return b""


async def _fetch_raw(pool: ImapPool, user: MailboxUser, folder: str, uid: int) -> bytes:
    async with pool.connection(user) as imap:
        await _select(imap, folder, readonly=True)
        found = await imap.fetch(str(uid), "(UID BODY.PEEK[])")
    return _body(_only(found, uid))


async def _load_part(
    request: Request, user: MailboxUser, folder: str, uid: int, number: str
) -> PartContent:
    raw = await _fetch_raw(_pool(request), user, folder, uid)
    content = part_content(raw, number)
    if content is None:
        raise NotFound(f"message {uid} has no part {number}", code="part_not_found")
    return content


async def _reader(
    request: Request,
    settings: Settings,
    folder: str,
    uid: int,
    part: str,
    authorization: str | None,
    mailbox_id: int | None,
    expires: int | None,
    signature: str | None,
) -> MailboxUser:
    """The Bearer token's mailbox, or the mailbox of a valid signed link to this part."""
    database = get_database(request)
    if signature is None or mailbox_id is None or expires is None:
        token = bearer_token(authorization)
        return await run_in_threadpool(mailbox_user_from_token, database, settings, token)
    now = datetime.now(UTC)
    if not part_links.verify(settings, mailbox_id, folder, uid, part, expires, signature, now):
        raise Unauthenticated("this link is not valid or has expired", code="invalid_link")
    return await run_in_threadpool(_link_user, database, mailbox_id)


def _link_user(database: Database, mailbox_id: int) -> MailboxUser:
    with database.session(write=False) as session:
        mailbox = session.get(Mailbox, mailbox_id)
        if mailbox is None or not mailbox_may_log_in(session, mailbox):
            raise Unauthenticated("this mailbox cannot log in", code="account_disabled")
        return MailboxUser(mailbox.id, mailbox.tenant_id, mailbox.email)


def _part_response(content: PartContent, *, inline: bool) -> Response:
    media_type = content.content_type
    if not _MIME_TYPE.fullmatch(media_type):
        media_type = "application/octet-stream"
    disposition = _disposition("inline" if inline else "attachment", content.filename)
    return Response(
        content.data,
        media_type=media_type,
        headers={**_SAFE_HEADERS, "Content-Disposition": disposition},
    )


def _disposition(kind: str, filename: str) -> str:
    """RFC 6266 with an RFC 5987 UTF-8 name and a plain ASCII fallback for old clients."""
    clean = _CONTROL.sub("", filename) or "download"
    fallback = clean.encode("ascii", "replace").decode().replace('"', "'").replace("\\", "_")
    return f"{kind}; filename=\"{fallback}\"; filename*=UTF-8''{quote(clean, safe='')}"
