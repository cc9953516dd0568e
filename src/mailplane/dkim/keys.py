"""DKIM key pairs (RFC 6376 for RSA, RFC 8463 for Ed25519) and their DNS TXT values."""

from __future__ import annotations

import base64
from dataclasses import dataclass
from typing import Literal

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa

Algorithm = Literal["rsa-2048", "ed25519"]


@dataclass(frozen=True)
class KeyPair:
    algorithm: Algorithm
    private_key_pem: str
    public_key_b64: str  # the p= tag


def generate(algorithm: Algorithm) -> KeyPair:
    if algorithm == "ed25519":
        ed_key = ed25519.Ed25519PrivateKey.generate()
        ed_pem = ed_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        # RFC 8463 section 4.2: p= is the raw 32-byte public key, base64.
        raw = ed_key.public_key().public_bytes(
            serialization.Encoding.Raw, serialization.PublicFormat.Raw
        )
        return KeyPair(algorithm, ed_pem.decode(), base64.b64encode(raw).decode())
    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    rsa_pem = rsa_key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    )
    # RFC 6376 section 3.6.1: p= is the DER SubjectPublicKeyInfo, base64.
    der = rsa_key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return KeyPair(algorithm, rsa_pem.decode(), base64.b64encode(der).decode())


def txt_value(algorithm: str, public_key_b64: str) -> str:
    key_type = "ed25519" if algorithm == "ed25519" else "rsa"
    return f"v=DKIM1; k={key_type}; p={public_key_b64}"


def split_txt(value: str, size: int = 255) -> list[str]:
    """A TXT character-string holds at most 255 octets (RFC 1035 section 3.3.14)."""
    return [value[i : i + size] for i in range(0, len(value), size)]
