"""The messages API: a message's per-recipient status and attempts, a filterable list,
and cancelling what has not left yet. Readable with the domain's API key (server keys;
a form key is public and reads nothing) or with the admin credentials."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, BackgroundTasks, Depends, Header, Path, Query, Request
from sqlalchemy.orm import Session

from mailplane.api.deps import SessionDep, get_clock, get_database, get_principal, get_settings
from mailplane.api.pagination import PageDep
from mailplane.api.params import OptionalQueryId
from mailplane.api.responses import ERRORS
from mailplane.errors import Forbidden
from mailplane.models import OutboundMessage
from mailplane.names import normalize_address
from mailplane.sending import messages
from mailplane.sending.key_auth import authenticate, key_from_headers
from mailplane.sending.message_schemas import (
    Cancelled,
    MessageOut,
    MessagePage,
    MessageSummary,
    RecipientStatus,
)
from mailplane.sending.messages import Filters, Reader

router = APIRouter(prefix="/api/v1/messages", tags=["messages"], responses=ERRORS)

MessageId = Annotated[str, Path(pattern=r"^[0-9a-f]{32}$", description="The id /send answered.")]
StatusFilter = Literal[
    "queued",
    "sending",
    "deferred",
    "held",
    "paused",
    "delivered",
    "bounced",
    "failed",
    "cancelled",
    "suppressed",
]


def reader(
    request: Request,
    background: BackgroundTasks,
    x_api_key: Annotated[str | None, Header()] = None,
    x_service_token: Annotated[str | None, Header()] = None,
    authorization: Annotated[str | None, Header()] = None,
) -> tuple[Reader, bool]:
    """Whose messages the caller may see, and whether it may change them."""
    key = key_from_headers(authorization, x_api_key)
    if key is not None:
        send_key = authenticate(
            get_database(request), key, request.headers.get("origin"), get_clock(request)()
        )
        if send_key.is_form:
            raise Forbidden("a form key can only send", code="form_key_cannot_read")
        return Reader(send_key.tenant_id, send_key.domain_id), True
    principal = get_principal(
        request, get_settings(request), background, x_service_token, authorization
    )
    return Reader(principal.tenant_id), "admin" in principal.scopes


ReaderDep = Annotated[tuple[Reader, bool], Depends(reader)]


def _out(session: Session, message: OutboundMessage) -> MessageOut:
    deliveries = messages.deliveries_of(session, message.id)
    attempts = messages.attempts_of(session, [d.id for d in deliveries])
    counts = messages.status_counts(session, [message.id]).get(message.id, {})
    summary = MessageSummary.of(message, counts)
    return MessageOut(
        **summary.model_dump(by_alias=True),
        recipients=[RecipientStatus.of(d, attempts.get(d.id, [])) for d in deliveries],
    )


@router.get("", response_model=MessagePage)
def list_messages(
    session: SessionDep,
    who: ReaderDep,
    page: PageDep,
    status: Annotated[StatusFilter | None, Query(description="Any recipient in it.")] = None,
    domain_id: OptionalQueryId = None,
    tag: Annotated[str | None, Query(min_length=1, max_length=100)] = None,
    recipient: Annotated[str | None, Query(min_length=3, max_length=320)] = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> MessagePage:
    """Newest first."""
    filters = Filters(
        status=status,
        domain_id=domain_id,
        tag=tag,
        recipient=normalize_address(recipient, "recipient") if recipient else None,
        since=since,
        until=until,
    )
    result = messages.list_messages(session, who[0], filters, limit=page.limit, cursor=page.cursor)
    counts = messages.status_counts(session, [m.id for m in result.items])
    return MessagePage(
        items=[MessageSummary.of(m, counts.get(m.id, {})) for m in result.items],
        next_cursor=result.next_cursor,
    )


@router.get("/{message_id}", response_model=MessageOut)
def get_message(session: SessionDep, who: ReaderDep, message_id: MessageId) -> MessageOut:
    return _out(session, messages.get_message(session, who[0], message_id))


@router.delete("/{message_id}", response_model=Cancelled)
def cancel_message(
    request: Request, session: SessionDep, who: ReaderDep, message_id: MessageId
) -> Cancelled:
    """Cancel the recipients still queued, scheduled or deferred. Those a worker is sending
    at this moment cannot be called back: they are counted as in_flight."""
    reader_, may_write = who
    if not may_write:
        raise Forbidden("this credential may only read", code="insufficient_scope")
    counts = messages.cancel(session, reader_, message_id, get_clock(request)())
    return Cancelled(id=message_id, **counts)
