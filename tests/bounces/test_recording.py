"""The bounce receiver's transaction by itself, on the suite's database: what a delay
warning, a repeated report and a bounce for an unknown delivery do."""

from __future__ import annotations

from mailplane.bounces import policy
from mailplane.bounces.receiver import receive
from mailplane.config import Settings
from mailplane.db import Database
from mailplane.delivery.envelope import verp_address
from tests.bounces import samples
from tests.delivery.support import attempts, deliveries, queue


def test_a_delay_warning_records_an_attempt_and_keeps_the_status(
    settings: Settings, database: Database
) -> None:
    [delivery_id] = queue(database, ["slow@example.net"])
    verp = verp_address(settings, delivery_id)
    raw = samples.render(samples.POSTFIX_DELAYED, rcpt="slow@example.net", sender=verp)
    assert receive(settings, database, raw, [verp]) == "delayed"
    [row] = deliveries(database, [delivery_id])
    assert row.status == "queued"
    [attempt] = attempts(database, delivery_id)
    assert (attempt.outcome, attempt.enhanced_code) == ("deferred", "4.4.1")


def test_the_same_bounce_twice_is_recorded_once(settings: Settings, database: Database) -> None:
    [delivery_id] = queue(database, ["gone@example.net"])
    verp = verp_address(settings, delivery_id)
    raw = samples.render(samples.EXIM_MAILBOX_FULL, rcpt="gone@example.net", sender=verp)
    assert receive(settings, database, raw, [verp]) == "bounced"
    assert receive(settings, database, raw, [verp]) == "ignored"
    [row] = deliveries(database, [delivery_id])
    assert (row.status, row.bounce_type, row.bounce_classification) == (
        "bounced",
        "soft",
        "mailbox_full",
    )
    assert row.next_attempt_at is None
    assert [a.outcome for a in attempts(database, delivery_id)] == ["bounced"]


def test_a_bounce_for_a_delivery_that_is_gone_is_ignored(
    settings: Settings, database: Database
) -> None:
    verp = verp_address(settings, 2**62)
    raw = samples.render(samples.POSTFIX_UNKNOWN, sender=verp)
    assert receive(settings, database, raw, [verp]) == "ignored"


def test_the_policy_service_answers_from_the_address_alone(settings: Settings) -> None:
    domain = settings.effective_bounce_domain
    assert policy.decide(settings, {"recipient": verp_address(settings, 7)}) == "DUNNO"
    assert policy.decide(settings, {"recipient": verp_address(settings, 7).upper()}) == "DUNNO"
    for forged in (f"b+7-{'0' * 16}@{domain}", f"b+8-{verp_address(settings, 7)[4:]}", ""):
        assert policy.decide(settings, {"recipient": forged}).startswith("550 5.1.1")
