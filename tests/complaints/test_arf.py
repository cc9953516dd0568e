"""Reading ARF feedback reports (complaints/arf.py) in the shapes providers send."""

from __future__ import annotations

from datetime import UTC, datetime

from mailplane.complaints import arf
from tests.complaints import samples


def test_a_yahoo_report_names_the_recipient_in_the_original_only() -> None:
    report = arf.read(
        samples.render(
            samples.YAHOO, rcpt="Kundin@Example.NET", return_path="b+7-abc@bounces.test",
            message_id="<m1@shop.test>",
        )
    )  # fmt: skip
    assert report is not None
    assert report.feedback_type == "abuse"
    assert report.user_agent == "Yahoo!-Mail-Feedback/2.0"
    assert report.reporter == "feedback@arf.mail.yahoo.com"
    assert report.original_rcpt_to == ""
    assert report.to == "kundin@example.net"
    assert report.return_path == "b+7-abc@bounces.test"
    assert report.message_id == "<m1@shop.test>"
    assert report.reported_domain == "shop.test"
    assert report.arrival_date == datetime(2026, 11, 23, 4, 0, tzinfo=UTC)
    assert "abuse report" in report.detail


def test_an_aol_report_with_headers_only_and_original_rcpt_to() -> None:
    report = arf.read(
        samples.render(samples.AOL, rcpt="a@example.net", return_path="b+9-f0@bounces.test")
    )
    assert report is not None
    assert report.user_agent == "AOL SComp"
    assert report.original_rcpt_to == "a@example.net"
    assert report.return_path == "b+9-f0@bounces.test"
    assert report.message_id == "<nothing@shop.test>"
    # -0500 in the report: stored in UTC.
    assert report.arrival_date == datetime(2026, 11, 23, 9, 0, tzinfo=UTC)


def test_a_microsoft_jmrp_report_with_the_recipient_redacted() -> None:
    report = arf.read(samples.render(samples.MICROSOFT, return_path="b+5-aa@bounces.test"))
    assert report is not None
    assert report.user_agent == "Microsoft JMRP"
    assert report.original_rcpt_to == ""
    assert report.to == ""
    assert report.return_path == "b+5-aa@bounces.test"


def test_a_message_that_is_no_report_is_none() -> None:
    plain = b"From: a@example.net\nTo: fbl@bounces.test\nSubject: hi\n\nplease stop\n"
    assert arf.read(plain) is None


def test_control_characters_in_fields_never_survive() -> None:
    raw = samples.render(samples.AOL).replace(
        b"User-Agent: AOL SComp", b"User-Agent: AOL\x07 SComp\x1b[31m\x00"
    )
    report = arf.read(raw)
    assert report is not None
    assert report.user_agent == "AOL SComp [31m"
