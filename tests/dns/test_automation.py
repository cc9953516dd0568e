"""DNS automation: RFC 2136 updates really change what Knot serves, on create and on
rotation; the rotated key takes over only once DNS serves it; old keys retire later.

Publication is a job enqueued with the change: the request answers "queued", and the
records appear once the runner (driven here with ``run_jobs``) has run it."""

from __future__ import annotations

import secrets
from datetime import timedelta
from typing import Any

import dkim
import dns.message
import dns.query

from mailplane.config import Settings
from mailplane.db import Database
from mailplane.dkim.signing import sign_message
from mailplane.domains.verification import scheduler
from mailplane.models import Domain
from tests.dns.conftest import SPF_INCLUDE, Clock
from tests.dns.helpers import check_of, hosted_domain, verify
from tests.support.api import Api
from tests.support.jobs import publication_of, run_jobs
from tests.support.knot import Knot


def _fresh_zone(knot: Knot, extra: list[dict[str, Any]] = ()) -> str:  # type: ignore[assignment]
    name = f"auto{secrets.token_hex(4)}.test"
    knot.add_zone(name, [{**r, "name": r["name"].format(name=name)} for r in extra])
    return name


def _keys(api: Api, domain_id: int) -> dict[str, str]:
    return {
        k["selector"]: k["status"] for k in api.ok("GET", f"/api/v1/mail/domains/{domain_id}/dkim")
    }


def test_rfc2136_domain_creation_publishes_every_record(
    dns_api: Api, knot: Knot, tenant: dict[str, Any], dns_settings: Settings, database: Database
) -> None:
    name = _fresh_zone(
        knot,
        [
            {"type": "TXT", "name": "{name}", "value": "site-verification=keep-me"},
            {"type": "TXT", "name": "{name}", "value": "v=spf1 ip4:203.0.113.9 -all"},
            {"type": "MX", "name": "{name}", "value": "old-mx.example.net", "priority": 5},
        ],
    )
    domain = dns_api.domain(tenant["id"], name=name, dns_automation="rfc2136")
    queued = domain["dns_publication"]
    assert (queued["status"], queued["mode"]) == ("queued", "rfc2136"), queued
    assert publication_of(dns_api, domain["id"])["status"] == "queued"
    assert knot.query(name, "MX") == ["5 old-mx.example.net."]  # not yet: the job runs later

    assert run_jobs(dns_settings, database) >= 1
    done = publication_of(dns_api, domain["id"])
    assert (done["job_id"], done["status"], done["attempts"]) == (queued["job_id"], "published", 1)
    assert knot.query(name, "MX") == ["10 mail.mailplane.test."]
    assert sorted(knot.query(name, "TXT")) == sorted(
        ["site-verification=keep-me", f"v=spf1 mx include:{SPF_INCLUDE} -all"]
    )
    dkim_record = next(r for r in domain["dns_records"] if r["name"] == f"mp1._domainkey.{name}")
    assert knot.query(dkim_record["name"], "TXT") == [dkim_record["value"]]
    assert knot.query(f"_dmarc.{name}", "TXT")[0].startswith("v=DMARC1; p=quarantine")
    assert knot.query(f"autoconfig.{name}", "CNAME") == ["mail.mailplane.test."]
    assert knot.query(f"_submissions._tcp.{name}", "SRV") == ["0 1 465 mail.mailplane.test."]

    assert verify(dns_api, domain["id"])["verification_status"] == "verified"
    audit = dns_api.ok("GET", "/api/v1/audit", params={"action": "domain.dns_publish"})
    assert any(
        e["object_id"] == domain["id"] and e["details"]["status"] == "published"
        for e in audit["items"]
    )


