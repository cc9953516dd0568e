from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import Field, StringConstraints

from mailplane.schemas import NO_CONTROL, ObjectId, Password, RequestModel, ResponseModel

LocalPart = Annotated[str, StringConstraints(min_length=1, max_length=64)]
DisplayName = Annotated[str, StringConstraints(max_length=200, pattern=NO_CONTROL)]
QuotaMb = Annotated[int, Field(ge=0, le=10_000_000, description="0 means no quota.")]


class MailboxCreate(RequestModel):
    local_part: LocalPart
    password: Password
    quota_mb: QuotaMb = 1024
    display_name: DisplayName = ""


class MailboxUpdate(RequestModel):
    password: Password | None = None
    quota_mb: QuotaMb | None = None
    display_name: DisplayName | None = None
    status: Literal["active", "suspended", "disabled"] | None = Field(
        default=None,
        description="suspended: no login, mail still received; disabled: mail refused too.",
    )


class MailboxOut(ResponseModel):
    id: int
    domain_id: int
    customer_id: int
    email: str
    local_part: str
    display_name: str
    quota_mb: int
    status: str
    suspended_by: str | None = Field(
        description="Who set a status other than active: operator or tenant. A tenant admin "
        "cannot change what an operator set (403 operator_suspension)."
    )
    created_at: datetime
    updated_at: datetime
    password_changed_at: datetime


class DeletedMailboxRestore(RequestModel):
    """Everything optional: by default the old address, in the domain of that name."""

    domain_id: ObjectId | None = Field(
        default=None, description="A domain of the same tenant; default: the old domain."
    )
    local_part: LocalPart | None = Field(default=None, description="Default: the old one.")
    password: Password | None = Field(default=None, description="Default: the old password.")


class DeletedMailboxOut(ResponseModel):
    id: int
    customer_id: int
    mailbox_id: int = Field(description="The id the mailbox had before it was deleted.")
    email: str
    storage_id: str
    maildir: str = Field(description="Relative to the mail root.")
    reason: str = Field(description="mailbox.delete or domain.delete")
    deleted_at: datetime
    purge_after: datetime = Field(description="The files are removed at the first purge after.")
    restorable: bool = Field(description="False once a purge has begun removing the files.")
