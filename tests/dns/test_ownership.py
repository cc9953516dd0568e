"""Ownership proof through verification, against records served by a real Knot server:
the TXT token or MX records at the platform prove a name; nothing else does."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select

from mailplane.config import Settings
from mailplane.db import Database
from mailplane.domains.verification import scheduler
from mailplane.models import Domain, Event
from tests.dns.conftest import PLATFORM_ZONE
from tests.dns.helpers import verify
from tests.support.api import Api
from tests.support.knot import Knot

PLATFORM_MX = f"mail.{PLATFORM_ZONE}"


def _ownership_checks(report: dict[str, Any]) -> list[dict[str, Any]]:
    return [c for c in report["checks"] if c["check"] == "ownership"]


def _new_name() -> str:
    return f"claim-{secrets.token_hex(4)}.test"


def _tenant_domain(admin: Api, name: str | None = None) -> dict[str, Any]:
    result: dict[str, Any] = admin.ok(
        "POST", "/api/v1/mail/domains", 201, json={"domain": name or _new_name()}
    )
    return result


def test_the_published_token_proves_a_tenants_domain(
    dns_api: Api, knot: Knot, tenant: dict[str, Any], database: Database
) -> None:
    admin = dns_api.tenant_admin(tenant["id"])
    domain = _tenant_domain(admin)
    assert domain["owned"] is False
    knot.add_zone(domain["domain_ascii"], [domain["ownership_record"]])

    report = verify(admin, domain["id"])

    (check,) = _ownership_checks(report)
    assert check["status"] == "ok", check
    assert check["details"]["method"] == "txt"
    assert check["decisive"] is False
    # Owned, yet still not verified for sending: MX, SPF and DKIM are missing.
    assert report["verification_status"] == "pending"
    shown = admin.ok("GET", f"/api/v1/mail/domains/{domain['id']}")
    assert shown["owned"] is True
    assert shown["ownership_method"] == "txt"
    assert shown["can_send"] is False
    audit = dns_api.ok("GET", "/api/v1/audit", params={"action": "domain.ownership_proven"})
    assert any(e["object_id"] == domain["id"] for e in audit["items"])
    with database.session(write=False) as session:
        events = session.scalars(
            select(Event).where(
                Event.object_id == domain["id"], Event.type == "domain.ownership_proven"
            )
        ).all()
    assert [e.payload["method"] for e in events] == ["txt"]
    # Proven once: the next verification does not ask again.
    assert _ownership_checks(verify(admin, domain["id"])) == []


def test_mx_records_at_the_platform_prove_it(
    dns_api: Api, knot: Knot, tenant: dict[str, Any]
) -> None:
    admin = dns_api.tenant_admin(tenant["id"])
    domain = _tenant_domain(admin)
    name = domain["domain_ascii"]
    knot.add_zone(name, [{"type": "MX", "name": name, "value": PLATFORM_MX, "priority": 10}])

    (check,) = _ownership_checks(verify(admin, domain["id"]))

    assert check["status"] == "ok", check
    assert check["details"]["method"] == "mx"
    assert admin.ok("GET", f"/api/v1/mail/domains/{domain['id']}")["ownership_method"] == "mx"


def test_nothing_else_proves_it(dns_api: Api, knot: Knot, tenant: dict[str, Any]) -> None:
    admin = dns_api.tenant_admin(tenant["id"])
    domain = _tenant_domain(admin)
    name = domain["domain_ascii"]
    record = domain["ownership_record"]
    someone_elses = _tenant_domain(admin)["ownership_record"]["value"]
    knot.add_zone(
        name,
        [
            {"type": "MX", "name": name, "value": "mx.elsewhere.test", "priority": 10},
            {**record, "value": someone_elses},  # a token, but not this domain's
        ],
    )

    report = verify(admin, domain["id"])

    (check,) = _ownership_checks(report)
    assert check["status"] == "error"
    assert check["temporary"] is False
    assert check["found"] == someone_elses
    assert check["hint"].startswith(f"{name} receives no mail here until it is shown")
    assert f"{record['name']}: {record['value']}" in check["hint"]
    assert "another value" in check["hint"]
    assert admin.ok("GET", f"/api/v1/mail/domains/{domain['id']}")["owned"] is False


def test_alias_domains_are_proven_when_their_domain_is_verified(
    dns_api: Api, knot: Knot, tenant: dict[str, Any]
) -> None:
    admin = dns_api.tenant_admin(tenant["id"])
    domain = dns_api.domain(tenant["id"])  # owned by the operator's word
    alias = admin.ok(
        "POST",
        f"/api/v1/mail/domains/{domain['id']}/alias-domains",
        201,
        json={"name": _new_name()},
    )
    unproven = admin.ok(
        "POST",
        f"/api/v1/mail/domains/{domain['id']}/alias-domains",
        201,
        json={"name": _new_name()},
    )
    knot.add_zone(alias["name_ascii"], [alias["ownership_record"]])

    checks = {c["details"]["id"]: c for c in _ownership_checks(verify(admin, domain["id"]))}

    assert checks[alias["id"]]["status"] == "ok"
    assert checks[alias["id"]]["details"]["kind"] == "alias_domain"
    assert checks[unproven["id"]]["status"] == "error"
    listed = admin.ok("GET", f"/api/v1/mail/domains/{domain['id']}/alias-domains")["items"]
    owned = {a["id"]: (a["owned"], a["ownership_method"]) for a in listed}
    assert owned == {alias["id"]: (True, "txt"), unproven["id"]: (False, None)}


def test_the_periodic_check_proves_ownership_too(
    dns_api: Api, knot: Knot, tenant: dict[str, Any], dns_settings: Settings, database: Database
) -> None:
    admin = dns_api.tenant_admin(tenant["id"])
    domain = _tenant_domain(admin)
    knot.add_zone(domain["domain_ascii"], [domain["ownership_record"]])

    scheduler.run_pending(dns_settings, database, now=datetime.now(UTC) + timedelta(days=30))

    with database.session(write=False) as session:
        row = session.get(Domain, domain["id"])
        assert row is not None
        assert row.owned_at is not None
        assert row.ownership_method == "txt"


def test_a_parents_wildcard_does_not_hand_another_tenant_its_subdomains(
    dns_api: Api, knot: Knot, tenant: dict[str, Any]
) -> None:
    owner = dns_api.tenant_admin(tenant["id"])
    squatter = dns_api.tenant_admin(dns_api.tenant()["id"])
    parent = _tenant_domain(owner)
    name = parent["domain_ascii"]
    # Created while the parent was unproven (unproven names block nothing) ...
    sub = _tenant_domain(squatter, f"shop.{name}")
    knot.add_zone(
        name,
        [
            parent["ownership_record"],
            # ... and the parent's owner sends every subdomain's mail to the platform.
            {"type": "MX", "name": f"*.{name}", "value": PLATFORM_MX, "priority": 10},
        ],
    )
    assert _ownership_checks(verify(owner, parent["id"]))[0]["status"] == "ok"

    (check,) = _ownership_checks(verify(squatter, sub["id"]))

    assert check["status"] == "error"
    assert "another customer has proven to own" in check["hint"]
    assert squatter.ok("GET", f"/api/v1/mail/domains/{sub['id']}")["owned"] is False
