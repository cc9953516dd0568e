from tests.support.api import Api


def test_health(api: Api) -> None:
    assert api.ok("GET", "/healthz")["status"] == "ok"


def test_create_domain_and_mailbox(api: Api) -> None:
    tenant = api.tenant()
    domain = api.domain(tenant["id"])
    mailbox = api.mailbox(domain["id"], "info")
    assert mailbox["email"] == f"info@{domain['domain_ascii']}"
