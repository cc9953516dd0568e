"""Bounce formats of common MTAs -> hard/soft and a classification, and auto-replies
that are no bounces."""

from __future__ import annotations

import pytest

from mailplane.bounces import parsing
from mailplane.bounces.classify import classify
from tests.bounces import samples

CASES = [
    ("postfix unknown user", samples.POSTFIX_UNKNOWN, "5.1.1", "hard", "invalid_address"),
    ("exim mailbox full", samples.EXIM_MAILBOX_FULL, "5.2.2", "soft", "mailbox_full"),
    ("gmail unknown user", samples.GMAIL_UNKNOWN, "5.1.1", "hard", "invalid_address"),
    ("gmail spam block", samples.GMAIL_POLICY, "5.7.1", "hard", "policy"),
    ("office 365 banned ip", samples.OFFICE365_BLOCKED, "5.7.606", "hard", "policy"),
    ("exchange unknown", samples.EXCHANGE_UNKNOWN, "5.1.10", "hard", "invalid_address"),
    ("sendmail content", samples.SENDMAIL_CONTENT, "5.6.0", "hard", "content"),
    ("sendmail gave up, 4.x", samples.SENDMAIL_SOFT_FAILED, "4.2.2", "soft", "mailbox_full"),
    ("no such domain", samples.TECHNICAL, "5.4.4", "hard", "technical"),
    ("qmail", samples.QMAIL_UNKNOWN, "5.1.1", "hard", "invalid_address"),
    ("exim plain text", samples.EXIM_PLAIN_FULL, "5.2.2", "soft", "mailbox_full"),
]


@pytest.mark.parametrize(
    ("sample", "status", "bounce_type", "kind"),
    [case[1:] for case in CASES],
    ids=[case[0] for case in CASES],
)
def test_common_bounce_formats_are_classified(
    sample: str, status: str, bounce_type: str, kind: str
) -> None:
    bounce = parsing.read(samples.render(sample))
    assert not bounce.auto_reply
    [failure] = bounce.failures
    assert failure.recipient == "gone@example.net"
    assert failure.action == "failed"
    assert failure.status == status
    assert (failure.classification.bounce_type, failure.classification.kind) == (
        bounce_type,
        kind,
    )
    assert failure.reply  # the remote's words are kept


def test_the_remote_reply_and_host_are_kept() -> None:
    [failure] = parsing.read(samples.render(samples.POSTFIX_UNKNOWN)).failures
    assert failure.reply == (
        "550 5.1.1 <gone@example.net>: Recipient address rejected: "
        "User unknown in virtual mailbox table"
    )
    assert failure.remote_mta == "mx.example.net"
    [qmail] = parsing.read(samples.render(samples.EXIM_PLAIN_FULL)).failures
    assert qmail.remote_mta == "mx1.example.org"


def test_a_delay_warning_is_only_a_delay() -> None:
    [failure] = parsing.read(samples.render(samples.POSTFIX_DELAYED)).failures
    assert failure.delayed
    assert failure.classification.bounce_type == "soft"
    assert failure.classification.kind == "technical"


@pytest.mark.parametrize(
    "sample",
    [samples.OUT_OF_OFFICE, samples.ABWESENHEIT, samples.AUTOMATIC_REPLY, samples.PRECEDENCE],
    ids=["out of office", "abwesenheitsnotiz", "x-autoreply", "precedence"],
)
def test_auto_replies_are_not_bounces(sample: str) -> None:
    bounce = parsing.read(samples.render(sample))
    assert bounce.auto_reply
    assert bounce.failures == []


def test_a_personal_reply_is_neither() -> None:
    raw = b"From: a@example.net\nTo: b+1-x@b.test\nSubject: Re: hi\n\nSure, see you then.\n"
    assert parsing.read(raw) == parsing.Bounce(auto_reply=False, failures=[])


@pytest.mark.parametrize(
    ("status", "text", "expected"),
    [
        ("5.1.1", "", ("hard", "invalid_address")),
        ("4.2.2", "", ("soft", "mailbox_full")),
        ("5.2.1", "mailbox disabled", ("soft", "mailbox_full")),
        (
            "5.7.1",
            "Service unavailable; client host blocked using zen.spamhaus.org",
            ("hard", "policy"),
        ),
        ("5.7.1", "message content rejected as spam", ("hard", "content")),
        ("5.0.0", "550 sorry, no mailbox here by that name", ("hard", "invalid_address")),
        ("4.4.2", "connection dropped", ("soft", "technical")),
        (None, "", ("hard", "technical")),
    ],
)
def test_classification(status: str | None, text: str, expected: tuple[str, str]) -> None:
    result = classify(status, text)
    assert (result.bounce_type, result.kind) == expected
