"""How webmail endpoints reach the user's IMAP session: the pool, error mapping, folder
names and UIDs as they arrive in URLs."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, Request

from mailplane.api.deps import MailboxUser
from mailplane.errors import Conflict, InvalidInput, NotFound, Overloaded
from mailplane.protocols.imap import ImapClient, ImapCommandError, ImapConnectionError
from mailplane.webmail.pool import ImapPool

# RFC 3501 does not bound names; Dovecot refuses very long ones, and a path segment in a
# URL should stay readable. 255 characters of Unicode is what common clients allow.
MAX_FOLDER_NAME = 255
MAX_UID = 2**32 - 1  # RFC 3501 section 2.3.1.1: a 32-bit value


def get_pool(request: Request) -> ImapPool:
    pool: ImapPool = request.app.state.imap_pool
    return pool


PoolDep = Annotated[ImapPool, Depends(get_pool)]


@contextlib.asynccontextmanager
async def imap_session(pool: ImapPool, user: MailboxUser) -> AsyncIterator[ImapClient]:
    """The user's pooled IMAP connection; IMAP failures become the API's errors."""
    try:
        async with pool.connection(user) as client:
            yield client
    except ImapConnectionError as exc:
        raise Overloaded(
            "the connection to the mail server failed; nothing was changed, retry",
            retry_after=1,
        ) from exc
    except ImapCommandError as exc:
        if exc.missing_mailbox:
            raise NotFound("this folder does not exist", code="folder_not_found") from exc
        raise Conflict(f"the mail server refused: {exc.text}", code="mail_server_refused") from exc


def folder_name(raw: str) -> str:
    """A folder name from a URL or body: Unicode, without control characters or IMAP
    wildcards, no empty hierarchy levels."""
    name = raw.strip()
    if not name:
        raise InvalidInput("a folder name is required", code="invalid_folder")
    if len(name) > MAX_FOLDER_NAME:
        raise InvalidInput(
            f"a folder name has at most {MAX_FOLDER_NAME} characters", code="invalid_folder"
        )
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in name) or any(c in name for c in "*%\\"):
        raise InvalidInput(
            "a folder name may not contain control characters, '*', '%' or '\\'",
            code="invalid_folder",
        )
    parts = name.split("/")
    if any(not part.strip() or part in (".", "..") for part in parts):
        raise InvalidInput(
            "a folder name may not have empty levels, '.' or '..'", code="invalid_folder"
        )
    if name.upper() == "INBOX":
        return "INBOX"
    return name


def message_uid(uid: int) -> int:
    if not 1 <= uid <= MAX_UID:
        raise InvalidInput("a message uid is a positive 32-bit number", code="invalid_uid")
    return uid


async def select_folder(client: ImapClient, folder: str, *, readonly: bool) -> int:
    """Selects the folder; its message count."""
    selected = await client.select(folder_name(folder), readonly=readonly)
    return selected.exists


async def require_message(client: ImapClient, uid: int) -> dict[str, object]:
    """The message's FLAGS, or 404 when the selected folder has no such UID."""
    found = await client.fetch(str(message_uid(uid)), "(UID FLAGS)")
    for item in found:
        if item.get("UID") == uid:
            return item
    raise NotFound("no message with this uid in this folder", code="message_not_found")
