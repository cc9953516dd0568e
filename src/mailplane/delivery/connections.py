"""SMTP connections, reused per destination, within a per-destination and a global limit.

Through an outbound route, "destination" means (route, destination): its connections are
bound to the route's source address and greet with its HELO name, so they are pooled and
limited apart from every other route's.

A connection goes back to its destination's idle list after a transaction, whatever its
outcome, unless it broke (dropped, timed out, 421): those are closed and forgotten. After a
refused transaction the next one starts with RSET (RFC 5321 section 4.1.1.5), so that no
half-built envelope carries over; after a completed DATA the server has already reset.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import aiosmtplib

from mailplane.config import Settings
from mailplane.delivery.routes import Host, Route

# An idle connection older than this is closed rather than reused: servers drop idle
# clients after a few minutes (Postfix's smtpd_timeout is 300 s).
IDLE_SECONDS = 30.0


class ConnectFailed(Exception):
    """No host of the route took a connection; ``code`` is None for network errors."""

    def __init__(self, host: Host | None, code: int | None, reply: str) -> None:
        super().__init__(reply)
        self.host = host
        self.code = code
        self.reply = reply


@dataclass
class Connection:
    smtp: aiosmtplib.SMTP
    host: Host
    needs_reset: bool = False
    last_used: float = field(default_factory=time.monotonic)

    @property
    def usable(self) -> bool:
        return self.smtp.is_connected

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.smtp.close()


def _error_text(exc: BaseException) -> str:
    if isinstance(exc, aiosmtplib.SMTPResponseException):
        return f"{exc.code} {exc.message}"
    return f"{type(exc).__name__}: {exc}".rstrip(": ")


class Pools:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.total = asyncio.Semaphore(settings.delivery_concurrency_total)
        self._limits: dict[str | tuple[int, str], asyncio.Semaphore] = {}
        self._idle: dict[str | tuple[int, str], list[Connection]] = {}
        self.helo_name = settings.delivery_helo_name or settings.mail_hostname

    def _limit(self, destination: str | tuple[int, str]) -> asyncio.Semaphore:
        if destination not in self._limits:
            self._limits[destination] = asyncio.Semaphore(
                self.settings.delivery_concurrency_per_destination
            )
        return self._limits[destination]

    @contextlib.asynccontextmanager
    async def connection(self, route: Route) -> AsyncIterator[Connection]:
        """A connection to the route's first reachable host, inside both limits."""
        key = route.pool_key
        async with self._limit(key), self.total:
            connection = self._take_idle(key) or await self._open(route)
            try:
                yield connection
            finally:
                connection.last_used = time.monotonic()
                if connection.usable:
                    self._idle.setdefault(key, []).append(connection)
                else:
                    connection.close()

    def _take_idle(self, destination: str | tuple[int, str]) -> Connection | None:
        idle = self._idle.get(destination, [])
        while idle:
            connection = idle.pop()
            if connection.usable and time.monotonic() - connection.last_used < IDLE_SECONDS:
                return connection
            connection.close()
        return None

    async def _open(self, route: Route) -> Connection:
        last: ConnectFailed | None = None
        for host in route.hosts:
            smtp = aiosmtplib.SMTP(
                hostname=host.address,
                port=route.port,
                local_hostname=route.helo_name or self.helo_name,
                source_address=(route.source_ip, 0) if route.source_ip else None,
                timeout=self.settings.delivery_command_timeout_seconds,
                use_tls=route.tls == "implicit",
                # None: STARTTLS when the server offers it.
                start_tls={"starttls": True, "opportunistic": None}.get(route.tls, False),
                validate_certs=route.verify_certificates,
                # RFC 5321 section 4.5.3.2 lets a server take 5 minutes before its
                # greeting; the connect timeout bounds that too.
            )
            try:
                await smtp.connect(timeout=self.settings.delivery_connect_timeout_seconds)
                if route.username and route.password is not None:
                    await smtp.login(route.username, route.password)
            except aiosmtplib.SMTPResponseException as exc:
                smtp.close()
                last = ConnectFailed(host, exc.code, _error_text(exc))
                continue
            except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
                smtp.close()
                last = ConnectFailed(host, None, f"4.4.1 {host.name}: {_error_text(exc)}")
                continue
            return Connection(smtp, host)
        raise last or ConnectFailed(None, None, "4.4.1 no host to connect to")

    def close_all(self) -> None:
        for idle in self._idle.values():
            for connection in idle:
                connection.close()
        self._idle.clear()

    async def quit_all(self) -> None:
        for idle in self._idle.values():
            for connection in idle:
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(connection.smtp.quit(), 2.0)
                connection.close()
        self._idle.clear()
