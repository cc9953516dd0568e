"""Mailbox names on the wire: modified UTF-7 (RFC 3501 section 5.1.3).

Printable US-ASCII stands for itself except "&", which is "&-"; anything else is UTF-16
in a modified base64 ("," instead of "/", no padding) between "&" and "-".
"""

from __future__ import annotations

import base64
import binascii


class MailboxNameError(ValueError):
    """A name that is not valid modified UTF-7 (from a server) or cannot be one."""


def _printable(char: str) -> bool:
    return 0x20 <= ord(char) <= 0x7E


def encode_mailbox(name: str) -> str:
    out: list[str] = []
    pending: list[str] = []

    def flush() -> None:
        if pending:
            utf16 = "".join(pending).encode("utf-16-be")
            out.append("&" + base64.b64encode(utf16).decode().rstrip("=").replace("/", ",") + "-")
            pending.clear()

    for char in name:
        if _printable(char):
            flush()
            out.append("&-" if char == "&" else char)
        else:
            pending.append(char)
    flush()
    return "".join(out)


def decode_mailbox(raw: str) -> str:
    out: list[str] = []
    index = 0
    while index < len(raw):
        char = raw[index]
        if char != "&":
            out.append(char)
            index += 1
            continue
        end = raw.find("-", index)
        if end < 0:
            raise MailboxNameError(f"unterminated shift in mailbox name {raw!r}")
        chunk = raw[index + 1 : end]
        if not chunk:
            out.append("&")
        else:
            padded = chunk.replace(",", "/") + "=" * (-len(chunk) % 4)
            try:
                out.append(base64.b64decode(padded, validate=True).decode("utf-16-be"))
            except (binascii.Error, UnicodeDecodeError) as exc:
                raise MailboxNameError(f"invalid mailbox name {raw!r}") from exc
        index = end + 1
    return "".join(out)
