"""DKIM signatures (RFC 6376; Ed25519 per RFC 8463) with a domain's active key.

The delivery engine signs through ``signature_header``; only the ``active`` key signs: a
``pending`` key is not yet known to be in DNS, and a ``retiring`` one is on its way out.
The signature itself is computed by ``dkim/signer.py`` (OpenSSL); loaded keys are cached
per key id, because parsing and checking an RSA key costs more than signing with it.
"""

from __future__ import annotations

from functools import lru_cache

from sqlalchemy import select
from sqlalchemy.orm import Session

from mailplane.dkim import signer
from mailplane.errors import Conflict
from mailplane.models import DkimKey, Domain
from mailplane.models.statuses import DkimKeyStatus

# Headers a receiver shows or acts on; From is mandatory (RFC 6376 section 5.4).
SIGNED_HEADERS = [
    b"from",
    b"to",
    b"cc",
    b"subject",
    b"date",
    b"message-id",
    b"reply-to",
    b"in-reply-to",
    b"references",
    b"mime-version",
    b"content-type",
    b"content-transfer-encoding",
    b"list-unsubscribe",
    b"list-unsubscribe-post",
]


def active_key(session: Session, domain: Domain) -> DkimKey:
    key = session.scalar(
        select(DkimKey).where(
            DkimKey.domain_id == domain.id, DkimKey.status == DkimKeyStatus.ACTIVE
        )
    )
    if key is None:
        raise Conflict(f"{domain.name} has no active DKIM key", code="no_active_dkim_key")
    return key


@lru_cache(maxsize=4096)
def loaded_key(key_id: int, pem: str) -> signer.PrivateKey:
    # The PEM is part of the cache key, so a row rewritten under the same id is reloaded.
    return signer.load_private_key(pem)


def signature_header(message: bytes, domain: str, key: DkimKey) -> bytes:
    """The DKIM-Signature header line (with CRLF) for ``message`` signed by ``key``."""
    return signer.signature_header(
        message,
        domain=domain,
        selector=key.selector,
        key=loaded_key(key.id, key.private_key_pem),
        signed_headers=SIGNED_HEADERS,
    )


def sign_message(session: Session, domain: Domain, message: bytes) -> bytes:
    """The message with a DKIM-Signature header by the domain's active key prepended."""
    return signature_header(message, domain.name, active_key(session, domain)) + message
