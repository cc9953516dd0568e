"""Relay passwords of outbound routes, stored encrypted (AES-GCM under a key derived from
the platform secret, ``Settings.effective_secret``): the delivery worker needs the password
itself to log in, so a hash would not do. Never answered by the API, never logged.
Rotating the platform secret makes stored relay passwords unreadable: set them again.
"""

from __future__ import annotations

import base64
import os

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from mailplane.config import Settings

VERSION = "v1:"
_CONTEXT = b"outbound route relay password"


def _key(settings: Settings) -> bytes:
    kdf = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"mailplane relay passwords")
    return kdf.derive(settings.effective_secret().encode())


def encrypt(settings: Settings, password: str) -> str:
    nonce = os.urandom(12)
    sealed = AESGCM(_key(settings)).encrypt(nonce, password.encode(), _CONTEXT)
    return VERSION + base64.b64encode(nonce + sealed).decode()


def decrypt(settings: Settings, stored: str) -> str:
    if not stored.startswith(VERSION):
        raise ValueError("unknown relay password format")
    blob = base64.b64decode(stored[len(VERSION) :])
    return AESGCM(_key(settings)).decrypt(blob[:12], blob[12:], _CONTEXT).decode()
