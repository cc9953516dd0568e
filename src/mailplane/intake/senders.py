"""Whose header From is it: the addresses of a message's From (and Sender) must belong to
the login that submitted it (SPEC section D; SECURITY habit 9).

"Belongs" is decided by the same view Postfix's envelope check reads,
``mp_sender_logins`` (migrations 0002/0005): the login's mailbox, every alias it
receives, and their alias-domain forms. So the envelope (reject_sender_login_mismatch)
and the header (this check) can never disagree about who owns an address.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from email.utils import getaddresses

from sqlalchemy import text
from sqlalchemy.orm import Session

from mailplane.errors import MailplaneError
from mailplane.names import reject_control_characters, to_a_label

_OWNS = text(
    "SELECT 1 FROM mp_sender_logins WHERE sender = :sender AND domain = :domain AND login = :login"
)


@dataclass(frozen=True)
class SenderVerdict:
    """Allowed, or the SMTP reply that refuses the message."""

    allowed: bool
    reply: str = ""


def canonical(address: str) -> str | None:
    """Lower case with an A-label domain (how the views store addresses), or None when it
    is not an address at all."""
    local, at, domain = address.strip().rpartition("@")
    if not at or not local or not domain:
        return None
    try:
        reject_control_characters(local, "local part")
        return f"{local.lower()}@{to_a_label(domain)}"
    except MailplaneError:
        return None


def header_addresses(values: Sequence[str]) -> list[str] | None:
    """Every address written in these header values, or None when any value does not
    parse (a header that cannot be read cannot be shown to be the sender's)."""
    found: list[str] = []
    for value in values:
        pairs = getaddresses([" ".join(value.split())])
        if not pairs or any(not address for _, address in pairs):
            return None
        found.extend(address for _, address in pairs)
    return found


def _shown(address: str) -> str:
    return "".join(c for c in address if c.isprintable())[:200]


def judge(
    session: Session, login: str, from_values: Sequence[str], sender_values: Sequence[str]
) -> SenderVerdict:
    """RFC 5322 section 3.6.2: exactly one From field; each of its addresses (and the
    Sender's) must be one the login may send as."""
    if not login:
        return SenderVerdict(False, "530 5.7.0 Authentication required")
    if len(from_values) != 1 or len(sender_values) > 1:
        return SenderVerdict(False, "550 5.7.1 A message needs exactly one From header")
    addresses = header_addresses([*from_values, *sender_values])
    if not addresses:
        return SenderVerdict(False, "550 5.7.1 The From header has no readable address")
    login = canonical(login) or login.lower()
    for address in addresses:
        key = canonical(address)
        owned = key is not None and (
            session.execute(
                _OWNS, {"sender": key, "domain": key.rpartition("@")[2], "login": login}
            ).first()
            is not None
        )
        if not owned:
            return SenderVerdict(
                False, f"550 5.7.1 <{_shown(address)}> is not an address of {_shown(login)}"
            )
    return SenderVerdict(True)
