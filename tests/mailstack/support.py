"""Clients for the mail-stack tests: SMTP, IMAP, and an aiosmtpd relay on loopback."""

from __future__ import annotations

import imaplib
import secrets
import smtplib
import ssl
import threading
import time
from dataclasses import dataclass, field
from email.message import EmailMessage
from typing import Any

from aiosmtpd.controller import Controller

from mailplane.config import Settings
from mailplane.mailserver.processes import MailServers

WAIT_SECONDS = 15.0


def tls_context() -> ssl.SSLContext:
    # The stack's certificate is self-signed (made by bootstrap): tests do not verify it.
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


def message(sender: str, to: str, subject: str | None = None, body: str = "") -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = to
    msg["Subject"] = subject or f"test {secrets.token_hex(6)}"
    msg["Message-ID"] = f"<{secrets.token_hex(8)}@tests.mailplane.test>"
    msg.set_content(body or f"Hello,\n\nbody {secrets.token_hex(16)}\n")
    return msg


@dataclass
class Received:
    mail_from: str
    rcpt_tos: list[str]
    data: bytes


@dataclass
class Relay:
    """An outside MTA: the stack's relay host; records everything it is given."""

    port: int
    messages: list[Received] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _controller: Any = None

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        with self._lock:
            self.messages.append(
                Received(envelope.mail_from, list(envelope.rcpt_tos), envelope.original_content)
            )
        return "250 OK"

    def start(self) -> None:
        self._controller = Controller(self, hostname="127.0.0.1", port=self.port)
        self._controller.start()

    def stop(self) -> None:
        self._controller.stop()

    def find(self, subject: str) -> list[Received]:
        with self._lock:
            return [m for m in self.messages if f"Subject: {subject}".encode() in m.data]

    def wait_for(self, subject: str, timeout: float = WAIT_SECONDS) -> list[Received]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = self.find(subject)
            if found:
                return found
            time.sleep(0.05)
        raise AssertionError(f"the relay never received {subject!r}")


class MailStack:
    def __init__(self, settings: Settings, servers: MailServers) -> None:
        self.settings = settings
        self.servers = servers
        self.host = settings.mail_listen_address

    # SMTP
    def mx(self) -> smtplib.SMTP:
        """An unauthenticated client on the inbound (MX) port, as the internet would be."""
        client = smtplib.SMTP(self.host, self.settings.smtp_port, timeout=10)
        client.ehlo("client.outside.test")
        return client

    def submission(self, login: str | None = None, password: str | None = None) -> smtplib.SMTP:
        client = smtplib.SMTP(self.host, self.settings.submission_port, timeout=10)
        try:
            client.ehlo("laptop.outside.test")
            client.starttls(context=tls_context())
            client.ehlo("laptop.outside.test")
            if login is not None and password is not None:
                client.login(login, password)
        except BaseException:
            client.close()  # a refused login must not leave the socket open
            raise
        return client

    def submissions(self, login: str, password: str) -> smtplib.SMTP:
        client = smtplib.SMTP_SSL(
            self.host, self.settings.submissions_port, timeout=10, context=tls_context()
        )
        try:
            client.ehlo("laptop.outside.test")
            client.login(login, password)
        except BaseException:
            client.close()
            raise
        return client

    def deliver(self, msg: EmailMessage, rcpt: str | list[str], sender: str = "") -> None:
        """Inbound delivery through the MX port; raises if any recipient is refused."""
        with self.mx() as client:
            client.send_message(msg, from_addr=sender or "someone@outside.test", to_addrs=rcpt)

    # IMAP
    def imap(self, user: str, password: str) -> imaplib.IMAP4:
        client = imaplib.IMAP4(self.host, self.settings.imap_port, timeout=10)
        try:
            client.login(user, password)
        except BaseException:
            client.shutdown()  # a refused login must not leave the socket open
            raise
        return client

    def can_log_in(self, user: str, password: str) -> bool:
        try:
            client = self.imap(user, password)
        except imaplib.IMAP4.error:
            return False
        client.logout()
        return True

    def fetch(self, user: str, password: str, subject: str) -> list[bytes]:
        """Every message in INBOX with this subject, as the IMAP client sees it."""
        client = self.imap(user, password)
        try:
            client.select("INBOX")
            _, data = client.search(None, "SUBJECT", f'"{subject}"')
            found = []
            for number in data[0].split():
                _, parts = client.fetch(number, "(RFC822)")
                item = parts[0]
                assert isinstance(item, tuple)
                found.append(item[1])
            return found
        finally:
            client.logout()

    def wait_for(
        self, user: str, password: str, subject: str, timeout: float = WAIT_SECONDS
    ) -> list[bytes]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = self.fetch(user, password, subject)
            if found:
                return found
            time.sleep(0.05)
        raise AssertionError(f"{user} never received {subject!r}")
