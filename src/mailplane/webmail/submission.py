"""SMTP submission as the mailbox user: the webmail's mail takes the platform's one
outbound path (Postfix submission, then local delivery or the intake, the queue and the
delivery engine), authenticated with ``AUTH XOAUTH2`` and a minted mail token, never the
user's password. Postfix's own checks apply as to any mail client: the envelope sender
must be the login (reject_sender_login_mismatch), the submission milter checks the header
From, and its size limit holds.

Replies are classified once, here (STYLE.md habit 3): a 4xx is "try again" (503), a
refused recipient is the caller's input (422 naming it), anything else the server
refused is 502 with its reply text.
"""

from __future__ import annotations

import ipaddress
import ssl
from dataclasses import dataclass

import aiosmtplib

from mailplane.config import Settings
from mailplane.errors import InvalidInput, MailplaneError, Unavailable

TIMEOUT_SECONDS = 30.0


class SubmissionRefused(MailplaneError):
    """The mail server refused the message for a reason that is not the input's."""

    status = 502
    code = "submission_refused"


class MessageTooLarge(MailplaneError):
    status = 413
    code = "message_too_large"


@dataclass(frozen=True)
class Envelope:
    sender: str
    recipients: list[str]


def _is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


def tls_context(settings: Settings, host: str) -> ssl.SSLContext:
    """The stack's certificate is self-signed: on loopback (the same machine) the channel
    is not the attack surface and verification is off; elsewhere it must verify, against
    the stack's certificate as its own anchor."""
    if _is_loopback(host):
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        return context
    cafile = settings.tls_cert_path
    return ssl.create_default_context(cafile=str(cafile) if cafile.exists() else None)


def _reply(exc: aiosmtplib.SMTPResponseException) -> str:
    return f"{exc.code} {exc.message}".strip()


def _temporary(what: str, exc: aiosmtplib.SMTPResponseException) -> Unavailable:
    return Unavailable(
        f"the mail server deferred the {what} ({_reply(exc)}); nothing was sent, retry later",
        code="submission_deferred",
    )


async def submit(settings: Settings, envelope: Envelope, raw: bytes, *, token: str) -> None:
    """Sends the message to every recipient or to none: all RCPTs are checked before DATA."""
    host = settings.mail_listen_address
    if host in ("0.0.0.0", "::", ""):  # noqa: S104 (a wildcard listener is reached on loopback)
        host = "127.0.0.1"
    client = aiosmtplib.SMTP(
        hostname=host,
        port=settings.submission_port,
        start_tls=True,
        tls_context=tls_context(settings, host),
        timeout=TIMEOUT_SECONDS,
        local_hostname="webmail.mailplane.invalid",
    )
    try:
        await client.connect()
    except (aiosmtplib.SMTPException, OSError) as exc:
        raise Unavailable(
            f"the mail server cannot be reached ({exc}); nothing was sent, retry later",
            code="submission_unavailable",
        ) from exc
    try:
        await _transaction(client, envelope, raw, token)
    except aiosmtplib.SMTPServerDisconnected as exc:
        raise Unavailable(
            "the mail server closed the connection; nothing was sent, retry later",
            code="submission_unavailable",
        ) from exc
    except aiosmtplib.SMTPTimeoutError as exc:
        raise Unavailable(
            "the mail server did not answer in time; retry later", code="submission_unavailable"
        ) from exc
    finally:
        try:
            await client.quit()
        except (aiosmtplib.SMTPException, OSError):
            client.close()


async def _transaction(client: aiosmtplib.SMTP, envelope: Envelope, raw: bytes, token: str) -> None:
    try:
        await client.auth_xoauth2(envelope.sender, token)
    except aiosmtplib.SMTPAuthenticationError as exc:
        if 400 <= exc.code < 500:
            raise _temporary("login", exc) from exc
        raise SubmissionRefused(
            f"the mail server refused the webmail's login ({_reply(exc)})",
            code="submission_auth_failed",
        ) from exc
    try:
        await client.mail(envelope.sender, options=["SIZE=" + str(len(raw))])
    except aiosmtplib.SMTPResponseException as exc:
        if 400 <= exc.code < 500:
            raise _temporary("sender", exc) from exc
        if exc.code == 552:
            raise MessageTooLarge(
                f"the message is larger than the mail server accepts ({_reply(exc)})"
            ) from exc
        raise SubmissionRefused(f"the mail server refused the sender ({_reply(exc)})") from exc
    refused: dict[str, str] = {}
    deferred: dict[str, str] = {}
    for recipient in envelope.recipients:
        try:
            await client.rcpt(recipient)
        except aiosmtplib.SMTPResponseException as exc:
            (deferred if 400 <= exc.code < 500 else refused)[recipient] = _reply(exc)
    if refused or deferred:
        await client.rset()
        if refused:
            raise InvalidInput(
                "the mail server refused "
                + ", ".join(f"{a} ({r})" for a, r in refused.items())
                + "; nothing was sent",
                code="recipient_refused",
                extra={"recipients": sorted(refused)},
            )
        raise Unavailable(
            "the mail server deferred "
            + ", ".join(f"{a} ({r})" for a, r in deferred.items())
            + "; nothing was sent, retry later",
            code="submission_deferred",
            extra={"recipients": sorted(deferred)},
        )
    try:
        await client.data(raw)
    except aiosmtplib.SMTPResponseException as exc:
        if 400 <= exc.code < 500:
            raise _temporary("message", exc) from exc
        if exc.code == 552:
            raise MessageTooLarge(
                f"the message is larger than the mail server accepts ({_reply(exc)})"
            ) from exc
        raise SubmissionRefused(f"the mail server refused the message ({_reply(exc)})") from exc
