"""Operators' view of deleted mailboxes whose mail is still kept, and their restore."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, status

from mailplane.api.deps import PrincipalDep, SessionDep, SettingsDep, WriterDep
from mailplane.api.pagination import PageDep
from mailplane.api.params import OptionalQueryId, PathId
from mailplane.api.responses import ERRORS
from mailplane.mailboxes import deleted
from mailplane.mailboxes.schemas import DeletedMailboxOut, DeletedMailboxRestore, MailboxOut
from mailplane.schemas import PageOut

router = APIRouter(prefix="/api/v1/mail", tags=["deleted mailboxes"], responses=ERRORS)


@router.get("/deleted-accounts", response_model=PageOut[DeletedMailboxOut])
def list_deleted_mailboxes(
    session: SessionDep,
    principal: PrincipalDep,
    page: PageDep,
    customer_id: OptionalQueryId = None,
    email: Annotated[str | None, Query(max_length=320)] = None,
) -> PageOut[DeletedMailboxOut]:
    """Deleted mailboxes whose mail has not been purged yet (a tenant admin: its own)."""
    result = deleted.list_deleted(
        session,
        principal,
        limit=page.limit,
        cursor=page.cursor,
        tenant_id=customer_id,
        email=email,
    )
    return PageOut(
        items=[DeletedMailboxOut.of(k) for k in result.items], next_cursor=result.next_cursor
    )


@router.get("/deleted-accounts/{deleted_mailbox_id}", response_model=DeletedMailboxOut)
def get_deleted_mailbox(
    session: SessionDep, principal: PrincipalDep, deleted_mailbox_id: PathId
) -> DeletedMailboxOut:
    return DeletedMailboxOut.of(deleted.get_deleted(session, principal, deleted_mailbox_id))


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
) -> MailboxOut:
    """Platform operators only: a new mailbox on the kept mail, in the same tenant.

    409 ``mailbox_exists`` if the address is taken again (give another ``local_part`` or
    ``domain_id``), ``restore_domain_missing``, ``restore_other_tenant`` (the domain now
    belongs to someone else), ``purge_in_progress``.
    """
    return MailboxOut.of(deleted.restore(session, principal, settings, deleted_mailbox_id, body))
