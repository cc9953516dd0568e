"""Domains: IDN handling, DNS records, DKIM keys, status changes and cascading delete."""

from __future__ import annotations

import base64
import secrets

from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import load_der_public_key
from sqlalchemy import select

from mailplane.db import Database
from mailplane.models import Alias, Mailbox
from tests.support.api import Api


def _records(api: Api, domain_id: int) -> dict[tuple[str, str], dict[str, object]]:
    dns = api.ok("GET", f"/api/v1/mail/domains/{domain_id}/dns")
    return {(r["type"], r["name"]): r for r in dns["records"]}


def test_idn_domain_is_stored_as_a_label_and_shown_as_u_label(api: Api) -> None:
    tenant = api.tenant()
    label = f"bücher-{secrets.token_hex(3)}"
    created = api.domain(tenant["id"], f"{label.upper()}.Test.")
    ascii_name = f"xn--{label.encode('punycode').decode()}.test"
    assert created["domain"] == f"{label}.test"
    assert created["domain_ascii"] == ascii_name
    assert api.ok("GET", f"/api/v1/mail/domains/{created['id']}")["domain_ascii"] == ascii_name
    # Either spelling is the same domain.
    for spelling in (f"{label}.test", ascii_name, ascii_name.upper()):
        response = api.post(
            "/api/v1/mail/domains", json={"domain": spelling, "customer_id": tenant["id"]}
        )
        assert (response.status_code, response.json()["error"]) == (409, "domain_exists"), spelling
    # Mailboxes at it use the A-label.
    assert api.mailbox(created["id"], "Info")["email"] == f"info@{ascii_name}"


def test_dns_records_to_publish(api: Api) -> None:
    tenant = api.tenant()
    created = api.domain(tenant["id"])
    name = created["domain_ascii"]
    records = _records(api, created["id"])
    # The create answer carries the same records.
    assert {(r["type"], r["name"]) for r in created["dns_records"]} == set(records)

    mx = records[("MX", name)]
    assert mx["value"] == "mail.mailplane.test"
    assert mx["priority"] == 10
    assert mx["required"]
    assert str(records[("TXT", name)]["value"]).startswith("v=spf1 ")
    assert str(records[("TXT", name)]["value"]).endswith(" -all")
    assert "ip4:127.0.0.1" in str(records[("TXT", name)]["value"])
    dmarc = str(records[("TXT", f"_dmarc.{name}")]["value"])
    assert dmarc.startswith("v=DMARC1; p=quarantine;")
    assert f"rua=mailto:postmaster@{name}" in dmarc
    assert records[("CNAME", f"autoconfig.{name}")]["value"] == "mail.mailplane.test"
    assert records[("CNAME", f"autodiscover.{name}")]["value"] == "mail.mailplane.test"
    # RFC 6186 SRV records, RFC 8314 implicit TLS first.
    assert records[("SRV", f"_submissions._tcp.{name}")]["value"] == "0 1 465 mail.mailplane.test"
    assert records[("SRV", f"_imaps._tcp.{name}")]["value"] == "0 1 993 mail.mailplane.test"
    assert records[("SRV", f"_submission._tcp.{name}")]["value"] == "0 1 587 mail.mailplane.test"
    assert records[("SRV", f"_pop3._tcp.{name}")]["value"] == "0 0 0 ."

    # DKIM: RSA-2048 by default; the TXT value carries the public key of the active key.
    dkim = str(records[("TXT", f"mp1._domainkey.{name}")]["value"])
    assert dkim.startswith("v=DKIM1; k=rsa; p=")
    public = load_der_public_key(base64.b64decode(dkim.split("p=", 1)[1]))
    assert isinstance(public, rsa.RSAPublicKey)
    assert public.key_size == 2048
    keys = api.ok("GET", f"/api/v1/mail/domains/{created['id']}/dkim")
    assert len(keys) == 1
    assert keys[0]["selector"] == "mp1"
    assert keys[0]["status"] == "active"
    assert keys[0]["algorithm"] == "rsa-2048"
    assert keys[0]["activated_at"]
    assert keys[0]["dns_name"] == f"mp1._domainkey.{name}"
    assert keys[0]["dns_value"] == dkim
    # The private key never leaves the server.
    for path in ("", "/dkim", "/dns"):
        assert "PRIVATE" not in api.get(f"/api/v1/mail/domains/{created['id']}{path}").text


def test_ed25519_dkim_key(api: Api) -> None:
    created = api.domain(api.tenant()["id"], dkim_algorithm="ed25519")
    key = api.ok("GET", f"/api/v1/mail/domains/{created['id']}/dkim")[0]
    assert key["algorithm"] == "ed25519"
    assert key["dns_value"].startswith("v=DKIM1; k=ed25519; p=")
    # RFC 8463: p= is the raw 32-byte key.
    assert len(base64.b64decode(key["dns_value"].split("p=", 1)[1])) == 32


