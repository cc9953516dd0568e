"""Folders of the logged-in mailbox user: list with counts, create, rename, delete."""

from __future__ import annotations

from fastapi import APIRouter, Response, status

from mailplane.api.deps import MailboxUserDep
from mailplane.api.responses import ERRORS
from mailplane.errors import Conflict, NotFound
from mailplane.protocols.imap import Folder, ImapClient, ImapCommandError
from mailplane.webmail.imap_access import PoolDep, folder_name, imap_session
from mailplane.webmail.list_schemas import FolderCreate, FolderOut, FolderRename

router = APIRouter(prefix="/api/v1/mail/webmail", tags=["webmail"], responses=ERRORS)

# Folders a mail client relies on by their role: renaming or deleting them would break it.
PROTECTED_ROLES = frozenset({"\\Inbox", "\\Sent", "\\Drafts", "\\Trash", "\\Junk"})


def _out(folder: Folder) -> FolderOut:
    return FolderOut(
        name=folder.name,
        delimiter=folder.delimiter,
        special_use=folder.special_use,
        total=folder.messages,
        unseen=folder.unseen,
        selectable=folder.selectable,
    )


async def _find(client: ImapClient, name: str) -> Folder:
    for folder in await client.list_folders():
        if folder.name == name:
            return folder
    raise NotFound("this folder does not exist", code="folder_not_found")


# The order a mail client shows them in; other folders follow by name.
ROLE_ORDER = ("\\Inbox", "\\Drafts", "\\Sent", "\\Archive", "\\Junk", "\\Trash")


def _display_order(folder: Folder) -> tuple[int, str]:
    role = folder.special_use
    rank = ROLE_ORDER.index(role) if role in ROLE_ORDER else len(ROLE_ORDER)
    return rank, folder.name.casefold()


@router.get("/folders", response_model=list[FolderOut])
async def list_folders(user: MailboxUserDep, pool: PoolDep) -> list[FolderOut]:
    """Every folder with its total and unread counts (one LIST-STATUS round trip): INBOX,
    Drafts, Sent, Archive, Junk, Trash, then the others by name."""
    async with imap_session(pool, user) as client:
        folders = await client.list_folders()
    return [_out(folder) for folder in sorted(folders, key=_display_order)]


@router.post("/folders", response_model=FolderOut, status_code=status.HTTP_201_CREATED)
async def create_folder(user: MailboxUserDep, pool: PoolDep, body: FolderCreate) -> FolderOut:
    """Creates (and subscribes) a folder; "/" separates levels: "Projects/2026"."""
    name = folder_name(body.name)
    async with imap_session(pool, user) as client:
        if any(f.name == name for f in await client.list_folders()):
            raise Conflict("a folder with this name exists", code="folder_exists")
        await client.create(name)
        return _out(await _find(client, name))


@router.patch("/folders/{folder:path}", response_model=FolderOut)
async def rename_folder(
    folder: str, user: MailboxUserDep, pool: PoolDep, body: FolderRename
) -> FolderOut:
    old, new = folder_name(folder), folder_name(body.name)
    async with imap_session(pool, user) as client:
        existing = await _find(client, old)
        if existing.special_use in PROTECTED_ROLES:
            raise Conflict(
                f"{existing.name} is a system folder ({existing.special_use}) and keeps its name",
                code="system_folder",
            )
        if any(f.name == new for f in await client.list_folders()):
            raise Conflict("a folder with this name exists", code="folder_exists")
        await client.rename(old, new)
        return _out(await _find(client, new))


@router.delete("/folders/{folder:path}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_folder(folder: str, user: MailboxUserDep, pool: PoolDep) -> Response:
    """Deletes a folder and the messages in it. A folder with subfolders is refused."""
    name = folder_name(folder)
    async with imap_session(pool, user) as client:
        existing = await _find(client, name)
        if existing.special_use in PROTECTED_ROLES:
            raise Conflict(
                f"{existing.name} is a system folder ({existing.special_use})",
                code="system_folder",
            )
        prefix = name + (existing.delimiter or "/")
        if any(f.name.startswith(prefix) for f in await client.list_folders()):
            raise Conflict("delete the subfolders first", code="folder_has_children")
        try:
            await client.delete(name)
        except ImapCommandError as exc:
            if exc.missing_mailbox:
                raise
            raise Conflict(f"the folder was not deleted: {exc.text}", code="folder_busy") from exc
    return Response(status_code=status.HTTP_204_NO_CONTENT)
