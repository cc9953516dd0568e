from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response, status

from mailplane.api.deps import PrincipalDep, SessionDep, SettingsDep, WriterDep
from mailplane.api.pagination import PageDep
from mailplane.api.params import OptionalQueryId, PathId
from mailplane.api.responses import ERRORS
from mailplane.mailboxes import service
from mailplane.mailboxes.schemas import MailboxCreate, MailboxOut, MailboxUpdate
from mailplane.models import Mailbox
from mailplane.schemas import PageOut

router = APIRouter(prefix="/api/v1/mail", tags=["mailboxes"], responses=ERRORS)


def mailbox_out(mailbox: Mailbox) -> dict[str, Any]:
    return {
        "id": mailbox.id,
        "domain_id": mailbox.domain_id,
        "customer_id": mailbox.tenant_id,
        "email": mailbox.email,
        "local_part": mailbox.local_part,
        "display_name": mailbox.display_name,
        "quota_mb": mailbox.quota_mb,
        "status": mailbox.status,
        "suspended_by": mailbox.suspended_by,
        "created_at": mailbox.created_at,
        "updated_at": mailbox.updated_at,
        "password_changed_at": mailbox.password_changed_at,
    }


def _page(result: Any) -> dict[str, Any]:
    return {"items": [mailbox_out(m) for m in result.items], "next_cursor": result.next_cursor}


@router.get("/domains/{domain_id}/accounts", response_model=PageOut[MailboxOut])
def list_domain_mailboxes(
    session: SessionDep, principal: PrincipalDep, domain_id: PathId, page: PageDep
) -> dict[str, Any]:
    return _page(
        service.list_mailboxes(
            session, principal, limit=page.limit, cursor=page.cursor, domain_id=domain_id
        )
    )


@router.post(
    "/domains/{domain_id}/accounts",
    response_model=MailboxOut,
    status_code=status.HTTP_201_CREATED,
)
def create_mailbox(
    session: SessionDep,
    principal: WriterDep,
    settings: SettingsDep,
    domain_id: PathId,
    body: MailboxCreate,
) -> dict[str, Any]:
    return mailbox_out(service.create_mailbox(session, principal, settings, domain_id, body))


@router.get("/accounts", response_model=PageOut[MailboxOut])
def list_mailboxes(
    session: SessionDep,
    principal: PrincipalDep,
    page: PageDep,
    domain_id: OptionalQueryId = None,
) -> dict[str, Any]:
    return _page(
        service.list_mailboxes(
            session, principal, limit=page.limit, cursor=page.cursor, domain_id=domain_id
        )
    )


@router.get("/accounts/{mailbox_id}", response_model=MailboxOut)
def get_mailbox(session: SessionDep, principal: PrincipalDep, mailbox_id: PathId) -> dict[str, Any]:
    return mailbox_out(service.get_mailbox(session, principal, mailbox_id))


@router.put("/accounts/{mailbox_id}", response_model=MailboxOut)
def update_mailbox(
    session: SessionDep,
    principal: WriterDep,
    settings: SettingsDep,
    mailbox_id: PathId,
    body: MailboxUpdate,
) -> dict[str, Any]:
    """Change the password, quota, display name or status; omitted fields stay as they are."""
    return mailbox_out(service.update_mailbox(session, principal, settings, mailbox_id, body))


@router.post("/accounts/{mailbox_id}/suspend", response_model=MailboxOut)
def suspend_mailbox(
    session: SessionDep, principal: WriterDep, settings: SettingsDep, mailbox_id: PathId
) -> dict[str, Any]:
    """No login anywhere (IMAP, SMTP, OAuth, webmail); incoming mail is still accepted."""
    return mailbox_out(service.set_status(session, principal, settings, mailbox_id, "suspended"))


@router.post("/accounts/{mailbox_id}/unsuspend", response_model=MailboxOut)
def unsuspend_mailbox(
    session: SessionDep, principal: WriterDep, settings: SettingsDep, mailbox_id: PathId
) -> dict[str, Any]:
    return mailbox_out(service.set_status(session, principal, settings, mailbox_id, "active"))


@router.delete("/accounts/{mailbox_id}", status_code=status.HTTP_204_NO_CONTENT)
def delete_mailbox(
    session: SessionDep, principal: WriterDep, settings: SettingsDep, mailbox_id: PathId
) -> Response:
    """The address stops receiving at once; the mail is kept for
    MAILPLANE_MAILBOX_PURGE_GRACE_HOURS (an operator can restore it), then removed. The same
    address created again starts with an empty mailbox."""
    service.delete_mailbox(session, principal, settings, mailbox_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
