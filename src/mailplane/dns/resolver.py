"""The one place where DNS answers enter mailplane, and where their errors are classified.

Two outcomes only, decided here and nowhere else (Mailu issue 3252 shows what happens when
a bad name is reported as an outage): a name that does not exist, has no record of the type
asked, or cannot even be a name answers *empty* ("not found"); a timeout, SERVFAIL, REFUSED
or an unreachable server raises ``DnsTemporaryError`` ("try again later").
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

import dns.exception
import dns.name
import dns.rdatatype
import dns.resolver
import dns.reversename

from mailplane.config import Settings


class DnsTemporaryError(Exception):
    """The question could not be answered now; the answer may exist. Retry later."""


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


class DnsClient:
    """Synchronous lookups; safe to share between threads (dnspython's resolver is)."""

    def __init__(
        self, nameservers: list[str] | None = None, port: int = 53, timeout: float = 3.0
    ) -> None:
        if nameservers:
            self._resolver = dns.resolver.Resolver(configure=False)
            self._resolver.nameservers = list(nameservers)
        else:
            self._resolver = dns.resolver.Resolver(configure=True)
        self._resolver.port = port
        self._resolver.timeout = timeout
        self._resolver.lifetime = timeout
        # Verification must see what the world sees now, not what we saw an hour ago.
        self._resolver.cache = None
        self._memo: dict[tuple[str, str], list[object]] | None = None

    def memoized(self) -> DnsClient:
        """A client sharing this one's resolver that remembers answers for its lifetime:
        one verification asks some questions several times (SPF once per sending IP)."""
        client = DnsClient.__new__(DnsClient)
        client._resolver = self._resolver
        client._memo = {}
        return client

    @classmethod
    def from_settings(cls, settings: Settings) -> DnsClient:
        return cls(settings.dns_resolvers, settings.dns_port, settings.dns_timeout_seconds)

    def _rrset(self, name: str, rdtype: str) -> list[object]:
        if self._memo is None:
            return self._ask(name, rdtype)
        key = (name.lower().rstrip("."), rdtype)
        if key not in self._memo:
            self._memo[key] = self._ask(name, rdtype)
        return self._memo[key]

    def _ask(self, name: str, rdtype: str) -> list[object]:
        try:
            answer = self._resolver.resolve(name, rdtype, search=False, raise_on_no_answer=False)
        except (dns.resolver.NXDOMAIN, dns.resolver.YXDOMAIN):
            return []
        except (dns.name.NameTooLong, dns.name.EmptyLabel, dns.name.LabelTooLong):
            # Not a possible name: nothing can exist there. Bad input, not an outage.
            return []
        except dns.resolver.NoNameservers as exc:
            raise DnsTemporaryError(f"{rdtype} {name}: no server answered ({exc})") from exc
        except dns.exception.Timeout as exc:
            raise DnsTemporaryError(f"{rdtype} {name}: timed out") from exc
        except dns.resolver.NoResolverConfiguration as exc:
            raise DnsTemporaryError("no DNS resolver is configured") from exc
        except dns.exception.DNSException as exc:
            raise DnsTemporaryError(f"{rdtype} {name}: {exc}") from exc
        if answer.rrset is None:
            return []
        return list(answer.rrset)

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
