"""A tenant whose domain may send, with an API key: what every send API test starts from."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select, update

from mailplane.db import Database
from mailplane.models import Domain, OutboundMessage, Tenant, utcnow
from mailplane.models.statuses import VerificationStatus
from tests.support.api import Api


@dataclass
class Sender:
    tenant_id: int
    domain_id: int
    domain: str
    key: str
    key_id: int
    api: Api  # the operator's API (admin routes)

    def headers(self, **extra: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.key}", **extra}

    def send(self, body: dict[str, Any], **headers: str) -> Any:
        return self.api.client.post("/api/v1/send", json=body, headers=self.headers(**headers))


def mark_verified(
    database: Database, domain_id: int, status: str = VerificationStatus.VERIFIED
) -> None:
    """What a passing DNS verification leaves behind (tests/dns proves that path)."""
    with database.transaction() as session:
        session.execute(
            update(Domain)
            .where(Domain.id == domain_id)
            .values(verification_status=status, verified_at=utcnow())
        )


def set_tenant_rate(database: Database, tenant_id: int, per_hour: int | None) -> None:
    with database.transaction() as session:
        session.execute(
            update(Tenant).where(Tenant.id == tenant_id).values(send_rate_per_hour=per_hour)
        )


def make_sender(
    api: Api, database: Database, *, rate_per_hour: int | None = 100_000, **key: Any
) -> Sender:
    tenant = api.tenant()
    domain = api.domain(tenant["id"])
    mark_verified(database, domain["id"])
    set_tenant_rate(database, tenant["id"], rate_per_hour)
    created = api.ok(
        "POST",
        f"/api/v1/mail/domains/{domain['id']}/api-keys",
        201,
        json={"name": "site", **key},
    )
    return Sender(
        tenant_id=tenant["id"],
        domain_id=domain["id"],
        domain=domain["domain_ascii"],
        key=created["key"],
        key_id=created["id"],
        api=api,
    )


def messages_of(database: Database, domain_id: int) -> int:
    """How many messages a domain has in the queue (sent, refused ones never counted)."""
    with database.session(write=False) as session:
        return int(
            session.scalar(
                select(func.count())
                .select_from(OutboundMessage)
                .where(OutboundMessage.domain_id == domain_id)
            )
            or 0
        )
