from __future__ import annotations

from fastapi import APIRouter, Response, status
from sqlalchemy.orm import Session

from mailplane.aliases import service
from mailplane.aliases.schemas import AliasCreate, AliasOut, AliasUpdate
from mailplane.api.deps import PrincipalDep, SessionDep, WriterDep
from mailplane.api.pagination import PageDep
from mailplane.api.params import PathId
from mailplane.api.responses import ERRORS
from mailplane.models import Alias
from mailplane.schemas import PageOut

router = APIRouter(prefix="/api/v1/mail", tags=["aliases"], responses=ERRORS)


def _one(session: Session, alias: Alias) -> AliasOut:
    return AliasOut.of(alias, service.destinations_of(session, alias))


@router.get("/domains/{domain_id}/aliases", response_model=PageOut[AliasOut])
def list_aliases(
    session: SessionDep, principal: PrincipalDep, domain_id: PathId, page: PageDep
) -> PageOut[AliasOut]:
    result = service.list_aliases(
        session, principal, domain_id, limit=page.limit, cursor=page.cursor
    )
    destinations = service.destinations_for(session, result.items)
    return PageOut(
        items=[AliasOut.of(a, destinations[a.id]) for a in result.items],
        next_cursor=result.next_cursor,
    )


@router.post(
    "/domains/{domain_id}/aliases", response_model=AliasOut, status_code=status.HTTP_201_CREATED
)
def create_alias(
    session: SessionDep, principal: WriterDep, domain_id: PathId, body: AliasCreate
) -> AliasOut:
    """An alias, a forwarding (source is a mailbox) or a catch-all (source '@')."""
    return _one(session, service.create_alias(session, principal, domain_id, body))


@router.get("/aliases/{alias_id}", response_model=AliasOut)
def get_alias(session: SessionDep, principal: PrincipalDep, alias_id: PathId) -> AliasOut:
    return _one(session, service.get_alias(session, principal, alias_id))


@router.put("/aliases/{alias_id}", response_model=AliasOut)
def update_alias(
    session: SessionDep, principal: WriterDep, alias_id: PathId, body: AliasUpdate
) -> AliasOut:
    return _one(session, service.update_alias(session, principal, alias_id, body))


@router.delete("/aliases/{alias_id}", status_code=status.HTTP_204_NO_CONTENT)
def delete_alias(session: SessionDep, principal: WriterDep, alias_id: PathId) -> Response:
    service.delete_alias(session, principal, alias_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
