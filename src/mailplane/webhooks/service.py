"""Webhook endpoints: created, changed, enabled and deleted by operators and tenant
admins, tenant-scoped; the delivery log and replays. Changes are audited (never the
secret, which is answered once at creation and at rotation)."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from mailplane.audit.service import record
from mailplane.auth.principals import Principal, get_owned
from mailplane.config import Settings
from mailplane.db.pagination import Page, keyset_page
from mailplane.errors import InvalidInput, NotFound
from mailplane.models import Tenant, WebhookDelivery, WebhookEndpoint, utcnow
from mailplane.webhooks import secrets
from mailplane.webhooks.events import EVENT_TYPES, SENDING_EVENTS
from mailplane.webhooks.schemas import WebhookCreate, WebhookUpdate
from mailplane.webhooks.urls import validate_url

# Besides the message events, the outbox's own events (domain.*, webhook.disabled, ...)
# pass through by name; a type must at least look like one.
STATUSES = frozenset({"pending", "delivered", "failed"})


@dataclass(frozen=True)
class NewWebhook:
    row: WebhookEndpoint
    secret: str


def _details(row: WebhookEndpoint) -> dict[str, object]:
    return {"url": row.url, "event_types": list(row.event_types), "enabled": row.enabled}


def _check_types(types: list[str]) -> list[str]:
    unknown = [
        t
        for t in types
        if (t.startswith("message.") and t not in EVENT_TYPES)
        or (t.startswith("sending.") and t not in SENDING_EVENTS)
    ]
    if unknown:
        raise InvalidInput(f"unknown event types: {', '.join(unknown)}", code="unknown_event_type")
    return sorted(set(types))


def create(
    session: Session, settings: Settings, principal: Principal, body: WebhookCreate
) -> NewWebhook:
    tenant_id = body.customer_id if body.customer_id is not None else principal.tenant_id
    if tenant_id is None:
        raise InvalidInput("customer_id is required", code="customer_id_required")
    if session.get(Tenant, tenant_id) is None:
        raise NotFound(f"tenant {tenant_id} not found", code="tenant_not_found")
    principal.check_tenant(tenant_id, "tenant")
    secret = secrets.new_secret()
    now = utcnow()
    row = WebhookEndpoint(
        tenant_id=tenant_id,
        url=validate_url(settings, body.url),
        description=body.description,
        event_types=_check_types(body.event_types),
        secret_encrypted=secrets.encrypt(settings, secret),
        enabled=True,
        created_at=now,
        updated_at=now,
    )
    session.add(row)
    session.flush()
    record(
        session,
        principal,
        "webhook.create",
        object_type="webhook",
        object_id=row.id,
        tenant_id=tenant_id,
        details=_details(row),
    )
    return NewWebhook(row, secret)


def get(session: Session, principal: Principal, webhook_id: int) -> WebhookEndpoint:
    return get_owned(session, principal, WebhookEndpoint, webhook_id, "webhook")


def list_webhooks(
    session: Session, principal: Principal, *, limit: int, cursor: str | None
) -> Page[WebhookEndpoint]:
    query = select(WebhookEndpoint).where(principal.tenant_filter(WebhookEndpoint.tenant_id))
    return keyset_page(session, query, WebhookEndpoint.id, limit=limit, cursor=cursor)


def update(
    session: Session, settings: Settings, principal: Principal, webhook_id: int, body: WebhookUpdate
) -> WebhookEndpoint:
    row = get(session, principal, webhook_id)
    if body.url is not None:
        row.url = validate_url(settings, body.url)
    if body.event_types is not None:
        row.event_types = _check_types(body.event_types)
    if body.description is not None:
        row.description = body.description
    row.updated_at = utcnow()
    record(
        session,
        principal,
        "webhook.update",
        object_type="webhook",
        object_id=row.id,
        tenant_id=row.tenant_id,
        details=_details(row),
    )
    return row


def set_enabled(
    session: Session, principal: Principal, webhook_id: int, enabled: bool
) -> WebhookEndpoint:
    row = get(session, principal, webhook_id)
    now = utcnow()
    row.enabled, row.updated_at = enabled, now
    if enabled:
        row.disabled_reason = row.disabled_at = row.failing_since = None
    else:
        row.disabled_reason, row.disabled_at = "disabled by an administrator", now
    action = "webhook.enable" if enabled else "webhook.disable"
    record(
        session,
        principal,
        action,
        object_type="webhook",
        object_id=row.id,
        tenant_id=row.tenant_id,
        details=_details(row),
    )
    return row


def rotate_secret(
    session: Session, settings: Settings, principal: Principal, webhook_id: int
) -> str:
    row = get(session, principal, webhook_id)
    secret = secrets.new_secret()
    row.secret_encrypted, row.updated_at = secrets.encrypt(settings, secret), utcnow()
    record(
        session,
        principal,
        "webhook.rotate_secret",
        object_type="webhook",
        object_id=row.id,
        tenant_id=row.tenant_id,
    )
    return secret


def delete(session: Session, principal: Principal, webhook_id: int) -> None:
    row = get(session, principal, webhook_id)
    record(
        session,
        principal,
        "webhook.delete",
        object_type="webhook",
        object_id=row.id,
        tenant_id=row.tenant_id,
        details=_details(row),
    )
    session.delete(row)


def list_deliveries(
    session: Session,
    principal: Principal,
    webhook_id: int,
    *,
    status: str | None,
    limit: int,
    cursor: str | None,
) -> Page[WebhookDelivery]:
    row = get(session, principal, webhook_id)
    if status is not None and status not in STATUSES:
        raise InvalidInput(f"status is one of {', '.join(sorted(STATUSES))}", code="invalid_status")
    query = select(WebhookDelivery).where(
        WebhookDelivery.endpoint_id == row.id, WebhookDelivery.tenant_id == row.tenant_id
    )
    if status is not None:
        query = query.where(WebhookDelivery.status == status)
    return keyset_page(
        session, query, WebhookDelivery.id, limit=limit, cursor=cursor, newest_first=True
    )


def replay(session: Session, principal: Principal, delivery_id: int) -> WebhookDelivery:
    """Send the event again as a new delivery (same webhook-id, so receivers can tell)."""
    original = get_owned(session, principal, WebhookDelivery, delivery_id, "webhook delivery")
    now = utcnow()
    copy = WebhookDelivery(
        endpoint_id=original.endpoint_id,
        tenant_id=original.tenant_id,
        event_id=original.event_id,
        event_type=original.event_type,
        ordering_key=None,
        payload=original.payload,
        status="pending",
        attempts=0,
        next_attempt_at=now,
        created_at=now,
    )
    session.add(copy)
    session.flush()
    record(
        session,
        principal,
        "webhook.replay",
        object_type="webhook",
        object_id=original.endpoint_id,
        tenant_id=original.tenant_id,
        details={"delivery_id": original.id, "replay_id": copy.id},
    )
    return copy
