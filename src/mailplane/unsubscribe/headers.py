"""The List-Unsubscribe header pair of a bulk message, per recipient (RFC 2369, RFC 8058).

``List-Unsubscribe: <https://.../unsubscribe/<token>>, <mailto:unsubscribe+<token>@...>``
and ``List-Unsubscribe-Post: List-Unsubscribe=One-Click``, each on one line (about 200
octets, far below RFC 5322's 998): never folded, so that no canonicalization or relay
can change what the DKIM signature covers (both names are in dkim.signing.SIGNED_HEADERS).
"""

from __future__ import annotations

import re

from mailplane.config import Settings
from mailplane.unsubscribe import tokens

POST_HEADER = b"List-Unsubscribe-Post: List-Unsubscribe=One-Click\r\n"
_OWN = re.compile(rb"(?:^|\n)list-unsubscribe[ \t]*:", re.IGNORECASE)


def has_own(raw: bytes) -> bool:
    """The message's header block already has a List-Unsubscribe (the sender's own)."""
    head = raw.split(b"\r\n\r\n", 1)[0]
    return _OWN.search(head) is not None


def page_url(settings: Settings, token: str) -> str:
    return f"{settings.public_url.rstrip('/')}/unsubscribe/{token}"


def mailto_address(settings: Settings, token: str) -> str:
    return f"unsubscribe+{token}@{settings.effective_bounce_domain}"


class Builder:
    """Built once per worker: the key and the constant parts of the header."""

    def __init__(self, settings: Settings) -> None:
        for value in (settings.public_url, settings.effective_bounce_domain):
            if any(c in value for c in "\r\n<>, \t"):
                raise ValueError(f"{value!r} cannot appear in a List-Unsubscribe header")
        self.key = tokens.derive_key(settings.effective_secret())
        self.settings = settings
        self.mailto = settings.unsubscribe_mailto

    def headers(self, delivery_id: int) -> bytes:
        token = tokens.make(self.key, delivery_id)
        targets = f"<{page_url(self.settings, token)}>"
        if self.mailto:
            targets += f", <mailto:{mailto_address(self.settings, token)}>"
        return b"List-Unsubscribe: " + targets.encode("ascii") + b"\r\n" + POST_HEADER
