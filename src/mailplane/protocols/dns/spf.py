"""An SPF evaluator: RFC 7208 ``check_host()``.

The record is parsed whole before anything is evaluated (section 4.6: a syntax error
anywhere is a permerror). Terms that query DNS (include, a, mx, ptr, exists, redirect)
count towards the limit of 10 (section 4.6.4); more than 2 "void" lookups (an empty answer
or NXDOMAIN) are a permerror too. Each ``mx`` and ``ptr`` looks up at most 10 names.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Literal

from mailplane.protocols.dns.errors import DnsTransientError
from mailplane.protocols.dns.resolver import DnsClient
from mailplane.protocols.dns.spf_macros import (
    IpAddress,
    MacroContext,
    SpfPermError,
    SpfTempError,
    check_domain_spec,
    check_macro_string,
    dns_name,
    target_name,
)

SpfResult = Literal["pass", "fail", "softfail", "neutral", "none", "permerror", "temperror"]

MAX_DNS_LOOKUPS = 10  # RFC 7208 section 4.6.4
MAX_VOID_LOOKUPS = 2  # RFC 7208 section 4.6.4
MAX_NAMES_PER_TERM = 10  # mx: address lookups per mx; ptr: names checked

_QUALIFIERS: dict[str, SpfResult] = {"+": "pass", "-": "fail", "~": "softfail", "?": "neutral"}
_MECHANISMS = {"all", "include", "a", "mx", "ptr", "ip4", "ip6", "exists"}
# Section 4.6.1: name = ALPHA *( ALPHA / DIGIT / "-" / "_" / "." ), then "=" at once.
_MODIFIER = re.compile(r"^([a-z][a-z0-9_.\-]*)=(.*)$", re.IGNORECASE)
_MECHANISM = re.compile(r"^([+\-~?]?)([a-z][a-z0-9]*)(.*)$", re.IGNORECASE)
_CIDR_LENGTH = re.compile(r"^(?:0|[1-9][0-9]{0,2})$")  # no sign, no leading zero (5.6)
_PRINTABLE = re.compile(r"^[\x20-\x7e]*$")


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


def _parse_cidr(value: str, maximum: int) -> int:
    # Section 5.6: decimal digits without a sign or leading zeros, at most 32 or 128.
    if not _CIDR_LENGTH.match(value) or int(value) > maximum:
        raise SpfPermError(
            f"invalid CIDR length /{value} (RFC 7208 section 5.6 allows 0-{maximum})"
        )
    return int(value)


def _parse_ip(mechanism: str, argument: str) -> str:
    if not argument.startswith(":"):
        raise SpfPermError(f"{mechanism} needs an address: '{mechanism}:<address>'")
    address, slash, length = argument[1:].partition("/")
    kind = ipaddress.IPv4Address if mechanism == "ip4" else ipaddress.IPv6Address
    try:
        parsed = kind(address)
    except ValueError as exc:
        raise SpfPermError(
            f"'{mechanism}{argument}' is not a valid address (IPv{mechanism[-1]} expected)"
        ) from exc
    maximum = parsed.max_prefixlen
    cidr = _parse_cidr(length, maximum) if slash else maximum
    return str(ipaddress.ip_network(f"{parsed}/{cidr}", strict=False))


def parse_record(text: str) -> SpfRecord:
    """Parse a whole record (section 4.6: a syntax error anywhere is a permerror, even in a
    term that evaluation would never reach)."""
    if not _PRINTABLE.match(text):
        raise SpfPermError(
            "the SPF record contains a character other than printable ASCII and spaces (a tab, "
            "a line break, a non-ASCII letter); RFC 7208 sections 3 and 4.6.1 allow none"
        )
    terms: list[Term] = []
    redirect: str | None = None
    modifiers_seen: set[str] = set()
    for raw in text.split(" ")[1:]:
        if not raw:
            continue  # section 4.6.1: terms are separated by one *or more* spaces
        modifier = _MODIFIER.match(raw)
        if modifier:
            name, value = modifier.group(1).lower(), modifier.group(2)
            if name in ("redirect", "exp"):
                if name in modifiers_seen:
                    raise SpfPermError(f"'{name}=' appears more than once (RFC 7208 section 6)")
                modifiers_seen.add(name)
                check_domain_spec(value)
                if name == "redirect":
                    redirect = value
            else:
                check_macro_string(value)  # unknown modifiers are ignored, but must parse
            continue
        mechanism = _MECHANISM.match(raw)
        if not mechanism or mechanism.group(2).lower() not in _MECHANISMS:
            raise SpfPermError(f"unknown mechanism or malformed term '{raw}'")
        qualifier = _QUALIFIERS[mechanism.group(1) or "+"]
        name, argument = mechanism.group(2).lower(), mechanism.group(3)
        terms.append(_parse_mechanism(qualifier, name, argument, raw))
    return SpfRecord(terms, redirect)


def _domain_argument(name: str, argument: str, raw: str, *, optional: bool) -> str | None:
    if not argument and optional:
        return None
    if not argument.startswith(":"):
        raise SpfPermError(f"'{name}' needs a domain: '{name}:<domain>' (got '{raw}')")
    check_domain_spec(argument[1:])
    return argument[1:]


def _parse_mechanism(qualifier: SpfResult, name: str, argument: str, raw: str) -> Term:
    if name == "all":
        if argument:
            raise SpfPermError(f"'all' takes no argument: '{raw}'")
        return Term(qualifier, name)
    if name in ("include", "exists"):
        return Term(
            qualifier, name, domain_spec=_domain_argument(name, argument, raw, optional=False)
        )
    if name in ("ip4", "ip6"):
        return Term(qualifier, name, network=_parse_ip(name, argument))
    if name == "ptr":
        return Term(
            qualifier, name, domain_spec=_domain_argument(name, argument, raw, optional=True)
        )
    # a and mx: [ ":" domain-spec ] [ "/" ip4-cidr ] [ "//" ip6-cidr ], the lengths at the
    # end. A domain-spec may itself contain '/' (section 7.1: any visible character but %).
    # Lengths are digits; what is left must be empty or ':' domain-spec, so "/x", "/-1" or
    # "/24/64" end up as a permerror below.
    cidr4 = cidr6 = None
    dual = re.search(r"//([0-9]+)$", argument)
    if dual:
        cidr6, argument = dual.group(1), argument[: dual.start()]
    single = re.search(r"/([0-9]+)$", argument)
    if single:
        cidr4, argument = single.group(1), argument[: single.start()]
    return Term(
        qualifier,
        name,
        domain_spec=_domain_argument(name, argument, raw, optional=True),
        cidr4=_parse_cidr(cidr4, 32) if cidr4 is not None else 32,
        cidr6=_parse_cidr(cidr6, 128) if cidr6 is not None else 128,
    )


def client_address(ip: str | IpAddress) -> IpAddress:
    """Section 5: an IPv4-mapped IPv6 client (``::ffff:192.0.2.1``) *is* an IPv4 client:
    it matches ip4 and A records only, and its macros are those of the IPv4 address."""
    address = ipaddress.ip_address(ip)
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


_LABEL = re.compile(r"^[^.]{1,63}$")


def _is_fqdn(domain: str) -> bool:
    """Section 4.3: check_host() of a name that is not a fully qualified domain name (a
    single label, an empty or over-long label, a domain literal) returns "none"."""
    labels = domain[:-1].split(".") if domain.endswith(".") else domain.split(".")
    if len(labels) < 2 or not all(_LABEL.match(label) for label in labels):
        return False
    return not domain.startswith("[") and dns_name(domain) is not None


class SpfEvaluator:
    def __init__(self, dns: DnsClient) -> None:
        self.dns = dns

    def check_host(self, ip: str | IpAddress, domain: str, sender: str, helo: str) -> SpfOutcome:
        address = client_address(ip)
        local, at, sender_domain = sender.rpartition("@")
        if not at:
            local, sender_domain = "", sender
        # Section 4.3: a sender without a local-part is postmaster at that domain.
        sender = f"{local or 'postmaster'}@{sender_domain}"
        state = _State(MacroContext(address, sender, domain, helo, self._validated_name(address)))
        if not _is_fqdn(domain):
            return SpfOutcome("none", f"{domain!r} is not a domain name SPF can be checked for")
        try:
            result, reason = self._evaluate(state, domain.rstrip(".").lower(), top=True)
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
        ctx = replace(state.ctx, domain=domain)
        for term in record.terms:
            if self._matches(state, term, ctx):
                state.matched = term.text()
                return term.qualifier, f"{domain}: '{term.text()}' matched"
        if record.redirect is not None:
            self._count(state, "redirect=" + record.redirect)
            target = target_name(record.redirect, ctx)
            if target is None:  # section 6.1: a malformed target-name is a permerror
                raise SpfPermError(f"redirect={record.redirect} expands to no valid domain name")
            result, reason = self._evaluate(state, target, top=False)
            if result == "none":
                raise SpfPermError(f"redirect={target} points at a name without an SPF record")
            return result, reason
        return "neutral", f"{domain}: no mechanism matched and there is no redirect"

    def _matches(self, state: _State, term: Term, ctx: MacroContext) -> bool:
        name, address = term.mechanism, ctx.ip
        if name == "all":
            return True
        if name in ("ip4", "ip6"):
            assert term.network is not None
            network = ipaddress.ip_network(term.network)
            return network.version == address.version and address in network
        self._count(state, term.text())
        target = target_name(term.domain_spec, ctx) if term.domain_spec else ctx.domain
        if name == "include":
            if target is None:  # check_host() of a malformed name is "none": a permerror here
                raise SpfPermError(f"include:{term.domain_spec} expands to no valid domain name")
            return self._include(state, target)
        if target is None:
            return False  # a macro expanded to something no DNS name can be made of
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

    def _mx(self, state: _State, target: str, address: IpAddress, term: Term) -> bool:
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

    def _validated_names(self, address: IpAddress) -> tuple[list[str], list[str]]:
        """Section 5.5: the PTR names of ``address`` (10 at most), and those of them that
        resolve back to it."""
        try:
            names = self.dns.ptr(str(address))[:MAX_NAMES_PER_TERM]
        except DnsTransientError:
            return [], []  # a failed PTR lookup simply validates nothing
        validated = []
        for name in names:
            try:
                if str(address) in self.dns.addresses(name, address.version):
                    validated.append(name)
            except DnsTransientError:
                continue  # section 5.5: that name is skipped, the search goes on
        return names, validated

    def _ptr(self, state: _State, target: str, address: IpAddress) -> bool:
        names, validated = self._validated_names(address)
        self._void(state, not names)
        return any(n == target or n.endswith("." + target) for n in validated)

    def _validated_name(self, address: IpAddress) -> Callable[[str], str]:
        """The %{p} macro (section 7.3): a validated name of the client, one under the
        current domain if there is one; "unknown" when there is none."""

        def lookup(domain: str) -> str:
            _, names = self._validated_names(address)
            inside = [n for n in names if n == domain or n.endswith("." + domain)]
            return (inside or names or ["unknown"])[0]

        return lookup


def _any_in(found: list[str], address: IpAddress, term: Term) -> bool:
    cidr = term.cidr4 if address.version == 4 else term.cidr6
    return any(address in ipaddress.ip_network(f"{ip}/{cidr}", strict=False) for ip in found)
