"""Where a delivery goes: the configured relay, or the recipient domain's MX hosts.

MX hosts are tried by preference (random among equal ones, RFC 5321 section 5.1), each of
their addresses in turn; a domain without MX records is its own mail host (the "implicit
MX" of RFC 5321 section 5.1, from its A/AAAA records); a null MX (RFC 7505, ``0 .``) means
the domain takes no mail. Answers are cached for their TTL (at most five minutes), so that
a batch to one domain asks DNS once.
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass
from typing import Literal

import dns.asyncresolver
import dns.exception
import dns.rdatatype
import dns.resolver

from mailplane.config import Settings
from mailplane.outbound_routes.config import RouteConfig

TlsMode = Literal["starttls", "opportunistic", "implicit", "none"]
CACHE_SECONDS_MAX = 300.0
# A failure is remembered briefly, so that one dead domain does not cost a lookup per row.
NEGATIVE_CACHE_SECONDS = 30.0


@dataclass(frozen=True)
class Host:
    name: str  # the MX name (or the relay's), for the attempt record
    address: str  # the IP the engine connects to


@dataclass(frozen=True)
class Route:
    # Connections are pooled and limited per destination: "relay" or the recipient domain.
    destination: str
    hosts: tuple[Host, ...]
    port: int
    tls: TlsMode
    verify_certificates: bool
    username: str | None = None
    password: str | None = None


@dataclass(frozen=True)
class NoRoute:
    """The domain cannot be reached: ``permanent`` fails the delivery, else it is deferred."""

    permanent: bool
    code: int
    reply: str


def relay_route(settings: Settings) -> Route | None:
    if not settings.relay_host:
        return None
    # "host", "host:port", or Postfix's "[host]:port" (brackets: no MX lookup there either).
    host, _, port = settings.relay_host.rpartition(":")
    if not host or not port.isdigit() or (host.count(":") and not host.endswith("]")):
        host, port = settings.relay_host, "25"
    host = host.strip("[]")
    password = settings.relay_password.get_secret_value() if settings.relay_password else None
    return Route(
        destination="relay",
        hosts=(Host(host, host),),
        port=int(port),
        tls=settings.relay_tls,
        # A relay is a named service the operator chose: its certificate is checked.
        verify_certificates=settings.relay_tls != "none",
        username=settings.relay_username,
        password=password,
    )


def _resolver(settings: Settings) -> dns.asyncresolver.Resolver:
    servers = settings.delivery_resolvers or settings.dns_resolvers
    resolver = dns.asyncresolver.Resolver(configure=not servers)
    if servers:
        resolver.nameservers = [str(ip) for ip in servers]
    resolver.port = settings.dns_port
    resolver.lifetime = settings.dns_timeout_seconds
    resolver.timeout = settings.dns_timeout_seconds
    return resolver


def _by_preference(records: list[tuple[int, str]], rng: random.Random) -> list[str]:
    shuffled = records[:]
    rng.shuffle(shuffled)
    return [name for _, name in sorted(shuffled, key=lambda r: r[0])]


class Router:
    """Resolves routes for one worker; not shared between threads."""

    def __init__(self, settings: Settings, rng: random.Random | None = None) -> None:
        self.settings = settings
        self.rng = rng or random.Random()  # noqa: S311 (load spreading, not secrecy)
        self.relay = relay_route(settings)
        self.resolver = _resolver(settings)
        self._cache: dict[str, tuple[float, Route | NoRoute]] = {}

    async def route(self, domain: str, via: RouteConfig | None = None) -> Route | NoRoute:
        """How to reach ``domain``: through ``via`` (an outbound route) or the default."""
        if self.relay is not None:
            return self.relay
        cached = self._cache.get(domain)
        if cached is not None and cached[0] > time.monotonic():
            return cached[1]
        result, ttl = await self._lookup(domain)
        keep = NEGATIVE_CACHE_SECONDS if isinstance(result, NoRoute) else ttl
        self._cache[domain] = (time.monotonic() + min(keep, CACHE_SECONDS_MAX), result)
        return result

    async def _addresses(self, name: str) -> tuple[list[str], float]:
        addresses: list[str] = []
        ttl = CACHE_SECONDS_MAX
        for rdtype in ("A", "AAAA"):
            try:
                answer = await self.resolver.resolve(name, rdtype)
            except (dns.resolver.NXDOMAIN, dns.resolver.NoAnswer):
                continue
            addresses += [r.to_text() for r in answer]
            ttl = min(ttl, float(answer.rrset.ttl if answer.rrset else ttl))
        return addresses, ttl

    async def _lookup(self, domain: str) -> tuple[Route | NoRoute, float]:
        try:
            try:
                answer = await self.resolver.resolve(domain, "MX")
                ttl = float(answer.rrset.ttl if answer.rrset else CACHE_SECONDS_MAX)
                records = [(r.preference, r.exchange.to_text().rstrip(".")) for r in answer]
            except dns.resolver.NoAnswer:
                records, ttl = [(0, domain)], CACHE_SECONDS_MAX  # implicit MX
            if len(records) == 1 and records[0][1] == "":
                return NoRoute(True, 556, f"5.1.10 {domain} accepts no mail (null MX)"), ttl
            hosts: list[Host] = []
            for name in _by_preference(records, self.rng):
                if not name:
                    continue
                addresses, address_ttl = await self._addresses(name)
                ttl = min(ttl, address_ttl)
                hosts += [Host(name, address) for address in addresses]
        except dns.resolver.NXDOMAIN:
            return NoRoute(True, 550, f"5.1.2 {domain} does not exist (NXDOMAIN)"), 0.0
        except dns.exception.DNSException as exc:
            # Timeouts, SERVFAIL, unreachable resolvers: the domain may be fine later.
            reason = type(exc).__name__
            return NoRoute(False, 451, f"4.4.3 DNS lookup for {domain} failed: {reason}"), 0.0
        if not hosts:
            return NoRoute(True, 550, f"5.1.2 {domain} has no mail host address"), ttl
        return (
            Route(
                destination=domain,
                hosts=tuple(hosts),
                port=self.settings.delivery_smtp_port,
                # STARTTLS whenever offered, certificates not checked: MX hosts are found
                # through unauthenticated DNS anyway (Postfix's "may" level).
                tls="opportunistic",
                verify_certificates=False,
            ),
            ttl,
        )
