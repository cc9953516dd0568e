"""Our own samples of the bounce formats common MTAs send (written for these tests from
the formats' structure, not copied from real mail). ``{rcpt}`` is the failed address."""

from __future__ import annotations

ORIGINAL = (
    "From: app@sender.test\nTo: {rcpt}\nSubject: Your receipt\n"
    "Message-ID: <abc@sender.test>\n\nThanks for your order.\n"
)


def dsn(
    reporting: str,
    status: str,
    diagnostic: str,
    *,
    action: str = "failed",
    remote: str | None = None,
    subject: str = "Undelivered Mail Returned to Sender",
    human: str = "This is the mail system. Your message could not be delivered.",
) -> str:
    """An RFC 3464 multipart/report, the shape Postfix, Exim (since 4.x with DSN), Gmail,
    Exchange and Sendmail all send."""
    remote_line = f"Remote-MTA: dns; {remote}\n" if remote else ""
    return (
        f"From: MAILER-DAEMON@{reporting}\nTo: {{sender}}\nSubject: {subject}\n"
        "MIME-Version: 1.0\nAuto-Submitted: auto-replied\n"
        'Content-Type: multipart/report; report-type=delivery-status; boundary="BB"\n\n'
        f"--BB\nContent-Type: text/plain\n\n{human}\n\n"
        "--BB\nContent-Type: message/delivery-status\n\n"
        f"Reporting-MTA: dns; {reporting}\nArrival-Date: Mon, 23 Nov 2026 04:00:00 +0000\n\n"
        f"Final-Recipient: rfc822; {{rcpt}}\nOriginal-Recipient: rfc822;{{rcpt}}\n"
        f"Action: {action}\nStatus: {status}\n{remote_line}"
        f"Diagnostic-Code: smtp; {diagnostic}\n\n"
        f"--BB\nContent-Type: message/rfc822\n\n{ORIGINAL}\n--BB--\n"
    )


POSTFIX_UNKNOWN = dsn(
    "mx.example.net",
    "5.1.1",
    "550 5.1.1 <{rcpt}>: Recipient address rejected: User unknown in virtual mailbox table",
    remote="mx.example.net",
)
POSTFIX_DELAYED = dsn(
    "mx.example.net",
    "4.4.1",
    "connect to mx.example.net[192.0.2.1]:25: Connection timed out",
    action="delayed",
    subject="Delayed Mail (still being retried)",
)
EXIM_MAILBOX_FULL = dsn(
    "mail.example.org",
    "5.2.2",
    "552 5.2.2 Mailbox full: user has exceeded the quota",
    remote="mx1.example.org",
    subject="Mail delivery failed: returning message to sender",
)
GMAIL_UNKNOWN = dsn(
    "mail-sor-f41.google.com",
    "5.1.1",
    "550-5.1.1 The email account that you tried to reach does not exist. Please try "
    "double-checking the recipient's email address for typos.",
    remote="gmail-smtp-in.l.google.com",
    subject="Delivery Status Notification (Failure)",
)
GMAIL_POLICY = dsn(
    "mail-sor-f41.google.com",
    "5.7.1",
    "550-5.7.1 [192.0.2.9] Our system has detected that this message is likely "
    "unsolicited mail. To reduce the amount of spam sent to Gmail, this message has "
    "been blocked.",
    subject="Delivery Status Notification (Failure)",
)
OFFICE365_BLOCKED = dsn(
    "AM0PR01MB1234.eurprd01.prod.exchangelabs.com",
    "5.7.606",
    "550 5.7.606 Access denied, banned sending IP [192.0.2.9]. To request removal from "
    "this list please visit https://sender.office.com/",
    subject="Undeliverable: Your receipt",
    human="Your message to {rcpt} couldn't be delivered.",
)
EXCHANGE_UNKNOWN = dsn(
    "EXCH01.corp.example.com",
    "5.1.10",
    "550 5.1.10 RESOLVER.ADR.RecipientNotFound; Recipient not found by SMTP address lookup",
    subject="Undeliverable: Your receipt",
)
SENDMAIL_CONTENT = dsn(
    "relay.example.edu",
    "5.6.0",
    "554 5.6.0 Message rejected: content not accepted",
    subject="Returned mail: see transcript for details",
)
SENDMAIL_SOFT_FAILED = dsn(
    "relay.example.edu",
    "4.2.2",
    "452 4.2.2 Over quota, gave up after 5 days",
    subject="Returned mail: see transcript for details",
)
TECHNICAL = dsn(
    "mx.example.net",
    "5.4.4",
    "Host or domain name not found. Name service error for name=gone.example type=A",
)

QMAIL_UNKNOWN = (
    "From: MAILER-DAEMON@mx.example.com\nTo: {sender}\nSubject: failure notice\n\n"
    "Hi. This is the qmail-send program at mx.example.com.\n"
    "I'm afraid I wasn't able to deliver your message to the following addresses.\n"
    "This is a permanent error; I've given up. Sorry it didn't work out.\n\n"
    "<{rcpt}>:\n"
    "192.0.2.5 does not like recipient.\n"
    "Remote host said: 550 5.1.1 <{rcpt}>... User unknown\n"
    "Giving up on 192.0.2.5.\n\n"
    "--- Below this line is a copy of the message.\n\n" + ORIGINAL
)
EXIM_PLAIN_FULL = (
    "From: Mail Delivery System <Mailer-Daemon@mail.example.org>\nTo: {sender}\n"
    "Subject: Mail delivery failed: returning message to sender\n"
    "X-Failed-Recipients: {rcpt}\nAuto-Submitted: auto-replied\n\n"
    "This message was created automatically by mail delivery software.\n\n"
    "A message that you sent could not be delivered to one or more of its\n"
    "recipients. This is a permanent error. The following address(es) failed:\n\n"
    "  {rcpt}\n"
    "    host mx1.example.org [192.0.2.7]\n"
    "    SMTP error from remote mail server after RCPT TO:<{rcpt}>:\n"
    "    552 5.2.2 Mailbox full\n\n"
    "------ This is a copy of the message, including all the headers. ------\n\n" + ORIGINAL
)

OUT_OF_OFFICE = (
    "From: Someone <{rcpt}>\nTo: {sender}\nSubject: Out of Office: Your receipt\n"
    "Auto-Submitted: auto-replied\n\nI am away until Monday.\n"
)
ABWESENHEIT = (
    "From: Jemand <{rcpt}>\nTo: {sender}\nSubject: Abwesenheitsnotiz: Ihre Quittung\n\n"
    "Ich bin bis Montag nicht im Büro.\n"
)
AUTOMATIC_REPLY = (
    "From: Someone <{rcpt}>\nTo: {sender}\nSubject: Automatic reply: Your receipt\n"
    "X-Autoreply: yes\n\nThanks, I will answer soon.\n"
)
PRECEDENCE = (
    "From: Someone <{rcpt}>\nTo: {sender}\nSubject: Re: Your receipt\n"
    "Precedence: auto_reply\n\nReceived, thank you.\n"
)


def render(sample: str, rcpt: str = "gone@example.net", sender: str = "b+1-x@b.test") -> bytes:
    return sample.replace("{rcpt}", rcpt).replace("{sender}", sender).encode()
