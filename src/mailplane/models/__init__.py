"""All ORM models; importing this module registers every table on ``Base.metadata``."""

from mailplane.models.audit import AuditEvent, KnownLoginSource, ThrottleCounter
from mailplane.models.base import Base, utcnow
from mailplane.models.deliverability import (
    Complaint,
    ListUnsubscribe,
    OutboundRoute,
    ReputationCount,
    RouteDayCount,
    SendingPause,
    ThrottleBucket,
    ThrottleLimit,
)
from mailplane.models.domains import AliasDomain, DkimKey, Domain
from mailplane.models.events import Event
from mailplane.models.intake import IntakeReceipt
from mailplane.models.mailboxes import Alias, AliasDestination, DeletedMailbox, Mailbox
from mailplane.models.sending import (
    ApiKey,
    Delivery,
    DeliveryAttempt,
    IdempotencyRecord,
    Job,
    OutboundMessage,
    RateCounter,
)
from mailplane.models.suppressions import DeliveryStat, SoftBounce, Suppression
from mailplane.models.tenants import RefreshToken, Tenant, TenantAdmin
from mailplane.models.tokens import ServiceToken
from mailplane.models.webhooks import WebhookDelivery, WebhookEndpoint
from mailplane.models.webmail import (
    Contact,
    MailboxRefreshToken,
    MailEvent,
    MailToken,
    Signature,
    SignatureRule,
)

# AUTOINCREMENT on SQLite for every integer surrogate key: the id of a deleted row is never
# handed out again (migration 0001 creates the tables that way; this keeps the metadata true).
for _table in Base.metadata.tables.values():
    if "id" in _table.c and _table.c.id.primary_key:
        _table.kwargs["sqlite_autoincrement"] = True

__all__ = [
    "Alias",
    "AliasDestination",
    "AliasDomain",
    "ApiKey",
    "AuditEvent",
    "Base",
    "Complaint",
    "Contact",
    "DeletedMailbox",
    "Delivery",
    "DeliveryAttempt",
    "DeliveryStat",
    "DkimKey",
    "Domain",
    "Event",
    "IdempotencyRecord",
    "IntakeReceipt",
    "Job",
    "KnownLoginSource",
    "ListUnsubscribe",
    "MailEvent",
    "MailToken",
    "Mailbox",
    "MailboxRefreshToken",
    "OutboundMessage",
    "OutboundRoute",
    "RateCounter",
    "RefreshToken",
    "ReputationCount",
    "RouteDayCount",
    "SendingPause",
    "ServiceToken",
    "Signature",
    "SignatureRule",
    "SoftBounce",
    "Suppression",
    "Tenant",
    "TenantAdmin",
    "ThrottleBucket",
    "ThrottleCounter",
    "ThrottleLimit",
    "WebhookDelivery",
    "WebhookEndpoint",
    "utcnow",
]
