"""What a handover from Postfix becomes in the queue (intake/handover.py), against the
real database: submissions by marker, forwards by the alias each recipient came through."""

from __future__ import annotations

import srslib

from mailplane.config import Settings
from mailplane.db import Database
from mailplane.intake.handover import Handover, to_messages
from mailplane.intake.headers import remove_fields
from mailplane.intake.marker import make_marker
from mailplane.intake.srs import srs_secret
from mailplane.models.statuses import MessageSource
from tests.support.api import Api

RAW = (
    b"From: {sender}\r\nTo: x@outside.test\r\nSubject: s\xc3\xa4\r\nMessage-ID: <m@x>\r\n"
    b"X-Mailplane-Submission: {marker}\r\n\r\nbody\r\nX-Mailplane-Submission: body line\r\n"
)


def _raw(sender: str, marker: str = "none") -> bytes:
    return RAW.replace(b"{sender}", sender.encode()).replace(b"{marker}", marker.encode())


def test_a_submission_is_signed_by_its_from_domain_and_loses_its_marker(
    api: Api, database: Database, settings: Settings
) -> None:
    tenant = api.tenant()["id"]
    domain = api.domain(tenant)
    box = api.mailbox(domain["id"], "me")
    marker = make_marker(settings.effective_secret(), box["email"], "4AbC")
    handover = Handover(
        mail_from=box["email"],
        recipients=["X@Outside.TEST", "y@bücher.test"],
        raw=_raw(f"Me <{box['email'].upper()}>", marker),
        ident="4AbC",
    )
    with database.transaction() as session:
        (message,) = to_messages(session, settings, handover)
    assert message.source == MessageSource.SMTP
    assert message.tenant_id == tenant
    assert message.domain_id == domain["id"]
    assert message.sign_domain == domain["domain_ascii"]
    assert message.submitted_by == box["email"]
    assert message.recipients == ["X@outside.test", "y@xn--bcher-kva.test"]
    assert message.subject == "sä"
    assert message.message_id_header == "<m@x>"
    # The header goes; a body line that looks like it stays.
    assert b"X-Mailplane-Submission: " + marker.encode() not in message.raw
    assert message.raw.endswith(b"\r\n\r\nbody\r\nX-Mailplane-Submission: body line\r\n")


def test_forwards_are_grouped_by_the_tenant_of_their_alias(
    api: Api, database: Database, settings: Settings
) -> None:
    first_tenant, second_tenant = api.tenant()["id"], api.tenant()["id"]
    first, second = api.domain(first_tenant), api.domain(second_tenant)
    handover = Handover(
        mail_from="alice@sender.test",
        recipients=["a@outside.test", "b@outside.test", "c@outside.test"],
        raw=_raw("alice@sender.test"),
        ident="4Other",
        original_recipients={
            "a@outside.test": f"team@{first['domain_ascii']}",
            "b@outside.test": f"sales@{second['domain_ascii'].upper()}",
        },
    )
    with database.transaction() as session:
        messages = to_messages(session, settings, handover)
    by_tenant = {m.tenant_id: m for m in messages}
    assert set(by_tenant) == {first_tenant, second_tenant, None}
    assert by_tenant[first_tenant].recipients == ["a@outside.test"]
    assert by_tenant[None].recipients == ["c@outside.test"]
    for message in messages:
        assert message.source == MessageSource.FORWARD
        assert message.sign_domain is None
        assert srslib.SRS(srs_secret(settings)).reverse(message.envelope_from) == (
            "alice@sender.test"
        )


def test_remove_fields_keeps_everything_else_byte_for_byte() -> None:
    raw = b"A: 1\r\nX-Gone: 2\r\n  folded\r\nB: 3\r\n\r\nX-Gone: body\r\n"
    assert remove_fields(raw, "X-Gone") == b"A: 1\r\nB: 3\r\n\r\nX-Gone: body\r\n"
    assert remove_fields(b"A: 1\r\n\r\n", "X-Gone") == b"A: 1\r\n\r\n"