def test_rotation_publishes_switches_after_verification_and_retires_later(
    dns_api: Api,
    knot: Knot,
    tenant: dict[str, Any],
    clock: Clock,
    dns_settings: Settings,
    database: Database,
) -> None:
    name = _fresh_zone(knot)
    domain = dns_api.domain(tenant["id"], name=name, dns_automation="rfc2136")
    run_jobs(dns_settings, database)
    assert verify(dns_api, domain["id"])["verification_status"] == "verified"

    rotated = dns_api.ok(
        "POST",
        f"/api/v1/mail/domains/{domain['id']}/dkim/rotate",
        201,
        json={"algorithm": "ed25519"},
    )
    key = rotated
    selector = key["selector"]
    assert selector == f"mp{clock.now:%Y%m}1"
    assert key["status"] == "pending"
    assert key["algorithm"] == "ed25519"
    assert rotated["publication"]["status"] == "queued"
    assert rotated["publication"]["records"] == 1
    assert rotated["dns_record"]["value"].startswith("v=DKIM1; k=ed25519; p=")
    assert knot.query(f"{selector}._domainkey.{name}", "TXT") == []
    run_jobs(dns_settings, database)
    # Knot serves the new key; the old one is still there.
    assert knot.query(f"{selector}._domainkey.{name}", "TXT") == [rotated["dns_record"]["value"]]
    assert knot.query(f"mp1._domainkey.{name}", "TXT")
    assert _keys(dns_api, domain["id"]) == {"mp1": "active", selector: "pending"}

    again = dns_api.post(f"/api/v1/mail/domains/{domain['id']}/dkim/rotate")
    assert again.status_code == 409
    assert again.json()["error"] == "rotation_pending"

    report = verify(dns_api, domain["id"])
    assert report["verification_status"] == "verified"
    assert check_of(report, "dkim", decisive_only=True)["details"]["selector"] == selector
    assert _keys(dns_api, domain["id"]) == {"mp1": "retiring", selector: "active"}

    # Signing now uses the new key, and the DNS server's copy of it verifies the signature.
    message = (
        f"From: info@{name}\r\nTo: someone@example.org\r\nSubject: rotated\r\n"
        "Date: Sun, 22 Nov 2026 10:00:00 +0000\r\nMessage-ID: <r1@x>\r\n\r\nHello.\r\n"
    ).encode()
    with database.session(write=False) as session:
        row = session.get(Domain, domain["id"])
        assert row is not None
        signed = sign_message(session, row, message)
    assert f"s={selector}".encode() in signed
    assert b"a=ed25519-sha256" in signed
    assert dkim.verify(signed, dnsfunc=_knot_txt(knot))

    # Not yet: the retiring key stays published for dkim_retire_after_hours (48).
    scheduler.run_pending(dns_settings, database, now=clock.now + timedelta(hours=47))
    assert _keys(dns_api, domain["id"])["mp1"] == "retiring"
    scheduler.run_pending(dns_settings, database, now=clock.now + timedelta(hours=49))
    assert _keys(dns_api, domain["id"]) == {"mp1": "retired", selector: "active"}
    assert knot.query(f"mp1._domainkey.{name}", "TXT")  # its removal is a job, not yet run
    assert publication_of(dns_api, domain["id"])["operation"] == "remove"
    run_jobs(dns_settings, database)
    assert publication_of(dns_api, domain["id"])["status"] == "removed"
    assert knot.query(f"mp1._domainkey.{name}", "TXT") == []
    assert knot.query(f"{selector}._domainkey.{name}", "TXT") == [rotated["dns_record"]["value"]]


