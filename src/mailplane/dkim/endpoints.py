"""A domain's DKIM keys and their rotation."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, status

from mailplane.api.deps import ClockDep, PrincipalDep, SessionDep, SettingsDep, WriterDep
from mailplane.api.params import PathId
from mailplane.api.responses import ERRORS
from mailplane.dkim import rotation
from mailplane.dkim.schemas import DkimKeyOut, RotateIn, RotateOut
from mailplane.domains import publication, service
from mailplane.domains.schemas import DnsPublicationOut, DnsRecordOut

router = APIRouter(prefix="/api/v1/mail", tags=["dkim"], responses=ERRORS)


@router.get("/domains/{domain_id}/dkim", response_model=list[DkimKeyOut])
def dkim_keys(session: SessionDep, principal: PrincipalDep, domain_id: PathId) -> list[DkimKeyOut]:
    domain = service.get_domain(session, principal, domain_id)
    return [DkimKeyOut.of(domain, key) for key in service.dkim_keys(session, domain)]


@router.post(
    "/domains/{domain_id}/dkim/rotate",
    response_model=RotateOut,
    status_code=status.HTTP_201_CREATED,
)
def rotate_dkim(
    session: SessionDep,
    principal: WriterDep,
    settings: SettingsDep,
    clock: ClockDep,
    domain_id: PathId,
    body: Annotated[RotateIn, Body()] = RotateIn(),
) -> RotateOut:
    """Create a new key under a new selector as `pending` and queue its publication (or show
    it, for manual DNS). Signing switches to it once a verification finds it in DNS; the old key
    then retires after `dkim_retire_after_hours`."""
    domain = service.get_domain(session, principal, domain_id)
    key = rotation.rotate(session, principal, settings, domain, body.algorithm, clock())
    dns_record = rotation.key_record(domain, key)
    queued = publication.queue_publish(session, principal, settings, domain, [dns_record])
    return RotateOut(
        **DkimKeyOut.of(domain, key).model_dump(),
        dns_record=DnsRecordOut.model_validate(dns_record.as_dict()),
        publication=DnsPublicationOut.model_validate(queued.as_dict()),
    )
