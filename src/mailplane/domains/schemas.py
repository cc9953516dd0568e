from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import Field, StrictBool, StringConstraints

from mailplane.domains.dns_settings import public_dns_settings
from mailplane.domains.records import ownership_record
from mailplane.domains.verification.state import can_send
from mailplane.models import AliasDomain, Domain
from mailplane.models.statuses import OwnershipMethod, Status, VerificationStatus
from mailplane.names import to_u_label
from mailplane.schemas import ObjectId, RequestModel, ResponseModel

DomainName = Annotated[str, StringConstraints(min_length=1, max_length=253)]


class DnsRecordOut(ResponseModel):
    type: str
    name: str
    value: str
    purpose: str
    required: bool
    priority: int | None
    ttl: int


OWNED_FIELD = Field(
    default=None,
    description="Operators only (service token): true marks the name as owned at once, "
    "without DNS proof (audited). A tenant admin sending it gets 403 platform_only.",
)


class DomainCreate(RequestModel):
    domain: DomainName = Field(description="Unicode or ASCII; stored as an A-label.")
    customer_id: ObjectId | None = Field(
        default=None, description="The tenant that owns the domain (a tenant admin may omit it)."
    )
    dkim_algorithm: Literal["rsa-2048", "ed25519"] | None = None
    dns_automation: Literal["manual", "rfc2136", "lexicon"] = "manual"
    dns_settings: dict[str, Any] | None = Field(
        default=None,
        description="Per-domain automation settings overriding the platform's: rfc2136 "
        "{server, port, zone, key_name, key_algorithm, key_secret}; lexicon {provider, zone, "
        "options}. Secrets are never shown back.",
    )
    owned: StrictBool | None = OWNED_FIELD


class DomainUpdate(RequestModel):
    status: Literal["active", "suspended", "disabled"] | None = None
    dns_automation: Literal["manual", "rfc2136", "lexicon"] | None = None
    dns_settings: dict[str, Any] | None = None
    owned: StrictBool | None = Field(
        default=None,
        description="Operators only (service token): true marks the name as owned now; "
        "false withdraws the ownership (the name stops routing mail until it is proven "
        "again). Audited. A tenant admin sending it gets 403 platform_only.",
    )


class Ownership(ResponseModel):
    """Whether the name routes mail yet, and the record that proves it does."""

    owned: bool = Field(
        description="Proven (or marked by an operator): only then is the name a local "
        "destination and may its mailboxes log in and send."
    )
    ownership_status: Literal["owned", "pending"]
    owned_at: datetime | None
    ownership_method: OwnershipMethod | None
    ownership_record: DnsRecordOut = Field(
        description="Publish this TXT record (or point the MX records at the platform), then "
        "verify the domain: its ownership is then proven."
    )

    @staticmethod
    def fields_of(row: Domain | AliasDomain) -> dict[str, Any]:
        owned = row.owned_at is not None
        record = ownership_record(row.name, row.ownership_token)
        return {
            "owned": owned,
            "ownership_status": "owned" if owned else "pending",
            "owned_at": row.owned_at,
            "ownership_method": (
                OwnershipMethod(row.ownership_method) if row.ownership_method else None
            ),
            "ownership_record": DnsRecordOut.model_validate(record.as_dict()),
        }


class DomainOut(Ownership):
    id: int
    domain: str = Field(description="Unicode form (U-label).")
    domain_ascii: str = Field(description="ASCII form (A-label), as stored and in DNS.")
    customer_id: int
    status: Status
    suspended_by: str | None = Field(
        description="Who set a status other than active: operator or tenant. A tenant admin "
        "cannot change what an operator set (403 operator_suspension)."
    )
    verification_status: VerificationStatus
    failing_since: datetime | None
    verified_at: datetime | None
    last_checked_at: datetime | None
    dns_automation: str
    dns_settings: dict[str, Any]
    can_send: bool = Field(description="Verified (or failing inside the grace period) and active.")
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, domain: Domain) -> DomainOut:
        return cls(
            id=domain.id,
            domain=to_u_label(domain.name),
            domain_ascii=domain.name,
            customer_id=domain.tenant_id,
            status=Status(domain.status),
            suspended_by=domain.suspended_by,
            verification_status=VerificationStatus(domain.verification_status),
            failing_since=domain.failing_since,
            verified_at=domain.verified_at,
            last_checked_at=domain.last_checked_at,
            dns_automation=domain.dns_automation,
            dns_settings=public_dns_settings(domain.dns_settings or {}),
            can_send=can_send(domain),
            created_at=domain.created_at,
            updated_at=domain.updated_at,
            **cls.fields_of(domain),
        )


class DnsRecordsOut(ResponseModel):
    domain: str
    records: list[DnsRecordOut]


class DnsPublicationOut(ResponseModel):
    """What a change answers: its DNS work is queued as a job (``job_id``), or is the
    customer's to do (``manual``). The outcome: ``GET .../dns/publication``."""

    mode: str
    status: Literal["manual", "queued"]
    detail: str
    records: int
    job_id: int | None = None


class PublicationJobOut(ResponseModel):
    job_id: int
    operation: Literal["publish", "remove"]
    # published / removed: done; retrying: the DNS server could not be reached yet
    # (last_error says why, next_attempt_at when it tries again); failed: given up.
    status: Literal["queued", "running", "retrying", "published", "removed", "failed"]
    attempts: int
    last_error: str | None
    next_attempt_at: datetime | None
    created_at: datetime
    finished_at: datetime | None


class DomainPublicationOut(ResponseModel):
    domain: str
    dns_automation: str
    last: PublicationJobOut | None  # None: nothing was ever published through automation


class PublishOut(ResponseModel):
    publication: DnsPublicationOut
    records: list[DnsRecordOut]


class DomainCreated(DomainOut):
    dns_records: list[DnsRecordOut]
    dns_publication: DnsPublicationOut | None = None


class AliasDomainCreate(RequestModel):
    name: DomainName
    owned: StrictBool | None = OWNED_FIELD


class AliasDomainOut(Ownership):
    id: int
    domain_id: int
    name: str
    name_ascii: str
    created_at: datetime

    @classmethod
    def of(cls, row: AliasDomain) -> AliasDomainOut:
        return cls(
            id=row.id,
            domain_id=row.domain_id,
            name=to_u_label(row.name),
            name_ascii=row.name,
            created_at=row.created_at,
            **cls.fields_of(row),
        )
