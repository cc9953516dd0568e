from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import Field, StringConstraints

from mailplane.models import DeletedMailbox, Mailbox
from mailplane.models.statuses import Status
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
    status: Status
    suspended_by: str | None = Field(
        description="Who set a status other than active: operator or tenant. A tenant admin "
        "cannot change what an operator set (403 operator_suspension)."
    )
    created_at: datetime
    updated_at: datetime
    password_changed_at: datetime

    @classmethod
    def of(cls, mailbox: Mailbox) -> MailboxOut:
        return cls(
            id=mailbox.id,
            domain_id=mailbox.domain_id,
            customer_id=mailbox.tenant_id,
            email=mailbox.email,
            local_part=mailbox.local_part,
            display_name=mailbox.display_name,
            quota_mb=mailbox.quota_mb,
            status=Status(mailbox.status),
            suspended_by=mailbox.suspended_by,
            created_at=mailbox.created_at,
            updated_at=mailbox.updated_at,
            password_changed_at=mailbox.password_changed_at,
        )


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

    @classmethod
    def of(cls, kept: DeletedMailbox) -> DeletedMailboxOut:
        return cls(
            id=kept.id,
            customer_id=kept.tenant_id,
            mailbox_id=kept.mailbox_id,
            email=kept.email,
            storage_id=kept.storage_id,
            maildir=kept.maildir,
            reason=kept.reason,
            deleted_at=kept.deleted_at,
            purge_after=kept.purge_after,
            restorable=kept.purge_started_at is None,
        )
