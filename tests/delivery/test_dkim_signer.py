"""The OpenSSL signer against dkimpy, the independent verifier, on the shapes of message
that canonicalization gets wrong: folded headers, repeated headers, whitespace runs,
trailing blank lines, an empty body, bare LF line ends."""

from __future__ import annotations

import dkim
import pytest

from mailplane.dkim import keys, signer
from mailplane.dkim.keys import Algorithm
from mailplane.dkim.signing import SIGNED_HEADERS

MESSAGES = [
    b"From: A <a@example.com>\r\nTo: b@example.org,\r\n\tc@example.org\r\n"
    b"Subject:  several   spaces \t here \r\nSubject: the last one is signed\r\n"
    b"X-Not-Signed: x\r\n\r\nHello  \t world \r\n\r\n\r\n",
    b"From: a@example.com\r\nSubject: empty body\r\n\r\n",
    b"From: a@example.com\r\nSubject: no final line end\r\n\r\nlast line",
    b"From: a@example.com\nSubject: bare LF\n\nline one\nline two\n",
    b"From: a@example.com\r\nSubject: long\r\n\r\n" + b"x" * 5000 + b"\r\n",
]


@pytest.mark.parametrize("algorithm", ["rsa-2048", "ed25519"])
@pytest.mark.parametrize("message", MESSAGES)
def test_dkimpy_verifies_what_we_sign(algorithm: Algorithm, message: bytes) -> None:
    pair = keys.generate(algorithm)
    record = keys.txt_value(algorithm, pair.public_key_b64).encode()
    header = signer.signature_header(
        message,
        domain="example.com",
        selector="mp1",
        key=signer.load_private_key(pair.private_key_pem),
        signed_headers=SIGNED_HEADERS,
    )
    assert header.endswith(b"\r\n")
    assert all(len(line) <= 78 for line in header.split(b"\r\n"))
    assert dkim.verify(header + message, dnsfunc=lambda _name, timeout=5: record)
    # And a change to a signed header breaks it.
    tampered = (header + message).replace(b"From: ", b"From: x", 1)
    assert not dkim.verify(tampered, dnsfunc=lambda _name, timeout=5: record)
