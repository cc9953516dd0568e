"""The handlers of ``dns.publish`` and ``dns.remove`` jobs (see ``publication.py``).

Each reads what it needs in a short read, calls the DNS server or provider outside any
transaction, and audits the outcome (``domain.dns_publish``, in the name of whoever asked)
in a transaction of its own. An unreachable server is transient (the runner retries with
backoff); a refusal or a missing setting is permanent. Registered at import: the runner
imports this module by name (``jobs/registry.py``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from mailplane.audit.service import record
from mailplane.auth.principals import Principal
from mailplane.config import Settings
from mailplane.db import Database
from mailplane.domains.publication import DNS_PUBLISH, DNS_REMOVE, all_records
from mailplane.jobs.errors import PermanentJobError, TransientJobError
from mailplane.jobs.registry import register
from mailplane.models import Domain
from mailplane.protocols.dns import publishers
from mailplane.protocols.dns.publishers import Publication
from mailplane.protocols.dns.records import DnsRecord


@dataclass(frozen=True)
class Target:
    domain_id: int
    tenant_id: int | None
    name: str
    mode: str
    values: dict[str, Any]


def _records(payload: dict[str, Any]) -> list[DnsRecord]:
    return [DnsRecord(**item) for item in payload["records"]]


def _requester(payload: dict[str, Any]) -> Principal:
    who = payload.get("requested_by") or {}
    return Principal(
        kind=who.get("kind", "system"),
        id=who.get("id"),
        name=who.get("name", "system"),
        tenant_id=None,
        scopes=frozenset(),
    )


def _audit(
    database: Database, payload: dict[str, Any], target: Target, result: Publication
) -> None:
    if result.mode == "manual":
        return  # the domain went back to manual DNS before the job ran: nothing was done
    with database.transaction() as session:
        record(
            session,
            _requester(payload),
            "domain.dns_publish",
            object_type="domain",
            object_id=target.domain_id,
            tenant_id=target.tenant_id,
            details={"domain": target.name, **result.as_dict()},
        )


def _conclude(
    database: Database, payload: dict[str, Any], target: Target, result: Publication
) -> None:
    if result.status == "failed":
        # Audited once, when the runner gives up (report_failure), not at every retry.
        raise (TransientJobError if result.transient else PermanentJobError)(result.detail)
    _audit(database, payload, target, result)


def publish(settings: Settings, database: Database, payload: dict[str, Any]) -> None:
    with database.session(write=False) as session:
        domain = session.get(Domain, payload["domain_id"])
        if domain is None:
            return  # deleted since: its removal job carries the records to delete
        records = (
            all_records(session, settings, domain)
            if payload.get("records") is None
            else _records(payload)
        )
        target = Target(
            domain.id,
            domain.tenant_id,
            domain.name,
            domain.dns_automation,
            dict(domain.dns_settings or {}),
        )
    result = publishers.publish(settings, target.mode, target.name, target.values, records)
    _conclude(database, payload, target, result)


def _captured(payload: dict[str, Any]) -> Target:
    return Target(
        payload["domain_id"],
        payload.get("tenant_id"),
        payload["domain"],
        payload["mode"],
        dict(payload.get("dns_settings") or {}),
    )


def remove(settings: Settings, database: Database, payload: dict[str, Any]) -> None:
    target = _captured(payload)
    records = _records(payload)
    result = publishers.remove(settings, target.mode, target.name, target.values, records)
    _conclude(database, payload, target, result)


def report_failure(
    settings: Settings, database: Database, payload: dict[str, Any], reason: str
) -> None:
    """The job gave up: the audit log says so, as it says when it succeeded."""
    target = _captured(payload)
    _audit(database, payload, target, Publication(target.mode, "failed", reason, 0))


register(DNS_PUBLISH, publish, on_give_up=report_failure)
register(DNS_REMOVE, remove, on_give_up=report_failure)
