"""An SPF evaluator: RFC 7208 ``check_host()``.

The record is parsed whole before anything is evaluated (section 4.6: a syntax error
anywhere is a permerror). Terms that query DNS (include, a, mx, ptr, exists, redirect)
count towards the limit of 10 (section 4.6.4); more than 2 "void" lookups (an empty answer
or NXDOMAIN) are a permerror too. Each ``mx`` and ``ptr`` looks up at most 10 names.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass, field
from typing import Literal

from mailplane.protocols.dns.errors import DnsTransientError
from mailplane.protocols.dns.resolver import DnsClient
from mailplane.protocols.dns.spf_macros import (
    MacroContext,
    SpfPermError,
    SpfTempError,
    target_domain,
)

SpfResult = Literal["pass", "fail", "softfail", "neutral", "none", "permerror", "temperror"]

MAX_DNS_LOOKUPS = 10  # RFC 7208 section 4.6.4
MAX_VOID_LOOKUPS = 2  # RFC 7208 section 4.6.4
MAX_NAMES_PER_TERM = 10  # mx: address lookups per mx; ptr: names checked

_QUALIFIERS: dict[str, SpfResult] = {"+": "pass", "-": "fail", "~": "softfail", "?": "neutral"}
_MECHANISMS = {"all", "include", "a", "mx", "ptr", "ip4", "ip6", "exists"}
_MODIFIER = re.compile(r"^([a-z][a-z0-9_.\-]*)=(.*)$", re.IGNORECASE)
_MECHANISM = re.compile(r"^([+\-~?]?)([a-z][a-z0-9_.\-]*)(.*)$", re.IGNORECASE)
_A_MX_ARGS = re.compile(r"^(?::([^/]+))?(?:/(\d{1,2}))?(?://(\d{1,3}))?$")


@dataclass(frozen=True)
class Term:
    qualifier: SpfResult
    mechanism: str
    domain_spec: str | None = None
    network: str | None = None  # ip4/ip6
    cidr4: int = 32
    cidr6: int = 128

    def text(self) -> str:
        return self.mechanism + (
            f":{self.domain_spec or self.network}" if self.domain_spec or self.network else ""
        )


@dataclass(frozen=True)
class SpfRecord:
    terms: list[Term]
    redirect: str | None


@dataclass
class SpfOutcome:
    result: SpfResult
    reason: str
    record: str | None = None  # the top-level record evaluated
    lookups: int = 0
    void_lookups: int = 0
    matched: str | None = None


@dataclass
class _State:
    ctx: MacroContext
    lookups: int = 0
    void_lookups: int = 0
    top_record: str | None = None
    matched: str | None = None
    seen: list[str] = field(default_factory=list)


def select_record(texts: list[str]) -> str | None:
    """The one SPF record among a name's TXT records (section 4.5); two are a permerror."""
    records = [t for t in texts if t.lower() == "v=spf1" or t.lower().startswith("v=spf1 ")]
    if len(records) > 1:
        raise SpfPermError("more than one SPF record (v=spf1) is published; merge them into one")
    return records[0] if records else None


def _parse_cidr(value: str | None, maximum: int, default: int) -> int:
    if value is None:
        return default
    number = int(value)
    # Section 5.6: leading zeros are not allowed, and a length above the maximum is invalid.
    if number > maximum or (len(value) > 1 and value.startswith("0")):
        raise SpfPermError(f"invalid CIDR length /{value}")
    return number


def _parse_ip(mechanism: str, argument: str) -> str:
    if not argument.startswith(":"):
        raise SpfPermError(f"{mechanism} needs an address: '{mechanism}:<address>'")
    value = argument[1:]
    address, _, length = value.partition("/")
    try:
        parsed = ipaddress.ip_address(address)
    except ValueError as exc:
        raise SpfPermError(f"'{mechanism}{argument}' is not a valid address") from exc
    version = 4 if mechanism == "ip4" else 6
    if parsed.version != version:
        raise SpfPermError(f"'{mechanism}{argument}' is not an IPv{version} address")
    cidr = _parse_cidr(length or None, 32 if version == 4 else 128, 32 if version == 4 else 128)
    return str(ipaddress.ip_network(f"{address}/{cidr}", strict=False))


