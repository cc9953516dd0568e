"""SPF macro expansion (RFC 7208 section 7) and domain-spec validation.

Kept apart from the evaluator: it is pure string work, testable without DNS.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass

from mailplane.protocols.dns.errors import DnsPermanentError, DnsTransientError


class SpfPermError(DnsPermanentError):
    """RFC 7208 "permerror": the published record cannot be interpreted."""


class SpfTempError(DnsTransientError):
    """RFC 7208 "temperror": a DNS failure that may go away."""


@dataclass(frozen=True)
class MacroContext:
    ip: str
    sender: str  # the MAIL FROM address (or postmaster@helo)
    domain: str  # the <domain> currently evaluated
    helo: str


_MACRO = re.compile(r"%(?:\{([a-zA-Z])(\d*)(r?)([.\-+,/_=]*)\}|(.))", re.IGNORECASE)
_TOPLABEL = re.compile(r"^(?=.*[a-z])[a-z0-9](?:[a-z0-9-]*[a-z0-9])?$", re.IGNORECASE)


def _ip_for_macro(ip: str) -> str:
    address = ipaddress.ip_address(ip)
    if address.version == 4:
        return str(address)
    # Section 7.3: IPv6 addresses are written as dot-separated nibbles.
    return ".".join(address.exploded.replace(":", ""))


def _letter_value(letter: str, ctx: MacroContext) -> str:
    local, _, sender_domain = ctx.sender.rpartition("@")
    values = {
        "s": ctx.sender,
        "l": local or "postmaster",
        "o": sender_domain,
        "d": ctx.domain,
        "i": _ip_for_macro(ctx.ip),
        # Section 7.3 allows "unknown" when no validated name is at hand; the p macro is
        # discouraged (section 5.5) and costs DNS lookups we would rather not make.
        "p": "unknown",
        "v": "in-addr" if ipaddress.ip_address(ctx.ip).version == 4 else "ip6",
        "h": ctx.helo,
    }
    if letter not in values:
        raise SpfPermError(f"unknown macro letter %{{{letter}}}")
    return values[letter]


def expand(macro_string: str, ctx: MacroContext) -> str:
    """Expand the macros of a domain-spec; malformed macros are a permerror."""
    out: list[str] = []
    position = 0
    for match in _MACRO.finditer(macro_string):
        out.append(macro_string[position : match.start()])
        position = match.end()
        letter, digits, reverse, delimiters, single = match.groups()
        if single is not None:
            escapes = {"%": "%", "_": " ", "-": "%20"}
            if single not in escapes:
                raise SpfPermError(f"invalid macro '%{single}' in {macro_string!r}")
            out.append(escapes[single])
            continue
        value = _letter_value(letter.lower(), ctx)
        parts = re.split("[" + re.escape(delimiters or ".") + "]", value)
        if reverse:
            parts.reverse()
        if digits:
            keep = int(digits)
            if keep == 0:
                raise SpfPermError("a macro may not keep zero labels (RFC 7208 section 7.1)")
            parts = parts[-keep:]
        out.append(".".join(parts))
    rest = macro_string[position:]
    if "%" in rest:
        raise SpfPermError(f"a lone '%' in {macro_string!r}")
    out.append(rest)
    return "".join(out)


def target_domain(domain_spec: str, ctx: MacroContext) -> str:
    """Expand and validate a domain-spec into a name to query (section 4.8 and 7.3)."""
    name = expand(domain_spec, ctx).rstrip(".")
    # Section 7.3: drop labels from the left until the name fits in 253 octets.
    while len(name) > 253 and "." in name:
        name = name.split(".", 1)[1]
    labels = name.split(".")
    if len(labels) < 2 or any(not label or len(label) > 63 for label in labels):
        raise SpfPermError(f"{domain_spec!r} is not a valid domain-spec")
    if not _TOPLABEL.match(labels[-1]):
        raise SpfPermError(f"{domain_spec!r} does not end in a valid top-level label")
    return name.lower()
