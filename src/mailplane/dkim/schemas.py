from __future__ import annotations

from datetime import datetime
from typing import Literal

from mailplane.dkim import keys as dkim_keys
from mailplane.domains.schemas import DnsPublicationOut, DnsRecordOut
from mailplane.models import DkimKey, Domain
from mailplane.models.statuses import DkimKeyStatus
from mailplane.schemas import RequestModel, ResponseModel


class DkimKeyOut(ResponseModel):
    id: int
    selector: str
    algorithm: str
    status: DkimKeyStatus
    dns_name: str
    dns_value: str
    created_at: datetime
    activated_at: datetime | None
    retired_at: datetime | None

    @classmethod
    def of(cls, domain: Domain, key: DkimKey) -> DkimKeyOut:
        return cls(
            id=key.id,
            selector=key.selector,
            algorithm=key.algorithm,
            status=DkimKeyStatus(key.status),
            dns_name=f"{key.selector}._domainkey.{domain.name}",
            dns_value=dkim_keys.txt_value(key.algorithm, key.public_key_b64),
            created_at=key.created_at,
            activated_at=key.activated_at,
            retired_at=key.retired_at,
        )


class RotateIn(RequestModel):
    algorithm: Literal["rsa-2048", "ed25519"] | None = None


class RotateOut(DkimKeyOut):
    """The new key, the record that publishes it, and how publishing went."""

    dns_record: DnsRecordOut
    publication: DnsPublicationOut
