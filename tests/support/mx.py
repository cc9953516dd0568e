"""Remote mail servers for the delivery tests: aiosmtpd on loopback addresses.

The recipient's local part tells the server how to answer, so one server plays every
kind of remote MX:

- ``ok-*``: 250.
- ``perm-*``: 550 5.1.1 at RCPT.
- ``policy-*``: 550 5.7.1 at RCPT (a reputation block: about the sender, not the address).
- ``full-*``: 552 5.2.2 at RCPT (mailbox full: a soft bounce).
- ``permdata-*``: 554 5.6.0 at DATA.
- ``temp-*``: 451 4.7.1 the first time, 250 after that (greylisting).
- ``hint-*``: 451 "try again in 2 seconds" the first time, 250 after that.
- ``always-*``: 451 4.3.0 every time.
- ``drop-*``: the connection is closed at DATA the first time, 250 after that.
- ``slow-*``: DATA answered after 3 s the first time (beyond the engine's timeout).
- ``closing-*``: 421 4.3.2 at RCPT the first time (the server is going away).
"""

from __future__ import annotations

import asyncio
import ssl
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

SLOW_SECONDS = 3.0


@dataclass
class Received:
    mail_from: str
    recipient: str
    data: bytes
    at: float
    authenticated: bool
    encrypted: bool
    # The client's address (the connection's source) and the name it greeted with.
    peer: str = ""
    helo: str = ""


@dataclass
class RemoteMx:
    host: str
    port: int
    credentials: tuple[str, str] | None = None
    # Offer STARTTLS with this context (a self-signed certificate in the tests).
    tls: ssl.SSLContext | None = None
    smtputf8: bool = True
    messages: list[Received] = field(default_factory=list)
    seen: Counter[str] = field(default_factory=Counter)
    connections: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _controller: Any = None

    def _first_time(self, address: str, stage: str) -> bool:
        with self._lock:
            self.seen[f"{stage}:{address}"] += 1
            return self.seen[f"{stage}:{address}"] == 1

    async def handle_EHLO(  # noqa: N802
        self, server: Any, session: Any, envelope: Any, hostname: str, responses: list[str]
    ) -> list[str]:
        with self._lock:
            self.connections += 0 if getattr(session, "counted", False) else 1
        session.counted = True
        session.host_name = hostname
        return responses

    async def handle_RCPT(  # noqa: N802
        self, server: Any, session: Any, envelope: Any, address: str, options: list[str]
    ) -> str:
        if self.credentials is not None and not getattr(session, "authenticated", False):
            return "530 5.7.0 authentication required"
        local = address.split("@")[0]
        if local.startswith("perm-"):
            return "550 5.1.1 <" + address + ">: no such user"
        if local.startswith("policy-"):
            return "550 5.7.1 service refused: the sending IP is listed on a blocklist"
        if local.startswith("full-"):
            return "552 5.2.2 <" + address + ">: mailbox full"
        if local.startswith("always-"):
            return "451 4.3.0 temporary trouble, come back later"
        if local.startswith("temp-") and self._first_time(address, "rcpt"):
            return "451 4.7.1 greylisted"
        if local.startswith("hint-") and self._first_time(address, "rcpt"):
            return "451 4.7.1 greylisted, try again in 2 seconds"
        if local.startswith("closing-") and self._first_time(address, "rcpt"):
            return "421 4.3.2 shutting down"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        recipient = envelope.rcpt_tos[0]
        local = recipient.split("@")[0]
        if local.startswith("permdata-"):
            return "554 5.6.0 message content refused"
        if local.startswith("drop-") and self._first_time(recipient, "data"):
            server.transport.close()
            return "250 never seen"
        if local.startswith("slow-") and self._first_time(recipient, "data"):
            await asyncio.sleep(SLOW_SECONDS)
        authenticated = bool(getattr(session, "authenticated", False))
        encrypted = session.ssl is not None
        with self._lock:
            for rcpt in envelope.rcpt_tos:
                self.messages.append(
                    Received(
                        envelope.mail_from,
                        rcpt,
                        envelope.original_content,
                        time.time(),
                        authenticated,
                        encrypted,
                        peer=session.peer[0] if session.peer else "",
                        helo=session.host_name or "",
                    )
                )
        return "250 2.0.0 queued"

    def _authenticate(
        self, server: Any, session: Any, envelope: Any, mechanism: str, data: Any
    ) -> AuthResult:
        ok = isinstance(data, LoginPassword) and (
            (data.login.decode(), data.password.decode()) == self.credentials
        )
        return AuthResult(success=ok, handled=False)

    def start(self) -> None:
        extra: dict[str, Any] = {}
        if self.credentials is not None:
            extra = {
                "authenticator": self._authenticate,
                # Plain-text AUTH on loopback; a refused login still refuses the mail
                # (RCPT answers 530 to an unauthenticated client below).
                "auth_require_tls": False,
            }
        if self.tls is not None:
            extra["tls_context"] = self.tls
        extra["enable_SMTPUTF8"] = self.smtputf8
        self._controller = Controller(self, hostname=self.host, port=self.port, **extra)
        self._controller.start()

    def stop(self) -> None:
        self._controller.stop()

    def to(self, recipient: str) -> list[Received]:
        with self._lock:
            return [m for m in self.messages if m.recipient == recipient]
