"""Shapes of folders, message lists, threads and message operations."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import Field, StringConstraints

from mailplane.schemas import NO_CONTROL_NONEMPTY, RequestModel, ResponseModel

FolderName = Annotated[
    str, StringConstraints(min_length=1, max_length=255, pattern=NO_CONTROL_NONEMPTY)
]
# A system flag (RFC 3501 section 2.3.2) or a keyword: an atom without wildcards/specials.
Flag = Annotated[str, StringConstraints(pattern=r"^\\?[A-Za-z0-9$_.\-]{1,64}$")]


class FolderOut(ResponseModel):
    name: str = Field(description="The decoded (Unicode) name; use it in URLs, percent-encoded.")
    delimiter: str | None
    special_use: str | None = Field(
        description="\\Inbox, \\Sent, \\Drafts, \\Trash, \\Junk, \\Archive or null."
    )
    total: int | None
    unseen: int | None
    selectable: bool


class FolderCreate(RequestModel):
    name: FolderName


class FolderRename(RequestModel):
    name: FolderName


class AddressOut(ResponseModel):
    name: str
    address: str


class MessageSummary(ResponseModel):
    model_config = {"populate_by_name": True, "from_attributes": True}

    uid: int
    folder: str
    subject: str
    from_: AddressOut | None = Field(serialization_alias="from")
    to: list[AddressOut]
    cc: list[AddressOut]
    date: datetime | None
    received_at: datetime | None
    message_id: str | None
    in_reply_to: str | None
    flags: list[str]
    seen: bool
    flagged: bool
    answered: bool
    draft: bool
    size: int
    has_attachments: bool
    preview: str


class MessagePage(ResponseModel):
    folder: str
    page: int
    per_page: int
    total: int = Field(description="Messages in the folder (or matching the search).")
    pages: int
    messages: list[MessageSummary]


class ThreadOut(ResponseModel):
    thread_id: int = Field(description="The UID of the thread's first message.")
    count: int
    unseen: int
    uids: list[int]
    latest: MessageSummary
    messages: list[MessageSummary] = Field(description="Newest first.")


class ThreadPage(ResponseModel):
    folder: str
    page: int
    per_page: int
    total: int = Field(description="Threads in the folder.")
    pages: int
    threads: list[ThreadOut]


class FlagsChange(RequestModel):
    flags: list[Flag] = Field(
        default_factory=list, max_length=20, description="Added (the seed's shape)."
    )
    add: list[Flag] = Field(default_factory=list, max_length=20)
    remove: list[Flag] = Field(default_factory=list, max_length=20)


class FlagsOut(ResponseModel):
    uid: int
    flags: list[str]


class MoveRequest(RequestModel):
    target: FolderName


class MovedOut(ResponseModel):
    folder: str
    uid: int | None = Field(description="The message's UID in the target folder.")


class DeletedOut(ResponseModel):
    deleted: str = Field(description="moved_to_trash or permanently")
    trash_uid: int | None = None