def test_manual_rotation_waits_for_the_customer(
    dns_api: Api, knot: Knot, tenant: dict[str, Any], database: Database
) -> None:
    domain = hosted_domain(dns_api, knot, tenant["id"], dkim_algorithm="ed25519")
    assert verify(dns_api, domain["id"])["verification_status"] == "verified"
    rotated = dns_api.ok("POST", f"/api/v1/mail/domains/{domain['id']}/dkim/rotate", 201)
    assert rotated["publication"]["status"] == "manual"
    assert rotated["algorithm"] == "ed25519"  # follows the active key when not given
    record = rotated["dns_record"]

    report = verify(dns_api, domain["id"])
    pending = next(c for c in report["checks"] if c["check"] == "dkim" and not c["decisive"])
    assert pending["status"] == "warning"
    assert pending["hint"].startswith(f"Publish a TXT record at {record['name']}")
    assert report["verification_status"] == "verified"  # the active key still signs
    assert _keys(dns_api, domain["id"])[rotated["selector"]] == "pending"

    knot.update(
        domain["domain_ascii"], replace=[(record["name"] + ".", "TXT", [f'"{record["value"]}"'])]
    )
    verify(dns_api, domain["id"])
    assert _keys(dns_api, domain["id"]) == {"mp1": "retiring", rotated["selector"]: "active"}

    message = f"From: a@{domain['domain_ascii']}\r\nSubject: x\r\n\r\nbody\r\n".encode()
    with database.session(write=False) as session:
        row = session.get(Domain, domain["id"])
        assert row is not None
        assert dkim.verify(sign_message(session, row, message), dnsfunc=_knot_txt(knot))


def test_rsa_signature_verifies_against_the_served_key(
    dns_api: Api, knot: Knot, tenant: dict[str, Any], database: Database
) -> None:
    domain = hosted_domain(dns_api, knot, tenant["id"])
    sender = f"a@{domain['domain_ascii']}"
    message = f"From: {sender}\r\nTo: b@example.org\r\nSubject: hi\r\n\r\nbody\r\n".encode()
    with database.session(write=False) as session:
        row = session.get(Domain, domain["id"])
        assert row is not None
        signed = sign_message(session, row, message)
    assert b"a=rsa-sha256" in signed
    assert b"s=mp1" in signed
    assert dkim.verify(signed, dnsfunc=_knot_txt(knot))
    tampered = signed.replace(b"Subject: hi", b"Subject: HI!")
    assert not dkim.verify(tampered, dnsfunc=_knot_txt(knot))


def test_a_refused_update_is_reported_and_the_domain_still_created(
    dns_api: Api, knot: Knot, tenant: dict[str, Any], dns_settings: Settings, database: Database
) -> None:
    name = _fresh_zone(knot)
    wrong = {"key_name": "mailplane-test", "key_secret": "d3Jvbmctc2VjcmV0LXdyb25nLXNlY3JldA=="}
    domain = dns_api.domain(tenant["id"], name=name, dns_automation="rfc2136", dns_settings=wrong)
    assert domain["dns_publication"]["status"] == "queued"
    assert domain["dns_settings"] == {"key_name": "mailplane-test", "key_secret": "********"}
    run_jobs(dns_settings, database)
    # A refusal is permanent: failed at the first attempt, not retried.
    failed = publication_of(dns_api, domain["id"])
    assert (failed["status"], failed["attempts"], failed["next_attempt_at"]) == ("failed", 1, None)
    assert "TSIG" in failed["last_error"]
    audit = dns_api.ok("GET", "/api/v1/audit", params={"action": "domain.dns_publish"})
    (event,) = [e for e in audit["items"] if e["object_id"] == domain["id"]]
    assert event["details"]["status"] == "failed"
    assert "TSIG" in event["details"]["detail"]
    assert knot.query(name, "MX") == []

    # Fixed settings: switching them publishes again.
    dns_api.ok("PATCH", f"/api/v1/mail/domains/{domain['id']}", json={"dns_settings": {}})
    run_jobs(dns_settings, database)
    assert publication_of(dns_api, domain["id"])["status"] == "published"
    assert knot.query(name, "MX") == ["10 mail.mailplane.test."]


