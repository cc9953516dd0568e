"""Small helpers shared by the DNS tests."""

from __future__ import annotations

from typing import Any

from tests.support.api import Api
from tests.support.knot import Knot


def hosted_domain(
    api: Api,
    knot: Knot,
    tenant_id: int,
    *,
    publish: bool = True,
    replace: dict[tuple[str, str], str | None] | None = None,
    **extra: Any,
) -> dict[str, Any]:
    """Create a domain through the API, then serve its zone from Knot.

    ``publish`` copies the records the API asks for into the zone, as a customer would;
    ``replace`` maps (type, name) to a different value, or None to leave the record out.
    """
    domain = api.domain(tenant_id, **extra)
    records = []
    if publish:
        for record in domain["dns_records"]:
            key = (record["type"], record["name"])
            if replace and key in replace:
                if replace[key] is None:
                    continue
                record = {**record, "value": replace[key]}
            records.append(record)
    knot.add_zone(domain["domain_ascii"], records)
    return domain


def verify(api: Api, domain_id: int, status: int = 200) -> dict[str, Any]:
    result: dict[str, Any] = api.ok("POST", f"/api/v1/mail/domains/{domain_id}/verify", status)
    return result


def check_of(report: dict[str, Any], kind: str, decisive_only: bool = False) -> dict[str, Any]:
    matches = [
        c for c in report["checks"] if c["check"] == kind and (c["decisive"] or not decisive_only)
    ]
    assert matches, f"no {kind} check in {report['checks']}"
    found: dict[str, Any] = matches[0]
    return found
