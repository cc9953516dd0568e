"""Every local part the API accepts receives, logs in and sends (issue 7, defect 7).

The API, Postfix and Dovecot each parse addresses; a character one accepts and another
refuses makes a mailbox that never logs in and whose mail is bounced after acceptance.
The cases cover the whole allowed set (mailplane.names.LOCAL_PART_CHARACTERS):
every letter and digit, and each special character at the start, inside and at the end
where the API allows it there. A leading "-" is refused by the API, as Postfix would.
"""

from __future__ import annotations

import string

import pytest

from mailplane.names import LOCAL_PART_CHARACTERS
from tests.mailstack.outbox import Outbox
from tests.mailstack.support import MailStack, message
from tests.support.api import Api

pytestmark = pytest.mark.mailstack

PASSWORD = "correct-horse-1"

LOCAL_PARTS = [
    string.ascii_lowercase,
    "0123456789",
    "o'brien",
    "'quoted'",
    "first.last",
    "a.b.c",
    "snake_case",
    "_lead_",
    "dash-ed",
    "trail-",
    # SQL quoting: Postfix and Dovecot paste the address into their queries.
    "x'or'1'-'1",
    "x'--",
    "'",
    "a" * 64,
]


def test_the_cases_cover_every_allowed_character() -> None:
    assert set("".join(LOCAL_PARTS)) == set(LOCAL_PART_CHARACTERS)


@pytest.mark.parametrize("local_part", LOCAL_PARTS)
def test_local_part_receives_logs_in_and_sends(
    api: Api, mailstack: MailStack, outbox: Outbox, local_part: str
) -> None:
    domain = api.domain(api.tenant()["id"])
    box = api.mailbox(domain["id"], local_part, PASSWORD)
    address = box["email"]
    assert address == f"{local_part}@{domain['domain_ascii']}"

    inbound = message("someone@outside.test", address)
    mailstack.deliver(inbound, address)
    (raw,) = mailstack.wait_for(address, PASSWORD, str(inbound["Subject"]))
    assert str(inbound["Message-ID"]).encode() in raw

    outbound = message(address, "friend@outside.test")
    with mailstack.submission(address, PASSWORD) as client:
        client.send_message(outbound)
    (out,) = outbox.wait_for(str(outbound["Subject"]))
    assert out.mail_from == address


def test_a_quote_in_the_login_does_not_log_in_as_someone_else(
    api: Api, mailstack: MailStack
) -> None:
    domain = api.domain(api.tenant()["id"])
    api.mailbox(domain["id"], "victim", PASSWORD)
    name = domain["domain_ascii"]
    for login in (f"x' OR '1'='1@{name}", f"victim@{name}' --", f"victim'@{name}"):
        assert not mailstack.can_log_in(login, PASSWORD), login
