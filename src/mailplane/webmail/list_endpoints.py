"""Message lists (newest first, by page), threads, search, and what a user does to a
message in a list: flags, move, delete.

Pages are sequence ranges counted from the end of the folder, so page 1000 of a folder
of 50,000 messages costs one FETCH of 50 entries, like page 1: no SEARCH ALL, no sort
of every UID.
"""

from __future__ import annotations

import math
from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Query

from mailplane.api.deps import MailboxUserDep
from mailplane.api.responses import ERRORS
from mailplane.errors import InvalidInput, NotFound
from mailplane.protocols.imap import ImapClient, Literal, quote
from mailplane.webmail.imap_access import (
    PoolDep,
    folder_name,
    imap_session,
    message_uid,
    require_message,
    select_folder,
)
from mailplane.webmail.list_schemas import (
    DeletedOut,
    FlagsChange,
    FlagsOut,
    MessagePage,
    MessageSummary,
    MovedOut,
    MoveRequest,
    ThreadOut,
    ThreadPage,
)
from mailplane.webmail.summaries import summarize, summary_items

router = APIRouter(prefix="/api/v1/mail/webmail", tags=["webmail"], responses=ERRORS)

Page = Annotated[int, Query(ge=1, le=1_000_000)]
PerPage = Annotated[int, Query(ge=1, le=200)]
SearchText = Annotated[str | None, Query(max_length=500)]
# What a flag change may touch: \Deleted and \Recent belong to delete and the server.
SETTABLE_SYSTEM_FLAGS = frozenset({"\\Seen", "\\Answered", "\\Flagged", "\\Draft"})


async def _summaries(client: ImapClient, folder: str, uids: list[int]) -> list[MessageSummary]:
    """Summaries of these UIDs, in the order given."""
    if not uids:
        return []
    ids = ",".join(str(uid) for uid in uids)
    items = await client.fetch(ids, summary_items(client.capabilities))
    by_uid = {int(item["UID"]): summarize(item, folder) for item in items if "UID" in item}
    return [by_uid[uid] for uid in uids if uid in by_uid]


def _pages(total: int, per_page: int) -> int:
    return max(1, math.ceil(total / per_page))


@router.get("/messages", response_model=MessagePage)
async def list_messages_by_query(
    user: MailboxUserDep,
    pool: PoolDep,
    folder: Annotated[str, Query(max_length=255)] = "INBOX",
    page: Page = 1,
    per_page: PerPage = 50,
) -> MessagePage:
    """The same as /messages/{folder}, for a folder whose name would read as a UID."""
    return await list_messages(folder, user, pool, page, per_page)


@router.get("/messages/{folder:path}", response_model=MessagePage)
async def list_messages(
    folder: str, user: MailboxUserDep, pool: PoolDep, page: Page = 1, per_page: PerPage = 50
) -> MessagePage:
    """Messages of a folder, newest first (by arrival), ``per_page`` at a time."""
    name = folder_name(folder)
    async with imap_session(pool, user) as client:
        total = await select_folder(client, name, readonly=True)
        high = total - (page - 1) * per_page
        messages: list[MessageSummary] = []
        if high >= 1:
            low = max(1, high - per_page + 1)
            items = await client.fetch(
                f"{low}:{high}", summary_items(client.capabilities), uid=False
            )
            items.sort(key=lambda item: int(item["SEQ"]), reverse=True)
            messages = [summarize(item, name) for item in items if "UID" in item]
    return MessagePage(
        folder=name,
        page=page,
        per_page=per_page,
        total=total,
        pages=_pages(total, per_page),
        messages=messages,
    )


def _flatten(node: Any) -> list[int]:
    if isinstance(node, list):
        return [uid for child in node for uid in _flatten(child)]
    return [int(node)]


@router.get("/threads/{folder:path}", response_model=ThreadPage)
async def list_threads(
    folder: str, user: MailboxUserDep, pool: PoolDep, page: Page = 1, per_page: PerPage = 25
) -> ThreadPage:
    """Conversations (RFC 5256 REFERENCES: References, In-Reply-To, then subject), the one
    with the newest message first."""
    name = folder_name(folder)
    async with imap_session(pool, user) as client:
        await select_folder(client, name, readonly=True)
        threads = [_flatten(node) for node in await client.thread("REFERENCES", "ALL")]
        threads = [uids for uids in threads if uids]
        threads.sort(key=max, reverse=True)
        chosen = threads[(page - 1) * per_page : page * per_page]
        wanted = sorted({uid for uids in chosen for uid in uids}, reverse=True)
        summaries = {s.uid: s for s in await _summaries(client, name, wanted)}
    out = []
    for uids in chosen:
        messages = [summaries[uid] for uid in sorted(uids, reverse=True) if uid in summaries]
        if not messages:
            continue
        out.append(
            ThreadOut(
                thread_id=uids[0],
                count=len(uids),
                unseen=sum(1 for m in messages if not m.seen),
                uids=sorted(uids),
                latest=messages[0],
                messages=messages,
            )
        )
    return ThreadPage(
        folder=name,
        page=page,
        per_page=per_page,
        total=len(threads),
        pages=_pages(len(threads), per_page),
        threads=out,
    )


def _imap_date(value: date) -> str:
    return value.strftime("%d-%b-%Y")


