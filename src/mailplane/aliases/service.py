"""Aliases, forwarding and catch-alls. Services flush; the caller commits."""

from __future__ import annotations

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from mailplane.aliases.schemas import AliasCreate, AliasUpdate
from mailplane.audit.service import record
from mailplane.auth.principals import Principal, get_owned
from mailplane.db.pagination import Page, keyset_page
from mailplane.domains.service import get_domain
from mailplane.errors import Conflict, InvalidInput
from mailplane.models import Alias, AliasDestination, Domain
from mailplane.names import (
    normalize_address,
    normalize_local_part,
    reject_control_characters,
    to_a_label,
)
from mailplane.tenants import limits

MAX_DESTINATIONS = 100


def normalize_source(raw: str, domain: Domain) -> str:
    reject_control_characters(raw, "source")
    value = raw.strip().lower()
    if value in ("@", "*", "*@" + domain.name):
        return "@" + domain.name
    local, at, rest = value.rpartition("@")
    if not at:
        local, rest = value, domain.name
    elif not local:
        local = ""
    if to_a_label(rest) != domain.name:
        raise InvalidInput(
            f"the source must be at {domain.name}, not {rest}", code="source_outside_domain"
        )
    if local == "":
        return "@" + domain.name
    return f"{normalize_local_part(local)}@{domain.name}"


def normalize_destinations(raw: str | list[str], source: str) -> list[str]:
    items = raw if isinstance(raw, list) else raw.split(",")
    result: list[str] = []
    for item in items:
        if not item.strip():
            continue
        address = normalize_address(item, "destination")
        if address == source:
            raise InvalidInput(
                "an alias cannot point at itself; use keep_copy to keep a local copy",
                code="alias_loop",
            )
        if address not in result:
            result.append(address)
    if not result:
        raise InvalidInput("at least one destination is needed", code="destination_required")
    if len(result) > MAX_DESTINATIONS:
        raise InvalidInput(
            f"at most {MAX_DESTINATIONS} destinations per alias", code="too_many_destinations"
        )
    return result


def destinations_of(session: Session, alias: Alias) -> list[str]:
    return list(
        session.scalars(
            select(AliasDestination.address)
            .where(AliasDestination.alias_id == alias.id)
            .order_by(AliasDestination.id)
        )
    )


def destinations_for(session: Session, aliases: list[Alias]) -> dict[int, list[str]]:
    """Destinations of a page of aliases in one query."""
    found: dict[int, list[str]] = {alias.id: [] for alias in aliases}
    if not found:
        return found
    rows = session.execute(
        select(AliasDestination.alias_id, AliasDestination.address)
        .where(AliasDestination.alias_id.in_(found))
        .order_by(AliasDestination.id)
    )
    for alias_id, address in rows:
        found[alias_id].append(address)
    return found


def _replace_destinations(session: Session, alias: Alias, addresses: list[str]) -> None:
    session.execute(delete(AliasDestination).where(AliasDestination.alias_id == alias.id))
    session.add_all(AliasDestination(alias_id=alias.id, address=a) for a in addresses)


def get_alias(session: Session, principal: Principal, alias_id: int) -> Alias:
    return get_owned(session, principal, Alias, alias_id, "alias")


def list_aliases(
    session: Session, principal: Principal, domain_id: int, *, limit: int, cursor: str | None
) -> Page[Alias]:
    domain = get_domain(session, principal, domain_id)
    query = select(Alias).where(Alias.domain_id == domain.id)
    return keyset_page(session, query, Alias.id, limit=limit, cursor=cursor)


def create_alias(
    session: Session, principal: Principal, domain_id: int, data: AliasCreate
) -> Alias:
    domain = get_domain(session, principal, domain_id)
    source = normalize_source(data.source, domain)
    destinations = normalize_destinations(data.destination, source)
    if session.scalar(select(Alias.id).where(Alias.source == source)) is not None:
        raise Conflict(f"an alias for {source} exists already", code="alias_exists")
    limits.check_alias(session, domain.tenant_id)
    alias = Alias(
        tenant_id=domain.tenant_id,
        domain_id=domain.id,
        source=source,
        keep_copy=data.keep_copy,
        active=data.active,
    )
    session.add(alias)
    session.flush()
    _replace_destinations(session, alias, destinations)
    session.flush()
    record(
        session,
        principal,
        "alias.create",
        object_type="alias",
        object_id=alias.id,
        tenant_id=domain.tenant_id,
        details={"source": source, "destinations": destinations, "keep_copy": data.keep_copy},
    )
    return alias


def update_alias(session: Session, principal: Principal, alias_id: int, data: AliasUpdate) -> Alias:
    alias = get_alias(session, principal, alias_id)
    changes: dict[str, object] = {}
    if data.destination is not None:
        destinations = normalize_destinations(data.destination, alias.source)
        _replace_destinations(session, alias, destinations)
        changes["destinations"] = destinations
    if data.keep_copy is not None and data.keep_copy != alias.keep_copy:
        alias.keep_copy = data.keep_copy
        changes["keep_copy"] = data.keep_copy
    if data.active is not None and data.active != alias.active:
        alias.active = data.active
        changes["active"] = data.active
    if changes:
        session.flush()
        record(
            session,
            principal,
            "alias.update",
            object_type="alias",
            object_id=alias.id,
            tenant_id=alias.tenant_id,
            details={"source": alias.source, **changes},
        )
    return alias


def delete_alias(session: Session, principal: Principal, alias_id: int) -> None:
    alias = get_alias(session, principal, alias_id)
    session.delete(alias)
    session.flush()
    record(
        session,
        principal,
        "alias.delete",
        object_type="alias",
        object_id=alias_id,
        tenant_id=alias.tenant_id,
        details={"source": alias.source},
    )
