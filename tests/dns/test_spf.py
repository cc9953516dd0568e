"""The SPF evaluator against records served by Knot, cross-checked with pyspf, and its
macro expansion against the examples of RFC 7208 section 7.4."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from ipaddress import ip_address
from typing import Any

import dns.resolver
import pytest
import spf

from mailplane.protocols.dns.resolver import DnsClient
from mailplane.protocols.dns.spf import SpfEvaluator
from mailplane.protocols.dns.spf_macros import MacroContext, SpfPermError, expand
from tests.support.knot import Knot

ZONE_RECORDS = {
    "inc": "v=spf1 ip4:198.51.100.0/24 -all",
    "redir": "v=spf1 redirect=inc.{z}",
    "a-mech": "v=spf1 a:host.{z}/24 -all",
    "mx-mech": "v=spf1 mx//64 -all",
    "v6": "v=spf1 ip6:2001:db8:1::/48 -all",
    "exists": "v=spf1 exists:%{{ir}}.allow.{z} -all",
    "soft": "v=spf1 include:inc.{z} ~all",
    "neutral": "v=spf1 ?all",
    "default": "v=spf1 ip4:203.0.113.1",
    "void": "v=spf1 a:n1.{z} a:n2.{z} a:n3.{z} -all",
    "loop": "v=spf1 include:loop.{z} -all",
    "inc-none": "v=spf1 include:nothing.{z} -all",
    "redir-none": "v=spf1 redirect=nothing.{z}",
    "bad-macro": "v=spf1 exists:%{{x}}.{z} -all",
    "bad-cidr": "v=spf1 ip4:198.51.100.1/33 -all",
    "upper": "V=SPF1 IP4:198.51.100.1 -ALL",
}

CASES = [
    ("inc", "198.51.100.7", "pass"),
    ("inc", "203.0.113.7", "fail"),
    ("redir", "198.51.100.7", "pass"),
    ("redir", "203.0.113.7", "fail"),
    ("a-mech", "198.51.100.200", "pass"),
    ("a-mech", "198.51.101.1", "fail"),
    ("mx-mech", "2001:db8:5::99", "pass"),
    ("mx-mech", "2001:db8:6::1", "fail"),
    ("v6", "2001:db8:1:ff::1", "pass"),
    ("v6", "198.51.100.7", "fail"),
    ("exists", "198.51.100.10", "pass"),
    ("exists", "198.51.100.11", "fail"),
    ("soft", "192.0.2.1", "softfail"),
    ("soft", "198.51.100.1", "pass"),
    ("neutral", "192.0.2.1", "neutral"),
    ("default", "192.0.2.1", "neutral"),
    ("void", "192.0.2.1", "permerror"),
    ("loop", "192.0.2.1", "permerror"),
    ("inc-none", "192.0.2.1", "permerror"),
    ("redir-none", "192.0.2.1", "permerror"),
    ("bad-macro", "192.0.2.1", "permerror"),
    ("bad-cidr", "192.0.2.1", "permerror"),
    ("upper", "198.51.100.1", "pass"),
    ("nothing", "192.0.2.1", "none"),
]


@pytest.fixture(scope="module")
def spf_zone(knot: Knot) -> str:
    zone = f"spf{secrets.token_hex(4)}.test"
    records: list[dict[str, Any]] = [
        {"type": "TXT", "name": f"{label}.{zone}", "value": value.format(z=zone)}
        for label, value in ZONE_RECORDS.items()
    ]
    records += [
        {"type": "A", "name": f"host.{zone}", "value": "198.51.100.77"},
        {"type": "AAAA", "name": f"host.{zone}", "value": "2001:db8:5::1"},
        {"type": "MX", "name": f"mx-mech.{zone}", "value": f"host.{zone}", "priority": 10},
        {"type": "A", "name": f"10.100.51.198.allow.{zone}", "value": "127.0.0.2"},
    ]
    knot.add_zone(zone, records)
    return zone


@pytest.fixture
def knot_as_default_resolver(knot: Knot) -> Iterator[None]:
    """pyspf asks dnspython's default resolver: point it at Knot, never the system's."""
    resolver = dns.resolver.Resolver(configure=False)
    resolver.nameservers = ["127.0.0.1"]
    resolver.port = knot.port
    saved = dns.resolver.default_resolver
    dns.resolver.default_resolver = resolver
    yield
    dns.resolver.default_resolver = saved


@pytest.mark.parametrize(("label", "ip", "expected"), CASES)
def test_evaluation_agrees_with_pyspf(
    knot: Knot, spf_zone: str, knot_as_default_resolver: None, label: str, ip: str, expected: str
) -> None:
    domain = f"{label}.{spf_zone}"
    evaluator = SpfEvaluator(DnsClient(["127.0.0.1"], knot.port, 2.0))
    ours = evaluator.check_host(ip, domain, f"postmaster@{domain}", "mail.mailplane.test")
    assert ours.result == expected, ours
    theirs, _explanation = spf.check2(i=ip, s=f"postmaster@{domain}", h="mail.mailplane.test")
    assert theirs == expected


def test_lookup_limit_counts_every_dns_term(knot: Knot, spf_zone: str) -> None:
    evaluator = SpfEvaluator(DnsClient(["127.0.0.1"], knot.port, 2.0))
    outcome = evaluator.check_host("192.0.2.1", f"loop.{spf_zone}", "a@b.test", "h.test")
    assert outcome.result == "permerror"
    assert outcome.lookups == 11
    assert "more than 10 DNS lookups" in outcome.reason
    void = evaluator.check_host("192.0.2.1", f"void.{spf_zone}", "a@b.test", "h.test")
    assert void.void_lookups == 3
    assert "void lookup limit" in void.reason


def test_dns_outage_is_temperror() -> None:
    from tests.support.ports import free_port

    evaluator = SpfEvaluator(DnsClient(["127.0.0.1"], free_port(), 0.3))
    assert evaluator.check_host("192.0.2.1", "x.test", "a@x.test", "h.test").result == "temperror"


RFC_EXAMPLES = [
    ("%{s}", "strong-bad@email.example.com"),
    ("%{o}", "email.example.com"),
    ("%{d}", "email.example.com"),
    ("%{d4}", "email.example.com"),
    ("%{d3}", "email.example.com"),
    ("%{d2}", "example.com"),
    ("%{d1}", "com"),
    ("%{dr}", "com.example.email"),
    ("%{d2r}", "example.email"),
    ("%{l}", "strong-bad"),
    ("%{l-}", "strong.bad"),
    ("%{lr}", "strong-bad"),
    ("%{lr-}", "bad.strong"),
    ("%{l1r-}", "strong"),
    ("%{ir}.%{v}._spf.%{d2}", "3.2.0.192.in-addr._spf.example.com"),
    ("%{lr-}.lp._spf.%{d2}", "bad.strong.lp._spf.example.com"),
    ("%{lr-}.lp.%{ir}.%{v}._spf.%{d2}", "bad.strong.lp.3.2.0.192.in-addr._spf.example.com"),
    ("%{ir}.%{v}.%{l1r-}.lp._spf.%{d2}", "3.2.0.192.in-addr.strong.lp._spf.example.com"),
    ("%{d2}.trusted-domains.example.net", "example.com.trusted-domains.example.net"),
    ("%%%_%-", "% %20"),
]


@pytest.mark.parametrize(("macro", "expanded"), RFC_EXAMPLES)
def test_macro_examples_of_rfc_7208(macro: str, expanded: str) -> None:
    ctx = MacroContext(
        ip_address("192.0.2.3"), "strong-bad@email.example.com", "email.example.com", "h.test"
    )
    assert expand(macro, ctx) == expanded


def test_ipv6_macro_and_malformed_macros() -> None:
    ctx = MacroContext(
        ip_address("2001:db8::cb01"), "strong-bad@email.example.com", "email.example.com", "h"
    )
    assert expand("%{ir}.%{v}._spf.%{d2}", ctx) == (
        "1.0.b.c.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6._spf.example.com"
    )
    for bad in ("%{x}", "%{d0}", "50%", "%a"):
        with pytest.raises(SpfPermError):
            expand(bad, ctx)