def test_suspend_unsuspend_and_patch_status(api: Api) -> None:
    created = api.domain(api.tenant()["id"])
    path = f"/api/v1/mail/domains/{created['id']}"
    assert api.ok("POST", f"{path}/suspend")["status"] == "suspended"
    assert api.ok("GET", path)["status"] == "suspended"
    assert api.ok("POST", f"{path}/suspend")["status"] == "suspended"  # idempotent
    assert api.ok("POST", f"{path}/unsuspend")["status"] == "active"
    assert api.ok("PATCH", path, json={"status": "disabled"})["status"] == "disabled"
    assert api.ok("PATCH", path, json={"dns_automation": "rfc2136"})["dns_automation"] == "rfc2136"
    assert api.ok("PATCH", path, json={})["status"] == "disabled"
    bad = api.patch(path, json={"status": "deleted"})
    assert bad.status_code == 422


def test_platform_must_name_the_customer(api: Api) -> None:
    response = api.post("/api/v1/mail/domains", json={"domain": "nobody.test"})
    assert (response.status_code, response.json()["error"]) == (422, "customer_id_required")
    response = api.post(
        "/api/v1/mail/domains", json={"domain": "nobody.test", "customer_id": 2**31 - 1}
    )
    assert (response.status_code, response.json()["error"]) == (404, "tenant_not_found")


def test_list_domains_by_customer(api: Api) -> None:
    tenant = api.tenant()
    ids = [api.domain(tenant["id"])["id"] for _ in range(3)]
    page = api.ok("GET", "/api/v1/mail/domains", params={"customer_id": tenant["id"], "limit": 2})
    assert [d["id"] for d in page["items"]] == ids[:2]
    rest = api.ok(
        "GET",
        "/api/v1/mail/domains",
        params={"customer_id": tenant["id"], "cursor": page["next_cursor"]},
    )
    assert [d["id"] for d in rest["items"]] == ids[2:]
    assert rest["next_cursor"] is None


def test_alias_domains(api: Api) -> None:
    tenant = api.tenant()
    domain = api.domain(tenant["id"])
    other = api.domain(tenant["id"])
    path = f"/api/v1/mail/domains/{domain['id']}/alias-domains"
    name = f"älias-{secrets.token_hex(3)}.test"
    created = api.ok("POST", path, 201, json={"name": name})
    assert created["name"] == name
    assert created["name_ascii"].startswith("xn--")
    assert created["domain_id"] == domain["id"]
    assert [a["id"] for a in api.ok("GET", path)["items"]] == [created["id"]]
    # One name, one domain: not a hosted domain, not another alias domain.
    for taken in (name, other["domain_ascii"], domain["domain_ascii"]):
        response = api.post(path, json={"name": taken})
        assert (response.status_code, response.json()["error"]) == (409, "domain_exists")
    response = api.post("/api/v1/mail/domains", json={"domain": name, "customer_id": tenant["id"]})
    assert response.status_code == 409
    api.ok("DELETE", f"/api/v1/mail/alias-domains/{created['id']}", 204)
    assert api.ok("GET", path)["items"] == []
    assert api.delete(f"/api/v1/mail/alias-domains/{created['id']}").status_code == 404


def test_delete_domain_cascades(api: Api, database: Database) -> None:
    tenant = api.tenant()
    domain = api.domain(tenant["id"])
    name = domain["domain_ascii"]
    mailbox = api.mailbox(domain["id"], "info")
    alias = api.alias(domain["id"], "sales", f"info@{name}")
    catch_all = api.alias(domain["id"], "@", "catch@example.com")
    alias_domain = api.ok(
        "POST",
        f"/api/v1/mail/domains/{domain['id']}/alias-domains",
        201,
        json={"name": f"gone-{secrets.token_hex(3)}.test"},
    )

    api.ok("DELETE", f"/api/v1/mail/domains/{domain['id']}", 204)
    assert api.get(f"/api/v1/mail/domains/{domain['id']}").status_code == 404
    assert api.get(f"/api/v1/mail/accounts/{mailbox['id']}").status_code == 404
    assert api.get(f"/api/v1/mail/aliases/{alias['id']}").status_code == 404
    assert api.get(f"/api/v1/mail/aliases/{catch_all['id']}").status_code == 404
    assert api.delete(f"/api/v1/mail/alias-domains/{alias_domain['id']}").status_code == 404
    # No row of the domain is left, however many other rows the shared database holds; the
    # listing filtered by the domain says it is gone.
    with database.session(write=False) as session:
        assert session.scalars(select(Mailbox).where(Mailbox.domain_id == domain["id"])).all() == []
        assert session.scalars(select(Alias).where(Alias.domain_id == domain["id"])).all() == []
    gone = api.get("/api/v1/mail/accounts", params={"domain_id": domain["id"]})
    assert gone.status_code == 404
    # The names are free again: the same domain and alias domain can be added anew.
    again = api.domain(tenant["id"], name)
    assert api.mailbox(again["id"], "info")["email"] == f"info@{name}"
    api.ok(
        "POST",
        f"/api/v1/mail/domains/{again['id']}/alias-domains",
        201,
        json={"name": alias_domain["name"]},
    )
