"""DKIM signatures (RFC 6376; Ed25519 per RFC 8463) with a domain's active key.

The delivery engine calls ``sign_message``; only the ``active`` key signs: a ``pending`` key
is not yet known to be in DNS, and a ``retiring`` one is on its way out.
"""

from __future__ import annotations

import base64

import dkim
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519
from sqlalchemy import select
from sqlalchemy.orm import Session

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


def _private_key(key: DkimKey) -> bytes:
    if key.algorithm != "ed25519":
        return key.private_key_pem.encode()
    # dkimpy wants the raw 32-byte Ed25519 seed, base64 (RFC 8463 section 3).
    loaded = serialization.load_pem_private_key(key.private_key_pem.encode(), password=None)
    assert isinstance(loaded, ed25519.Ed25519PrivateKey)
    raw = loaded.private_bytes(
        serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
    )
    return base64.b64encode(raw)


def signature_header(message: bytes, domain: str, key: DkimKey) -> bytes:
    """The DKIM-Signature header line (with CRLF) for ``message`` signed by ``key``."""
    algorithm = b"ed25519-sha256" if key.algorithm == "ed25519" else b"rsa-sha256"
    present = {
        line.split(b":", 1)[0].strip().lower()
        for line in message.split(b"\n\n", 1)[0].replace(b"\r", b"").split(b"\n")
        if line and not line[:1].isspace()
    }
    headers = [h for h in SIGNED_HEADERS if h in present]
    header: bytes = dkim.sign(
        message,
        key.selector.encode(),
        domain.encode(),
        _private_key(key),
        canonicalize=(b"relaxed", b"relaxed"),
        signature_algorithm=algorithm,
        include_headers=headers,
    )
    return header


def sign_message(session: Session, domain: Domain, message: bytes) -> bytes:
    """The message with a DKIM-Signature header by the domain's active key prepended."""
    return signature_header(message, domain.name, active_key(session, domain)) + message
