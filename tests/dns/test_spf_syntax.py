"""What an SPF record may contain: RFC 7208's grammar, class by class, as the published
conformance suite (OpenSPF's rfc7208-tests.yml) groups it. Our own records; no DNS needed:
section 4.6 makes any syntax error anywhere a permerror, reached or not."""

from __future__ import annotations

import ipaddress

import pytest

from mailplane.protocols.dns.spf import parse_record
from mailplane.protocols.dns.spf_macros import MacroContext, SpfPermError, expand, target_name

PERMERRORS = {
    # Characters: printable ASCII, terms separated by spaces only (sections 3, 4.6.1).
    "non-ascii letter": "v=spf1 a:exämple.org -all",
    "byte order mark": "v=spf1 a:\ufeffgarbage.example.org -all",
    "carriage return between terms": "v=spf1 a:example.org\rptr -all",
    "line feed between terms": "v=spf1 ip4:192.0.2.5\n include:example.org ~all",
    "tab between terms": "v=spf1 ip4:192.0.2.5\t-all",
    "NUL at the end": "v=spf1 a:example.org\0",
    # A syntax error anywhere, even after 'all'.
    "unknown term after all": "v=spf1 ip4:192.0.2.1 -all bogus",
    "unknown mechanism": "v=spf1 allow:192.0.2.1",
    # Modifiers: name = ALPHA *( ALPHA / DIGIT / "-" / "_" / "." ), "=" right after it.
    "slash in a modifier name": "v=spf1 note/x=y:z ip4:192.0.2.1 -all",
    "colon in a modifier name": "v=spf1 note:x=y ip4:192.0.2.1 -all",
    "modifier name starting with a digit": "v=spf1 9lives=yes",
    "empty modifier name": "v=spf1 =all",
    "redirect written as a mechanism": "v=spf1 ip4:192.0.2.1 redirect:example.org",
    "redirect to an invalid domain, never reached": "v=spf1 redirect=-all ?all",
    "empty redirect": "v=spf1 ?all redirect=",
    "two redirects": "v=spf1 redirect=a.example.org -all redirect=a.example.org",
    "exp to an invalid domain": "v=spf1 exp=-all",
    "empty exp": "v=spf1 exp= -all",
    "two exps": "v=spf1 exp=a.example.org -all exp=b.example.org",
    "explanation-only macro letter in exp=": "v=spf1 -all exp=%{r}.example.org",
    "unknown modifier with a bad macro": "v=spf1 -all note=%bad",
    # all = "all"
    "all with a dot": "v=spf1 -all.",
    "all with an argument": "v=spf1 -all:example.org",
    "all with a prefix length": "v=spf1 -all/8",
    # ptr [ ":" domain-spec ]
    "ptr with a prefix length": "v=spf1 ptr/0 -all",
    "ptr with an empty domain": "v=spf1 ptr:",
    # a / mx [ ":" domain-spec ] [ "/" ip4-cidr ] [ "//" ip6-cidr ]
    "a with an empty domain": "v=spf1 a:",
    "a with /33": "v=spf1 a/33 -all",
    "a with //129": "v=spf1 a//129 -all",
    "a with two single-slash lengths": "v=spf1 a/24/64 -all",
    "a with a letter as length": "v=spf1 a/x -all",
    "a with a negative length": "v=spf1 a/-1 -all",
    "a with a leading zero": "v=spf1 a/024 -all",
    "a with a leading zero in //": "v=spf1 a//064 -all",
    "a with a domain and a bad length": "v=spf1 a:example.org/x -all",
    "a with a one-label domain": "v=spf1 a:localhost -all",
    "a with a one-label domain and a dot": "v=spf1 a:museum. -all",
    "a with a numeric top label": "v=spf1 a:abc.123",
    "a with an IPv4 address": "v=spf1 a:192.0.2.1",
    "a with a top label starting with a dash": "v=spf1 a:example.-org",
    "a with a port": "v=spf1 a:example.org:8080",
    "mx with an empty domain": "v=spf1 mx: -all",
    "mx with /33": "v=spf1 mx/33 -all",
    "mx with //129": "v=spf1 mx//129 -all",
    "mx with a numeric top label": "v=spf1 mx:abc.123",
    "mx with a port": "v=spf1 mx:example.org:8080",
    # include / exists ":" domain-spec
    "include without domain": "v=spf1 include +all",
    "include with an empty domain": "v=spf1 include: -all",
    "include with a prefix length": "v=spf1 include:example.org/24 -all",
    "exists without domain": "v=spf1 exists",
    "exists with an empty domain": "v=spf1 exists:",
    "exists with a prefix length": "v=spf1 exists:example.org/24",
    # ip4 ":" ip4-network [ "/" 1*DIGIT ], no dual length
    "bare ip4": "v=spf1 ip4",
    "ip4 /33": "v=spf1 ip4:192.0.2.1/33 -all",
    "ip4 leading zero length": "v=spf1 ip4:192.0.2.1/032 -all",
    "ip4 dual length": "v=spf1 ip4:192.0.2.1//32",
    "ip4 letter length": "v=spf1 ip4:192.0.2.1/x",
    "ip4 negative length": "v=spf1 ip4:192.0.2.1/-1",
    "ip4 empty length": "v=spf1 ip4:192.0.2.1/",
    "ip4 with three octets": "v=spf1 ip4:192.0.2",
    "ip4 with a port": "v=spf1 ip4:192.0.2.1:25",
    "ip4 with an IPv6 address": "v=spf1 ip4:2001:db8::1",
    # ip6 ":" ip6-network [ "/" 1*DIGIT ]
    "bare ip6": "v=spf1 -all ip6",
    "ip6 /129": "v=spf1 ip6:2001:db8::/129",
    "ip6 dual length": "v=spf1 ip6:2001:db8::1//33",
    "ip6 malformed": "v=spf1 ip6::2001::db8",
    "ip6 with an IPv4 address": "v=spf1 ip6:192.0.2.1",
    # Macros (section 7.1)
    "percent not followed by a brace": "v=spf1 -exists:%(ir).bl.example.org ?all",
    "percent inside a label": "v=spf1 exists:x%(ir).bl.example.org ?all",
    "lone trailing percent": "v=spf1 exists:x%.bl.example.org ?all",
    "undefined macro letter": "v=spf1 a:%{a}.example.org -all",
    "macro keeping zero labels": "v=spf1 exists:%{d0}.example.org",
    "explanation-only letter in a mechanism": "v=spf1 exists:%{c}.example.org",
}

