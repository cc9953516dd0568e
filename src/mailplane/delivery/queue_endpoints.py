"""The queue in the admin API: operators see every tenant's deliveries, tenant admins
their own; acting needs the admin scope. See ``delivery/queue_tools.py``."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request

from mailplane.api.deps import PrincipalDep, SessionDep, WriterDep, get_clock
from mailplane.api.pagination import PageDep
from mailplane.api.params import OptionalQueryId, PathId
from mailplane.api.responses import ERRORS
from mailplane.delivery import queue_tools
from mailplane.delivery.queue_schemas import (
    AGE,
    DOMAIN,
    QueueActionIn,
    QueueActionOut,
    QueueEntry,
    QueueItem,
    QueuePage,
    QueueStatus,
    SelectionIn,
)

router = APIRouter(prefix="/api/v1/queue", tags=["queue"], responses=ERRORS)


@router.get("", response_model=QueuePage)
def list_queue(
    request: Request,
    session: SessionDep,
    principal: PrincipalDep,
    page: PageDep,
    status: Annotated[list[QueueStatus] | None, Query(max_length=9)] = None,
    message_id: Annotated[str | None, Query(pattern=r"^[0-9a-f]{32}$")] = None,
    recipient: Annotated[
        str | None, Query(min_length=2, max_length=320, pattern=r"^[^\s\x00-\x1f\x7f]+$")
    ] = None,
    recipient_domain: Annotated[str | None, Query(pattern=DOMAIN)] = None,
    sending_domain: Annotated[str | None, Query(pattern=DOMAIN)] = None,
    customer_id: OptionalQueryId = None,
    older_than: Annotated[str | None, Query(pattern=AGE, description="e.g. 2h")] = None,
    newer_than: Annotated[str | None, Query(pattern=AGE)] = None,
) -> QueuePage:
    """What is still in the queue (queued, sending, deferred, held) unless `status` says
    otherwise; oldest first."""
    selection = SelectionIn(
        message_id=message_id,
        recipient=recipient,
        recipient_domain=recipient_domain,
        sending_domain=sending_domain,
        customer_id=customer_id,
        status=status or [],
        older_than=older_than,
        newer_than=newer_than,
    ).selection([])
    now = get_clock(request)()
    result = queue_tools.list_queue(
        session, principal, selection, now, limit=page.limit, cursor=page.cursor
    )
    return QueuePage(
        items=[QueueItem.of(row, now) for row in result.items], next_cursor=result.next_cursor
    )


@router.get("/{delivery_id}", response_model=QueueEntry)
def show_delivery(
    request: Request, session: SessionDep, principal: PrincipalDep, delivery_id: PathId
) -> QueueEntry:
    shown = queue_tools.show(session, principal, delivery_id)
    return QueueEntry.shown(shown, get_clock(request)())


@router.post("/actions", response_model=QueueActionOut)
def act(
    request: Request, session: SessionDep, principal: WriterDep, body: QueueActionIn
) -> QueueActionOut:
    """retry (due now), flush (retry the deferred ones), cancel (final; rows stay), hold
    (not due until released), release (held: queued, due now). Deliveries a worker is
    sending are never touched: they are counted in `skipped_in_flight`."""
    selection = (body.select or SelectionIn()).selection(body.ids)
    result = queue_tools.apply(
        session,
        principal,
        queue_tools.Action(body.action),
        selection,
        get_clock(request)(),
        limit=body.limit,
        all_matching=body.all_matching,
    )
    return QueueActionOut(
        action=result.action.value,
        **result.counts(),
        changed_ids=result.changed_ids[:1000],
        in_flight_ids=result.in_flight_ids[:1000],
    )
