"""Which URLs an endpoint may have, checked when it is saved and again (by address) before
every request, so that a tenant cannot aim the platform at its own network (SSRF).

https everywhere; http only to loopback in development and test. Targets on loopback,
private, link-local, multicast or reserved addresses are refused in production unless the
operator sets ``webhook_allow_private_targets``. A name is resolved at send time and every
address it has must be allowed (a name that later resolves elsewhere is caught then).
"""

from __future__ import annotations

import ipaddress
import socket
from urllib.parse import urlsplit

from mailplane.config import Settings
from mailplane.errors import InvalidInput

MAX_URL_LENGTH = 2000
LOOPBACK_NAMES = frozenset({"localhost"})


def private_allowed(settings: Settings) -> bool:
    return settings.env != "production" or settings.webhook_allow_private_targets


def _forbidden_address(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    return not address.is_global or address.is_multicast


def _is_loopback(host: str) -> bool:
    if host in LOOPBACK_NAMES or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def validate_url(settings: Settings, url: str) -> str:
    """The URL as stored, or InvalidInput with a code."""
    if not url.isascii() or any(ord(c) <= 0x20 or c == "\x7f" for c in url):
        raise InvalidInput(
            "the URL holds spaces, control or non-ASCII characters", code="invalid_url"
        )
    if len(url) > MAX_URL_LENGTH:
        raise InvalidInput(
            f"the URL is longer than {MAX_URL_LENGTH} characters", code="invalid_url"
        )
    parts = urlsplit(url)
    try:
        host = (parts.hostname or "").lower()
        parts.port  # noqa: B018 (raises for a port that is not a number)
    except ValueError as exc:
        raise InvalidInput("the URL's port is not a number", code="invalid_url") from exc
    if parts.scheme not in ("https", "http") or not host:
        raise InvalidInput("a webhook URL is https://host/path", code="invalid_url")
    if parts.username or parts.password:
        raise InvalidInput("the URL must not hold credentials", code="invalid_url")
    if parts.fragment:
        raise InvalidInput("the URL must not have a fragment", code="invalid_url")
    loopback = _is_loopback(host)
    if parts.scheme == "http" and not (loopback and settings.env in ("development", "test")):
        raise InvalidInput("webhook URLs must use https", code="webhook_https_required")
    if not private_allowed(settings):
        literal: ipaddress.IPv4Address | ipaddress.IPv6Address | None
        try:
            literal = ipaddress.ip_address(host.strip("[]"))
        except ValueError:
            literal = None
        if loopback or (literal is not None and _forbidden_address(literal)):
            raise InvalidInput(
                "webhook URLs may not point at private or loopback addresses",
                code="webhook_private_target",
            )
    return url


def check_target(settings: Settings, url: str) -> str | None:
    """Before a request: None if every address of the host is allowed, else why not."""
    if private_allowed(settings):
        return None
    parts = urlsplit(url)
    host = (parts.hostname or "").strip("[]")
    try:
        infos = socket.getaddrinfo(host, parts.port or 443, proto=socket.IPPROTO_TCP)
    except OSError as exc:
        return f"cannot resolve {host}: {exc}"
    for info in infos:
        address = ipaddress.ip_address(info[4][0])
        if _forbidden_address(address):
            return f"{host} resolves to a private or reserved address ({address})"
    return None
