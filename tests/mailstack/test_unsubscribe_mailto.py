"""The mailto variant of List-Unsubscribe (RFC 2369): a message to
unsubscribe+<token>@<bounce domain> through the managed Postfix unsubscribes its
recipient; a made-up token is refused at RCPT."""

from __future__ import annotations

import time

import pytest

from mailplane.config import Settings
from mailplane.db import Database
from mailplane.unsubscribe import tokens
from tests.delivery.support import deliver, mx_zone
from tests.mailstack.conftest import OUTSIDE_MX_HOST
from tests.mailstack.support import MailStack
from tests.support.api import Api
from tests.support.knot import Knot
from tests.support.mx import RemoteMx
from tests.support.senders import make_sender
from tests.unsubscribe.support import list_unsubscribes, mailto_of, suppression

pytestmark = pytest.mark.mailstack

WAIT_SECONDS = 30.0


def test_mail_to_the_mailto_target_unsubscribes_and_made_up_tokens_are_refused(
    mailstack: MailStack,
    api: Api,
    database: Database,
    engine: Settings,
    knot: Knot,
    outside: RemoteMx,
    uid: str,
) -> None:
    zone = f"readers-{uid}.test"
    mx_zone(knot, zone, [(10, "mx")], {"mx": OUTSIDE_MX_HOST})
    sender = make_sender(api, database)
    everything, weekly = f"all-{uid}@{zone}", f"weekly-{uid}@{zone}"
    ids = []
    for recipient, extra in ((everything, {}), (weekly, {"list_id": "weekly"})):
        body = {"from": f"news@{sender.domain}", "to": [recipient], "text": "hi", "type": "bulk"}
        response = sender.send({**body, **extra})
        assert response.status_code == 202, response.text
        ids += [r["id"] for r in response.json()["recipients"]]
    rows = deliver(engine, database, ids)
    assert [r.status for r in rows] == ["delivered", "delivered"]
    targets = [mailto_of(outside.to(r)[0].data) for r in (everything, weekly)]
    domain = mailstack.settings.effective_bounce_domain
    assert all(t.startswith("unsubscribe+") and t.endswith(f"@{domain}") for t in targets)

    for target, reader in zip(targets, (everything, weekly), strict=True):
        with mailstack.mx() as client:
            # What a mail client sends for the mailto link, from the reader's address.
            client.sendmail(reader, [target], b"Subject: unsubscribe\r\n\r\nunsubscribe\r\n")
    deadline = time.monotonic() + WAIT_SECONDS
    while time.monotonic() < deadline:
        entry = suppression(database, sender.tenant_id, everything)
        left = list_unsubscribes(database, sender.tenant_id)
        if entry is not None and left:
            break
        time.sleep(0.1)
    assert entry is not None
    assert entry.reason == "unsubscribed"
    assert left == [("weekly", weekly, "mailto")]
    assert suppression(database, sender.tenant_id, weekly) is None

    forged = tokens.make(tokens.derive_key("not the platform's secret, 32+ characters"), ids[0])
    for address in (f"unsubscribe+{forged}@{domain}", f"unsubscribe+x@{domain}"):
        with mailstack.mx() as client:
            client.mail("someone@outside.test")
            code, reply = client.rcpt(address)
            assert code == 550, (address, code, reply)
