"""The states rows move through, as ``StrEnum``: stored as their plain string values (the
SQL views Postfix and Dovecot read compare them as text), compared and typed as enums."""

from __future__ import annotations

from enum import StrEnum


class Status(StrEnum):
    """Of tenants, domains and mailboxes."""

    ACTIVE = "active"
    SUSPENDED = "suspended"  # no logins anywhere; mail is still accepted
    DISABLED = "disabled"  # mail is refused too


class VerificationStatus(StrEnum):
    """Of a domain's DNS records; see ``domains/verification/state.py``."""

    PENDING = "pending"
    VERIFIED = "verified"
    FAILING = "failing"
    SENDING_DISABLED = "sending_disabled"


class DkimKeyStatus(StrEnum):
    """A key's place in its rotation; see ``dkim/rotation.py``."""

    PENDING = "pending"  # created, not yet seen in DNS: does not sign
    ACTIVE = "active"  # signs
    RETIRING = "retiring"  # replaced; stays in DNS while mail in flight is verified
    RETIRED = "retired"


class DnsAutomation(StrEnum):
    MANUAL = "manual"
    RFC2136 = "rfc2136"
    LEXICON = "lexicon"
