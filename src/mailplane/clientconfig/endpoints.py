"""Unauthenticated endpoints that mail clients and sending MTAs fetch, for hosted domains
only: anything else is a 404, so the endpoints reveal nothing about other names."""

from __future__ import annotations

import re
from typing import Annotated

from fastapi import APIRouter, Query, Request, Response
from sqlalchemy import select

from mailplane.api.deps import SessionDep, SettingsDep
from mailplane.clientconfig.render import autoconfig_xml, autodiscover_xml, mta_sts_policy
from mailplane.errors import InvalidInput, MailplaneError, NotFound
from mailplane.models import Domain
from mailplane.names import normalize_address, split_address, to_a_label

router = APIRouter(tags=["client configuration"])

MAX_AUTODISCOVER_BODY = 16 * 1024
_EMAIL_TAG = re.compile(rb"<EMailAddress>\s*([^<]{1,320}?)\s*</EMailAddress>", re.IGNORECASE)


def _hosted(session: SessionDep, name: str) -> str:
    try:
        a_label = to_a_label(name)
    except InvalidInput as exc:
        raise NotFound("no such hosted domain") from exc
    found = session.scalar(
        select(Domain.name).where(Domain.name == a_label, Domain.status != "disabled")
    )
    if found is None:
        raise NotFound("no such hosted domain")
    return found


def _host_domain(request: Request, prefix: str) -> str:
    host = (request.headers.get("host") or "").split(":", 1)[0].lower()
    return host[len(prefix) :] if prefix and host.startswith(prefix) else host


def _domain_of(address: str) -> tuple[str, str]:
    try:
        email = normalize_address(address, "emailaddress")
    except MailplaneError as exc:
        raise NotFound("no such hosted domain") from exc
    return email, split_address(email)[1]


@router.get("/mail/config-v1.1.xml", response_class=Response)
@router.get("/.well-known/autoconfig/mail/config-v1.1.xml", response_class=Response)
def thunderbird_autoconfig(
    session: SessionDep,
    settings: SettingsDep,
    request: Request,
    emailaddress: Annotated[str | None, Query(max_length=320)] = None,
) -> Response:
    """Thunderbird autoconfig, fetched from autoconfig.<domain> or <domain>/.well-known/."""
    name = _domain_of(emailaddress)[1] if emailaddress else _host_domain(request, "autoconfig.")
    xml = autoconfig_xml(settings, _hosted(session, name))
    return Response(xml, media_type="application/xml")


@router.post("/autodiscover/autodiscover.xml", response_class=Response)
@router.post("/Autodiscover/Autodiscover.xml", response_class=Response, include_in_schema=False)
async def outlook_autodiscover(
    session: SessionDep, settings: SettingsDep, request: Request
) -> Response:
    """Outlook autodiscover (POX): the request body names the address in <EMailAddress>."""
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_AUTODISCOVER_BODY:
            raise InvalidInput("autodiscover request too large", code="request_too_large")
    # A regular expression, not an XML parser: nothing in the body is ever expanded.
    match = _EMAIL_TAG.search(body)
    if match is None:
        raise InvalidInput(
            "the request names no <EMailAddress>", code="invalid_autodiscover_request"
        )
    email, name = _domain_of(match.group(1).decode("utf-8", errors="replace"))
    _hosted(session, name)
    return Response(autodiscover_xml(settings, email), media_type="application/xml")


@router.get("/autodiscover/autodiscover.xml", response_class=Response)
def outlook_autodiscover_get(
    session: SessionDep,
    settings: SettingsDep,
    emailaddress: Annotated[str, Query(max_length=320)],
) -> Response:
    email, name = _domain_of(emailaddress)
    _hosted(session, name)
    return Response(autodiscover_xml(settings, email), media_type="application/xml")


@router.get("/.well-known/mta-sts.txt", response_class=Response)
def mta_sts(session: SessionDep, settings: SettingsDep, request: Request) -> Response:
    """The MTA-STS policy (RFC 8461), fetched from https://mta-sts.<domain>/."""
    host = (request.headers.get("host") or "").split(":", 1)[0].lower()
    if settings.mta_sts_mode == "none" or not host.startswith("mta-sts."):
        raise NotFound("no MTA-STS policy here")
    _hosted(session, host[len("mta-sts.") :])
    return Response(mta_sts_policy(settings), media_type="text/plain")
