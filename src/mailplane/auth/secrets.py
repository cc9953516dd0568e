"""Opaque bearer secrets (service tokens, refresh tokens): random, shown once, stored as
SHA-256. They carry 256 bits of entropy, so a slow hash would add nothing but latency."""

from __future__ import annotations

import hashlib
import secrets

SERVICE_TOKEN_PREFIX = "mpst_"  # noqa: S105
REFRESH_TOKEN_PREFIX = "mprt_"  # noqa: S105


def new_secret(prefix: str) -> str:
    return prefix + secrets.token_urlsafe(32)


def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()
