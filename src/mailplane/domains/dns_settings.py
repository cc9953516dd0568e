"""Per-domain DNS automation settings (``Domain.dns_settings``): validated on the way in,
masked on the way out.

Every value is checked here so that nothing reaches dnspython or dns-lexicon that they
would choke on (a 500), and a domain can only send updates to a DNS server or provider the
operator allowed (``rfc2136_server``/``rfc2136_allowed_servers``, ``lexicon_provider``/
``lexicon_allowed_providers``), never anywhere a caller names.
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
import re
from typing import Any

from mailplane.config import Settings
from mailplane.errors import InvalidInput
from mailplane.names import to_a_label

ALLOWED_KEYS = {
    "manual": frozenset(),
    "rfc2136": frozenset({"server", "port", "zone", "key_name", "key_algorithm", "key_secret"}),
    "lexicon": frozenset({"provider", "zone", "options"}),
}
SECRET_KEYS = frozenset({"key_secret"})
TSIG_ALGORITHMS = frozenset({"hmac-sha224", "hmac-sha256", "hmac-sha384", "hmac-sha512"})
_KEY_NAME = re.compile(r"^(?!.*\.\.)[A-Za-z0-9_-][A-Za-z0-9._-]{0,252}$")
_PROVIDER = re.compile(r"^[a-z0-9_]{1,40}$")
_OPTION = re.compile(r"^[a-z0-9_]{1,64}$")


def _fail(message: str) -> InvalidInput:
    return InvalidInput(message, code="invalid_dns_settings")


def _text(key: str, value: object) -> str:
    if not isinstance(value, str) or not value or len(value) > 1024:
        raise _fail(f"dns_settings.{key} must be a non-empty string")
    if any(c in value for c in "\r\n\x00"):
        raise _fail(f"dns_settings.{key} contains control characters")
    return value


def _server(settings: Settings, value: object) -> str:
    text = _text("server", value)
    try:
        address = str(ipaddress.ip_address(text))
    except ValueError as exc:
        raise _fail("dns_settings.server must be an IP address") from exc
    allowed = {str(server) for server in settings.rfc2136_allowed_servers}
    if settings.rfc2136_server:
        allowed.add(str(settings.rfc2136_server))
    if address not in allowed:
        raise _fail(
            f"DNS server {address} is not allowed; the operator lists the servers domains may "
            "update in MAILPLANE_RFC2136_ALLOWED_SERVERS"
        )
    return address


def _secret(value: object) -> str:
    text = _text("key_secret", value)
    try:
        if not base64.b64decode(text, validate=True):
            raise ValueError("empty")
    except (binascii.Error, ValueError) as exc:
        raise _fail("dns_settings.key_secret must be the TSIG secret in base64") from exc
    return text


def validate_dns_settings(settings: Settings, mode: str, values: dict[str, Any]) -> dict[str, Any]:
    unknown = set(values) - ALLOWED_KEYS[mode]
    if unknown:
        raise _fail(f"unknown dns_settings for {mode}: {', '.join(sorted(unknown))}")
    clean: dict[str, Any] = {}
    for key, value in values.items():
        if key == "port":
            if isinstance(value, bool) or not isinstance(value, int) or not 0 < value < 65536:
                raise _fail("dns_settings.port must be 1..65535")
            clean[key] = value
        elif key == "server":
            clean[key] = _server(settings, value)
        elif key == "zone":
            try:
                clean[key] = to_a_label(_text(key, value))
            except InvalidInput as exc:
                raise _fail(f"dns_settings.zone: {exc.detail}") from exc
        elif key == "key_name":
            if not _KEY_NAME.match(_text(key, value)):
                raise _fail("dns_settings.key_name must be a DNS name")
            clean[key] = value
        elif key == "key_algorithm":
            if _text(key, value) not in TSIG_ALGORITHMS:
                raise _fail(f"dns_settings.key_algorithm must be one of {sorted(TSIG_ALGORITHMS)}")
            clean[key] = value
        elif key == "key_secret":
            clean[key] = _secret(value)
        elif key == "provider":
            if not _PROVIDER.match(_text(key, value)):
                raise _fail("dns_settings.provider must be a dns-lexicon provider name")
            allowed = {*settings.lexicon_allowed_providers, settings.lexicon_provider}
            if value not in allowed:
                raise _fail(
                    f"dns-lexicon provider {value} is not allowed; the operator lists them in "
                    "MAILPLANE_LEXICON_ALLOWED_PROVIDERS"
                )
            clean[key] = value
        else:  # options
            if not isinstance(value, dict) or not all(
                isinstance(k, str) and _OPTION.match(k) for k in value
            ):
                raise _fail("dns_settings.options must map option names to strings")
            clean[key] = {k: _text(f"options.{k}", v) for k, v in value.items()}
    return clean


def public_dns_settings(values: dict[str, Any]) -> dict[str, Any]:
    """dns_settings as shown by the API: secrets never leave the server."""
    shown = {k: ("********" if k in SECRET_KEYS else v) for k, v in values.items()}
    if isinstance(shown.get("options"), dict):
        shown["options"] = dict.fromkeys(shown["options"], "********")
    return shown
