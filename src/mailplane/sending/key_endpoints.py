"""Send API keys in the admin API: operators and tenant admins, tenant-scoped."""

from __future__ import annotations

from fastapi import APIRouter, Response, status

from mailplane.api.deps import PrincipalDep, SessionDep, WriterDep
from mailplane.api.pagination import PageDep
from mailplane.api.params import PathId
from mailplane.api.responses import ERRORS
from mailplane.schemas import PageOut
from mailplane.sending import api_keys
from mailplane.sending.key_schemas import ApiKeyCreate, ApiKeyCreated, ApiKeyOut, ApiKeyUpdate

router = APIRouter(prefix="/api/v1/mail", tags=["api keys"], responses=ERRORS)


@router.get("/domains/{domain_id}/api-keys", response_model=PageOut[ApiKeyOut])
def list_keys(
    session: SessionDep, principal: PrincipalDep, domain_id: PathId, page: PageDep
) -> PageOut[ApiKeyOut]:
    result = api_keys.list_keys(session, principal, domain_id, limit=page.limit, cursor=page.cursor)
    return PageOut(items=[ApiKeyOut.of(k) for k in result.items], next_cursor=result.next_cursor)


@router.post(
    "/domains/{domain_id}/api-keys",
    response_model=ApiKeyCreated,
    status_code=status.HTTP_201_CREATED,
)
def create_key(
    session: SessionDep, principal: WriterDep, domain_id: PathId, body: ApiKeyCreate
) -> ApiKeyCreated:
    """The answer holds the whole key, this once: store it now."""
    created = api_keys.create_key(session, principal, domain_id, body)
    return ApiKeyCreated(**ApiKeyOut.of(created.row).model_dump(), key=created.key)


@router.get("/api-keys/{api_key_id}", response_model=ApiKeyOut)
def get_key(session: SessionDep, principal: PrincipalDep, api_key_id: PathId) -> ApiKeyOut:
    return ApiKeyOut.of(api_keys.get_key(session, principal, api_key_id))


@router.patch("/api-keys/{api_key_id}", response_model=ApiKeyOut)
def update_key(
    session: SessionDep, principal: WriterDep, api_key_id: PathId, body: ApiKeyUpdate
) -> ApiKeyOut:
    return ApiKeyOut.of(api_keys.update_key(session, principal, api_key_id, body))


@router.delete("/api-keys/{api_key_id}", status_code=status.HTTP_204_NO_CONTENT)
def revoke_key(session: SessionDep, principal: WriterDep, api_key_id: PathId) -> Response:
    """Revoked at once; the row stays (its messages keep naming it)."""
    api_keys.revoke_key(session, principal, api_key_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
