"""Thunderbird autoconfig, Outlook autodiscover and the MTA-STS policy, for hosted domains only."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from typing import Any

from fastapi.testclient import TestClient

from tests.support.api import Api

AD = "{http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a}"


def test_thunderbird_autoconfig(
    dns_client: TestClient, dns_api: Api, tenant: dict[str, Any]
) -> None:
    name = dns_api.domain(tenant["id"])["domain_ascii"]
    for path, headers in [
        (f"/mail/config-v1.1.xml?emailaddress=info@{name}", {}),
        ("/mail/config-v1.1.xml", {"host": f"autoconfig.{name}"}),
        (f"/.well-known/autoconfig/mail/config-v1.1.xml?emailaddress=Info@{name.upper()}", {}),
    ]:
        response = dns_client.get(path, headers=headers)
        assert response.status_code == 200, (path, response.text)
        assert response.headers["content-type"].startswith("application/xml")
        document = ET.fromstring(response.text)  # noqa: S314 (our own server's output)
        provider = document.find("emailProvider")
        assert provider is not None
        assert provider.get("id") == name
        incoming = provider.find("incomingServer")
        assert incoming is not None
        assert incoming.get("type") == "imap"
        assert incoming.findtext("hostname") == "mail.mailplane.test"
        assert incoming.findtext("port") == "993"
        assert incoming.findtext("socketType") == "SSL"
        outgoing = [
            (o.findtext("port"), o.findtext("socketType"))
            for o in provider.findall("outgoingServer")
        ]
        assert outgoing == [("465", "SSL"), ("587", "STARTTLS")]


def test_autodiscover_post_and_get(
    dns_client: TestClient, dns_api: Api, tenant: dict[str, Any]
) -> None:
    name = dns_api.domain(tenant["id"])["domain_ascii"]
    request = (
        '<?xml version="1.0" encoding="utf-8"?><Autodiscover xmlns="http://schemas.microsoft.com/'
        'exchange/autodiscover/outlook/requestschema/2006"><Request>'
        f"<EMailAddress>sales@{name}</EMailAddress>"
        "<AcceptableResponseSchema>http://schemas.microsoft.com/exchange/autodiscover/outlook/"
        "responseschema/2006a</AcceptableResponseSchema></Request></Autodiscover>"
    )
    for response in (
        dns_client.post(
            "/autodiscover/autodiscover.xml", content=request, headers={"content-type": "text/xml"}
        ),
        dns_client.post("/Autodiscover/Autodiscover.xml", content=request),
        dns_client.get(f"/autodiscover/autodiscover.xml?emailaddress=sales@{name}"),
    ):
        assert response.status_code == 200, response.text
        document = ET.fromstring(response.text)  # noqa: S314 (our own server's output)
        account = document.find(f"{AD}Response/{AD}Account")
        assert account is not None
        protocols = {
            p.findtext(f"{AD}Type"): (
                p.findtext(f"{AD}Server"),
                p.findtext(f"{AD}Port"),
                p.findtext(f"{AD}LoginName"),
            )
            for p in account.findall(f"{AD}Protocol")
        }
        assert protocols == {
            "IMAP": ("mail.mailplane.test", "993", f"sales@{name}"),
            "SMTP": ("mail.mailplane.test", "465", f"sales@{name}"),
        }


def test_mta_sts_policy(dns_client: TestClient, dns_api: Api, tenant: dict[str, Any]) -> None:
    name = dns_api.domain(tenant["id"])["domain_ascii"]
    response = dns_client.get("/.well-known/mta-sts.txt", headers={"host": f"mta-sts.{name}:443"})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    assert (
        response.text
        == "version: STSv1\r\nmode: testing\r\nmx: mail.mailplane.test\r\nmax_age: 604800\r\n"
    )


def test_unknown_domains_and_bad_input_get_404_or_4xx(dns_client: TestClient) -> None:
    assert dns_client.get("/mail/config-v1.1.xml?emailaddress=a@not-hosted.test").status_code == 404
    assert (
        dns_client.get(
            "/mail/config-v1.1.xml", headers={"host": "autoconfig.nope.test"}
        ).status_code
        == 404
    )
    assert dns_client.get("/mail/config-v1.1.xml?emailaddress=a%0d%0aX:@x.test").status_code == 404
    assert (
        dns_client.get(
            "/.well-known/mta-sts.txt", headers={"host": "mta-sts.nope.test"}
        ).status_code
        == 404
    )
    assert (
        dns_client.get("/.well-known/mta-sts.txt", headers={"host": "testserver"}).status_code
        == 404
    )
    missing = dns_client.post("/autodiscover/autodiscover.xml", content="<Request/>")
    assert missing.status_code == 422
    assert missing.json()["error"] == "invalid_autodiscover_request"
    bomb = '<!DOCTYPE x [<!ENTITY a "aaaa">]><EMailAddress>&a;@x.test</EMailAddress>'
    assert dns_client.post("/autodiscover/autodiscover.xml", content=bomb).status_code == 404
    huge = dns_client.post("/autodiscover/autodiscover.xml", content="x" * 20000)
    assert huge.status_code == 422
