"""An RFC 6376 DKIM signer on OpenSSL (through ``cryptography``): relaxed/relaxed,
``rsa-sha256`` and ``ed25519-sha256`` (RFC 8463).

dkimpy signs an RSA-2048 message in about 5.8 ms because its RSA is pure Python; OpenSSL
takes about 0.23 ms, and signing is on the delivery engine's hot path (every millisecond
of CPU per message costs about 1,000 messages/s on two cores). dkimpy stays the
independent verifier in the tests.
"""

from __future__ import annotations

import base64
import hashlib
import re
import time
from collections.abc import Sequence

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, padding, rsa

PrivateKey = rsa.RSAPrivateKey | ed25519.Ed25519PrivateKey

_WSP_RUN = re.compile(rb"[ \t]+")
_TRAILING_WSP = re.compile(rb"[ \t]+\r\n")
# Where b= may be folded (RFC 6376 section 3.5: FWS is allowed inside base64 values).
_FOLD_WIDTH = 72


def load_private_key(pem: str) -> PrivateKey:
    # The keys are the platform's own (dkim/keys.py made them with OpenSSL); checking an
    # RSA key's math again costs about 30 ms, a hundred signatures' worth.
    key = serialization.load_pem_private_key(
        pem.encode(), password=None, unsafe_skip_rsa_key_validation=True
    )
    if not isinstance(key, rsa.RSAPrivateKey | ed25519.Ed25519PrivateKey):
        raise ValueError("a DKIM key is RSA or Ed25519")
    return key


def split_message(message: bytes) -> tuple[list[bytes], bytes]:
    """The header fields (each with its folded continuation lines, without the final CRLF)
    and the body. Bare LF line ends are read as CRLF (RFC 6376 section 5.3)."""
    if message.count(b"\n") != message.count(b"\r\n"):
        message = re.sub(rb"\r?\n", b"\r\n", message)
    head, separator, body = message.partition(b"\r\n\r\n")
    if not separator and head.startswith(b"\r\n"):
        head, body = b"", head[2:]
    fields: list[bytes] = []
    for line in head.split(b"\r\n"):
        if line[:1] in (b" ", b"\t") and fields:
            fields[-1] += b"\r\n" + line
        elif line:
            fields.append(line)
    return fields, body


def relaxed_header(field: bytes) -> bytes:
    """RFC 6376 section 3.4.2, without the trailing CRLF."""
    name, _, value = field.partition(b":")
    value = _WSP_RUN.sub(b" ", value.replace(b"\r\n", b"")).strip(b" \t")
    return name.strip(b" \t").lower() + b":" + value


def relaxed_body(body: bytes) -> bytes:
    """RFC 6376 section 3.4.4 (with erratum 1384: an empty body stays empty)."""
    # The regular expressions only where they can change something (most bodies have no
    # tab, no double space and no trailing space): this runs once per message sent.
    if b"\t" in body or b"  " in body:
        body = _WSP_RUN.sub(b" ", body)
    body += b"\r\n"
    if b" \r\n" in body:
        body = _TRAILING_WSP.sub(b"\r\n", body)
    body = body.rstrip(b"\r\n")
    return body + b"\r\n" if body else b""


def _header_list(names: list[bytes]) -> list[bytes]:
    """The h= tag in pieces that fit a line; FWS may follow each ":" (RFC 6376 3.5)."""
    pieces = [b"h="]
    for n, name in enumerate(names):
        part = name + (b";" if n == len(names) - 1 else b":")
        if len(pieces[-1]) + len(part) > _FOLD_WIDTH:
            pieces.append(b"")
        pieces[-1] += part
    return pieces


def _fold_tags(tags: list[bytes]) -> bytes:
    """Tags packed into lines of at most 78 characters (RFC 5322 section 2.1.1)."""
    lines = [b"DKIM-Signature:"]
    for tag in tags:
        if len(lines[-1]) + 1 + len(tag) > 78:
            lines.append(b"")
        lines[-1] += b" " + tag
    return b"\r\n".join(lines)


def _fold(value: bytes) -> bytes:
    return b"\r\n ".join(value[i : i + _FOLD_WIDTH] for i in range(0, len(value), _FOLD_WIDTH))


def signature_header(
    message: bytes,
    *,
    domain: str,
    selector: str,
    key: PrivateKey,
    signed_headers: Sequence[bytes],
    now: int | None = None,
) -> bytes:
    """The ``DKIM-Signature:`` field (folded, with its CRLF) that signs ``message``.

    Only the names in ``signed_headers`` that are present are signed, each once, the last
    instance (RFC 6376 section 5.4.2: instances are taken from the bottom up)."""
    fields, body = split_message(message)
    by_name: dict[bytes, bytes] = {}
    for field in fields:
        by_name[field.split(b":", 1)[0].strip().lower()] = field
    names = [name for name in signed_headers if name in by_name]
    algorithm = b"ed25519-sha256" if isinstance(key, ed25519.Ed25519PrivateKey) else b"rsa-sha256"
    body_hash = base64.b64encode(hashlib.sha256(relaxed_body(body)).digest())
    timestamp = str(int(time.time()) if now is None else now).encode()
    unsigned = (
        _fold_tags(
            [
                b"v=1;",
                b"a=" + algorithm + b";",
                b"c=relaxed/relaxed;",
                b"d=" + domain.encode() + b";",
                b"s=" + selector.encode() + b";",
                b"t=" + timestamp + b";",
                *_header_list(names),
                b"bh=" + body_hash + b";",
            ]
        )
        + b"\r\n b="
    )
    signed_data = b"".join(relaxed_header(by_name[name]) + b"\r\n" for name in names)
    signed_data += relaxed_header(unsigned)
    if isinstance(key, ed25519.Ed25519PrivateKey):
        # RFC 8463 section 3: Ed25519 signs the SHA-256 hash of the header data.
        signature = key.sign(hashlib.sha256(signed_data).digest())
    else:
        signature = key.sign(signed_data, padding.PKCS1v15(), hashes.SHA256())
    return unsigned + _fold(base64.b64encode(signature)) + b"\r\n"
