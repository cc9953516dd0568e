"""Which names a tenant may claim, and when a claim is already proven (SECURITY.md, habit 1).

A domain or alias domain is a claim on a name: once it routes mail, every tenant's users
writing to that name deliver into the claimer's mailboxes. So, before a row is created:

- the platform's own host names (``mail_hostname``, ``mx_hosts``, the API's host) are
  nobody's; for tenants, neither is anything at or under their registrable domain
  (``mailplane.test`` is the parent of ``mail.mailplane.test``). An operator may host the
  registrable domain itself (a platform at ``mail.example.com`` serving ``example.com``);
- a public suffix (``co.uk``, ``github.io``: the Public Suffix List, private section too) is
  a registry's name, not a domain anyone can own;
- a label that mixes scripts (``\u0430pple.com`` with a Cyrillic ``\u0430``) is refused per UTS #39;
- a name at or under another tenant's *proven* name is that tenant's. Unproven names do not
  block others: they route nothing, and refusing under them would tell every tenant which
  names other tenants merely typed in. The opposite direction is allowed on purpose: the
  owner of ``example.com`` may arrive after another tenant proved ``shop.example.com``; both
  must prove their own name, and mail routing matches whole names, never parents.

Names are unique platform-wide, so "this name is already hosted here" cannot be avoided;
it says nothing about who hosts it.
"""

from __future__ import annotations

import functools
import ipaddress
from urllib.parse import urlsplit

from publicsuffixlist import PublicSuffixList
from sqlalchemy import select
from sqlalchemy.orm import Session

from mailplane.config import Settings
from mailplane.errors import Conflict, Forbidden, InvalidInput
from mailplane.homographs import label_problem
from mailplane.models import AliasDomain, Domain
from mailplane.names import to_u_label


@functools.lru_cache(maxsize=1)
def _public_suffixes() -> PublicSuffixList:
    # The list shipped inside the package: nothing is fetched, at run time or in tests.
    return PublicSuffixList()


def registrable_domain(name: str) -> str | None:
    """``example.co.uk`` for ``mail.example.co.uk``; None for a public suffix itself."""
    result: str | None = _public_suffixes().privatesuffix(name)
    return result


def platform_host_names(settings: Settings) -> frozenset[str]:
    hosts = {settings.mail_hostname, *settings.mx_hosts, urlsplit(settings.public_url).hostname}
    names = set()
    for host in hosts:
        if not host:
            continue
        host = host.strip().rstrip(".").lower()
        try:
            ipaddress.ip_address(host)
        except ValueError:
            names.add(host)
    return frozenset(names)


def ancestors(name: str) -> list[str]:
    """The parents of ``name`` that could be hosted: up to its registrable domain."""
    top = registrable_domain(name)
    if top is None or top == name:
        return []
    labels = name.split(".")
    parents = [".".join(labels[i:]) for i in range(1, len(labels))]
    return parents[: parents.index(top) + 1]


def _is_at_or_under(name: str, parent: str) -> bool:
    return name == parent or name.endswith("." + parent)


def _refuse_homographs(name: str) -> None:
    for label in to_u_label(name).split("."):
        problem = label_problem(label)
        if problem == "mixed":
            raise InvalidInput(
                f"{to_u_label(name)!r} mixes scripts in the label {label!r}, as look-alike "
                "names do (UTS #39); use one script per label",
                code="mixed_script_domain",
            )
        if problem == "excluded":
            raise InvalidInput(
                f"the label {label!r} uses a script not recommended for identifiers "
                "(UAX #31), as look-alike names do",
                code="excluded_script_domain",
            )


def _refuse_platform_names(settings: Settings, name: str, *, operator: bool) -> None:
    hosts = platform_host_names(settings)
    if name in hosts:
        raise Forbidden(f"{name} is this platform's own host name", code="platform_name")
    if operator:
        return
    for host in hosts:
        top = registrable_domain(host) or host
        if _is_at_or_under(name, top):
            raise Forbidden(
                f"{name} belongs to this platform's own domain {top}; only an operator may host it",
                code="platform_name",
            )


def foreign_owner_above(session: Session, name: str, tenant_id: int) -> bool:
    """Whether another tenant has proven a parent of ``name`` (a domain or alias domain)."""
    parents = ancestors(name)
    if not parents:
        return False
    for model in (Domain, AliasDomain):
        found = session.scalar(
            select(model.id).where(
                model.name.in_(parents),
                model.tenant_id != tenant_id,
                model.owned_at.is_not(None),
            )
        )
        if found is not None:
            return True
    return False


def owned_parent(session: Session, name: str, tenant_id: int) -> str | None:
    """A parent of ``name`` that this tenant has proven: its subdomains need no new proof."""
    parents = ancestors(name)
    if not parents:
        return None
    for model in (Domain, AliasDomain):
        found = session.scalar(
            select(model.name)
            .where(
                model.name.in_(parents),
                model.tenant_id == tenant_id,
                model.owned_at.is_not(None),
            )
            .limit(1)
        )
        if found is not None:
            return found
    return None


def refuse_unclaimable(
    session: Session, settings: Settings, name: str, tenant_id: int, *, operator: bool
) -> None:
    """Raise unless the tenant may create a domain or alias domain called ``name``."""
    _refuse_homographs(name)
    if _public_suffixes().is_public(name):
        raise InvalidInput(
            f"{name} is a public suffix (Public Suffix List): names are registered under it, "
            "it is not one itself",
            code="public_suffix",
        )
    _refuse_platform_names(settings, name, operator=operator)
    if foreign_owner_above(session, name, tenant_id):
        raise Conflict(
            f"{name} is under a domain another customer has proven to own",
            code="parent_domain_taken",
        )
