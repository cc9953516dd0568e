"""SMTP commands that answer questions or take mail they should not (issue 7, defect 8):
VRFY and ETRN on the inbound port, the null sender after AUTH on submission."""

from __future__ import annotations

import pytest

from tests.mailstack.outbox import Outbox
from tests.mailstack.support import MailStack, message
from tests.support.api import Api

pytestmark = pytest.mark.mailstack

PASSWORD = "correct-horse-1"


def test_vrfy_and_etrn_reveal_nothing_on_the_inbound_port(api: Api, mailstack: MailStack) -> None:
    domain = api.domain(api.tenant()["id"])
    box = api.mailbox(domain["id"], "exists", PASSWORD)
    with mailstack.mx() as client:
        # The same answer for a mailbox that exists and one that does not: no address oracle.
        answers = {client.verify(address)[0] for address in (box["email"], "nobody@example.test")}
        assert answers == {502}, answers
        code, text = client.docmd("ETRN", domain["domain_ascii"])
        assert 500 <= code < 600, (code, text)
        # The session still works: the refusals did not come from a broken connection.
        code, _ = client.mail("someone@outside.test")
        assert code == 250
        code, _ = client.rcpt(box["email"])
        assert code == 250


def test_null_sender_is_refused_after_auth(api: Api, mailstack: MailStack, outbox: Outbox) -> None:
    domain = api.domain(api.tenant()["id"])
    box = api.mailbox(domain["id"], "bouncer", PASSWORD)
    msg = message(box["email"], "friend@outside.test")
    with mailstack.submission(box["email"], PASSWORD) as client:
        code, text = client.mail("<>")
        if code == 250:  # Postfix checks sender restrictions at RCPT time (delay_reject).
            code, text = client.rcpt("friend@outside.test")
        assert code == 553, text
        assert b"null sender" in text
        client.rset()
        # The login's own address still works in the same session.
        client.send_message(msg)
    (out,) = outbox.wait_for(str(msg["Subject"]))
    assert out.mail_from == box["email"]
