"""Signed links to one part of one message, for what a browser loads without our
``Authorization`` header: the inline (cid:) images of a sanitized HTML body and attachment
download links.

A link names the mailbox, folder, UID and part and carries an expiry and an HMAC over all
of them (keyed by the platform secret, for this purpose alone), so it opens that one part
of that one mailbox until it expires, and nothing else. The mailbox must still be allowed to
log in when the link is used.
"""

from __future__ import annotations

import hashlib
import hmac
from datetime import datetime, timedelta

from mailplane.config import Settings

LINK_LIFETIME = timedelta(hours=1)


def _key(settings: Settings) -> bytes:
    secret = settings.effective_secret().encode()
    return hmac.new(secret, b"mailplane webmail part links", hashlib.sha256).digest()


def _message(mailbox_id: int, folder: str, uid: int, part: str, expires: int) -> bytes:
    return f"{mailbox_id}\0{folder}\0{uid}\0{part}\0{expires}".encode()


def sign(
    settings: Settings, mailbox_id: int, folder: str, uid: int, part: str, now: datetime
) -> tuple[int, str]:
    """The expiry (Unix seconds) and the signature of a link."""
    expires = int((now + LINK_LIFETIME).timestamp())
    body = _message(mailbox_id, folder, uid, part, expires)
    return expires, hmac.new(_key(settings), body, hashlib.sha256).hexdigest()


def verify(
    settings: Settings,
    mailbox_id: int,
    folder: str,
    uid: int,
    part: str,
    expires: int,
    signature: str,
    now: datetime,
) -> bool:
    if expires < now.timestamp():
        return False
    body = _message(mailbox_id, folder, uid, part, expires)
    expected = hmac.new(_key(settings), body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, signature)