def _criteria(
    sender: str | None,
    to: str | None,
    subject: str | None,
    body: str | None,
    text: str | None,
    since: date | None,
    before: date | None,
    unseen: bool | None,
    flagged: bool | None,
) -> list[str | Literal]:
    criteria: list[str | Literal] = []
    for key, value in (
        ("FROM", sender),
        ("TO", to),
        ("SUBJECT", subject),
        ("BODY", body),
        ("TEXT", text),
    ):
        if value is not None and value.strip():
            if any(ord(c) < 0x20 for c in value):
                raise InvalidInput(
                    "search terms may not contain control characters", code="invalid_search"
                )
            criteria += [key, quote(value.strip())]
    if since is not None:
        criteria += ["SINCE", _imap_date(since)]
    if before is not None:
        criteria += ["BEFORE", _imap_date(before)]
    if unseen is not None:
        criteria.append("UNSEEN" if unseen else "SEEN")
    if flagged is not None:
        criteria.append("FLAGGED" if flagged else "UNFLAGGED")
    return criteria or ["ALL"]


@router.get("/search/{folder:path}", response_model=MessagePage)
async def search_messages(
    folder: str,
    user: MailboxUserDep,
    pool: PoolDep,
    sender: Annotated[str | None, Query(alias="from", max_length=500)] = None,
    to: SearchText = None,
    subject: SearchText = None,
    body: SearchText = None,
    text: SearchText = None,
    since: date | None = None,
    before: date | None = None,
    unseen: bool | None = None,
    flagged: bool | None = None,
    page: Page = 1,
    per_page: PerPage = 50,
) -> MessagePage:
    """Messages matching every given criterion, newest first. ``text`` searches headers
    and body; dates are days (``since`` inclusive, ``before`` exclusive)."""
    name = folder_name(folder)
    criteria = _criteria(sender, to, subject, body, text, since, before, unseen, flagged)
    async with imap_session(pool, user) as client:
        await select_folder(client, name, readonly=True)
        found = sorted(await client.search(*criteria), reverse=True)
        chosen = found[(page - 1) * per_page : page * per_page]
        messages = await _summaries(client, name, chosen)
    return MessagePage(
        folder=name,
        page=page,
        per_page=per_page,
        total=len(found),
        pages=_pages(len(found), per_page),
        messages=messages,
    )


def _flag_lists(body: FlagsChange) -> tuple[list[str], list[str]]:
    add = list(dict.fromkeys([*body.flags, *body.add]))
    remove = list(dict.fromkeys(body.remove))
    for flag in (*add, *remove):
        if flag.startswith("\\") and flag not in SETTABLE_SYSTEM_FLAGS:
            raise InvalidInput(
                f"{flag} cannot be set here (settable: {', '.join(sorted(SETTABLE_SYSTEM_FLAGS))}"
                " and keywords)",
                code="invalid_flag",
            )
    if not add and not remove:
        raise InvalidInput("name flags to add or remove", code="no_flags")
    return add, remove


@router.post("/messages/{folder:path}/{uid:int}/flags", response_model=FlagsOut)
async def change_flags(
    folder: str, uid: int, user: MailboxUserDep, pool: PoolDep, body: FlagsChange
) -> FlagsOut:
    """Adds (``flags`` or ``add``) and removes (``remove``) flags: \\Seen, \\Flagged,
    \\Answered, \\Draft and keywords such as $Label1."""
    add, remove = _flag_lists(body)
    name = folder_name(folder)
    async with imap_session(pool, user) as client:
        await select_folder(client, name, readonly=False)
        await require_message(client, message_uid(uid))
        if add:
            await client.store(str(uid), "+FLAGS", add)
        if remove:
            await client.store(str(uid), "-FLAGS", remove)
        current = await require_message(client, uid)
    flags = current.get("FLAGS")
    return FlagsOut(uid=uid, flags=[str(f) for f in flags] if isinstance(flags, list) else [])


async def _folder_with_role(client: ImapClient, role: str, fallback: str) -> str:
    for folder in await client.list_folders():
        if folder.special_use == role:
            return folder.name
    return fallback


@router.post("/messages/{folder:path}/{uid:int}/move", response_model=MovedOut)
async def move_message(
    folder: str, uid: int, user: MailboxUserDep, pool: PoolDep, body: MoveRequest
) -> MovedOut:
    name, target = folder_name(folder), folder_name(body.target)
    if name == target:
        raise InvalidInput("the message is in this folder already", code="same_folder")
    async with imap_session(pool, user) as client:
        if not any(f.name == target for f in await client.list_folders()):
            raise NotFound("the target folder does not exist", code="target_folder_not_found")
        await select_folder(client, name, readonly=False)
        await require_message(client, message_uid(uid))
        moved = await client.move(str(uid), target)
    return MovedOut(folder=target, uid=moved.get(uid))


@router.delete("/messages/{folder:path}/{uid:int}", response_model=DeletedOut)
async def delete_message(folder: str, uid: int, user: MailboxUserDep, pool: PoolDep) -> DeletedOut:
    """Moves the message to Trash; in Trash, deletes it for good."""
    name = folder_name(folder)
    async with imap_session(pool, user) as client:
        trash = await _folder_with_role(client, "\\Trash", "Trash")
        await select_folder(client, name, readonly=False)
        await require_message(client, message_uid(uid))
        if name == trash:
            await client.store(str(uid), "+FLAGS", ["\\Deleted"])
            await client.expunge_uids(str(uid))
            return DeletedOut(deleted="permanently")
        moved = await client.move(str(uid), trash)
    return DeletedOut(deleted="moved_to_trash", trash_uid=moved.get(uid))
