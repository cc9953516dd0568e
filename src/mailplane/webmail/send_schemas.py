from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, StringConstraints

from mailplane.schemas import NO_CONTROL, NO_CONTROL_NONEMPTY, ObjectId, RequestModel, ResponseModel

MAX_RECIPIENTS = 100
MAX_ATTACHMENTS = 50

# "user@example.com" or "Name <user@example.com>"; one line.
Recipient = Annotated[
    str, StringConstraints(min_length=3, max_length=520, pattern=NO_CONTROL_NONEMPTY)
]
Recipients = Annotated[list[Recipient], Field(max_length=MAX_RECIPIENTS)]
# Bodies may hold line breaks and tabs, never NUL or other C0 controls.
BODY = r"^[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f]*$"


class AttachmentIn(RequestModel):
    filename: Annotated[
        str, StringConstraints(min_length=1, max_length=255, pattern=NO_CONTROL_NONEMPTY)
    ]
    content_type: Annotated[str, StringConstraints(max_length=255, pattern=NO_CONTROL)] = (
        "application/octet-stream"
    )
    content_base64: str


class MessageIn(RequestModel):
    """A message to send or to keep as a draft (for a draft nothing is required)."""

    to: Recipients = Field(default_factory=list)
    cc: Recipients = Field(default_factory=list)
    bcc: Recipients = Field(default_factory=list)
    subject: Annotated[str, StringConstraints(max_length=998, pattern=NO_CONTROL)] = ""
    html: Annotated[str, StringConstraints(pattern=BODY)] | None = None
    plain: Annotated[str, StringConstraints(pattern=BODY)] | None = None
    in_reply_to: (
        Annotated[str, StringConstraints(min_length=1, max_length=998, pattern=NO_CONTROL)] | None
    ) = Field(default=None, description="The Message-ID of the message replied to.")
    attachments: Annotated[list[AttachmentIn], Field(max_length=MAX_ATTACHMENTS)] = Field(
        default_factory=list
    )
    signature_id: ObjectId | Literal["auto"] | None = Field(
        default=None,
        description='A signature of yours, "auto" for the one matching the recipients, or null.',
    )


class SentOut(ResponseModel):
    message_id: str
    sent_folder: str
    uid: int | None
    warning: str | None = Field(
        default=None, description="Sent, but something after it failed (the copy in Sent)."
    )


class DraftOut(ResponseModel):
    uid: int | None
    folder: str
    message_id: str