VALID = {
    "two spaces between terms": "v=spf1 a  -all",
    "trailing space": "v=spf1 a -all ",
    "unknown modifier with every allowed character": "v=spf1 n.o-t_e=a:b/c ip4:192.0.2.1 -all",
    "obsolete default= modifier is ignored": "v=spf1 default=+",
    "explanation-only letter in an unknown modifier": "v=spf1 note=%{c}%{r}%{t} -all",
    "domain with a colon and a slash": "v=spf1 a:host:with/slash.example.org -all",
    "top label with dashes (IDN TLD)": "v=spf1 a:foo.example.xn--zckzah -all",
    "domain ending in a macro": "v=spf1 a:%{d} exists:%{i}.%{l2r-}",
    "domain with a trailing dot": "v=spf1 include:_spf.example.org. ~all",
    "escape macros": "v=spf1 a:macro%%x%_y%-z.example.org",
    "dual lengths": "v=spf1 a/24//64 mx//0 a:example.org/0 -all",
    "exp with a macro": "v=spf1 exp=%{d}.explain.example.org -all",
    "ip4 and ip6 with lengths": "v=spf1 ip4:192.0.2.0/24 ip6:2001:db8::/32 ip6:::ffff:192.0.2.1",
    "upper case": "v=spf1 +A:EXAMPLE.ORG ~ALL",
}


@pytest.mark.parametrize("record", PERMERRORS.values(), ids=PERMERRORS.keys())
def test_malformed_records_are_a_permerror(record: str) -> None:
    with pytest.raises(SpfPermError):
        parse_record(record)


@pytest.mark.parametrize("record", VALID.values(), ids=VALID.keys())
def test_valid_records_parse(record: str) -> None:
    parse_record(record)


def test_lengths_are_read_from_the_end_of_a_domain_containing_slashes() -> None:
    (term,) = parse_record("v=spf1 a:foo:bar/baz.example.org/24//64").terms
    assert (term.domain_spec, term.cidr4, term.cidr6) == ("foo:bar/baz.example.org", 24, 64)
    (term,) = parse_record("v=spf1 mx//0").terms
    assert (term.domain_spec, term.cidr4, term.cidr6) == (None, 32, 0)


CTX = MacroContext(
    ipaddress.ip_address("192.0.2.40"), "~jack&jill=up-a_b3.c@example.org", "example.org", "h"
)


def test_escape_macros_and_upper_case_url_escaping() -> None:
    assert expand("macro%%percent%_%_space%-url", CTX) == "macro%percent  space%20url"
    # Section 7.3: an upper-case letter URL-escapes all but the unreserved characters.
    assert expand("%{L}", CTX) == "~jack%26jill%3Dup-a_b3.c"


def test_multiple_delimiters_and_reversal() -> None:
    ctx = MacroContext(CTX.ip, "foo-bar+zip+quux@example.org", "example.org", "h")
    assert expand("%{l2r+-}.user.%{d2}", ctx) == "bar.foo.user.example.org"
    assert expand("%{i}.%{l1r-}", ctx) == "192.0.2.40.foo"


def test_expanded_names_are_truncated_or_dropped_never_an_error() -> None:
    ctx = MacroContext(CTX.ip, "a@" + "long-label-part." * 20 + "example.org", "x.org", "h")
    # Section 7.3: labels are dropped from the left until 253 octets remain.
    name = target_name("%{o}.%{o}", ctx)
    assert name is not None
    assert len(name) <= 253
    assert name.endswith("example.org")
    # A label over 63 octets, an empty label, text IDNA cannot encode: no name at all.
    ctx = MacroContext(CTX.ip, "a\u00bbb@example.org", "example.org", "%" * 22)
    assert target_name("%{H}.example.org", ctx) is None
    assert target_name("%{l}.example.org", ctx) is None
    assert target_name("a..%{d}", ctx) is None


@pytest.mark.parametrize("helo", ["JUMPIN' JUPITER", "[192.0.2.40]", "OEMCOMPUTER"])
def test_expanded_names_are_not_syntax_checked(helo: str) -> None:
    """Section 7.1: only the domain-spec as published is checked; whatever a macro expands
    to is asked about as it is (and simply finds nothing), never a permerror."""
    ctx = MacroContext(CTX.ip, "a@example.org", "example.org", helo)
    assert target_name("%{h}", ctx) == helo.lower()