def test_bad_dns_settings_are_refused(dns_api: Api, tenant: dict[str, Any]) -> None:
    bad_rfc2136 = (
        {"serverr": "127.0.0.1"},
        {"port": 70000},
        {"port": True},
        {"server": "a\r\nb"},
        {"server": "ns.example.net"},
        {"server": "192.0.2.53"},  # an address the operator did not allow
        {"key_secret": "not base64!"},
        {"key_algorithm": "hmac-md4"},
        {"zone": "a..b"},
        {"key_name": "bad name"},
    )
    for mode, settings in [
        *(("rfc2136", s) for s in bad_rfc2136),
        ("lexicon", {"provider": "cloudflare"}),  # not allowed by the operator
        ("lexicon", {"options": {"Bad Key": "x"}}),
    ]:
        response = dns_api.post(
            "/api/v1/mail/domains",
            json={
                "domain": f"x{secrets.token_hex(4)}.test",
                "customer_id": tenant["id"],
                "dns_automation": mode,
                "dns_settings": settings,
            },
        )
        assert response.status_code == 422, response.text
        assert response.json()["error"] == "invalid_dns_settings", settings


def _knot_txt(knot: Knot):  # type: ignore[no-untyped-def]
    """dkimpy's DNS hook, answered by the Knot server through dnspython."""

    def lookup(name: bytes, timeout: int = 5) -> bytes | None:
        query = dns.message.make_query(name.decode().rstrip("."), "TXT")
        response = dns.query.udp(query, "127.0.0.1", port=knot.port, timeout=timeout)
        for rrset in response.answer:
            for item in rrset:
                return b"".join(item.strings)
        return None

    return lookup


def test_only_operators_set_dns_settings(dns_api: Api, tenant: dict[str, Any]) -> None:
    admin = dns_api.tenant_admin(tenant["id"])
    body = {
        "domain": f"t{secrets.token_hex(4)}.test",
        "dns_automation": "rfc2136",
        "dns_settings": {"server": "10.0.0.1"},
    }
    response = admin.post("/api/v1/mail/domains", json=body)
    assert response.status_code == 403
    assert response.json()["error"] == "platform_only"


def test_deleting_an_automated_domain_removes_exactly_its_records(
    dns_api: Api, knot: Knot, tenant: dict[str, Any], dns_settings: Settings, database: Database
) -> None:
    name = _fresh_zone(knot, [{"type": "TXT", "name": "{name}", "value": "site-verification=k"}])
    domain = dns_api.domain(tenant["id"], name=name, dns_automation="rfc2136")
    run_jobs(dns_settings, database)
    assert knot.query(name, "MX") == ["10 mail.mailplane.test."]
    # The customer adds a record of their own beside ours.
    knot.update(name, replace=[(f"_dmarc.{name}.", "TXT", ['"v=DMARC1; p=reject"'])])

    dns_api.ok("DELETE", f"/api/v1/mail/domains/{domain['id']}", 204)
    assert knot.query(name, "MX") == ["10 mail.mailplane.test."]  # queued with the deletion
    run_jobs(dns_settings, database)  # the domain row is gone; the job carries the records

    assert knot.query(name, "MX") == []
    assert knot.query(f"mp1._domainkey.{name}", "TXT") == []
    assert knot.query(f"autoconfig.{name}", "CNAME") == []
    assert knot.query(name, "TXT") == ["site-verification=k"]
    assert knot.query(f"_dmarc.{name}", "TXT") == ["v=DMARC1; p=reject"]  # theirs, not ours
    audit = dns_api.ok("GET", "/api/v1/audit", params={"action": "domain.dns_publish"})
    assert any(
        e["object_id"] == domain["id"] and e["details"]["status"] == "removed"
        for e in audit["items"]
    )


def test_per_domain_server_must_be_allowed(
    dns_api: Api, knot: Knot, tenant: dict[str, Any], dns_settings: Settings, database: Database
) -> None:
    name = _fresh_zone(knot)
    allowed = {"server": "127.0.0.1", "port": knot.port, "zone": name}
    domain = dns_api.domain(tenant["id"], name=name, dns_automation="rfc2136", dns_settings=allowed)
    run_jobs(dns_settings, database)
    assert publication_of(dns_api, domain["id"])["status"] == "published"
    assert knot.query(name, "MX") == ["10 mail.mailplane.test."]
    assert domain["dns_settings"] == allowed
