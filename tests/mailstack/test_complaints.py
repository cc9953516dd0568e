"""Spam complaints through the managed Postfix: an ARF report sent to the platform's
feedback address on its MX reaches the bounce receiver, counts as a complaint against the
delivery it reports, and suppresses the recipient: the next send to them is withheld."""

from __future__ import annotations

import smtplib
import time
from typing import Any

import pytest

from mailplane.config import Settings
from mailplane.db import Database
from tests.complaints import samples
from tests.delivery.support import deliver, mx_zone
from tests.mailstack.conftest import OUTSIDE_MX_HOST
from tests.mailstack.support import MailStack
from tests.support.api import Api
from tests.support.knot import Knot
from tests.support.mx import RemoteMx
from tests.support.senders import make_sender

pytestmark = pytest.mark.mailstack

WAIT_SECONDS = 30.0


def _complaints(api: Api, tenant_id: int) -> list[dict[str, Any]]:
    deadline = time.monotonic() + WAIT_SECONDS
    while True:
        found: list[dict[str, Any]] = api.ok(
            "GET", "/api/v1/complaints", params={"tenant_id": tenant_id}
        )["items"]
        if found or time.monotonic() > deadline:
            return found
        time.sleep(0.1)


def test_an_arf_report_through_postfix_counts_as_a_complaint_and_suppresses(
    mailstack: MailStack,
    api: Api,
    database: Database,
    engine: Settings,
    outside: RemoteMx,
    knot: Knot,
    uid: str,
) -> None:
    zone = f"fbl-{uid}.test"
    mx_zone(knot, zone, [(10, "mx")], {"mx": OUTSIDE_MX_HOST})
    recipient = f"reader@{zone}"
    sender = make_sender(api, database)
    response = sender.send(
        {"from": f"news@{sender.domain}", "to": [recipient], "subject": "sale", "text": "hi"}
    )
    assert response.status_code == 202, response.text
    sent = response.json()
    [delivered] = deliver(engine, database, [r["id"] for r in sent["recipients"]])
    assert delivered.status == "delivered"
    [arrived] = outside.to(recipient)
    feedback = f"fbl@{engine.effective_bounce_domain}"
    report = samples.render(
        samples.YAHOO, rcpt=recipient, return_path=arrived.mail_from,
        message_id=f"<{uid}@unknown.test>", fbl=feedback,
    )  # fmt: skip
    # Only the feedback address is new on the bounce domain: its neighbours are unknown.
    with mailstack.mx() as client, pytest.raises(smtplib.SMTPRecipientsRefused):
        client.sendmail("", [f"fbl2@{engine.effective_bounce_domain}"], report)
    with mailstack.mx() as client:
        client.sendmail("feedback@arf.mail.yahoo.com", [feedback], report)

    [complaint] = _complaints(sender.api, sender.tenant_id)
    assert (complaint["delivery_id"], complaint["message_id"]) == (delivered.id, sent["id"])
    assert complaint["recipient"] == recipient
    assert complaint["feedback_type"] == "abuse"
    listed = sender.api.ok(
        "GET", "/api/v1/suppressions", params={"tenant_id": sender.tenant_id, "q": recipient}
    )["items"]
    assert [(e["address"], e["reason"]) for e in listed] == [(recipient, "complaint")]
    state = sender.api.ok("GET", f"/api/v1/tenants/{sender.tenant_id}/sending")
    assert state["complaints"]["count"] == 1
    again = sender.send(
        {"from": f"news@{sender.domain}", "to": [recipient], "subject": "more", "text": "x"}
    )
    assert again.status_code == 202
    assert [r["status"] for r in again.json()["recipients"]] == ["suppressed"]
