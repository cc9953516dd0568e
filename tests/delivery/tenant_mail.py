"""Queueing mail as a tenant's sending domain, for the suppression and statistics tests."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import select

from mailplane.db import Database
from mailplane.models import Suppression
from mailplane.models.statuses import MessageSource
from mailplane.sending.queue import NewMessage, Queued, enqueue
from tests.delivery.support import raw_message
from tests.support.api import Api


@dataclass(frozen=True)
class TenantDomain:
    tenant_id: int
    domain_id: int
    domain: str


def tenant_domain(api: Api) -> TenantDomain:
    tenant = api.tenant()
    domain = api.domain(tenant["id"])
    return TenantDomain(tenant["id"], domain["id"], domain["domain_ascii"])


def queue_as(database: Database, sender: TenantDomain, recipients: list[str]) -> Queued:
    """One unsigned message from the tenant's domain (the engine sends it as is)."""
    address = f"app@{sender.domain}"
    with database.transaction() as session:
        return enqueue(
            session,
            NewMessage(
                raw=raw_message(address, recipients[0]),
                recipients=recipients,
                source=MessageSource.API,
                message_id_header="<x@tests>",
                tenant_id=sender.tenant_id,
                domain_id=sender.domain_id,
                envelope_from=address,
                header_from=address,
            ),
        )


def ids(queued: Queued) -> list[int]:
    return [delivery_id for _, delivery_id in queued.deliveries]


def listed(api: Api, tenant_id: int, address: str) -> list[dict[str, Any]]:
    """The tenant's suppression entries for ``address``, through the API."""
    page = api.ok("GET", "/api/v1/suppressions", params={"tenant_id": tenant_id, "q": address})
    return [item for item in page["items"] if item["address"] == address]


def entry(database: Database, tenant_id: int, address: str) -> Suppression | None:
    with database.session(write=False) as session:
        return session.scalar(
            select(Suppression).where(
                Suppression.tenant_id == tenant_id, Suppression.address == address
            )
        )
