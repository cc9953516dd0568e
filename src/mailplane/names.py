"""Domain names and addresses: parsed once, stored in one canonical form.

Domains are stored as lower-case A-labels (IDNA 2008 with UTS #46 mapping) and shown as
U-labels. Local parts are deliberately narrower than RFC 5321 allows: no quoted strings,
no ``%``, ``!`` or ``/`` (relay tricks and path separators), no ``+``, which is the
sub-address delimiter, and no leading ``-``. What is allowed works in the API, Postfix and
Dovecot alike (tests/mailstack/test_local_parts.py).
"""

from __future__ import annotations

import re
import string

import idna
from email_validator import EmailNotValidError, validate_email

from mailplane.errors import InvalidInput

_LABEL = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")
# The one definition of what a local part may contain (after lower-casing). Dovecot's
# auth_username_chars is rendered from it (mailserver.dovecot_config), so every mailbox
# the API creates can also log in.
LOCAL_PART_SPECIALS = "._'-"
LOCAL_PART_CHARACTERS = string.ascii_lowercase + string.digits + LOCAL_PART_SPECIALS
# No leading or trailing dot (RFC 5322 dot-atom). No leading "-" either: Postfix refuses
# such addresses (allow_min_user = no) because tools that take an address as a command
# line argument would read it as an option.
_FIRST = re.escape(LOCAL_PART_CHARACTERS.replace(".", "").replace("-", ""))
_INNER = re.escape(LOCAL_PART_CHARACTERS)
_LAST = re.escape(LOCAL_PART_CHARACTERS.replace(".", ""))
# At most 64 octets (RFC 5321 section 4.5.3.1.1).
_LOCAL_PART = re.compile(f"^[{_FIRST}](?:[{_INNER}]{{0,62}}[{_LAST}])?$")
# C0, DEL, C1 and the Unicode line/paragraph separators (see mailplane.schemas.NO_CONTROL).
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")


def reject_control_characters(value: str, field: str) -> None:
    """CR, LF and the other control characters must never reach a header or a map."""
    if _CONTROL.search(value):
        raise InvalidInput(f"{field} contains control characters", code="invalid_characters")


def to_a_label(name: str) -> str:
    reject_control_characters(name, "domain")
    cleaned = name.strip().rstrip(".")
    if not cleaned or len(cleaned) > 253:
        raise InvalidInput(f"{name!r} is not a domain name", code="invalid_domain")
    try:
        a_label = idna.encode(cleaned, uts46=True).decode("ascii").lower()
    except (idna.IDNAError, UnicodeError) as exc:
        raise InvalidInput(
            f"{name!r} is not a valid domain name: {exc}", code="invalid_domain"
        ) from exc
    labels = a_label.split(".")
    if len(labels) < 2 or len(a_label) > 253 or not all(_LABEL.match(label) for label in labels):
        raise InvalidInput(f"{name!r} is not a fully qualified domain name", code="invalid_domain")
    if labels[-1].isdigit():
        raise InvalidInput(
            f"{name!r} looks like an IP address, not a domain", code="invalid_domain"
        )
    return a_label


def to_u_label(a_label: str) -> str:
    try:
        return idna.decode(a_label)
    except (idna.IDNAError, UnicodeError):
        return a_label


def normalize_local_part(local_part: str) -> str:
    reject_control_characters(local_part, "local_part")
    value = local_part.strip().lower()
    if ".." in value or not _LOCAL_PART.match(value):
        raise InvalidInput(
            f"{local_part!r} is not an allowed local part (letters, digits, '.', '_', '-', "
            "an apostrophe; at most 64 characters; no dot at either end, no leading '-')",
            code="invalid_local_part",
        )
    return value


def normalize_address(address: str, field: str = "address") -> str:
    """A mailbox address anywhere on the internet (forwarding targets), canonical form."""
    reject_control_characters(address, field)
    value = address.strip()
    if value.count("@") != 1 or value.startswith('"') or any(c in value for c in "%!"):
        raise InvalidInput(f"{address!r} is not a plain e-mail address", code="invalid_address")
    try:
        checked = validate_email(
            value, check_deliverability=False, allow_smtputf8=False, test_environment=True
        )
    except EmailNotValidError as exc:
        raise InvalidInput(f"{address!r}: {exc}", code="invalid_address") from exc
    local, _, domain = checked.normalized.rpartition("@")
    return f"{local.lower()}@{to_a_label(domain)}"


def split_address(address: str) -> tuple[str, str]:
    local, _, domain = address.rpartition("@")
    return local, domain