def parse_record(text: str) -> SpfRecord:
    """Parse a whole record; any unknown mechanism or bad argument is a permerror."""
    terms: list[Term] = []
    redirect: str | None = None
    modifiers_seen: set[str] = set()
    for raw in text.split()[1:]:
        modifier = _MODIFIER.match(raw)
        if modifier and ":" not in modifier.group(1):
            name, value = modifier.group(1).lower(), modifier.group(2)
            if name in ("redirect", "exp"):
                if name in modifiers_seen:
                    raise SpfPermError(f"'{name}=' appears more than once (RFC 7208 section 6)")
                modifiers_seen.add(name)
                if not value:
                    raise SpfPermError(f"'{name}=' needs a domain")
                if name == "redirect":
                    redirect = value
            continue  # unknown modifiers are ignored (section 6)
        mechanism = _MECHANISM.match(raw)
        if not mechanism or mechanism.group(2).lower() not in _MECHANISMS:
            raise SpfPermError(f"unknown mechanism or malformed term '{raw}'")
        qualifier = _QUALIFIERS[mechanism.group(1) or "+"]
        name, argument = mechanism.group(2).lower(), mechanism.group(3)
        terms.append(_parse_mechanism(qualifier, name, argument, raw))
    return SpfRecord(terms, redirect)


def _parse_mechanism(qualifier: SpfResult, name: str, argument: str, raw: str) -> Term:
    if name == "all":
        if argument:
            raise SpfPermError(f"'all' takes no argument: '{raw}'")
        return Term(qualifier, name)
    if name in ("include", "exists"):
        if not argument.startswith(":") or len(argument) < 2:
            raise SpfPermError(f"'{name}' needs a domain: '{name}:<domain>' (got '{raw}')")
        return Term(qualifier, name, domain_spec=argument[1:])
    if name in ("ip4", "ip6"):
        return Term(qualifier, name, network=_parse_ip(name, argument))
    if name == "ptr":
        if argument and (not argument.startswith(":") or len(argument) < 2):
            raise SpfPermError(f"malformed 'ptr' term '{raw}'")
        return Term(qualifier, name, domain_spec=argument[1:] or None)
    match = _A_MX_ARGS.match(argument)
    if not match:
        raise SpfPermError(f"malformed '{name}' term '{raw}'")
    domain_spec, cidr4, cidr6 = match.groups()
    return Term(
        qualifier,
        name,
        domain_spec=domain_spec,
        cidr4=_parse_cidr(cidr4, 32, 32),
        cidr6=_parse_cidr(cidr6, 128, 128),
    )


