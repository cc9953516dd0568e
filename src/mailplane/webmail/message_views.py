"""What ``GET /messages/{folder}/{uid}`` answers: one message as a reader sees it."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from pydantic import BaseModel, Field

from mailplane.webmail.reading import Address, Attachment, ReadMessage


class AddressOut(BaseModel):
    name: str
    address: str

    @classmethod
    def of(cls, address: Address) -> AddressOut:
        return cls(name=address.name, address=address.address)


class AttachmentOut(BaseModel):
    part: str = Field(description="IMAP section number, e.g. '2' or '1.2'")
    filename: str
    content_type: str
    size: int = Field(description="decoded size in bytes")
    inline: bool
    content_id: str | None
    url: str = Field(description="signed download link (valid one hour, no header needed)")

    @classmethod
    def of(cls, attachment: Attachment, url: str) -> AttachmentOut:
        return cls(
            part=attachment.part,
            filename=attachment.filename,
            content_type=attachment.content_type,
            size=attachment.size,
            inline=attachment.inline,
            content_id=attachment.content_id,
            url=url,
        )


class MessageOut(BaseModel):
    folder: str
    uid: int
    flags: list[str]
    size: int | None
    subject: str
    from_: list[AddressOut] = Field(serialization_alias="from")
    to: list[AddressOut]
    cc: list[AddressOut]
    reply_to: list[AddressOut]
    date: datetime | None
    message_id: str | None
    in_reply_to: str | None
    references: list[str]
    preview: str
    text: str | None
    html: str | None = Field(description="sanitized; show it in a sandboxed iframe")
    remote_images_blocked: int = Field(description="ask again with ?images=remote to load")
    attachments: list[AttachmentOut]

    @classmethod
    def of(
        cls,
        folder: str,
        uid: int,
        flags: list[str],
        size: int | None,
        read: ReadMessage,
        attachment_url: Callable[[str], str],
    ) -> MessageOut:
        return cls(
            folder=folder,
            uid=uid,
            flags=flags,
            size=size,
            subject=read.subject,
            from_=[AddressOut.of(a) for a in read.from_],
            to=[AddressOut.of(a) for a in read.to],
            cc=[AddressOut.of(a) for a in read.cc],
            reply_to=[AddressOut.of(a) for a in read.reply_to],
            date=read.date,
            message_id=read.message_id,
            in_reply_to=read.in_reply_to,
            references=read.references,
            preview=read.preview,
            text=read.text,
            html=read.html,
            remote_images_blocked=read.remote_blocked,
            attachments=[AttachmentOut.of(a, attachment_url(a.part)) for a in read.attachments],
        )
