"""Our own ARF feedback reports in the shapes the big mailbox providers send (written for
these tests from RFC 5965 and the providers' published descriptions, not copied from real
reports). Placeholders: ``{rcpt}`` the complaining recipient, ``{return_path}`` the
original's Return-Path, ``{message_id}`` its Message-ID, ``{fbl}`` the feedback address."""

from __future__ import annotations


def _original(with_return_path: bool = True, to: str = "{rcpt}") -> str:
    return_path = "Return-Path: <{return_path}>\n" if with_return_path else ""
    return (
        f"{return_path}Received: from mx.platform.test by mta1.example.net; "
        "Mon, 23 Nov 2026 04:00:00 +0000\n"
        f"From: Shop <news@shop.test>\nTo: {to}\nSubject: Our winter sale\n"
        "Date: Mon, 23 Nov 2026 03:59:00 +0000\nMessage-ID: {message_id}\n"
        "MIME-Version: 1.0\nContent-Type: text/plain\n\nEverything must go.\n"
    )


# Yahoo's complaint feedback loop: a whole message as message/rfc822, Original-Rcpt-To
# absent (Yahoo leaves it out), the recipient visible in the original's To.
YAHOO = (
    "From: Yahoo! Mail AntiSpam Feedback <feedback@arf.mail.yahoo.com>\n"
    "To: {fbl}\nSubject: FW: Our winter sale\nDate: Mon, 23 Nov 2026 05:00:00 +0000\n"
    "Message-ID: <fbl-1@arf.mail.yahoo.com>\nMIME-Version: 1.0\n"
    'Content-Type: multipart/report; report-type=feedback-report; boundary="ARF1"\n\n'
    "--ARF1\nContent-Type: text/plain; charset=us-ascii\n\n"
    "This is an email abuse report for an email message received from IP 192.0.2.25 on "
    "Mon, 23 Nov 2026 04:00:00 +0000.\n\n"
    "--ARF1\nContent-Type: message/feedback-report\n\n"
    "Feedback-Type: abuse\nUser-Agent: Yahoo!-Mail-Feedback/2.0\nVersion: 0.1\n"
    "Original-Mail-From: <{return_path}>\nArrival-Date: Mon, 23 Nov 2026 04:00:00 +0000\n"
    "Source-IP: 192.0.2.25\nReported-Domain: shop.test\nAuthentication-Results: "
    "mta1.example.net; dkim=pass header.d=shop.test\n\n"
    "--ARF1\nContent-Type: message/rfc822\nContent-Disposition: inline\n\n"
    + _original()
    + "\n--ARF1--\n"
)

# AOL: Original-Rcpt-To given, the original's headers only (text/rfc822-headers).
AOL = (
    "From: scomp@aol.net\nTo: {fbl}\nSubject: Email Feedback Report for IP 192.0.2.25\n"
    "MIME-Version: 1.0\n"
    'Content-Type: multipart/report; report-type="feedback-report"; boundary="boundary-1"\n\n'
    "--boundary-1\nContent-Type: text/plain\n\n"
    "This is an email abuse report for an email message received from IP 192.0.2.25.\n\n"
    "--boundary-1\nContent-Type: message/feedback-report\n\n"
    "Feedback-Type: abuse\nUser-Agent: AOL SComp\nVersion: 1\n"
    "Original-Rcpt-To: {rcpt}\nArrival-Date: Mon, 23 Nov 2026 04:00:00 -0500\n"
    "Reported-Domain: shop.test\n\n"
    "--boundary-1\nContent-Type: text/rfc822-headers\n\n" + _original().split("\n\n", 1)[0] + "\n\n"
    "--boundary-1--\n"
)

# Microsoft JMRP: the recipient redacted in the original, no Original-Rcpt-To; the VERP
# Return-Path is what names the delivery.
MICROSOFT = (
    "From: staff@hotmail.com\nTo: {fbl}\nSubject: complaint about message from 192.0.2.25\n"
    "MIME-Version: 1.0\n"
    'Content-Type: multipart/report; report-type=feedback-report; boundary="--JMRP"\n\n'
    "----JMRP\nContent-Type: text/plain\n\nThis is a Junk Mail Report.\n\n"
    "----JMRP\nContent-Type: message/feedback-report\n\n"
    "Feedback-Type: abuse\nUser-Agent: Microsoft JMRP\nVersion: 1.0\n"
    "Arrival-Date: Mon, 23 Nov 2026 04:00:00 +0000\nSource-IP: 192.0.2.25\n\n"
    "----JMRP\nContent-Type: message/rfc822\n\n"
    + _original(to="redacted@hotmail.com").replace("To: redacted@hotmail.com", "To: ")
    + "\n----JMRP--\n"
)

# A report about mail that is not ours (no VERP, an unknown Message-ID).
FOREIGN = YAHOO


def render(
    sample: str,
    *,
    rcpt: str = "someone@example.net",
    return_path: str = "news@shop.test",
    message_id: str = "<nothing@shop.test>",
    fbl: str = "fbl@bounces.test",
) -> bytes:
    return (
        sample.replace("{rcpt}", rcpt)
        .replace("{return_path}", return_path)
        .replace("{message_id}", message_id)
        .replace("{fbl}", fbl)
        .encode()
    )
