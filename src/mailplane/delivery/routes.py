"""Where a delivery goes: the configured relay, or the recipient domain's MX hosts; through
an outbound route (``outbound_routes/``), that route's relay, source address and HELO name.

MX hosts are tried by preference (random among equal ones, RFC 5321 section 5.1), each of
their addresses in turn; a domain without MX records is its own mail host (the "implicit
MX" of RFC 5321 section 5.1, from its A/AAAA records); a null MX (RFC 7505, ``0 .``) means
the domain takes no mail. Answers are cached for their TTL (at most five minutes), so that
a batch to one domain asks DNS once.
"""

from __future__ import annotations

import ipaddress
import random
import time
from dataclasses import dataclass, field, replace
from typing import Literal

import dns.asyncresolver
import dns.exception
import dns.rdatatype
import dns.resolver

from mailplane.config import Settings
from mailplane.outbound_routes import relay_passwords
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
    username: str | None = field(default=None, repr=False)
    password: str | None = field(default=None, repr=False)
    # Through an outbound route: its id, the local address to bind, its EHLO name.
    via: int | None = None
    source_ip: str | None = None
    helo_name: str | None = None

    @property
    def pool_key(self) -> str | tuple[int, str]:
        """Connections and their limits are per destination, and per route: a connection
        from one source address never carries another route's mail."""
        return self.destination if self.via is None else (self.via, self.destination)


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


def _family(address: str) -> int | None:
    try:
        return ipaddress.ip_address(address).version
    except ValueError:
        return None  # a relay named by host name: resolved when connecting


def via_relay_route(settings: Settings, via: RouteConfig) -> Route:
    """An outbound route's own relay: everything it carries goes there."""
    assert via.relay_host is not None
    password = relay_passwords.decrypt(settings, via.relay_password) if via.relay_password else None
    tls: TlsMode = via.relay_tls  # type: ignore[assignment]  # validated when stored
    return Route(
        destination="relay",
        hosts=(Host(via.relay_host, via.relay_host),),
        port=via.relay_port or 25,
        tls=tls,
        verify_certificates=tls != "none",
        username=via.relay_username,
        password=password,
        via=via.id,
        source_ip=via.source_ip,
        helo_name=via.helo_name,
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
        # By route id: (the config it was built from, the route).
        self._via_relays: dict[int, tuple[RouteConfig, Route]] = {}
        # By (route id, domain): (the config, the default route, the route through it).
        self._via_routes: dict[tuple[int, str], tuple[RouteConfig, Route, Route]] = {}

    async def route(self, domain: str, via: RouteConfig | None = None) -> Route | NoRoute:
        """How to reach ``domain``: through ``via`` (an outbound route) or the default."""
        if via is not None:
            return await self._through(domain, via)
        if self.relay is not None:
            return self.relay
        cached = self._cache.get(domain)
        if cached is not None and cached[0] > time.monotonic():
            return cached[1]
        result, ttl = await self._lookup(domain)
        keep = NEGATIVE_CACHE_SECONDS if isinstance(result, NoRoute) else ttl
        self._cache[domain] = (time.monotonic() + min(keep, CACHE_SECONDS_MAX), result)
        return result

    async def _through(self, domain: str, via: RouteConfig) -> Route | NoRoute:
        """Through an outbound route: its relay, or the default way out (the platform's
        relay or the MX hosts) from its source address with its HELO name. Built once per
        route configuration (a changed route is a new config object) and domain."""
        if via.relay_host:
            kept = self._via_relays.get(via.id)
            if kept is None or kept[0] is not via:
                kept = (via, via_relay_route(self.settings, via))
                self._via_relays[via.id] = kept
            return kept[1]
        base = await self.route(domain)
        if isinstance(base, NoRoute):
            return base
        cached = self._via_routes.get((via.id, domain))
        if cached is not None and cached[0] is via and cached[1] is base:
            return cached[2]
        hosts = base.hosts
        if via.source_ip:
            # A socket bound to an IPv4 address cannot reach an IPv6 host, and back.
            family = ipaddress.ip_address(via.source_ip).version
            hosts = tuple(h for h in hosts if _family(h.address) in (family, None))
            if not hosts:
                return NoRoute(
                    False, 451, f"4.4.4 no mail host of {domain} is reachable from {via.source_ip}"
                )
        through = replace(
            base, hosts=hosts, via=via.id, source_ip=via.source_ip, helo_name=via.helo_name
        )
        if len(self._via_routes) > 100_000:  # bounded: domains come and go
            self._via_routes.clear()
        self._via_routes[(via.id, domain)] = (via, base, through)
        return through

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
