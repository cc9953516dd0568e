"""Endpoint signing secrets: ``whsec_`` + base64 of 32 random bytes (the Standard Webhooks
format), answered once and stored encrypted with AES-GCM under a key derived from the
platform secret (``Settings.effective_secret``). The dispatcher needs the secret itself
to sign, so a hash would not do. Rotating the platform secret makes stored webhook
secrets unreadable: rotate each endpoint's secret afterwards.
"""

from __future__ import annotations

import base64
import os
import secrets

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from mailplane.config import Settings

PREFIX = "whsec_"
VERSION = "v1:"


def new_secret() -> str:
    return PREFIX + base64.b64encode(secrets.token_bytes(32)).decode()


def _key(settings: Settings) -> bytes:
    kdf = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"mailplane webhook secrets")
    return kdf.derive(settings.effective_secret().encode())


def encrypt(settings: Settings, secret: str) -> str:
    nonce = os.urandom(12)
    sealed = AESGCM(_key(settings)).encrypt(nonce, secret.encode(), b"webhook")
    return VERSION + base64.b64encode(nonce + sealed).decode()


def decrypt(settings: Settings, stored: str) -> str:
    if not stored.startswith(VERSION):
        raise ValueError("unknown webhook secret format")
    blob = base64.b64decode(stored[len(VERSION) :])
    return AESGCM(_key(settings)).decrypt(blob[:12], blob[12:], b"webhook").decode()