class SpfEvaluator:
    def __init__(self, dns: DnsClient) -> None:
        self.dns = dns

    def check_host(self, ip: str, domain: str, sender: str, helo: str) -> SpfOutcome:
        state = _State(MacroContext(ip=ip, sender=sender, domain=domain, helo=helo))
        try:
            result, reason = self._evaluate(state, domain, top=True)
        except SpfPermError as exc:
            result, reason = "permerror", str(exc)
        except SpfTempError as exc:
            result, reason = "temperror", str(exc)
        return SpfOutcome(
            result=result,
            reason=reason,
            record=state.top_record,
            lookups=state.lookups,
            void_lookups=state.void_lookups,
            matched=state.matched,
        )

    # -- DNS with the section 4.6.4 accounting ------------------------------------------

    def _count(self, state: _State, term: str) -> None:
        state.lookups += 1
        if state.lookups > MAX_DNS_LOOKUPS:
            raise SpfPermError(
                f"more than {MAX_DNS_LOOKUPS} DNS lookups are needed (the limit of RFC 7208 "
                f"section 4.6.4 was passed at '{term}')"
            )

    def _void(self, state: _State, empty: bool) -> None:
        if empty:
            state.void_lookups += 1
            if state.void_lookups > MAX_VOID_LOOKUPS:
                raise SpfPermError(
                    f"more than {MAX_VOID_LOOKUPS} lookups found nothing (void lookup limit, "
                    "RFC 7208 section 4.6.4): remove references to names that do not exist"
                )

    def _txt(self, name: str) -> list[str]:
        try:
            return self.dns.txt(name)
        except DnsTransientError as exc:
            raise SpfTempError(str(exc)) from exc

    def _addresses(self, name: str, version: int) -> list[str]:
        try:
            return self.dns.addresses(name, version)
        except DnsTransientError as exc:
            raise SpfTempError(str(exc)) from exc

    # -- evaluation ---------------------------------------------------------------------

    def _evaluate(self, state: _State, domain: str, *, top: bool) -> tuple[SpfResult, str]:
        text = select_record(self._txt(domain))
        if top:
            state.top_record = text
        if text is None:
            return "none", f"{domain} publishes no SPF record"
        record = parse_record(text)
        ctx = MacroContext(state.ctx.ip, state.ctx.sender, domain, state.ctx.helo)
        address = ipaddress.ip_address(state.ctx.ip)
        for term in record.terms:
            if self._matches(state, term, ctx, address):
                state.matched = term.text()
                return term.qualifier, f"{domain}: '{term.text()}' matched"
        if record.redirect is not None:
            self._count(state, "redirect=" + record.redirect)
            target = target_domain(record.redirect, ctx)
            result, reason = self._evaluate(state, target, top=False)
            if result == "none":
                raise SpfPermError(f"redirect={target} points at a name without an SPF record")
            return result, reason
        return "neutral", f"{domain}: no mechanism matched and there is no redirect"

    def _matches(
        self,
        state: _State,
        term: Term,
        ctx: MacroContext,
        address: ipaddress.IPv4Address | ipaddress.IPv6Address,
    ) -> bool:
        name = term.mechanism
        if name == "all":
            return True
        if name in ("ip4", "ip6"):
            assert term.network is not None
            network = ipaddress.ip_network(term.network)
            return network.version == address.version and address in network
        self._count(state, term.text())
        target = target_domain(term.domain_spec, ctx) if term.domain_spec else ctx.domain
        if name == "include":
            return self._include(state, target)
        if name == "exists":
            # Section 5.7: always an A query, whatever the client's address family.
            found = self._addresses(target, 4)
            self._void(state, not found)
            return bool(found)
        if name == "a":
            found = self._addresses(target, address.version)
            self._void(state, not found)
            return _any_in(found, address, term)
        if name == "mx":
            return self._mx(state, target, address, term)
        return self._ptr(state, target, address)

    def _include(self, state: _State, target: str) -> bool:
        # Section 5.2: only "pass" matches; "none" below an include is a permerror.
        result, reason = self._evaluate(state, target, top=False)
        if result == "none":
            raise SpfPermError(f"include:{target} has no SPF record")
        if result == "pass":
            return True
        if result == "temperror":
            raise SpfTempError(reason)
        if result == "permerror":
            raise SpfPermError(reason)
        return False

    def _mx(
        self,
        state: _State,
        target: str,
        address: ipaddress.IPv4Address | ipaddress.IPv6Address,
        term: Term,
    ) -> bool:
        try:
            exchanges = [m.exchange for m in self.dns.mx(target) if m.exchange]
        except DnsTransientError as exc:
            raise SpfTempError(str(exc)) from exc
        self._void(state, not exchanges)
        if len(exchanges) > MAX_NAMES_PER_TERM:
            raise SpfPermError(
                f"mx:{target} has {len(exchanges)} MX hosts; RFC 7208 section 4.6.4 allows "
                f"{MAX_NAMES_PER_TERM}"
            )
        return any(
            _any_in(self._addresses(exchange, address.version), address, term)
            for exchange in exchanges
        )

    def _ptr(
        self, state: _State, target: str, address: ipaddress.IPv4Address | ipaddress.IPv6Address
    ) -> bool:
        try:
            names = self.dns.ptr(str(address))[:MAX_NAMES_PER_TERM]
        except DnsTransientError:
            return False  # section 5.5: a failed PTR lookup simply does not match
        self._void(state, not names)
        for name in names:
            if name != target and not name.endswith("." + target):
                continue
            try:
                if str(address) in self.dns.addresses(name, address.version):
                    return True
            except DnsTransientError:
                continue
        return False


def _any_in(
    found: list[str], address: ipaddress.IPv4Address | ipaddress.IPv6Address, term: Term
) -> bool:
    cidr = term.cidr4 if address.version == 4 else term.cidr6
    return any(address in ipaddress.ip_network(f"{ip}/{cidr}", strict=False) for ip in found)
