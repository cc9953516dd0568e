"""Operators' view of deleted mailboxes whose mail is still kept, and their restore."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, status

from mailplane.api.deps import PrincipalDep, SessionDep, SettingsDep, WriterDep
from mailplane.api.pagination import PageDep
from mailplane.api.params import OptionalQueryId, PathId
from mailplane.api.responses import ERRORS
from mailplane.mailboxes import deleted
from mailplane.mailboxes.endpoints import mailbox_out
from mailplane.mailboxes.schemas import DeletedMailboxOut, DeletedMailboxRestore, MailboxOut
from mailplane.models import DeletedMailbox
from mailplane.schemas import PageOut

router = APIRouter(prefix="/api/v1/mail", tags=["deleted mailboxes"], responses=ERRORS)


def deleted_out(kept: DeletedMailbox) -> dict[str, Any]:
    return {
        "id": kept.id,
        "customer_id": kept.tenant_id,
        "mailbox_id": kept.mailbox_id,
        "email": kept.email,
        "storage_id": kept.storage_id,
        "maildir": kept.maildir,
        "reason": kept.reason,
        "deleted_at": kept.deleted_at,
        "purge_after": kept.purge_after,
        "restorable": kept.purge_started_at is None,
    }


@router.get("/deleted-accounts", response_model=PageOut[DeletedMailboxOut])
def list_deleted_mailboxes(
    session: SessionDep,
    principal: PrincipalDep,
    page: PageDep,
    customer_id: OptionalQueryId = None,
    email: Annotated[str | None, Query(max_length=320)] = None,
) -> dict[str, Any]:
    """Deleted mailboxes whose mail has not been purged yet (a tenant admin: its own)."""
    result = deleted.list_deleted(
        session,
        principal,
        limit=page.limit,
        cursor=page.cursor,
        tenant_id=customer_id,
        email=email,
    )
    return {"items": [deleted_out(k) for k in result.items], "next_cursor": result.next_cursor}


@router.get("/deleted-accounts/{deleted_mailbox_id}", response_model=DeletedMailboxOut)
def get_deleted_mailbox(
    session: SessionDep, principal: PrincipalDep, deleted_mailbox_id: PathId
) -> dict[str, Any]:
    return deleted_out(deleted.get_deleted(session, principal, deleted_mailbox_id))


@router.post(
    "/deleted-accounts/{deleted_mailbox_id}/restore",
    response_model=MailboxOut,
    status_code=status.HTTP_201_CREATED,
)
def restore_deleted_mailbox(
    session: SessionDep,
    principal: WriterDep,
    settings: SettingsDep,
    deleted_mailbox_id: PathId,
    body: DeletedMailboxRestore,
) -> dict[str, Any]:
    """Platform operators only: a new mailbox on the kept mail, in the same tenant.

    409 ``mailbox_exists`` if the address is taken again (give another ``local_part`` or
    ``domain_id``), ``restore_domain_missing``, ``restore_other_tenant`` (the domain now
    belongs to someone else), ``purge_in_progress``.
    """
    return mailbox_out(deleted.restore(session, principal, settings, deleted_mailbox_id, body))
