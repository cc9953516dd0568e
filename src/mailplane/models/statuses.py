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


class OwnershipMethod(StrEnum):
    """How a domain or alias domain was shown to belong to its tenant (SECURITY.md 1).

    Until one of these is recorded the name routes no mail and its mailboxes cannot log in.
    """

    OPERATOR = "operator"  # a service token said so when creating it (audited)
    MX = "mx"  # its MX records point at the platform's MX hosts
    TXT = "txt"  # the ownership token is published at _mailplane-challenge.<name>
    PARENT = "parent"  # a subdomain of a name the same tenant has already proven
    PREEXISTING = "preexisting"  # hosted before ownership was required (migration 0005)


class DeliveryStatus(StrEnum):
    """Of one recipient of an outbound message; see ``delivery/``."""

    QUEUED = "queued"  # waiting for its first attempt (or its send_at)
    SENDING = "sending"  # claimed by a worker; its lease ends at next_attempt_at
    DEFERRED = "deferred"  # a transient failure: retried with backoff
    DELIVERED = "delivered"  # the remote answered 2xx after DATA
    BOUNCED = "bounced"  # refused for good by the remote (5xx), or a bounce came back
    FAILED = "failed"  # gave up: too old, no route, null MX, or refused before sending
    CANCELLED = "cancelled"  # the sender cancelled it before it left
    SUPPRESSED = "suppressed"  # not attempted: the recipient is on the suppression list
    # Put aside by an operator or tenant admin (delivery/queue_tools.py): not due
    # (next_attempt_at NULL, so no worker claims it) and not final; released back to queued.
    HELD = "held"
    # The tenant's sending is paused (the circuit breaker, or an operator; see
    # circuit_breaker/): not due and not final; a resume makes it queued again.
    PAUSED = "paused"

    @property
    def is_final(self) -> bool:
        return self not in {
            DeliveryStatus.QUEUED,
            DeliveryStatus.SENDING,
            DeliveryStatus.DEFERRED,
            DeliveryStatus.HELD,
            DeliveryStatus.PAUSED,
        }


class MessageSource(StrEnum):
    API = "api"  # the send API
    SMTP = "smtp"  # a mailbox user's submission (587/465), handed over by Postfix
    FORWARD = "forward"  # an alias forwarding to an external address (SRS sender)
    DSN = "dsn"  # a delivery status notification the platform wrote


class MessageType(StrEnum):
    TRANSACTIONAL = "transactional"
    BULK = "bulk"
