"""SRS (Sender Rewriting Scheme) for forwarded mail: the envelope sender becomes an
address of the platform's bounce domain, so the destination's SPF check sees a domain
whose SPF allows the platform, and a bounce can still be routed back to the original
sender (the address carries it, guarded by an HMAC and a timestamp)."""

from __future__ import annotations

import hashlib
import hmac

import srslib

from mailplane.config import Settings

_KEY_LABEL = b"mailplane srs v1"


def srs_secret(settings: Settings) -> str:
    """Derived from the platform secret, so it survives restarts and is shared by every
    intake process without being the secret itself."""
    secret = settings.effective_secret().encode()
    return hmac.new(secret, _KEY_LABEL, hashlib.sha256).hexdigest()


def rewriter(settings: Settings) -> srslib.SRS:
    return srslib.SRS(srs_secret(settings))


def rewrite_sender(settings: Settings, sender: str) -> str:
    """The SRS form of an envelope sender; the null sender (a bounce) stays null, and an
    address that cannot be rewritten is kept rather than lose the message."""
    if not sender or "@" not in sender:
        return ""
    try:
        return str(rewriter(settings).forward(sender, settings.effective_bounce_domain))
    except srslib.Error:
        return sender
