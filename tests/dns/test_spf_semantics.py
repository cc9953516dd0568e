"""How SPF records evaluate, class by class as RFC 7208's published conformance suite groups
them (initial processing, record selection, each mechanism, modifiers, macros, limits),
with our own records served by Knot and asked through mailplane's own DNS client."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Any

import pytest

from mailplane.protocols.dns.resolver import DnsClient
from mailplane.protocols.dns.spf import SpfEvaluator
from tests.support.knot import Knot

REVERSE_OCTET = secrets.randbelow(256)
PTR_NET = f"198.18.{REVERSE_OCTET}"  # RFC 2544 benchmark space: nobody else's zone


# "foo:bar/baz" in zone-file form: Knot's parser wants the ':' escaped.
COLON_NAME = "foo\\058bar/baz"


def spf(label: str, value: str | list[str]) -> dict[str, Any]:
    return {"type": "TXT", "name": label, "value": value}


def rec(rtype: str, label: str, value: str, **extra: Any) -> dict[str, Any]:
    return {"type": rtype, "name": label, "value": value, **extra}


RECORDS = [
    # Record characters and selection
    spf("multi-string", ["v=spf1 ip4:", "192.0.2.5 -all"]),
    spf("other-txt", "v=spf1 -all"),
    spf("other-txt", "\x96 n\u00e4t SPF at all"),
    spf("ctrl", "v=spf1 a:ctrl.{z}\rptr -all"),
    rec("A", "ctrl", "192.0.2.3"),
    spf("bom", "v=spf1 a:\ufeffgarbage.{z} -all"),
    spf("two-records", "v=spf1 -all"),
    spf("two-records", "V=SpF1 +all"),
    spf("not-version-1", "v=spf10 +all"),
    spf("empty", "v=spf1"),
    spf("case", "v=SpF1 ~all"),
    spf("after-all", "v=spf1 ip4:192.0.2.1 -all bogus"),
    # a: address families, IPv4-mapped clients, domain-specs with ':' and '/'
    spf("colon", "v=spf1 a:foo:bar/baz.{z} -all"),
    rec("A", COLON_NAME, "192.0.2.20"),
    spf("mx-colon", "v=spf1 mx:foo:bar/baz.{z}/24 -all"),
    rec("MX", COLON_NAME, COLON_NAME + ".{z}", priority=0),
    spf("v6only", "v=spf1 a//0 -all"),
    rec("AAAA", "v6only", "2001:db8:c::1"),
    spf("v4any", "v=spf1 a/0 -all"),
    rec("A", "v4any", "203.0.113.1"),
    spf("dual", "v=spf1 a:host.{z}/24//64 -all"),
    rec("A", "host", "192.0.2.70"),
    rec("AAAA", "host", "2001:db8:d::1"),
    spf("a-nx", "v=spf1 a:nowhere.{z}/0 -all"),
    # ip4 / ip6
    spf("mapped", "v=spf1 -ip4:192.0.2.30 ip6:::ffff:192.0.2.30"),
    spf("ip6-any", "v=spf1 ip6:::/0"),
    spf("ip6-33", "v=spf1 ip6:2001:db8:8000::/33"),
    # include
    spf("inc-fail", "v=spf1 include:deny.{z} ~all"),
    spf("inc-soft", "v=spf1 include:soft.{z} all"),
    spf("inc-neutral", "v=spf1 include:neutral.{z} -all"),
    spf("inc-perm", "v=spf1 include:broken.{z} -all"),
    spf("inc-none", "v=spf1 include:nospf.{z} -all"),
    spf("inc-temp", "v=spf1 include:spf.unserved-zone.invalid -all"),
    spf("deny", "v=spf1 ip4:192.0.2.9 -all"),
    spf("soft", "v=spf1 ip4:192.0.2.9 ~all"),
    spf("neutral", "v=spf1 ip4:192.0.2.9 ?all"),
    spf("broken", "v=spf1 include +all"),
    spf("nospf", "v=spfl not an SPF record"),
    # mx
    spf("mx-null", "v=spf1 mx"),
    rec("MX", "mx-null", "", priority=0),
    rec("A", "mx-null", "192.0.2.40"),
    spf("mx-implicit", "v=spf1 mx"),
    rec("A", "mx-implicit", "192.0.2.40"),
    spf("mx-many", "v=spf1 mx"),
    *[rec("MX", "mx-many", f"m{i}.{{z}}", priority=i) for i in range(11)],
    # exists: always an A query
    spf("exists-a", "v=spf1 exists:host.{z} -all"),
    spf("exists-aaaa", "v=spf1 exists:v6only.{z} -all"),
    spf("exists-temp", "v=spf1 exists:x.unserved-zone.invalid -all"),
    # ptr and %{p}
    spf("ptr-good", "v=spf1 ptr:good.{z} -all"),
    spf("ptr-bad", "v=spf1 ptr:bad.{z} -all"),
    rec("A", "good", f"{PTR_NET}.1"),
    rec("A", "mx.pref", f"{PTR_NET}.2"),
    rec("A", "out", f"{PTR_NET}.2"),
    spf("pref", "v=spf1 exists:%{{p}}.ok.{z} -all"),
    rec("A", "mx.pref.{z}.ok", "127.0.0.2"),
    # modifiers
    spf("redir-after", "v=spf1 ip4:192.0.2.1 redirect=deny.{z}"),
    spf("redir-unused", "v=spf1 redirect=redir-unused.{z} ~all"),
    spf("redir-implicit", "v=spf1 redirect=implicit.{z}"),
    spf("implicit", "v=spf1 a -all"),
    rec("A", "implicit", "192.0.2.60"),
    rec("A", "redir-implicit", "192.0.2.61"),
    spf("redir-none", "v=spf1 redirect=nospf.{z}"),
    spf("redir-bad", "v=spf1 redirect=-all ?all"),
    spf("exp-bad", "v=spf1 exp=-all"),
    spf("unknown-mod", "v=spf1 -all note=%bad"),
    spf("default-mod", "v=spf1 default=pass"),
    # macros
    spf("helo", "v=spf1 a:%{{h}} -all"),
    spf("helo-long", "v=spf1 a:%{{H}}.{z} -all"),
    spf("local", "v=spf1 exists:%{{l}}.users.{z} -all"),
    rec("A", "postmaster.users", "127.0.0.2"),
    spf("require-helo", "v=spf1 -include:_helo.{z} ip4:192.0.2.0/24 -all"),
    spf("_helo", "v=spf1 -a:%{{h}} +all"),
    spf("split", "v=spf1 exists:%{{i}}.%{{l2r-}}.user.{z}"),
    rec("A", "192.0.2.4.gladstone.philip.user", "127.0.0.2"),
    # limits
    spf("at-limit", "v=spf1 a mx a mx a mx a mx a exists:nohost.{z} ip4:192.0.2.4 -all"),
    spf("over-limit", "v=spf1 a mx a mx a mx a mx a exists:nohost.{z} a ip4:192.0.2.4 -all"),
    *[rec("A", label, "192.0.2.8") for label in ("at-limit", "over-limit")],
    *[rec("MX", label, f"{label}.{{z}}") for label in ("at-limit", "over-limit")],
    spf("void-two", "v=spf1 a:n1.{z} a:n2.{z} ?all"),
]


@dataclass(frozen=True)
class Case:
    label: str
    ip: str
    expected: str
    sender: str | None = None  # default postmaster@<domain>
    helo: str = "mail.example.org"


CASES = {
    # Initial processing (section 4.3): names SPF cannot be checked for are "none".
    "label over 63 octets": Case("x" * 64, "192.0.2.1", "none"),
    "empty label": Case("a..b", "192.0.2.1", "none"),
    "IDNA cannot encode the domain": Case("x\u00bby", "192.0.2.1", "none"),
    # Records: strings concatenated, other TXT ignored, characters, selection
    "character-strings are joined": Case("multi-string", "192.0.2.5", "pass"),
    "non-ASCII in a non-SPF TXT record": Case("other-txt", "192.0.2.1", "fail"),
    "carriage return separator": Case("ctrl", "192.0.2.3", "permerror"),
    "byte order mark in a domain": Case("bom", "192.0.2.3", "permerror"),
    "two SPF records": Case("two-records", "192.0.2.1", "permerror"),
    "v=spf10 is not version 1": Case("not-version-1", "192.0.2.1", "none"),
    "empty record": Case("empty", "192.0.2.1", "neutral"),
    "version is case-insensitive": Case("case", "192.0.2.1", "softfail"),
    "syntax error after all": Case("after-all", "192.0.2.1", "permerror"),
    "no record": Case("nothing-here", "192.0.2.1", "none"),
    # a
    "a: domain with ':' and '/'": Case("colon", "192.0.2.20", "pass"),
    "a: same, IPv4-mapped client": Case("colon", "::ffff:192.0.2.20", "pass"),
    "mx: domain with ':' and '/'": Case("mx-colon", "192.0.2.21", "pass"),
    "mx: same, IPv4-mapped client": Case("mx-colon", "::ffff:192.0.2.21", "pass"),
    "a//0 matches an IPv6 client": Case("v6only", "2001:db8:c::9", "pass"),
    "a//0 never matches an IPv4-mapped client": Case("v6only", "::ffff:192.0.2.20", "fail"),
    "a/0 never matches an IPv6 client": Case("v4any", "2001:db8:c::9", "fail"),
    "a/0 matches any IPv4 client": Case("v4any", "192.0.2.1", "pass"),
    "a/24//64 for IPv4": Case("dual", "192.0.2.99", "pass"),
    "a/24//64 for IPv6": Case("dual", "2001:db8:d::ffff", "pass"),
    "a/24//64 outside": Case("dual", "2001:db8:e::1", "fail"),
    "a of a name without address": Case("a-nx", "192.0.2.1", "fail"),
    # ip4 / ip6
    "IPv4-mapped client is IPv4 for ip4": Case("mapped", "::ffff:192.0.2.30", "fail"),
    "ip6:::/0 never matches IPv4": Case("ip6-any", "192.0.2.1", "neutral"),
    "ip6:::/0 never matches IPv4-mapped": Case("ip6-any", "::ffff:192.0.2.1", "neutral"),
    "ip6:::/0 matches IPv6": Case("ip6-any", "2001:db8::1", "pass"),
    "ip6 /33 is not an IPv4 length": Case("ip6-33", "2001:db8:8000::1", "pass"),
    # include (section 5.2)
    "include of fail does not match": Case("inc-fail", "192.0.2.1", "softfail"),
    "include of softfail does not match": Case("inc-soft", "192.0.2.1", "pass"),
    "include of neutral does not match": Case("inc-neutral", "192.0.2.1", "fail"),
    "include of permerror": Case("inc-perm", "192.0.2.1", "permerror"),
    "include of none": Case("inc-none", "192.0.2.1", "permerror"),
    "include of a DNS failure": Case("inc-temp", "192.0.2.1", "temperror"),
    # mx (section 5.4)
    "null MX matches nothing": Case("mx-null", "192.0.2.40", "neutral"),
    "no MX is not an implicit MX": Case("mx-implicit", "192.0.2.40", "neutral"),
    "more than 10 MX hosts": Case("mx-many", "192.0.2.40", "permerror"),
    # exists (section 5.7)
    "exists asks A for an IPv6 client": Case("exists-a", "2001:db8:f::1", "pass"),
    "exists ignores AAAA": Case("exists-aaaa", "2001:db8:c::1", "fail"),
    "exists with a DNS failure": Case("exists-temp", "192.0.2.1", "temperror"),
    # ptr (section 5.5) and %{p}
    "ptr with a validated name": Case("ptr-good", f"{PTR_NET}.1", "pass"),
    "ptr name that does not validate": Case("ptr-bad", f"{PTR_NET}.1", "fail"),
    "%{p} prefers a name under the domain": Case("pref", f"{PTR_NET}.2", "pass"),
    # Modifiers (section 6)
    "redirect only after the mechanisms": Case("redir-after", "192.0.2.2", "fail"),
    "redirect unused when all matches": Case("redir-unused", "192.0.2.2", "softfail"),
    "redirect changes the domain of a": Case("redir-implicit", "192.0.2.60", "pass"),
    "redirect to a name without SPF": Case("redir-none", "192.0.2.1", "permerror"),
    "redirect syntax error never reached": Case("redir-bad", "192.0.2.1", "permerror"),
    "exp syntax error": Case("exp-bad", "192.0.2.1", "permerror"),
    "unknown modifier with a bad macro": Case("unknown-mod", "192.0.2.1", "permerror"),
    "unknown modifiers change nothing": Case("default-mod", "192.0.2.1", "neutral"),
    # Macros (section 7): expanded names are never syntax-checked
    "%{h} of a valid HELO": Case("helo", "192.0.2.70", "pass", helo="host.{z}"),
    "%{h} of a HELO without address": Case("helo", "192.0.2.70", "fail", helo="nohost.{z}"),
    "%{H} expanding to an over-long label": Case("helo-long", "192.0.2.1", "fail", helo="%" * 22),
    "%{l} IDNA cannot encode": Case("local", "192.0.2.1", "fail", sender="a\u00bbb@{d}"),
    "no local-part is postmaster": Case("local", "192.0.2.1", "pass", sender="@{d}"),
    "policy requiring a HELO with an address": Case(
        "require-helo", "192.0.2.4", "fail", helo="nohost.{z}"
    ),
    "split on '-' and reverse": Case(
        "split", "192.0.2.4", "pass", sender="philip-gladstone-test@{d}"
    ),
    # Limits (section 4.6.4)
    "10 DNS terms": Case("at-limit", "192.0.2.4", "pass"),
    "11 DNS terms": Case("over-limit", "192.0.2.4", "permerror"),
    "two void lookups": Case("void-two", "192.0.2.4", "neutral"),
}


@pytest.fixture(scope="module")
def zone(knot: Knot) -> str:
    zone = f"spfc{secrets.token_hex(4)}.test"
    records = [
        {**r, "name": r["name"].format(z=zone) + "." + zone, "value": _fill(r["value"], zone)}
        for r in RECORDS
    ]
    knot.add_zone(zone, records)
    reverse = f"{REVERSE_OCTET}.18.198.in-addr.arpa"
    knot.add_zone(
        reverse,
        [
            rec("PTR", f"1.{reverse}", f"good.{zone}."),
            rec("PTR", f"1.{reverse}", f"bad.{zone}."),
            rec("PTR", f"2.{reverse}", f"out.{zone}."),
            rec("PTR", f"2.{reverse}", f"mx.pref.{zone}."),
        ],
    )
    return zone


def _fill(value: str | list[str], zone: str) -> str | list[str]:
    if isinstance(value, list):
        return [v.replace("{z}", zone) for v in value]
    return value.replace("{z}", zone).replace("{{", "{").replace("}}", "}")


@pytest.mark.parametrize("case", CASES.values(), ids=CASES.keys())
def test_conformance_class(knot: Knot, zone: str, case: Case) -> None:
    domain = f"{case.label}.{zone}"
    sender = (case.sender or "postmaster@{d}").replace("{d}", domain)
    evaluator = SpfEvaluator(DnsClient(["127.0.0.1"], knot.port, 2.0))
    outcome = evaluator.check_host(case.ip, domain, sender, case.helo.replace("{z}", zone))
    assert outcome.result == case.expected, outcome
