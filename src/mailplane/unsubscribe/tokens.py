"""Per-delivery unsubscribe tokens: ``<delivery id><MAC>``, base32 in lower case.

The token names the delivery (hence tenant, recipient and list) without showing any of
them, and a truncated HMAC-SHA256 under a key derived from the platform secret with its
own label makes it unforgeable. 8 bytes of id plus 16 of MAC are 39 characters of
``[a-z2-7]``: safe in a URL path and in a mail local part, and case-insensitive, because
mail systems may change the case of a local part (RFC 5321 section 2.4 lets them).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from functools import lru_cache

_LABEL = b"mailplane unsubscribe token v1"
_ID_BYTES = 8
# 128 bits: forging a token for a given delivery takes 2**127 tries on average.
_MAC_BYTES = 16
TOKEN_LENGTH = 39  # base32 of 24 bytes, without padding


@lru_cache(maxsize=8)
def derive_key(secret: str) -> bytes:
    """The token key: the platform secret under this module's label, so that a token
    never doubles as a VERP MAC or any other HMAC of the same secret."""
    return hmac.new(secret.encode(), _LABEL, hashlib.sha256).digest()


def _mac(key: bytes, packed: bytes) -> bytes:
    return hmac.new(key, packed, hashlib.sha256).digest()[:_MAC_BYTES]


def make(key: bytes, delivery_id: int) -> str:
    packed = delivery_id.to_bytes(_ID_BYTES, "big")
    return base64.b32encode(packed + _mac(key, packed)).decode().rstrip("=").lower()


def verify(key: bytes, token: str) -> int | None:
    """The delivery id the token names, or None for anything not made by ``make``."""
    if len(token) != TOKEN_LENGTH or not token.isascii() or not token.isalnum():
        return None
    try:
        raw = base64.b32decode(token.upper() + "=")
    except (binascii.Error, ValueError):
        return None
    if base64.b32encode(raw).decode().rstrip("=") != token.upper():
        return None  # stray bits in the last character: one token, one spelling
    packed, mac = raw[:_ID_BYTES], raw[_ID_BYTES:]
    if not hmac.compare_digest(mac, _mac(key, packed)):
        return None
    return int.from_bytes(packed, "big")
