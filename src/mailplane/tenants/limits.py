"""Tenant limits set by platform operators: domains, mailboxes, aliases, quota.

``None`` is unlimited. A check counts inside the caller's write transaction with the
tenant row locked, so two parallel creates cannot both see room for the last one:
PostgreSQL takes the row lock (``SELECT ... FOR UPDATE``); on SQLite every writer already
holds the database's write lock from ``BEGIN IMMEDIATE`` (mailplane.db). A tenant without
the limit in question takes no lock at all.

Lowering a limit below the current usage is allowed: it only stops what comes next.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import InstrumentedAttribute, Session

from mailplane.errors import LimitReached, NotFound
from mailplane.models import Alias, AliasDomain, Domain, Mailbox, Tenant

NAMES = (
    "max_domains",
    "max_mailboxes",
    "max_aliases",
    "max_quota_mb_per_mailbox",
    "max_total_quota_mb",
)


@dataclass(frozen=True)
class Usage:
    domains: int  # hosted domains and alias domains
    mailboxes: int
    aliases: int
    total_quota_mb: int  # sum of the mailboxes' quotas
    unlimited_quota_mailboxes: int  # quota 0


def _count(session: Session, column: InstrumentedAttribute[int], tenant_id: int) -> int:
    return session.scalar(select(func.count()).where(column == tenant_id)) or 0


def usage(session: Session, tenant_id: int) -> Usage:
    quota = session.execute(
        select(
            func.count(),
            func.coalesce(func.sum(Mailbox.quota_mb), 0),
            func.count().filter(Mailbox.quota_mb == 0),
        ).where(Mailbox.tenant_id == tenant_id)
    ).one()
    return Usage(
        domains=_count(session, Domain.tenant_id, tenant_id)
        + _count(session, AliasDomain.tenant_id, tenant_id),
        mailboxes=int(quota[0]),
        aliases=_count(session, Alias.tenant_id, tenant_id),
        total_quota_mb=int(quota[1]),
        unlimited_quota_mailboxes=int(quota[2]),
    )


def _locked(session: Session, tenant_id: int, names: tuple[str, ...]) -> Tenant | None:
    """The tenant locked for the rest of the transaction, or None when none of ``names``
    limits it (then nothing is locked and the caller goes on)."""
    tenant = session.get(Tenant, tenant_id)
    if tenant is None:
        raise NotFound("tenant not found")
    if all(getattr(tenant, name) is None for name in names):
        return None
    locked = session.scalar(
        select(Tenant)
        .where(Tenant.id == tenant_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    assert locked is not None  # the row was just read in this transaction
    return locked


def _reached(name: str, maximum: int, what: str) -> LimitReached:
    return LimitReached(
        f"the tenant's limit of {maximum} {what} is reached; ask the platform operator",
        extra={"limit": name, "max": maximum},
    )


def check_domain(session: Session, tenant_id: int) -> None:
    tenant = _locked(session, tenant_id, ("max_domains",))
    if tenant is None or tenant.max_domains is None:
        return
    if usage(session, tenant_id).domains >= tenant.max_domains:
        raise _reached("max_domains", tenant.max_domains, "domains (alias domains included)")


def check_alias(session: Session, tenant_id: int) -> None:
    tenant = _locked(session, tenant_id, ("max_aliases",))
    if tenant is None or tenant.max_aliases is None:
        return
    if _count(session, Alias.tenant_id, tenant_id) >= tenant.max_aliases:
        raise _reached("max_aliases", tenant.max_aliases, "aliases")


def _check_quota(session: Session, tenant: Tenant, quota_mb: int, others_mb: int) -> None:
    """``others_mb``: the quotas of the tenant's other mailboxes."""
    per_mailbox, total = tenant.max_quota_mb_per_mailbox, tenant.max_total_quota_mb
    if per_mailbox is not None and (quota_mb == 0 or quota_mb > per_mailbox):
        raise LimitReached(
            f"a mailbox's quota must be between 1 and {per_mailbox} MB for this tenant "
            "(0, unlimited, is not allowed)",
            extra={"limit": "max_quota_mb_per_mailbox", "max": per_mailbox},
        )
    if total is not None and (quota_mb == 0 or others_mb + quota_mb > total):
        raise LimitReached(
            f"the tenant's mailboxes may have {total} MB of quota in all, "
            f"{max(0, total - others_mb)} MB are left (0, unlimited, is not allowed)",
            extra={"limit": "max_total_quota_mb", "max": total},
        )


def check_mailbox(session: Session, tenant_id: int, quota_mb: int) -> None:
    """Room for one more mailbox with this quota."""
    tenant = _locked(session, tenant_id, ("max_mailboxes", *NAMES[3:]))
    if tenant is None:
        return
    current = usage(session, tenant_id)
    if tenant.max_mailboxes is not None and current.mailboxes >= tenant.max_mailboxes:
        raise _reached("max_mailboxes", tenant.max_mailboxes, "mailboxes")
    _check_quota(session, tenant, quota_mb, current.total_quota_mb)


def check_quota_change(session: Session, mailbox: Mailbox, quota_mb: int) -> None:
    """A smaller (limited) quota is always allowed, even where the tenant is over its limit."""
    if quota_mb != 0 and (mailbox.quota_mb == 0 or quota_mb <= mailbox.quota_mb):
        return
    tenant = _locked(session, mailbox.tenant_id, NAMES[3:])
    if tenant is None:
        return
    others = usage(session, mailbox.tenant_id).total_quota_mb - mailbox.quota_mb
    _check_quota(session, tenant, quota_mb, others)
