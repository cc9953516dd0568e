from __future__ import annotations

from fastapi import APIRouter, Response, status

from mailplane.api.deps import PrincipalDep, SessionDep, SettingsDep, WriterDep
from mailplane.api.pagination import PageDep
from mailplane.api.params import OptionalQueryId, PathId
from mailplane.api.responses import ERRORS
from mailplane.db.pagination import Page
from mailplane.mailboxes import service
from mailplane.mailboxes.schemas import MailboxCreate, MailboxOut, MailboxUpdate
from mailplane.models import Mailbox
from mailplane.schemas import PageOut

router = APIRouter(prefix="/api/v1/mail", tags=["mailboxes"], responses=ERRORS)


def _page(result: Page[Mailbox]) -> PageOut[MailboxOut]:
    return PageOut(items=[MailboxOut.of(m) for m in result.items], next_cursor=result.next_cursor)


@router.get("/domains/{domain_id}/accounts", response_model=PageOut[MailboxOut])
def list_domain_mailboxes(
    session: SessionDep, principal: PrincipalDep, domain_id: PathId, page: PageDep
) -> PageOut[MailboxOut]:
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
) -> MailboxOut:
    return MailboxOut.of(service.create_mailbox(session, principal, settings, domain_id, body))


@router.get("/accounts", response_model=PageOut[MailboxOut])
def list_mailboxes(
    session: SessionDep,
    principal: PrincipalDep,
    page: PageDep,
    domain_id: OptionalQueryId = None,
) -> PageOut[MailboxOut]:
    return _page(
        service.list_mailboxes(
            session, principal, limit=page.limit, cursor=page.cursor, domain_id=domain_id
        )
    )


@router.get("/accounts/{mailbox_id}", response_model=MailboxOut)
def get_mailbox(session: SessionDep, principal: PrincipalDep, mailbox_id: PathId) -> MailboxOut:
    return MailboxOut.of(service.get_mailbox(session, principal, mailbox_id))


@router.put("/accounts/{mailbox_id}", response_model=MailboxOut)
def update_mailbox(
    session: SessionDep,
    principal: WriterDep,
    settings: SettingsDep,
    mailbox_id: PathId,
    body: MailboxUpdate,
) -> MailboxOut:
    """Change the password, quota, display name or status; omitted fields stay as they are."""
    return MailboxOut.of(service.update_mailbox(session, principal, settings, mailbox_id, body))


@router.post("/accounts/{mailbox_id}/suspend", response_model=MailboxOut)
def suspend_mailbox(
    session: SessionDep, principal: WriterDep, settings: SettingsDep, mailbox_id: PathId
) -> MailboxOut:
    """No login anywhere (IMAP, SMTP, OAuth, webmail); incoming mail is still accepted."""
    return MailboxOut.of(service.set_status(session, principal, settings, mailbox_id, "suspended"))


@router.post("/accounts/{mailbox_id}/unsuspend", response_model=MailboxOut)
def unsuspend_mailbox(
    session: SessionDep, principal: WriterDep, settings: SettingsDep, mailbox_id: PathId
) -> MailboxOut:
    return MailboxOut.of(service.set_status(session, principal, settings, mailbox_id, "active"))


@router.delete("/accounts/{mailbox_id}", status_code=status.HTTP_204_NO_CONTENT)
def delete_mailbox(
    session: SessionDep, principal: WriterDep, settings: SettingsDep, mailbox_id: PathId
) -> Response:
    """The address stops receiving at once; the mail is kept for
    MAILPLANE_MAILBOX_PURGE_GRACE_HOURS (an operator can restore it), then removed. The same
    address created again starts with an empty mailbox."""
    service.delete_mailbox(session, principal, settings, mailbox_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
