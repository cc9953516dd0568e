"""SPF macros (RFC 7208 section 7) and domain-spec syntax.

Kept apart from the evaluator: it is string work, testable without DNS. Two stages, as
the RFC keeps them apart: the *syntax* of a domain-spec is checked when the record is
parsed (a permerror, whether or not the term is ever reached); the *expanded* name is not
checked for syntax at all (section 7.1: "it is not correct to check syntax after macro
expansion"): a name that no DNS query can be made of simply matches nothing.
"""

from __future__ import annotations

import ipaddress
import re
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass

import dns.exception
import dns.name

from mailplane.protocols.dns.errors import DnsPermanentError, DnsTransientError


class SpfPermError(DnsPermanentError):
    """RFC 7208 "permerror": the published record cannot be interpreted."""


class SpfTempError(DnsTransientError):
    """RFC 7208 "temperror": a DNS failure that may go away."""


IpAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


@dataclass(frozen=True)
class MacroContext:
    ip: IpAddress  # an IPv4-mapped IPv6 client is already its IPv4 address (section 5)
    sender: str  # the MAIL FROM address (or postmaster@helo), with a local-part
    domain: str  # the <domain> currently evaluated
    helo: str
    # The %{p} macro (section 7.3): looked up only when a record uses it.
    validated_name: Callable[[str], str] | None = None


# Section 7.1: macro-letter = s l o d i p h c r t v; c, r and t only in explanation text.
DOMAIN_LETTERS = frozenset("slodiphv")
ALL_LETTERS = frozenset("slodiphvcrt")

_TOKEN = re.compile(r"%\{([a-z])(\d*)(r?)([.\-+,/_=]*)\}|%[%_\-]|[^%]", re.IGNORECASE)
# toplabel = ( *alphanum ALPHA *alphanum ) / ( 1*alphanum "-" *( alphanum / "-" ) alphanum )
_TOPLABEL = r"(?:[a-z0-9]*[a-z][a-z0-9]*|[a-z0-9]+-[a-z0-9\-]*[a-z0-9])"
_DOMAIN_END = re.compile(r"\." + _TOPLABEL + r"\.?$", re.IGNORECASE)


def _tokens(macro_string: str, letters: frozenset[str]) -> list[re.Match[str]]:
    """Split a macro-string into macro-expands and literal characters, or raise permerror."""
    tokens = []
    position = 0
    while position < len(macro_string):
        match = _TOKEN.match(macro_string, position)
        if match is None:  # a '%' not followed by '{', '%', '_' or '-' (section 7.1)
            raise SpfPermError(f"invalid macro in {macro_string!r} (RFC 7208 section 7.1)")
        letter = match.group(1)
        if letter is not None and letter.lower() not in letters:
            raise SpfPermError(
                f"%{{{letter}}} is not allowed in {macro_string!r} (RFC 7208 section 7.1)"
            )
        if match.group(2) and int(match.group(2)) == 0:
            raise SpfPermError(f"a macro in {macro_string!r} keeps zero labels (section 7.3)")
        tokens.append(match)
        position = match.end()
    return tokens


def check_macro_string(macro_string: str, letters: frozenset[str] = ALL_LETTERS) -> None:
    """Raise permerror unless the text is a valid macro-string (unknown modifiers' values)."""
    _tokens(macro_string, letters)


def check_domain_spec(spec: str) -> None:
    """Section 7.1: domain-spec = macro-string domain-end, domain-end = ( "." toplabel ["."] )
    / macro-expand. Checked on the record as published, before any expansion."""
    if not spec:
        raise SpfPermError("an empty domain-spec (a ':' or '=' with nothing after it)")
    tokens = _tokens(spec, DOMAIN_LETTERS)
    if len(tokens[-1].group(0)) > 1:  # ends with a macro-expand
        return
    literal_tail = ""
    for token in reversed(tokens):
        if len(token.group(0)) > 1:
            break
        literal_tail = token.group(0) + literal_tail
    if not _DOMAIN_END.search(literal_tail):
        raise SpfPermError(
            f"{spec!r} is not a valid domain-spec: it must end in a top-level label such as "
            "'.com' or in a macro (RFC 7208 section 7.1)"
        )


def _ip_for_macro(ip: IpAddress) -> str:
    if ip.version == 4:
        return str(ip)
    # Section 7.3: IPv6 addresses are written as dot-separated nibbles.
    return ".".join(ip.exploded.replace(":", ""))


def _letter_value(letter: str, ctx: MacroContext) -> str:
    local, _, sender_domain = ctx.sender.rpartition("@")
    if letter == "p":
        return ctx.validated_name(ctx.domain) if ctx.validated_name else "unknown"
    values = {
        "s": ctx.sender,
        "l": local,
        "o": sender_domain,
        "d": ctx.domain,
        "i": _ip_for_macro(ctx.ip),
        "v": "in-addr" if ctx.ip.version == 4 else "ip6",
        "h": ctx.helo,
        # Only reachable in explanation text, which mailplane does not fetch.
        "c": str(ctx.ip),
        "r": "unknown",
        "t": "0",
    }
    return values[letter]


def expand(macro_string: str, ctx: MacroContext, letters: frozenset[str] = ALL_LETTERS) -> str:
    """Expand the macros of a macro-string; malformed macros are a permerror."""
    out: list[str] = []
    for token in _tokens(macro_string, letters):
        text = token.group(0)
        if len(text) == 1:
            out.append(text)
            continue
        if text in ("%%", "%_", "%-"):
            out.append({"%%": "%", "%_": " ", "%-": "%20"}[text])
            continue
        letter, digits, reverse, delimiters = token.groups()
        value = _letter_value(letter.lower(), ctx)
        parts = re.split("[" + re.escape(delimiters or ".") + "]", value)
        if reverse:
            parts.reverse()
        if digits:
            parts = parts[-int(digits) :]
        joined = ".".join(parts)
        # Section 7.3: an upper-case macro letter URL-escapes its expansion.
        out.append(urllib.parse.quote(joined, safe="") if letter.isupper() else joined)
    return "".join(out)


def dns_name(name: str) -> str | None:
    """``name`` lower-cased without its final dot, or None when no DNS question can be made
    of it (an empty or over-long label, more than 255 octets, text IDNA cannot encode)."""
    name = name[:-1] if name.endswith(".") else name
    if not name:
        return None
    try:
        dns.name.from_text(name)
    except (dns.exception.DNSException, UnicodeError, ValueError):
        return None
    return name.lower()


def target_name(domain_spec: str, ctx: MacroContext) -> str | None:
    """The name a domain-spec asks about, or None when no DNS name can be made of it.

    Section 7.3: labels are dropped from the left until the name fits in 253 octets. A
    name that still cannot be asked about names nothing (section 4.3 by analogy): the
    caller treats it as "no match", not as an error of the record.
    """
    name = expand(domain_spec, ctx, DOMAIN_LETTERS)
    if name.endswith("."):
        name = name[:-1]
    while len(name) > 253 and "." in name:
        name = name.split(".", 1)[1]
    return dns_name(name)
