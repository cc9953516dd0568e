"""Bodies of the send endpoints: /api/send/external (seed 000), /api/v1/send and batch.

Strings that may reach a header refuse every control character here already (CR/LF above
all); compose.py checks again where values become headers, so that no other producer can
slip one through either.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import Field, Strict, StringConstraints

from mailplane.schemas import NO_CONTROL, NO_CONTROL_NONEMPTY, RequestModel, ResponseModel

HeaderText = Annotated[str, StringConstraints(max_length=998, pattern=NO_CONTROL)]
AddressText = Annotated[
    str, StringConstraints(min_length=3, max_length=400, pattern=NO_CONTROL_NONEMPTY)
]
DisplayName = Annotated[str, StringConstraints(max_length=200, pattern=NO_CONTROL)]
# The body may hold line breaks (it is not a header); 10 MB of text is plenty.
Body = Annotated[str, StringConstraints(max_length=10 * 1024 * 1024)]
Tag = Annotated[str, StringConstraints(min_length=1, max_length=100, pattern=NO_CONTROL_NONEMPTY)]
# RFC 2919 list-label material: a short dot-atom-like token, nothing that could break out.
ListId = Annotated[
    str,
    StringConstraints(
        min_length=1, max_length=100, pattern=r"^[A-Za-z0-9_-]+(?:\.[A-Za-z0-9_-]+)*$"
    ),
]
HeaderName = Annotated[str, StringConstraints(min_length=1, max_length=76, pattern=r"^[!-9;-~]+$")]


# ISO 8601 text in JSON (strict mode would want a datetime object).
Timestamp = Annotated[datetime, Strict(False)]


class NamedAddress(RequestModel):
    email: AddressText
    name: DisplayName | None = None


Address = AddressText | NamedAddress
Recipients = Annotated[list[Address], Field(max_length=1000)]


class Attachment(RequestModel):
    filename: Annotated[
        str, StringConstraints(min_length=1, max_length=255, pattern=NO_CONTROL_NONEMPTY)
    ]
    content: Annotated[str, StringConstraints(min_length=0, max_length=300 * 1024 * 1024)] = Field(
        description="The file, base64-encoded."
    )
    content_type: Annotated[
        str, StringConstraints(max_length=127, pattern=r"^[A-Za-z0-9][\w.+-]*/[\w.+-]+$")
    ] = "application/octet-stream"
    content_id: (
        Annotated[str, StringConstraints(min_length=1, max_length=200, pattern=r"^[!-=?-~]+$")]
        | None
    ) = Field(default=None, description="Set for an inline image: cid:<content_id>.")


class SendRequest(RequestModel):
    from_: Address = Field(alias="from", description='"a@x.org", "Name <a@x.org>" or {email, name}')
    to: Recipients = Field(default_factory=list)
    cc: Recipients = Field(default_factory=list)
    bcc: Recipients = Field(default_factory=list)
    reply_to: Address | Annotated[list[Address], Field(max_length=10)] | None = None
    subject: HeaderText = ""
    html: Body | None = None
    text: Body | None = None
    headers: Annotated[dict[HeaderName, HeaderText], Field(max_length=50)] = Field(
        default_factory=dict
    )
    attachments: Annotated[list[Attachment], Field(max_length=100)] = Field(default_factory=list)
    tags: Annotated[list[Tag], Field(max_length=20)] = Field(default_factory=list)
    metadata: Annotated[dict[Tag, Any], Field(max_length=50)] = Field(default_factory=dict)
    type: Literal["transactional", "bulk"] | None = None
    send_at: Timestamp | None = None
    unsubscribe: Literal["platform", "own"] = Field(
        default="platform",
        description="Bulk mail: platform = mailplane adds a one-click List-Unsubscribe per "
        "recipient; own = headers carry List-Unsubscribe (https) and List-Unsubscribe-Post.",
    )
    list_id: ListId | None = Field(
        default=None,
        description="Bulk mail's list: List-Id <list_id.domain>; an unsubscribe then "
        "leaves only this list.",
    )


class BatchRequest(RequestModel):
    messages: Annotated[list[dict[str, Any]], Field(min_length=1, max_length=10_000)] = Field(
        description="Up to send_max_batch bodies of /api/v1/send; each is checked on its own."
    )


class ExternalSendRequest(RequestModel):
    """The seed 000 body, unchanged, so that a site built against it only adds its key."""

    domain: AddressText
    to: AddressText | Annotated[list[AddressText], Field(min_length=1, max_length=50)]
    subject: HeaderText
    html: Body | None = None
    text: Body | None = None
    replyTo: AddressText | None = None  # noqa: N815 (the seed's field name)


class RecipientOut(ResponseModel):
    email: str
    id: int
    status: str = "queued"


class SendAccepted(ResponseModel):
    id: str = Field(description="The message id: GET /api/v1/messages/{id}.")
    message_id: str = Field(description="The Message-ID header.")
    recipients: list[RecipientOut]


class ExternalSendAccepted(ResponseModel):
    success: bool = True
    messageId: str  # noqa: N815 (the seed's answer)


class BatchItemError(ResponseModel):
    error: str
    detail: str


class BatchItem(ResponseModel):
    index: int
    status: int
    result: SendAccepted | None = None
    error: BatchItemError | None = None


class BatchAccepted(ResponseModel):
    accepted: int
    rejected: int
    results: list[BatchItem]
