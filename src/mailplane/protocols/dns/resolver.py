"""The one place where DNS answers enter mailplane, and where their errors are classified.

Two outcomes only, decided here and nowhere else (Mailu issue 3252 shows what happens when
a bad name is reported as an outage): a name that does not exist, has no record of the type
asked, or cannot even be a name answers *empty* ("not found"); a timeout, SERVFAIL, REFUSED
or an unreachable server raises ``DnsTransientError`` ("try again later").
"""

from __future__ import annotations

import copy
import ipaddress
from dataclasses import dataclass

import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.query
import dns.rcode
import dns.rdatatype
import dns.resolver
import dns.reversename

from mailplane.config import Settings
from mailplane.protocols.dns.errors import DnsTransientError


@dataclass(frozen=True)
class MxRecord:
    preference: int
    exchange: str  # lower case, no trailing dot; "" for a null MX (RFC 7505)


@dataclass(frozen=True)
class SrvRecord:
    priority: int
    weight: int
    port: int
    target: str


def _name(value: object) -> str:
    return str(value).rstrip(".").lower()


def _make_query(name: str, rdtype: str) -> dns.message.Message | None:
    """The question for ``name``, or None when no DNS name can be made of it.

    An empty or over-long label, a name past 255 octets, or text IDNA cannot encode (a
    macro-expanded SPF target, a tenant's typo) names nothing that can exist: callers treat
    that as "not found", never as an outage or a crash.
    """
    try:
        return dns.message.make_query(name, rdtype, use_edns=0, payload=1232)
    except (dns.exception.DNSException, UnicodeError, ValueError):
        return None


class DnsClient:
    """Synchronous lookups, safe to share between threads.

    It asks the configured servers directly (one UDP question, TCP when the answer is
    truncated, the next server on failure) instead of going through dnspython's stub
    resolver: that keeps every error in one place below, and costs half as much CPU, which
    is what bounds a verification run against a nearby resolver.
    """

    def __init__(
        self, nameservers: list[str] | None = None, port: int = 53, timeout: float = 3.0
    ) -> None:
        if not nameservers:
            try:
                system = dns.resolver.Resolver(configure=True)
                nameservers = [str(n) for n in system.nameservers]
            except dns.resolver.NoResolverConfiguration:
                nameservers = []
        self.nameservers = list(nameservers)
        self.port = port
        self.timeout = timeout
        # No cache across calls: verification must see what the world sees now. A memoized
        # client (below) remembers answers for one verification only.
        self._memo: dict[tuple[str, str], list[object]] | None = None

    def memoized(self) -> DnsClient:
        """A client with the same servers that remembers answers for its lifetime: one
        verification asks some questions several times (SPF once per sending IP)."""
        client = copy.copy(self)
        client._memo = {}
        return client

    @classmethod
    def from_settings(cls, settings: Settings) -> DnsClient:
        servers = [str(server) for server in settings.dns_resolvers]
        return cls(servers, settings.dns_port, settings.dns_timeout_seconds)

    def _rrset(self, name: str, rdtype: str) -> list[object]:
        if self._memo is None:
            return self._ask(name, rdtype)
        key = (name.lower().rstrip("."), rdtype)
        if key not in self._memo:
            self._memo[key] = self._ask(name, rdtype)
        return self._memo[key]

    def _ask(self, name: str, rdtype: str) -> list[object]:
        query = _make_query(name, rdtype)
        if query is None:
            return []  # not a possible name: nothing can exist there. Bad input, not an outage.
        return self._exchange(query)

    def _exchange(self, query: dns.message.Message) -> list[object]:
        """Send one question to the configured servers; the answer's records, or raise."""
        question = query.question[0]
        name, rdtype = question.name.to_text(), dns.rdatatype.to_text(question.rdtype)
        if not self.nameservers:
            raise DnsTransientError("no DNS resolver is configured")
        failures = []
        for server in self.nameservers:
            try:
                response = dns.query.udp(query, server, port=self.port, timeout=self.timeout)
                if response.flags & dns.flags.TC:  # RFC 7766: retry over TCP
                    response = dns.query.tcp(query, server, port=self.port, timeout=self.timeout)
            except dns.exception.Timeout:
                failures.append(f"{server}: timed out")
                continue
            except (OSError, ValueError, dns.exception.DNSException) as exc:
                # ValueError: a server that is not an IP address (Settings refuses those at
                # start; a client built by hand may still hold one).
                failures.append(f"{server}: {exc}")
                continue
            rcode = response.rcode()
            if rcode == dns.rcode.NXDOMAIN:
                return []
            if rcode != dns.rcode.NOERROR:  # SERVFAIL, REFUSED, ...: ask the next one
                failures.append(f"{server}: {dns.rcode.to_text(rcode)}")
                continue
            assert isinstance(response, dns.message.QueryMessage)
            try:
                chain = response.resolve_chaining()
            except dns.exception.DNSException:
                return []  # a CNAME loop or an over-long chain: nothing usable exists
            return list(chain.answer) if chain.answer is not None else []
        raise DnsTransientError(f"{rdtype} {name}: no server answered ({'; '.join(failures)})")

    def txt(self, name: str) -> list[str]:
        """Each TXT record as one string: its character-strings concatenated (RFC 7208 3.3)."""
        values = []
        for rdata in self._rrset(name, "TXT"):
            strings: tuple[bytes, ...] = rdata.strings  # type: ignore[attr-defined]
            values.append(b"".join(strings).decode("utf-8", errors="replace"))
        return values

    def mx(self, name: str) -> list[MxRecord]:
        records = [
            MxRecord(int(r.preference), _name(r.exchange))  # type: ignore[attr-defined]
            for r in self._rrset(name, "MX")
        ]
        return sorted(records, key=lambda r: (r.preference, r.exchange))

    def addresses(self, name: str, version: int) -> list[str]:
        return [str(r) for r in self._rrset(name, "A" if version == 4 else "AAAA")]

    def cname(self, name: str) -> list[str]:
        return [_name(r.target) for r in self._rrset(name, "CNAME")]  # type: ignore[attr-defined]

    def srv(self, name: str) -> list[SrvRecord]:
        return [
            SrvRecord(int(r.priority), int(r.weight), int(r.port), _name(r.target))  # type: ignore[attr-defined]
            for r in self._rrset(name, "SRV")
        ]

    def ptr(self, ip: str) -> list[str]:
        reverse = dns.reversename.from_address(str(ipaddress.ip_address(ip))).to_text()
        return [_name(r.target) for r in self._rrset(reverse, "PTR")]  # type: ignore[attr-defined]

    def any_address(self, name: str) -> bool:
        return bool(self.addresses(name, 4) or self.addresses(name, 6))
