"""Webhook routes of the admin API: operators and tenant admins, tenant-scoped."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response, status

from mailplane.api.deps import PrincipalDep, SessionDep, SettingsDep, WriterDep
from mailplane.api.pagination import PageDep
from mailplane.api.params import PathId
from mailplane.api.responses import ERRORS
from mailplane.schemas import PageOut
from mailplane.webhooks import service
from mailplane.webhooks.schemas import (
    WebhookCreate,
    WebhookCreated,
    WebhookDeliveryOut,
    WebhookOut,
    WebhookSecret,
    WebhookUpdate,
)

router = APIRouter(prefix="/api/v1", tags=["webhooks"], responses=ERRORS)


@router.get("/webhooks", response_model=PageOut[WebhookOut])
def list_webhooks(
    session: SessionDep, principal: PrincipalDep, page: PageDep
) -> PageOut[WebhookOut]:
    result = service.list_webhooks(session, principal, limit=page.limit, cursor=page.cursor)
    return PageOut(items=[WebhookOut.of(w) for w in result.items], next_cursor=result.next_cursor)


@router.post("/webhooks", response_model=WebhookCreated, status_code=status.HTTP_201_CREATED)
def create_webhook(
    session: SessionDep, settings: SettingsDep, principal: WriterDep, body: WebhookCreate
) -> WebhookCreated:
    """The answer holds the signing secret, this once: store it now."""
    created = service.create(session, settings, principal, body)
    return WebhookCreated(**WebhookOut.of(created.row).model_dump(), secret=created.secret)


@router.get("/webhooks/{webhook_id}", response_model=WebhookOut)
def get_webhook(session: SessionDep, principal: PrincipalDep, webhook_id: PathId) -> WebhookOut:
    return WebhookOut.of(service.get(session, principal, webhook_id))


@router.patch("/webhooks/{webhook_id}", response_model=WebhookOut)
def update_webhook(
    session: SessionDep,
    settings: SettingsDep,
    principal: WriterDep,
    webhook_id: PathId,
    body: WebhookUpdate,
) -> WebhookOut:
    return WebhookOut.of(service.update(session, settings, principal, webhook_id, body))


@router.delete("/webhooks/{webhook_id}", status_code=status.HTTP_204_NO_CONTENT)
def delete_webhook(session: SessionDep, principal: WriterDep, webhook_id: PathId) -> Response:
    service.delete(session, principal, webhook_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post("/webhooks/{webhook_id}/enable", response_model=WebhookOut)
def enable_webhook(session: SessionDep, principal: WriterDep, webhook_id: PathId) -> WebhookOut:
    """Sending resumes, pending deliveries included."""
    return WebhookOut.of(service.set_enabled(session, principal, webhook_id, True))


@router.post("/webhooks/{webhook_id}/disable", response_model=WebhookOut)
def disable_webhook(session: SessionDep, principal: WriterDep, webhook_id: PathId) -> WebhookOut:
    return WebhookOut.of(service.set_enabled(session, principal, webhook_id, False))


@router.post("/webhooks/{webhook_id}/rotate-secret", response_model=WebhookSecret)
def rotate_secret(
    session: SessionDep, settings: SettingsDep, principal: WriterDep, webhook_id: PathId
) -> WebhookSecret:
    """A new secret, shown this once; the old one stops signing at once."""
    return WebhookSecret(secret=service.rotate_secret(session, settings, principal, webhook_id))


@router.get("/webhooks/{webhook_id}/deliveries", response_model=PageOut[WebhookDeliveryOut])
def list_deliveries(
    session: SessionDep,
    principal: PrincipalDep,
    webhook_id: PathId,
    page: PageDep,
    status: Annotated[str | None, Query(max_length=16)] = None,
) -> PageOut[WebhookDeliveryOut]:
    """The delivery log, newest first; ``status``: pending, delivered or failed."""
    result = service.list_deliveries(
        session, principal, webhook_id, status=status, limit=page.limit, cursor=page.cursor
    )
    return PageOut(
        items=[WebhookDeliveryOut.of(d) for d in result.items], next_cursor=result.next_cursor
    )


@router.post(
    "/webhook-deliveries/{webhook_delivery_id}/replay",
    response_model=WebhookDeliveryOut,
    status_code=status.HTTP_202_ACCEPTED,
)
def replay_delivery(
    session: SessionDep, principal: WriterDep, webhook_delivery_id: PathId
) -> WebhookDeliveryOut:
    """Queue the event again for its endpoint (a new delivery with the same webhook-id)."""
    return WebhookDeliveryOut.of(service.replay(session, principal, webhook_delivery_id))
