"""Verification through the API against records served by a real Knot server."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from sqlalchemy import select

from mailplane.db import Database
from mailplane.models import Event
from tests.dns.conftest import SPF_INCLUDE, Clock
from tests.dns.helpers import check_of, hosted_domain, verify
from tests.support.api import Api
from tests.support.knot import Knot


def test_correct_records_verify_and_allow_sending(
    dns_api: Api, knot: Knot, tenant: dict[str, Any], database: Database
) -> None:
    domain = hosted_domain(dns_api, knot, tenant["id"])
    assert domain["verification_status"] == "pending"
    assert domain["can_send"] is False
    never = dns_api.ok("GET", f"/api/v1/mail/domains/{domain['id']}/verification")
    assert never["outcome"] is None
    assert never["checks"] == []

    report = verify(dns_api, domain["id"])

    assert report["outcome"] == "ok"
    assert report["verification_status"] == "verified"
    assert report["can_send"] is True
    assert report["verified_at"] is not None
    by_kind = {c["check"]: c for c in report["checks"]}
    for kind in ("mx", "spf", "dkim", "dmarc", "autoconfig", "autodiscover", "srv"):
        assert by_kind[kind]["status"] == "ok", by_kind[kind]
    assert {c["check"] for c in report["checks"] if c["decisive"]} == {"mx", "spf", "dkim"}
    assert by_kind["dmarc"]["details"]["policy"] == "quarantine"
    spf = by_kind["spf"]
    assert spf["found"] == f"v=spf1 mx include:{SPF_INCLUDE} -all"
    assert {v["result"] for v in spf["details"].values()} == {"pass"}

    last = dns_api.ok("GET", f"/api/v1/mail/domains/{domain['id']}/verification")
    assert last["outcome"] == "ok"
    assert last["checks"] == report["checks"]
    assert last["last_checked_at"] == report["last_checked_at"]
    shown = dns_api.ok("GET", f"/api/v1/mail/domains/{domain['id']}")
    assert shown["verification_status"] == "verified"
    assert shown["can_send"] is True
    asked = dns_api.ok("GET", "/api/v1/audit", params={"action": "domain.verify"})
    assert any(
        e["object_id"] == domain["id"] and e["details"]["outcome"] == "ok" for e in asked["items"]
    )
    audit = dns_api.ok("GET", "/api/v1/audit", params={"action": "domain.verification_changed"})
    assert any(
        e["object_id"] == domain["id"] and e["details"]["to"] == "verified" for e in audit["items"]
    )
    with database.session(write=False) as session:
        events = session.scalars(
            select(Event).where(
                Event.object_id == domain["id"], Event.type == "domain.verification_changed"
            )
        ).all()
    assert [(e.payload["from"], e.payload["to"]) for e in events] == [("pending", "verified")]


def test_nothing_published_stays_pending_with_hints(
    dns_api: Api, knot: Knot, tenant: dict[str, Any]
) -> None:
    domain = hosted_domain(dns_api, knot, tenant["id"], publish=False)
    name = domain["domain_ascii"]

    report = verify(dns_api, domain["id"])

    assert report["outcome"] == "broken"
    assert report["verification_status"] == "pending"
    assert report["can_send"] is False
    mx, spf, dkim = (check_of(report, k) for k in ("mx", "spf", "dkim"))
    assert mx["status"] == spf["status"] == dkim["status"] == "error"
    assert mx["found"] is None
    assert mx["hint"].startswith(f"Publish MX records for {name}")
    assert spf["hint"] == f"Publish a TXT record at {name}: v=spf1 mx include:{SPF_INCLUDE} -all"
    assert dkim["hint"].startswith(
        f"Publish a TXT record at mp1._domainkey.{name}: v=DKIM1; k=rsa; p="
    )
    dmarc = check_of(report, "dmarc")
    assert dmarc["status"] == "warning"
    assert "No DMARC policy" in dmarc["hint"]
    assert check_of(report, "autoconfig")["status"] == "warning"


def test_wrong_dkim_key_is_named(dns_api: Api, knot: Knot, tenant: dict[str, Any]) -> None:
    other = dns_api.domain(tenant["id"])  # its key is a valid key, just not this domain's
    other_key = next(r["value"] for r in other["dns_records"] if "._domainkey." in r["name"])
    domain = dns_api.domain(tenant["id"])
    name = domain["domain_ascii"]
    dkim_name = f"mp1._domainkey.{name}"
    records = [
        {**r, "value": other_key} if r["name"] == dkim_name else r for r in domain["dns_records"]
    ]
    knot.add_zone(name, records)

    report = verify(dns_api, domain["id"])

    dkim = check_of(report, "dkim")
    assert dkim["status"] == "error"
    assert dkim["decisive"]
    assert dkim["found"] == other_key
    assert "is not the key mailplane signs with" in dkim["hint"]
    assert report["verification_status"] == "pending"
    assert check_of(report, "spf")["status"] == "ok"


def test_spf_without_the_platform_is_an_error(
    dns_api: Api, knot: Knot, tenant: dict[str, Any]
) -> None:
    domain = dns_api.domain(tenant["id"])
    name = domain["domain_ascii"]
    own_only = "v=spf1 ip4:203.0.113.5 -all"
    knot.add_zone(
        name,
        [
            {**r, "value": own_only} if r["value"].startswith("v=spf1") else r
            for r in domain["dns_records"]
        ],
    )

    spf = check_of(verify(dns_api, domain["id"]), "spf")

    assert spf["status"] == "error"
    assert spf["found"] == own_only
    assert (
        "does not authorize this platform's sending address 192.0.2.10 (result: fail)"
        in spf["hint"]
    )
    assert f"Add 'include:{SPF_INCLUDE}'" in spf["hint"]


def _with_spf(
    domain: dict[str, Any], spf: str, extra: Sequence[dict[str, Any]] = ()
) -> list[dict[str, Any]]:
    records = [r for r in domain["dns_records"] if not r["value"].startswith("v=spf1")]
    return [*records, {"type": "TXT", "name": domain["domain_ascii"], "value": spf}, *extra]


def test_spf_over_the_lookup_limit(dns_api: Api, knot: Knot, tenant: dict[str, Any]) -> None:
    domain = dns_api.domain(tenant["id"])
    name = domain["domain_ascii"]
    # Ten includes that do not match, then the platform's: the 11th lookup is one too many.
    fillers = [{"type": "TXT", "name": f"s{i}.{name}", "value": "v=spf1 -all"} for i in range(10)]
    spf = (
        "v=spf1 "
        + " ".join(f"include:s{i}.{name}" for i in range(10))
        + f" include:{SPF_INCLUDE} -all"
    )
    knot.add_zone(name, _with_spf(domain, spf, fillers))

    report = verify(dns_api, domain["id"])

    check = check_of(report, "spf")
    assert check["status"] == "error"
    assert "more than 10 DNS lookups" in check["hint"]
    assert f"include:{SPF_INCLUDE}" in check["hint"]  # where the limit was passed
    assert {v["result"] for v in check["details"].values()} == {"permerror"}


def test_spf_syntax_errors_are_reported(dns_api: Api, knot: Knot, tenant: dict[str, Any]) -> None:
    for spf, message in [
        (
            f"v=spf1 ipv4:192.0.2.10 include:{SPF_INCLUDE} -all",
            "unknown mechanism or malformed term 'ipv4:192.0.2.10'",
        ),
        (f"v=spf1 include {SPF_INCLUDE} -all", "'include' needs a domain"),
        ("v=spf1 ip4:192.0.2.300 -all", "'ip4:192.0.2.300' is not a valid address"),
        (f"v=spf1 include:{SPF_INCLUDE} redirect=a.test redirect=b.test", "appears more than once"),
    ]:
        domain = dns_api.domain(tenant["id"])
        knot.add_zone(domain["domain_ascii"], _with_spf(domain, spf))
        check = check_of(verify(dns_api, domain["id"]), "spf")
        assert check["status"] == "error", spf
        assert "is invalid" in check["hint"], check["hint"]
        assert message in check["hint"], check["hint"]


def test_two_spf_records_are_invalid(dns_api: Api, knot: Knot, tenant: dict[str, Any]) -> None:
    domain = dns_api.domain(tenant["id"])
    second = {"type": "TXT", "name": domain["domain_ascii"], "value": "v=spf1 -all"}
    knot.add_zone(domain["domain_ascii"], [*domain["dns_records"], second])
    check = check_of(verify(dns_api, domain["id"]), "spf")
    assert check["status"] == "error"
    assert "more than one SPF record" in check["hint"]


def test_missing_dmarc_is_only_a_warning(dns_api: Api, knot: Knot, tenant: dict[str, Any]) -> None:
    domain = dns_api.domain(tenant["id"])
    name = domain["domain_ascii"]
    knot.add_zone(name, [r for r in domain["dns_records"] if r["name"] != f"_dmarc.{name}"])
    report = verify(dns_api, domain["id"])
    assert report["verification_status"] == "verified"
    dmarc = check_of(report, "dmarc")
    assert dmarc["status"] == "warning"
    assert not dmarc["decisive"]
    assert dmarc["hint"].endswith(f"Publish a TXT record at _dmarc.{name}: {dmarc['expected']}")


def test_a_broken_domain_fails_then_stops_sending_then_recovers(
    dns_api: Api, knot: Knot, tenant: dict[str, Any], clock: Clock
) -> None:
    domain = hosted_domain(dns_api, knot, tenant["id"])
    name = domain["domain_ascii"]
    dkim_name = f"mp1._domainkey.{name}"
    dkim_value = next(r["value"] for r in domain["dns_records"] if r["name"] == dkim_name)
    assert verify(dns_api, domain["id"])["verification_status"] == "verified"

    knot.update(name, delete=[(dkim_name + ".", "TXT")])
    broke_at = clock.now = clock.now + timedelta(hours=1)
    report = verify(dns_api, domain["id"])
    assert report["verification_status"] == "failing"
    assert report["can_send"] is True  # inside the grace period
    assert report["failing_since"].startswith(broke_at.strftime("%Y-%m-%dT%H:%M:%S"))

    clock.now = broke_at + timedelta(hours=71)
    assert verify(dns_api, domain["id"])["verification_status"] == "failing"
    clock.now = broke_at + timedelta(hours=72, seconds=1)
    report = verify(dns_api, domain["id"])
    assert report["verification_status"] == "sending_disabled"
    assert report["can_send"] is False
    assert dns_api.ok("GET", f"/api/v1/mail/domains/{domain['id']}")["can_send"] is False

    knot.update(name, replace=[(dkim_name + ".", "TXT", [_quoted(dkim_value)])])
    clock.now += timedelta(hours=1)
    report = verify(dns_api, domain["id"])
    assert report["verification_status"] == "verified"
    assert report["failing_since"] is None
    assert report["can_send"] is True

    audit = dns_api.ok(
        "GET", "/api/v1/audit", params={"action": "domain.verification_changed", "limit": 500}
    )
    steps = [
        (e["details"]["from"], e["details"]["to"])
        for e in reversed(audit["items"])  # newest first: read them in the order they happened
        if e["object_id"] == domain["id"]
    ]
    assert steps == [
        ("pending", "verified"),
        ("verified", "failing"),
        ("failing", "sending_disabled"),
        ("sending_disabled", "verified"),
    ]
    failing = next(
        e
        for e in audit["items"]
        if e["object_id"] == domain["id"] and e["details"]["to"] == "failing"
    )
    assert failing["details"]["failed_checks"] == ["dkim"]


def _quoted(value: str) -> str:
    return " ".join(f'"{value[i : i + 255]}"' for i in range(0, len(value), 255))


def test_another_tenants_domain_is_not_found(
    dns_api: Api, knot: Knot, tenant: dict[str, Any]
) -> None:
    domain = hosted_domain(dns_api, knot, tenant["id"])
    outsider = dns_api.tenant_admin(dns_api.tenant()["id"])
    response = outsider.post(f"/api/v1/mail/domains/{domain['id']}/verify")
    assert response.status_code == 404
    assert response.json()["error"] == "not_found"
    own = dns_api.tenant_admin(tenant["id"])
    assert verify(own, domain["id"])["verification_status"] == "verified"


def test_a_dkim_record_with_a_tag_twice_is_an_error(
    dns_api: Api, knot: Knot, tenant: dict[str, Any]
) -> None:
    """dkimpy (and so receivers using it) rejects "p=A; p=B" whole: never "ok" because the
    last p= happens to be the right key, and never a 500."""
    domain = dns_api.domain(tenant["id"])
    dkim = next(r for r in domain["dns_records"] if "._domainkey." in r["name"])
    doubled = dkim["value"].replace("p=", "p=AAAA; p=", 1)
    knot.add_zone(
        domain["domain_ascii"],
        [{**r, "value": doubled} if r is dkim else r for r in domain["dns_records"]],
    )

    report = verify(dns_api, domain["id"])

    check = check_of(report, "dkim", decisive_only=True)
    assert check["status"] == "error"
    assert check["found"] == doubled
    assert "the tag 'p=' appears more than once" in check["hint"]
    assert dkim["value"] in check["hint"]  # what to publish instead
    assert report["outcome"] == "broken"
