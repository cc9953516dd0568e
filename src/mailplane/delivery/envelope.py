"""The envelope sender (RFC 5321 MAIL FROM) of each delivery.

Mail from the send API and from mailbox users carries a VERP return path on the platform's
bounce domain, ``b+<delivery id>-<token>@<bounce domain>``: a bounce that comes back names
the delivery it is about, and the token (an HMAC of the id under the platform secret) lets
bounce processing refuse addresses that somebody made up. Forwarded mail keeps the SRS
sender the intake wrote; a DSN has the null sender (RFC 5321 section 4.5.5), so that it
never causes a bounce of its own.
"""

from __future__ import annotations

import hashlib
import hmac
import re

from mailplane.config import Settings
from mailplane.models.statuses import MessageSource

# 64 bits: guessing a valid address for a given delivery takes 2**63 tries on average.
TOKEN_LENGTH = 16
_VERP = re.compile(rf"^b\+([0-9]{{1,19}})-([0-9a-f]{{{TOKEN_LENGTH}}})@(.+)$")


def _token(settings: Settings, delivery_id: int) -> str:
    digest = hmac.new(
        settings.effective_secret().encode(), f"verp:{delivery_id}".encode(), hashlib.sha256
    )
    return digest.hexdigest()[:TOKEN_LENGTH]


def verp_address(settings: Settings, delivery_id: int) -> str:
    return f"b+{delivery_id}-{_token(settings, delivery_id)}@{settings.effective_bounce_domain}"


def parse_verp(settings: Settings, address: str) -> int | None:
    """The delivery id a VERP address names, or None when it is not one of ours (wrong
    domain, wrong token, not VERP at all)."""
    match = _VERP.match(address.strip().lower())
    if match is None or match.group(3) != settings.effective_bounce_domain:
        return None
    delivery_id = int(match.group(1))
    if not hmac.compare_digest(match.group(2), _token(settings, delivery_id)):
        return None
    return delivery_id


def envelope_sender(
    settings: Settings, source: str, stored_envelope_from: str, delivery_id: int
) -> str:
    if source == MessageSource.DSN:
        return ""
    if source == MessageSource.FORWARD:
        return stored_envelope_from  # already SRS-rewritten by the intake
    return verp_address(settings, delivery_id)
