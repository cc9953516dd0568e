"""A name a tenant typed in routes nothing until it is proven: through the real Postfix and
Dovecot, with the proof published in the real Knot server of tests/dns."""

from __future__ import annotations

import secrets
import smtplib
from typing import Any

import pytest

from tests.dns.conftest import dns_api, dns_client, dns_settings, knot  # noqa: F401 (fixtures)
from tests.dns.helpers import verify
from tests.mailstack.outbox import Outbox
from tests.mailstack.support import MailStack, message
from tests.support.api import Api
from tests.support.knot import Knot

pytestmark = [pytest.mark.mailstack, pytest.mark.dns]

PASSWORD = "correct-horse-1"


def _rcpt(mailstack: MailStack, address: str) -> tuple[int, bytes]:
    with mailstack.mx() as client:
        client.mail("alice@outside.test")
        code, text = client.rcpt(address)
    return code, text


def _claimed_domain(dns_api: Api) -> tuple[Api, dict[str, Any], dict[str, Any]]:  # noqa: F811
    """A tenant admin's new domain with a mailbox, as it is before any proof."""
    admin = dns_api.tenant_admin(dns_api.tenant()["id"])
    name = f"claimed-{secrets.token_hex(4)}.test"
    domain = admin.ok("POST", "/api/v1/mail/domains", 201, json={"domain": name})
    box = admin.mailbox(domain["id"], "info", PASSWORD)
    return admin, domain, box


def test_unproven_domain_receives_nothing_and_its_mailboxes_cannot_log_in(
    dns_api: Api,  # noqa: F811
    knot: Knot,  # noqa: F811
    mailstack: MailStack,
    outbox: Outbox,
    api: Api,
) -> None:
    admin, domain, box = _claimed_domain(dns_api)
    assert domain["owned"] is False

    # The internet's mail for it is refused: not a domain of this platform.
    code, text = _rcpt(mailstack, box["email"])
    assert code == 554, text
    assert b"Relay access denied" in text
    # Its mailbox cannot log in, over IMAP or SMTP submission.
    assert not mailstack.can_log_in(box["email"], PASSWORD)
    with pytest.raises(smtplib.SMTPAuthenticationError):
        mailstack.submission(box["email"], PASSWORD).close()
    # Another tenant's user writing to the name: it leaves the platform as for any foreign
    # domain (here to the intake), it is not delivered into the claimer's mailbox.
    other = api.domain(api.tenant()["id"])  # an operator's, owned
    sender = api.mailbox(other["id"], "bob", PASSWORD)
    to_claimed = message(sender["email"], box["email"])
    with mailstack.submission(sender["email"], PASSWORD) as client:
        client.send_message(to_claimed)
    outbox.wait_for(str(to_claimed["Subject"]))

    # Proof: the token in DNS, then verification.
    knot.add_zone(domain["domain_ascii"], [domain["ownership_record"]])
    report = verify(admin, domain["id"])
    assert [c["status"] for c in report["checks"] if c["check"] == "ownership"] == ["ok"]

    inbound = message("alice@outside.test", box["email"])
    mailstack.deliver(inbound, box["email"])
    mailstack.wait_for(box["email"], PASSWORD, str(inbound["Subject"]))
    with mailstack.submission(box["email"], PASSWORD):
        pass


def test_unproven_alias_domain_of_a_proven_domain_receives_nothing(
    dns_api: Api,  # noqa: F811
    knot: Knot,  # noqa: F811
    mailstack: MailStack,
) -> None:
    tenant_id = dns_api.tenant()["id"]
    admin = dns_api.tenant_admin(tenant_id)
    domain = dns_api.domain(tenant_id)  # proven by the operator's word
    box = dns_api.mailbox(domain["id"], "info", PASSWORD)
    alias = admin.ok(
        "POST",
        f"/api/v1/mail/domains/{domain['id']}/alias-domains",
        201,
        json={"name": f"alias-{secrets.token_hex(4)}.test"},
    )
    at_alias = f"info@{alias['name_ascii']}"

    code, text = _rcpt(mailstack, at_alias)
    assert code == 554, text
    assert _rcpt(mailstack, box["email"])[0] == 250

    knot.add_zone(alias["name_ascii"], [alias["ownership_record"]])
    verify(admin, domain["id"])

    msg = message("alice@outside.test", at_alias)
    mailstack.deliver(msg, at_alias)
    mailstack.wait_for(box["email"], PASSWORD, str(msg["Subject"]))
