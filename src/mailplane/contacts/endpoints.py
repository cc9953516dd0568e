"""/api/v1/mail/contacts: autocomplete over the user's own contacts, and forgetting one."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response, status

from mailplane.api.deps import ClockDep, MailboxUserDep, SessionDep
from mailplane.api.params import PathId
from mailplane.api.responses import ERRORS
from mailplane.contacts import service
from mailplane.contacts.schemas import ContactList, ContactOut
from mailplane.schemas import NO_CONTROL

router = APIRouter(prefix="/api/v1/mail/contacts", tags=["contacts"], responses=ERRORS)


@router.get("/autocomplete", response_model=ContactList)
def autocomplete(
    session: SessionDep,
    user: MailboxUserDep,
    clock: ClockDep,
    q: Annotated[str, Query(min_length=1, max_length=100, pattern=NO_CONTROL)],
    limit: Annotated[int, Query(ge=1, le=50)] = 10,
) -> ContactList:
    """Contacts whose address or name contains ``q``, ranked by
    ``(2 x sent + received) x 0.5 ^ (days since last use / 30)``, doubled for a prefix
    match of the address, the name or a word of the name."""
    ranked = service.autocomplete(session, user.tenant_id, user.mailbox_id, q, limit, clock())
    return ContactList(
        items=[
            ContactOut(
                id=r.contact.id,
                address=r.contact.address,
                name=r.contact.name,
                sent_count=r.contact.sent_count,
                received_count=r.contact.received_count,
                last_used_at=r.contact.last_used_at,
                score=round(r.score, 4),
            )
            for r in ranked
        ]
    )


@router.delete("/{contact_id}", status_code=status.HTTP_204_NO_CONTENT)
def forget_contact(session: SessionDep, user: MailboxUserDep, contact_id: PathId) -> Response:
    service.forget(session, user.tenant_id, user.mailbox_id, contact_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
